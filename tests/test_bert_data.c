/* tests/test_bert_data.c: BERT pre-training examples: corpus reading, NSP/SOP pairs (50/50), masked-LM choices (15%, 80/10/10, never a special token), whole-word masking, seeds and epochs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tfm/bert_data.h"
#include "tfm/random.h"
#include "tfm/wordpiece.h"

#define WORDS 600       /* "qaa" .. : ids 5 .. 5 + WORDS - 1 */
#define COLOURS 20      /* document d uses the words of colour d % COLOURS only */
#define FIRST_WORD 5
#define CONTINUATIONS 3 /* "##x" "##y" "##z" after the words */

static void word_text(int w, char *out) { snprintf(out, 8, "q%c%c", 'a' + w / 26, 'a' + w % 26); }

static tfm_wordpiece *make_vocabulary(int with_mask) {
    char *text = malloc(16 * (WORDS + 16)), *p = text;
    p += sprintf(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n%s\n", with_mask ? "[MASK]" : "[unused0]");
    char w[8];
    for (int i = 0; i < WORDS; i++) word_text(i, w), p += sprintf(p, "%s\n", w);
    p += sprintf(p, "##x\n##y\n##z\n");
    tfm_wordpiece *tok = NULL;
    tfm_status st = tfm_wordpiece_load_text(&tok, text, (size_t)(p - text), "test vocab", 1);
    free(text);
    return st ? NULL : tok;
}

static int colour_of(int32_t id) { return id >= FIRST_WORD && id < FIRST_WORD + WORDS ? ((id - FIRST_WORD) / (WORDS / COLOURS)) : -1; }

/* documents x sentences of 3..12 words of the document's colour; a third of the words carry a "##" suffix. */
static char *make_text(int documents, int sentences, uint64_t seed, size_t *length) {
    size_t capacity = (size_t)documents * sentences * 12 * 6 + documents * 4 + 16;
    char *text = malloc(capacity), *p = text, w[8];
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (int d = 0; d < documents; d++) {
        int colour = d % COLOURS;
        for (int s = 0; s < sentences; s++) {
            int n = 3 + (int)(tfm_rng_bits(&rng) % 10);
            for (int i = 0; i < n; i++) {
                word_text(colour * (WORDS / COLOURS) + (int)(tfm_rng_bits(&rng) % (WORDS / COLOURS)), w);
                p += sprintf(p, "%s%s", i ? " " : "", w);
                int suffix = (int)(tfm_rng_bits(&rng) % 6);
                if (suffix < CONTINUATIONS) *p++ = (char)('x' + suffix);
            }
            *p++ = '\n';
        }
        p += sprintf(p, d % 3 ? "\n" : "  \r\n"); /* blank lines, one with spaces and a CR */
    }
    *length = (size_t)(p - text);
    return text;
}

/* The sequence before masking: the labels put back. */
static void unmask(const tfm_bert_example *x, int32_t *original) {
    memcpy(original, x->input_ids, sizeof(int32_t) * (size_t)x->length);
    for (int i = 0; i < x->predictions; i++) original[x->positions[i]] = x->labels[i];
}

static void test_corpus(tfm_wordpiece *tok) {
    const char *text = "qaa qab\nqacx qad.\n\n \t\nqae\n\x01\x02\nqaf\n\n\nqag qah";
    tfm_bert_corpus c;
    CHECK_OK(tfm_bert_corpus_from_text(&c, text, strlen(text), "t.txt", tok));
    CHECK(c.document_count == 3, "3 documents (repeated and white-space blank lines are one boundary): %zu", c.document_count);
    CHECK(c.sentence_count == 5, "5 sentences (a line of control characters gives no tokens and is dropped): %zu", c.sentence_count);
    CHECK(c.document_start[1] == 2 && c.document_start[2] == 4 && c.document_start[3] == 5, "document boundaries");
    CHECK(c.sentence_start[2] - c.sentence_start[1] == 4, "\"qacx qad.\" is qac ##x qad . (4 pieces)");
    CHECK(c.tokens[c.sentence_start[1] + 1] == FIRST_WORD + WORDS && (c.piece_flags[c.tokens[c.sentence_start[1] + 1]] & TFM_BERT_PIECE_CONTINUATION),
          "##x is a continuation piece");
    CHECK((c.piece_flags[c.cls_id] & TFM_BERT_PIECE_SPECIAL) && !(c.piece_flags[FIRST_WORD] & TFM_BERT_PIECE_SPECIAL), "special flags");
    CHECK(c.cls_id == 2 && c.sep_id == 3 && c.mask_id == 4 && c.pad_id == 0, "special ids");
    tfm_bert_corpus_free(&c);

    EXPECT_ERROR(tfm_bert_corpus_from_text(&c, "qaa\nq\xff\n", 6, "bad.txt", tok), TFM_ERR_FORMAT, "bad.txt", "invalid UTF-8", "line 2");
    EXPECT_ERROR(tfm_bert_corpus_from_text(&c, "\n \n", 3, "blank.txt", tok), TFM_ERR_FORMAT, "blank.txt", "no sentences");
    EXPECT_ERROR(tfm_bert_corpus_load(&c, "/nonexistent/text.txt", tok), TFM_ERR_IO, "/nonexistent/text.txt");
    tfm_wordpiece *no_mask = make_vocabulary(0);
    EXPECT_ERROR(tfm_bert_corpus_from_text(&c, "qaa\n", 4, "m.txt", no_mask), TFM_ERR_FORMAT, "m.txt", "no [MASK]");
    tfm_wordpiece_free(no_mask);
}

/* 4 standard deviations of a binomial proportion: a correct builder fails this once in ~30,000 runs, and the seed is fixed. */
static int near_proportion(size_t hits, size_t n, double p) {
    return n > 0 && fabs((double)hits / n - p) <= 4.0 * sqrt(p * (1 - p) / n);
}

typedef struct mask_counts {
    size_t predicted, masked, random, kept, tokens, sequences;
} mask_counts;

/* Everything that must hold of one example, whatever the objective; adds its masks to *counts. */
static void check_example(const tfm_bert_corpus *c, const tfm_bert_data_options *o, const tfm_bert_example *x, int32_t *original,
                          mask_counts *counts) {
    unmask(x, original);
    CHECK(x->length >= 3 && x->length <= o->max_length, "length %d in [3, %d]", x->length, o->max_length);
    CHECK(original[0] == c->cls_id && original[x->length - 1] == c->sep_id, "[CLS] first, [SEP] last");
    for (int i = x->length; i < o->max_length; i++) CHECK(x->input_ids[i] == c->pad_id && x->token_type_ids[i] == 0, "padding");
    int candidates = 0;
    for (int i = 0; i < x->length; i++) candidates += original[i] != c->cls_id && original[i] != c->sep_id;
    int wanted = (int)lrint(x->length * (double)o->mask_probability);
    wanted = wanted < 1 ? 1 : wanted > o->max_predictions ? o->max_predictions : wanted;
    if (!o->whole_word_masking)
        CHECK(x->predictions == (wanted < candidates ? wanted : candidates), "%d predictions, expected min(round(%d x %.2f), %d candidates) = %d",
              x->predictions, x->length, (double)o->mask_probability, candidates, wanted < candidates ? wanted : candidates);
    else CHECK(x->predictions >= 1 && (x->predictions <= wanted || x->predictions <= 1 + CONTINUATIONS), /* one word when none fits */
               "whole words: %d predictions for %d wanted", x->predictions, wanted);
    for (int i = 0; i < x->predictions; i++) {
        int p = x->positions[i];
        CHECK(p > 0 && p < x->length - 1 && (i == 0 || p > x->positions[i - 1]), "positions inside and ascending");
        int32_t label = x->labels[i];
        CHECK(label != c->cls_id && label != c->sep_id && label != c->pad_id && label != c->mask_id, "a special token (%d) is never predicted", label);
        if (x->input_ids[p] == c->mask_id) counts->masked++;
        else if (x->input_ids[p] != label) {
            counts->random++;
            CHECK(!(c->piece_flags[x->input_ids[p]] & TFM_BERT_PIECE_SPECIAL), "random ids are ordinary");
        } else {
            counts->kept++;
        }
    }
    for (int i = 0; i < x->length; i++) { /* outside the predictions the input is the original */
        int predicted = 0;
        for (int k = 0; k < x->predictions; k++) predicted |= x->positions[k] == i;
        if (!predicted && x->input_ids[i] != original[i]) CHECK(0, "position %d changed without being predicted", i);
    }
    counts->predicted += (size_t)x->predictions;
    counts->tokens += (size_t)x->length;
    counts->sequences++;
}

static void check_mask_proportions(const char *what, const mask_counts *m, const tfm_bert_data_options *o) {
    /* a random replacement equals the original once in ~WORDS + CONTINUATIONS draws: it then counts as kept */
    double p_random = o->random_token_probability * (1.0 - 1.0 / (WORDS + CONTINUATIONS));
    CHECK(near_proportion(m->masked, m->predicted, o->mask_token_probability), "%s: [MASK] in %zu of %zu predictions (%.4f), expected %.2f", what,
          m->masked, m->predicted, (double)m->masked / m->predicted, (double)o->mask_token_probability);
    CHECK(near_proportion(m->random, m->predicted, p_random), "%s: random in %zu of %zu (%.4f), expected %.4f", what, m->random, m->predicted,
          (double)m->random / m->predicted, p_random);
    CHECK(near_proportion(m->kept, m->predicted, 1.0 - o->mask_token_probability - p_random), "%s: kept in %zu of %zu (%.4f)", what, m->kept,
          m->predicted, (double)m->kept / m->predicted);
    CHECK(fabs((double)m->predicted / m->tokens - o->mask_probability) < 0.01, "%s: %.4f of the tokens predicted, expected ~%.2f", what,
          (double)m->predicted / m->tokens, (double)o->mask_probability);
    printf("%s: %zu sequences, %.4f of tokens predicted; of %zu predictions %.4f [MASK], %.4f random, %.4f kept\n", what, m->sequences,
           (double)m->predicted / m->tokens, m->predicted, (double)m->masked / m->predicted, (double)m->random / m->predicted,
           (double)m->kept / m->predicted);
}

/* The pair's segments: A is type 0 up to the first [SEP], B type 1 up to the last; colours tell documents apart. */
static void pair_colours(const tfm_bert_corpus *c, const tfm_bert_example *x, const int32_t *original, int *a_colour, int *b_colour) {
    int sep = 1;
    while (original[sep] != c->sep_id) sep++;
    CHECK(sep > 1 && sep < x->length - 2, "A and B both non-empty (first [SEP] at %d of %d)", sep, x->length);
    for (int i = 0; i < x->length; i++) CHECK(x->token_type_ids[i] == (i > sep), "segment ids 0 through the first [SEP], then 1");
    *a_colour = *b_colour = -1; /* the first word's colour in each (a segment may start with a trimmed word's "##") */
    for (int i = 1; i < sep && *a_colour < 0; i++) *a_colour = colour_of(original[i]);
    for (int i = sep + 1; i < x->length - 1 && *b_colour < 0; i++) *b_colour = colour_of(original[i]);
    if (*a_colour < 0 || *b_colour < 0) *a_colour = *b_colour = -1; /* a segment of one "##" piece: no colour to compare */
}

static void test_pairs(const tfm_bert_corpus *c, int objective) {
    tfm_bert_data_options o;
    tfm_bert_data_options_default(&o);
    o.objective = objective;
    o.max_length = 64;
    tfm_bert_examples *e = NULL;
    CHECK_OK(tfm_bert_examples_create(&e, c, 0, c->document_count, &o, 7));
    if (!e) return;
    tfm_bert_example x;
    CHECK_OK(tfm_bert_example_allocate(&x, &o));
    int32_t *original = malloc(sizeof(int32_t) * (size_t)o.max_length);
    mask_counts m = {0};
    size_t n = tfm_bert_examples_count(e), swapped = 0, same_document_random = 0, ones = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(tfm_bert_examples_get(e, i, 0, &x));
        check_example(c, &o, &x, original, &m);
        int a, b;
        pair_colours(c, &x, original, &a, &b);
        CHECK(x.pair_label == 0 || x.pair_label == 1, "pair label %d", x.pair_label);
        ones += x.pair_label == 1;
        if (objective == TFM_BERT_OBJECTIVE_SOP || x.pair_label == 0) CHECK(a == b, "%s: A and B from one document (colours %d, %d)",
                                                                            objective ? "SOP" : "NSP IsNext", a, b);
        else same_document_random += a == b;
        swapped += x.pair_label == 1;
    }
    tfm_bert_examples_stats s = tfm_bert_examples_get_stats(e);
    CHECK(s.examples == n && s.random_pairs == ones, "stats count the examples (%zu) and label-1 pairs (%zu)", s.examples, s.random_pairs);
    const char *name = objective == TFM_BERT_OBJECTIVE_NSP ? "NSP" : "SOP";
    size_t coin_flips = n - s.forced_random_pairs, heads = ones - s.forced_random_pairs;
    CHECK(near_proportion(heads, coin_flips, 0.5), "%s: label 1 in %zu of %zu coin flips (%.4f), expected 0.5", name, heads, coin_flips,
          (double)heads / coin_flips);
    if (objective == TFM_BERT_OBJECTIVE_NSP) {
        CHECK(s.forced_random_pairs > 0 && s.forced_random_pairs < n / 4, "some (%zu) one-sentence chunks forced a random B", s.forced_random_pairs);
        /* a random document has this one's colour 1 time in ~COLOURS */
        CHECK(same_document_random < ones / 10, "random B's come from other documents (%zu of %zu share the colour)", same_document_random, ones);
    } else {
        CHECK(s.forced_random_pairs == 0, "SOP forces nothing");
    }
    printf("%s: %zu pairs, label 1 in %.4f of the coin flips, %zu forced, %zu tokens trimmed\n", name, n, (double)heads / coin_flips,
           s.forced_random_pairs, s.trimmed_tokens);
    check_mask_proportions(name, &m, &o);
    (void)swapped;
    free(original);
    tfm_bert_example_free(&x, &o);
    tfm_bert_examples_free(e);
}

