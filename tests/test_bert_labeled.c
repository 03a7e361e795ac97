/* tests/test_bert_labeled.c: fine-tuning data: labels.txt, labelled lines as [CLS] A [SEP] (B [SEP]) with longest-first truncation, word labels on first pieces, batches, and every malformed line named. */
#define _DEFAULT_SOURCE /* mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "tfm/bert_labeled.h"
#include "tfm/wordpiece.h"

/* ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then the words. */
enum { PAD = 0, CLS = 2, SEP = 3, THE = 5, CAT, SAT, ON, MAT, RUN, NING, S, DOG };
static const char vocabulary[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\nrun\n##ning\n##s\ndog\n";

static tfm_wordpiece *make_tokenizer(void) {
    tfm_wordpiece *tok = NULL;
    tfm_status st = tfm_wordpiece_load_text(&tok, vocabulary, strlen(vocabulary), "test vocab", 1);
    CHECK(st == TFM_OK, "vocabulary: %s", tfm_last_error());
    return tok;
}

static int same_ids(const int32_t *got, const int32_t *want, int n) { return memcmp(got, want, sizeof(int32_t) * (size_t)n) == 0; }

/* The ids of example i. */
static const int32_t *example(const tfm_bert_labeled_set *s, size_t i, int *length) {
    *length = (int)(s->start[i + 1] - s->start[i]);
    return s->ids + s->start[i];
}

static char *write_file(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tfm-labels-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) return NULL;
    close(fd);
    return path;
}

static void test_labels(void) {
    tfm_bert_labels labels;
    char *path = write_file("pos\n\nneg\r\nneutral\n");
    CHECK_OK(tfm_bert_labels_load(&labels, path));
    CHECK(labels.count == 3 && strcmp(labels.names[1], "neg") == 0, "3 labels, the empty line skipped and the CR dropped (%d)", labels.count);
    CHECK(tfm_bert_labels_find(&labels, "neutral", 7) == 2 && tfm_bert_labels_find(&labels, "ne", 2) == -1, "find");
    tfm_bert_labels_free(&labels);
    unlink(path);
    path = write_file("pos\nneg\npos\n");
    EXPECT_ERROR(tfm_bert_labels_load(&labels, path), TFM_ERR_FORMAT, path, "line 3", "\"pos\" repeats line 1");
    unlink(path);
    path = write_file("\n\n");
    EXPECT_ERROR(tfm_bert_labels_load(&labels, path), TFM_ERR_FORMAT, "no labels");
    unlink(path);
    path = write_file("a\tb\n");
    EXPECT_ERROR(tfm_bert_labels_load(&labels, path), TFM_ERR_FORMAT, "line 1", "tab");
    unlink(path);
    EXPECT_ERROR(tfm_bert_labels_load(&labels, "/nonexistent/labels.txt"), TFM_ERR_IO, "/nonexistent/labels.txt");
}