static void test_whole_words_and_mlm(const tfm_bert_corpus *c) {
    tfm_bert_data_options o;
    tfm_bert_data_options_default(&o);
    o.objective = TFM_BERT_OBJECTIVE_MLM;
    o.whole_word_masking = 1;
    o.max_length = 48;
    tfm_bert_examples *e = NULL;
    CHECK_OK(tfm_bert_examples_create(&e, c, 0, c->document_count, &o, 11));
    if (!e) return;
    tfm_bert_example x;
    CHECK_OK(tfm_bert_example_allocate(&x, &o));
    int32_t *original = malloc(sizeof(int32_t) * (size_t)o.max_length);
    mask_counts m = {0};
    size_t whole_words = 0, split_words = 0;
    for (size_t i = 0; i < tfm_bert_examples_count(e); i++) {
        CHECK_OK(tfm_bert_examples_get(e, i, 0, &x));
        check_example(c, &o, &x, original, &m);
        CHECK(x.pair_label == -1, "MLM has no pair label");
        int seps = 0;
        for (int t = 0; t < x.length; t++) {
            seps += original[t] == c->sep_id;
            CHECK(x.token_type_ids[t] == 0, "one segment");
        }
        CHECK(seps == 1, "one [SEP]");
        CHECK(!(c->piece_flags[original[1]] & TFM_BERT_PIECE_CONTINUATION), "a sequence starts at a sentence, not inside a word");
        for (int k = 0; k < x.predictions; k++) { /* a chosen piece's word is chosen whole */
            int p = x.positions[k];
            int next_continues = p + 1 < x.length && (c->piece_flags[original[p + 1]] & TFM_BERT_PIECE_CONTINUATION);
            int continues = c->piece_flags[original[p]] & TFM_BERT_PIECE_CONTINUATION;
            int next_chosen = k + 1 < x.predictions && x.positions[k + 1] == p + 1, previous_chosen = k > 0 && x.positions[k - 1] == p - 1;
            if ((next_continues && !next_chosen) || (continues && !previous_chosen)) split_words++;
            else if (next_continues) whole_words++;
        }
    }
    CHECK(split_words == 0 && whole_words > 100, "whole-word masking: %zu words chosen with their ## pieces, %zu split", whole_words, split_words);
    check_mask_proportions("MLM, whole words", &m, &o);
    /* Static masks repeat each epoch; dynamic ones are drawn anew, the sequence stays. */
    tfm_bert_example y;
    CHECK_OK(tfm_bert_example_allocate(&y, &o));
    CHECK_OK(tfm_bert_examples_get(e, 3, 0, &x));
    CHECK_OK(tfm_bert_examples_get(e, 3, 5, &y));
    CHECK(memcmp(x.input_ids, y.input_ids, sizeof(int32_t) * (size_t)o.max_length) == 0, "static masking: epoch 5 = epoch 0");
    tfm_bert_examples_free(e);
    o.dynamic_masking = 1;
    CHECK_OK(tfm_bert_examples_create(&e, c, 0, c->document_count, &o, 11));
    int differ = 0;
    for (size_t i = 0; i < 20; i++) {
        CHECK_OK(tfm_bert_examples_get(e, i, 0, &x));
        CHECK_OK(tfm_bert_examples_get(e, i, 1, &y));
        differ += memcmp(x.positions, y.positions, sizeof(int32_t) * (size_t)x.predictions) != 0 || x.predictions != y.predictions;
        int32_t *a = malloc(sizeof(int32_t) * (size_t)o.max_length), *b = malloc(sizeof(int32_t) * (size_t)o.max_length);
        unmask(&x, a);
        unmask(&y, b);
        CHECK(x.length == y.length && memcmp(a, b, sizeof(int32_t) * (size_t)x.length) == 0, "dynamic masking keeps the sequence");
        free(a);
        free(b);
    }
    CHECK(differ >= 15, "dynamic masking: epoch 1 masks differ from epoch 0 in %d of 20 sequences", differ);
    CHECK_OK(tfm_bert_examples_get(e, 7, 2, &x));
    CHECK_OK(tfm_bert_examples_get(e, 7, 2, &y));
    CHECK(memcmp(x.input_ids, y.input_ids, sizeof(int32_t) * (size_t)o.max_length) == 0 && x.predictions == y.predictions,
          "an example is a pure function of (index, epoch)");
    tfm_bert_example_free(&y, &o);
    free(original);
    tfm_bert_example_free(&x, &o);
    tfm_bert_examples_free(e);
}

static void test_seeds_and_errors(const tfm_bert_corpus *c) {
    tfm_bert_data_options o;
    tfm_bert_data_options_default(&o);
    tfm_bert_examples *a = NULL, *b = NULL, *d = NULL;
    CHECK_OK(tfm_bert_examples_create(&a, c, 0, c->document_count, &o, 5));
    CHECK_OK(tfm_bert_examples_create(&b, c, 0, c->document_count, &o, 5));
    CHECK_OK(tfm_bert_examples_create(&d, c, 0, c->document_count, &o, 6));
    tfm_bert_example x, y;
    CHECK_OK(tfm_bert_example_allocate(&x, &o));
    CHECK_OK(tfm_bert_example_allocate(&y, &o));
    int same = 1, other_differs = 0;
    for (size_t i = 0; i < 50; i++) {
        tfm_bert_examples_get(a, i, 0, &x);
        tfm_bert_examples_get(b, i, 0, &y);
        same &= memcmp(x.input_ids, y.input_ids, sizeof(int32_t) * (size_t)o.max_length) == 0 && x.pair_label == y.pair_label;
        tfm_bert_examples_get(d, i, 0, &y);
        other_differs |= memcmp(x.input_ids, y.input_ids, sizeof(int32_t) * (size_t)o.max_length) != 0;
    }
    CHECK(same && other_differs, "the same seed gives the same examples, another seed others");
    tfm_bert_example_free(&x, &o);
    tfm_bert_example_free(&y, &o);
    tfm_bert_examples_free(a);
    tfm_bert_examples_free(b);
    tfm_bert_examples_free(d);

    EXPECT_ERROR(tfm_bert_examples_create(&a, c, 4, 1, &o, 1), TFM_ERR_FORMAT, "at least 2 documents");
    EXPECT_ERROR(tfm_bert_examples_create(&a, c, 0, c->document_count + 1, &o, 1), TFM_ERR_INVALID_ARGUMENT, "not in the corpus");
    tfm_bert_data_options bad = o;
    bad.mask_token_probability = 0.95f;
    EXPECT_ERROR(tfm_bert_examples_create(&a, c, 0, 2, &bad, 1), TFM_ERR_CONFIG, "train.mask_token_probability", "sum of at most 1");
    bad = o, bad.max_length = 4;
    EXPECT_ERROR(tfm_bert_data_options_validate(&bad), TFM_ERR_CONFIG, "train.seq_len", "at least 5");
    bad = o, bad.max_predictions = 0;
    EXPECT_ERROR(tfm_bert_data_options_validate(&bad), TFM_ERR_CONFIG, "train.max_predictions");
    bad = o, bad.mask_probability = NAN;
    EXPECT_ERROR(tfm_bert_data_options_validate(&bad), TFM_ERR_CONFIG, "train.mask_probability");
}