static void test_sequences(tfm_wordpiece *tok, const tfm_bert_labels *labels) {
    tfm_bert_labeled_set s;
    const char *text = "pos\tThe cat sat\r\n\nneg\tthe dog\n";
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "t.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 16));
    int n = 0;
    const int32_t *ids = example(&s, 0, &n);
    int32_t want0[] = {CLS, THE, CAT, SAT, SEP}, want1[] = {CLS, THE, DOG, SEP};
    CHECK(s.count == 2 && !s.pairs && n == 5 && same_ids(ids, want0, 5), "[CLS] the cat sat [SEP] (%zu examples, %d ids)", s.count, n);
    ids = example(&s, 1, &n);
    CHECK(n == 4 && same_ids(ids, want1, 4) && s.labels[0] == 0 && s.labels[1] == 1, "second line and the labels");
    tfm_bert_labeled_free(&s);

    /* Pairs: segment 1 from the second text on; longest-first truncation takes pieces from the longer text. */
    text = "neg\tthe cat sat on mat\tdog\n";
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "p.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 7));
    ids = example(&s, 0, &n);
    int32_t pair[] = {CLS, THE, CAT, SAT, SEP, DOG, SEP}, types[] = {0, 0, 0, 0, 0, 1, 1};
    CHECK(s.pairs && n == 7 && same_ids(ids, pair, 7) && same_ids(s.token_type_ids, types, 7), "[CLS] the cat sat [SEP] dog [SEP]");
    CHECK(s.truncated == 1, "counted as truncated (%zu)", s.truncated);
    tfm_bert_labeled_free(&s);
    text = "neg\tthe cat\tdog\n"; /* fits exactly: not truncated */
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "p.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 6));
    CHECK(s.truncated == 0 && s.start[1] == 6, "an exact fit is not truncated");
    tfm_bert_labeled_free(&s);

    const char *bad[][2] = {{"pos\tthe\nfunny\tthe cat\n", "line 2: label \"funny\" is not in labels"},
                            {"pos\tthe\nneg\n", "line 2: expected label<TAB>text"},
                            {"pos\tthe\nneg\tthe\tcat\n", "line 2: 2 texts, but the first line has 1"},
                            {"pos\ta\tb\tc\n", "line 1: expected label<TAB>text or label<TAB>text_a<TAB>text_b"},
                            {"\tthe cat\n", "line 1: empty label"},
                            {"\n\n", "no examples"},
                            {"pos\tthe \xff\n", "invalid UTF-8"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_ERROR(tfm_bert_labeled_from_text(&s, bad[i][0], strlen(bad[i][0]), "bad.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 16),
                     TFM_ERR_FORMAT, "bad.tsv", bad[i][1]);
    EXPECT_ERROR(tfm_bert_labeled_from_text(&s, "pos\ta\tb\n", 8, "x.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 4), TFM_ERR_INVALID_ARGUMENT,
                 "max_length");
}

static void test_tokens(tfm_wordpiece *tok, const tfm_bert_labels *labels) {
    tfm_bert_labeled_set s;
    /* running -> run ##ning, cats -> cat ##s: the first piece of each word carries its label, the rest -1. */
    const char *text = "pos neg neutral\trunning  cats dog\n";
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16));
    int n = 0;
    const int32_t *ids = example(&s, 0, &n);
    int32_t want[] = {CLS, RUN, NING, CAT, S, DOG, SEP}, want_labels[] = {-1, 0, -1, 1, -1, 2, -1};
    CHECK(n == 7 && same_ids(ids, want, 7) && same_ids(s.labels, want_labels, 7), "pieces and first-piece labels");
    tfm_bert_labeled_free(&s);
    /* Cut to 5: "cats" keeps its first piece, "dog" is lost. */
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 5));
    ids = example(&s, 0, &n);
    int32_t cut[] = {CLS, RUN, NING, CAT, SEP}, cut_labels[] = {-1, 0, -1, 1, -1};
    CHECK(n == 5 && same_ids(ids, cut, 5) && same_ids(s.labels, cut_labels, 5), "truncated word labels");
    CHECK(s.truncated == 1 && s.dropped_words == 1, "1 truncated, 1 word dropped (%zu, %zu)", s.truncated, s.dropped_words);
    tfm_bert_labeled_free(&s);

    EXPECT_ERROR(tfm_bert_labeled_from_text(&s, "pos neg\tthe cat sat\n", 20, "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16), TFM_ERR_FORMAT,
                 "w.tsv: line 1: 2 labels for 3 words");
    EXPECT_ERROR(tfm_bert_labeled_from_text(&s, "pos neg\tthe cat sat\n", 20, "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16), TFM_ERR_FORMAT,
                 "w.tsv: line 1: 2 labels");
    CHECK(strstr(tfm_last_error() + 1, "w.tsv") == NULL, "the line named once: %s", tfm_last_error());
    EXPECT_ERROR(tfm_bert_labeled_from_text(&s, "pos odd\tthe cat\n", 16, "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16), TFM_ERR_FORMAT,
                 "line 1", "\"odd\"");
    EXPECT_ERROR(tfm_bert_labeled_from_text(&s, "pos\ta\tb\n", 8, "w.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16), TFM_ERR_FORMAT,
                 "line 1: expected labels<TAB>text");

    /* What classify feeds the model: no label, each word's first position. */
    int32_t in_ids[8], in_types[8], first[4];
    int length = 0, words = 0, truncated = 0;
    CHECK_OK(tfm_bert_labeled_encode(tok, TFM_BERT_LABEL_TOKENS, "cats on mat", 11, NULL, 0, 8, in_ids, in_types, &length, first, 4, &words,
                                     &truncated));
    CHECK(words == 3 && first[0] == 1 && first[1] == 3 && first[2] == 4 && length == 6 && !truncated, "first pieces at 1, 3, 4");
}

static void test_batches(tfm_wordpiece *tok, const tfm_bert_labels *labels) {
    tfm_bert_labeled_set s;
    const char *text = "neutral\tthe cat\tthe dog sat\npos\tthe\tdog\n";
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "b.tsv", TFM_BERT_LABEL_SEQUENCES, labels, tok, 16));
    tfm_bert_labeled_batch b;
    CHECK_OK(tfm_bert_labeled_batch_allocate(&b, 2, 16));
    size_t order[2] = {1, 0};
    CHECK_OK(tfm_bert_labeled_batch_fill(&b, &s, order, 2));
    int32_t ids[] = {CLS, THE, SEP, DOG, SEP, PAD, PAD, PAD, CLS, THE, CAT, SEP, THE, DOG, SAT, SEP};
    int32_t types[] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    CHECK(b.batch == 2 && b.length == 8 && b.lengths[0] == 5 && b.lengths[1] == 8, "padded to the longest (%d x %d)", b.batch, b.length);
    CHECK(same_ids(b.input_ids, ids, 16) && same_ids(b.token_type_ids, types, 16), "ids and segments, [PAD] after the shorter");
    CHECK(b.count == 2 && b.rows[0] == 0 && b.rows[1] == 1 && b.labels[0] == 0 && b.labels[1] == 2, "one label per sequence");
    size_t past[1] = {2};
    EXPECT_ERROR(tfm_bert_labeled_batch_fill(&b, &s, past, 1), TFM_ERR_INVALID_ARGUMENT, "example 2 of 2");
    tfm_bert_labeled_free(&s);

    text = "pos neg\trunning dog\nneutral\tcats\n";
    CHECK_OK(tfm_bert_labeled_from_text(&s, text, strlen(text), "b.tsv", TFM_BERT_LABEL_TOKENS, labels, tok, 16));
    size_t both[2] = {0, 1};
    CHECK_OK(tfm_bert_labeled_batch_fill(&b, &s, both, 2));
    CHECK(b.length == 5 && b.count == 3 && b.rows[0] == 1 && b.rows[1] == 3 && b.rows[2] == 5 + 1, "token rows b * T + position");
    CHECK(b.labels[0] == 0 && b.labels[1] == 1 && b.labels[2] == 2, "token labels");
    tfm_bert_labeled_free(&s);
    tfm_bert_labeled_batch_free(&b);
}

typedef struct load_context { tfm_wordpiece *tok; const tfm_bert_labels *labels; } load_context;

static tfm_status load_once(void *user) {
    load_context *c = user;
    tfm_bert_labeled_set s;
    const char *text = "pos neg\trunning dog\nneutral\tcats\npos pos pos pos pos pos pos\tthe cat sat on mat the cat\n";
    tfm_status st = tfm_bert_labeled_from_text(&s, text, strlen(text), "a.tsv", TFM_BERT_LABEL_TOKENS, c->labels, c->tok, 6);
    if (!st) tfm_bert_labeled_free(&s);
    return st;
}

int main(void) {
    test_labels();
    tfm_wordpiece *tok = make_tokenizer();
    if (!tok) return test_summary();
    tfm_bert_labels labels;
    const char *names[] = {"pos", "neg", "neutral"};
    CHECK_OK(tfm_bert_labels_from_names(&labels, names, 3, "labels.txt"));
    test_sequences(tok, &labels);
    test_tokens(tok, &labels);
    test_batches(tok, &labels);
    load_context context = {tok, &labels};
    long allocations = test_each_allocation_failure("labelled lines", load_once, &context, TFM_ERR_OUT_OF_MEMORY);
    CHECK(allocations > 2, "reading labelled lines allocates (%ld)", allocations);
    tfm_bert_labels_free(&labels);
    tfm_wordpiece_free(tok);
    return test_summary();
}