/* A batch holds the examples as rows of the longest one's length, with its prediction rows re-based to that. */
static void test_batch(const tfm_bert_corpus *c) {
    tfm_bert_data_options o;
    tfm_bert_data_options_default(&o);
    o.max_length = 96;
    o.short_sequence_probability = 0.5f; /* lengths vary */
    tfm_bert_examples *e = NULL;
    CHECK_OK(tfm_bert_examples_create(&e, c, 0, c->document_count, &o, 9));
    tfm_bert_pretraining_batch batch;
    CHECK_OK(tfm_bert_pretraining_batch_allocate(&batch, 6, &o));
    tfm_bert_example x;
    CHECK_OK(tfm_bert_example_allocate(&x, &o));
    size_t indices[6] = {40, 3, 17, 99, 5, 61};
    CHECK_OK(tfm_bert_pretraining_batch_fill(&batch, e, indices, 6, 2));
    int longest = 0, predictions = 0;
    for (int b = 0; b < 6; b++) {
        CHECK_OK(tfm_bert_examples_get(e, indices[b], 2, &x));
        if (x.length > longest) longest = x.length;
        CHECK(batch.lengths[b] == x.length && batch.pair_labels[b] == x.pair_label, "row %d: length and pair label", b);
        for (int k = 0; k < x.predictions; k++, predictions++)
            CHECK(batch.rows[predictions] == b * batch.length + x.positions[k] && batch.labels[predictions] == x.labels[k], "row %d: prediction %d", b, k);
    }
    CHECK(batch.length == longest && batch.predictions == predictions && batch.has_pairs, "T = the longest example (%d); %d predictions", longest,
          predictions);
    for (int b = 0; b < 6; b++) {
        CHECK_OK(tfm_bert_examples_get(e, indices[b], 2, &x));
        CHECK(memcmp(batch.input_ids + (size_t)b * batch.length, x.input_ids, sizeof(int32_t) * (size_t)batch.length) == 0 &&
                  memcmp(batch.token_type_ids + (size_t)b * batch.length, x.token_type_ids, sizeof(int32_t) * (size_t)batch.length) == 0,
              "row %d holds its example", b);
    }
    EXPECT_ERROR(tfm_bert_pretraining_batch_fill(&batch, e, indices, 7, 0), TFM_ERR_INVALID_ARGUMENT, "7 examples for a batch of 6");
    tfm_bert_example_free(&x, &o);
    tfm_bert_pretraining_batch_free(&batch);
    tfm_bert_examples_free(e);
}

/* Every allocation of reading a corpus and building examples may fail: a status and a message, never a crash or leak. */
typedef struct build_context {
    tfm_wordpiece *tok;
    const char *text;
    size_t length;
} build_context;

static tfm_status build_once(void *context) {
    build_context *b = context;
    tfm_bert_corpus c;
    tfm_status st = tfm_bert_corpus_from_text(&c, b->text, b->length, "small.txt", b->tok);
    if (st) return st;
    tfm_bert_data_options o;
    tfm_bert_data_options_default(&o);
    tfm_bert_examples *e = NULL;
    st = tfm_bert_examples_create(&e, &c, 0, c.document_count, &o, 3);
    tfm_bert_example x;
    if (!st) st = tfm_bert_example_allocate(&x, &o);
    if (!st) st = tfm_bert_examples_get(e, 0, 0, &x), tfm_bert_example_free(&x, &o);
    tfm_bert_examples_free(e);
    tfm_bert_corpus_free(&c);
    return st;
}

int main(void) {
    tfm_wordpiece *tok = make_vocabulary(1);
    CHECK(tok != NULL, "test vocabulary: %s", tfm_last_error());
    if (!tok) return test_summary();
    test_corpus(tok);
    size_t length = 0;
    char *text = make_text(1500, 12, 1, &length);
    tfm_bert_corpus c;
    CHECK_OK(tfm_bert_corpus_from_text(&c, text, length, "synthetic", tok));
    test_pairs(&c, TFM_BERT_OBJECTIVE_NSP);
    test_pairs(&c, TFM_BERT_OBJECTIVE_SOP);
    test_whole_words_and_mlm(&c);
    test_seeds_and_errors(&c);
    test_batch(&c);
    tfm_bert_corpus_free(&c);
    free(text);
    char *small = make_text(3, 4, 2, &length);
    build_context context = {tok, small, length};
    long allocations = test_each_allocation_failure("BERT examples", build_once, &context, TFM_ERR_OUT_OF_MEMORY);
    CHECK(allocations > 5, "building examples allocates (%ld)", allocations);
    free(small);
    tfm_wordpiece_free(tok);
    return test_summary();
}
