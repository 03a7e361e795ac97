/* tests/tokenizer/test_bpe.c: byte-level BPE: pre-tokenizer rules, fast vs reference, training, files, errors. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "tfm/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretokenize.h"

/* Pieces of `text` joined with '|'. */
static void split(const char *text, char *out, size_t cap) {
    size_t len = strlen(text), n = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = tfm_pretokenize_next((const uint8_t *)text, len, pos);
        if (pos && n + 1 < cap) out[n++] = '|';
        for (size_t i = pos; i < end && n + 1 < cap; i++) out[n++] = text[i];
        pos = end;
    }
    out[n] = 0;
}

static void check_split(const char *text, const char *expected) {
    char got[512];
    split(text, got, sizeof got);
    CHECK(strcmp(got, expected) == 0, "split(\"%s\") = \"%s\", expected \"%s\"", text, got, expected);
}

static void test_pretokenizer_rules(void) {
    check_split("Hello world", "Hello| world");
    check_split("it's they're we've I'm you'll he'd don't", "it|'s| they|'re| we|'ve| I|'m| you|'ll| he|'d| don|'t");
    check_split("IT'S", "IT|'|S");                 /* contractions are case-sensitive */
    check_split("x '''s", "x| '''|s");             /* an apostrophe run is "other"; no contraction inside */
    check_split("a  b", "a| | b");                 /* \s+(?!\S): the last space goes to the word */
    check_split("a   \n  b", "a|   \n | b");
    check_split("a\n\nb", "a|\n|\n|b");           /* run minus one, then the lone "\n" by \s+ (not " b") */
    check_split("end   ", "end|   ");              /* a run at the end is whole */
    check_split("a \tb", "a| |\t|b");
    check_split("12345 678", "12345| 678");
    check_split("x=1+2", "x|=|1|+|2");
    check_split("  !!hey", " | !!|hey");
    check_split("ünïcödé", "ünïcödé");            /* precomposed letters are \p{L} */
    check_split("e\xcc\x81t\xc3\xa9", "e|\xcc\x81|t\xc3\xa9"); /* a combining mark (Mn) is not a letter */
    check_split("日本語 テキスト", "日本語| テキスト");
    check_split("Ⅻ½²", "Ⅻ½²");                    /* Nl, No, No: all \p{N} */
    check_split("a\xc2\xa0" "b", "a|\xc2\xa0|" "b");     /* NO-BREAK SPACE is \s */
    check_split("a\xef\xbb\xbf b", "a|\xef\xbb\xbf| b"); /* U+FEFF is not White_Space (it is for JS regexes) */
    check_split("a\xc2\x85\xc2\x85x", "a|\xc2\x85|\xc2\x85|x"); /* U+0085 is White_Space */
    check_split("😀😀 ok", "😀😀| ok");
    check_split("a\xff\xfe b", "a|\xff\xfe| b");   /* invalid bytes are "other" characters */
    check_split(" \xff", " \xff");
    check_split("\xe6\x97", "\xe6\x97");           /* truncated sequence: two "other" bytes */
}

/* A small deterministic byte generator biased towards interesting characters. */
static uint64_t rng_state = 12345;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static size_t random_text(uint8_t *buf, size_t max) {
    static const char *const atoms[] = {"a", "b", "e", "the", " ", "  ", "\n", "\t", "'", "'s", "'ll", "1", "42", "!", ".",
                                        "é", "e\xcc\x81", "日本", "😀", "\xc2\xa0", "\xc2\x85", "\xef\xbb\xbf", "\xff", "\xe6\x97",
                                        "<|endoftext|>", "<|endof", "Ⅻ", "½", "\r\n", "xyzzy"};
    size_t n = 0, count = rng() % 40;
    for (size_t i = 0; i < count; i++) {
        const char *a = atoms[rng() % (sizeof atoms / sizeof atoms[0])];
        size_t l = strlen(a);
        if (n + l > max) break;
        memcpy(buf + n, a, l);
        n += l;
    }
    if (rng() % 4 == 0) /* raw random bytes too */
        for (size_t i = 0, extra = rng() % 16; i < extra && n < max; i++) buf[n++] = (uint8_t)rng();
    return n;
}

static void test_pretokenizer_fast_vs_reference(void) {
    uint8_t buf[1024];
    int mismatches = 0;
    for (int t = 0; t < 20000; t++) {
        size_t n = random_text(buf, sizeof buf);
        for (size_t pos = 0; pos < n;) {
            size_t a = tfm_pretokenize_next(buf, n, pos), b = tfm_pretokenize_next_reference(buf, n, pos);
            if (a != b || a <= pos) { mismatches++; break; }
            pos = a;
        }
    }
    CHECK(mismatches == 0, "%d random texts split differently by the fast and reference pre-tokenizers", mismatches);
}

static const char training_text[] =
    "The quick brown fox jumps over the lazy dog. The dog didn't care; the fox did. "
    "Numbers: 12345 67890 12345. Tabs\tand  spaces   and newlines\n\nagain. Ünïcödé wörds: größer, Straße, "
    "naïve café. 日本語のテキストと中文文本。 Emoji 😀😀🎉. aaaaaaaaaaaaaaaa bbbbbbbb abababab the the the then there.";

static tfm_bpe *train_small(size_t vocab, const char *const *special, size_t special_count) {
    const char *texts[] = {training_text, training_text};
    size_t lengths[] = {sizeof training_text - 1, sizeof training_text - 1};
    tfm_bpe_train_options o = {vocab, 1, special, special_count};
    tfm_bpe *tok = NULL;
    CHECK_OK(tfm_bpe_train(&tok, texts, lengths, 2, &o));
    return tok;
}

static int same_ids(const tfm_tokens *a, const tfm_tokens *b) {
    return a->count == b->count && (a->count == 0 || memcmp(a->ids, b->ids, a->count * sizeof(uint32_t)) == 0);
}

static void test_encode_fast_vs_reference_and_roundtrip(void) {
    tfm_bpe *tok = train_small(420, NULL, 0);
    if (!tok) return;
    CHECK(tfm_bpe_vocab_size(tok) == 420, "vocab size %zu", tfm_bpe_vocab_size(tok));
    uint8_t buf[1024];
    tfm_tokens fast = {0}, ref = {0};
    char *bytes = NULL;
    size_t blen = 0, bcap = 0;
    int bad_ref = 0, bad_roundtrip = 0;
    for (int t = 0; t < 5000; t++) {
        size_t n = random_text(buf, sizeof buf);
        fast.count = ref.count = 0;
        CHECK_OK(tfm_bpe_encode(tok, (const char *)buf, n, 0, &fast, NULL));
        for (size_t pos = 0; pos < n;) {
            size_t e = tfm_pretokenize_next_reference(buf, n, pos);
            tfm_bpe_encode_piece_reference(tok, buf + pos, e - pos, &ref);
            pos = e;
        }
        bad_ref += !same_ids(&fast, &ref);
        blen = 0;
        CHECK_OK(tfm_bpe_decode(tok, fast.ids, fast.count, 0, &bytes, &blen, &bcap));
        bad_roundtrip += blen != n || (n && memcmp(bytes, buf, n) != 0);
    }
    CHECK(bad_ref == 0, "%d texts encode differently in the fast and reference paths", bad_ref);
    CHECK(bad_roundtrip == 0, "%d texts do not survive decode(encode(x))", bad_roundtrip);
    /* Long pieces take the heap path (> 128 symbols): hold it to the reference too. */
    int bad_long = 0;
    for (int t = 0; t < 50; t++) {
        size_t n = 129 + rng() % 800;
        for (size_t i = 0; i < n; i++) buf[i] = "abe"[rng() % (t % 3 + 1)];
        fast.count = ref.count = 0;
        CHECK_OK(tfm_bpe_encode(tok, (const char *)buf, n, 0, &fast, NULL));
        CHECK_OK(tfm_bpe_encode_piece_reference(tok, buf, n, &ref));
        bad_long += !same_ids(&fast, &ref);
    }
    CHECK(bad_long == 0, "%d long pieces merge differently in the heap path", bad_long);
    tfm_free(bytes, bcap);
    tfm_tokens_free(&fast);
    tfm_tokens_free(&ref);
    tfm_bpe_free(tok);
}

static void test_special_tokens_and_streaming(void) {
    const char *special[] = {"<|endoftext|>", "<pad>"};
    tfm_bpe *tok = train_small(400, special, 2);
    if (!tok) return;
    CHECK(tfm_bpe_token_to_id(tok, "<|endoftext|>", 13) == 0, "special tokens come first");
    CHECK(tfm_bpe_is_special(tok, 1) && !tfm_bpe_is_special(tok, 2), "is_special");
    const char text[] = "the dog<|endoftext|>the fox <pad>";
    tfm_tokens plain = {0}, with = {0};
    CHECK_OK(tfm_bpe_encode(tok, text, sizeof text - 1, 0, &plain, NULL));
    CHECK_OK(tfm_bpe_encode(tok, text, sizeof text - 1, TFM_BPE_ALLOW_SPECIAL, &with, NULL));
    int plain_has = 0, with_has = 0;
    for (size_t i = 0; i < plain.count; i++) plain_has += plain.ids[i] <= 1;
    for (size_t i = 0; i < with.count; i++) with_has += with.ids[i] <= 1;
    CHECK(plain_has == 0, "special tokens must not be recognised without TFM_BPE_ALLOW_SPECIAL");
    CHECK(with_has == 2, "both special tokens recognised with TFM_BPE_ALLOW_SPECIAL (%d)", with_has);
    /* Streaming: any chunking gives the same ids. */
    uint8_t buf[2048];
    int bad = 0;
    for (int t = 0; t < 2000; t++) {
        size_t n = random_text(buf, sizeof buf);
        unsigned flags = (t & 1) ? TFM_BPE_ALLOW_SPECIAL : 0;
        tfm_tokens whole = {0}, chunked = {0};
        tfm_bpe_encode(tok, (const char *)buf, n, flags, &whole, NULL);
        size_t start = 0, fed = 0;
        unsigned cont = 0;
        while (fed < n) {
            fed += 1 + rng() % 9;
            if (fed > n) fed = n;
            size_t consumed;
            tfm_bpe_encode(tok, (const char *)buf + start, fed - start, flags | cont | TFM_BPE_PARTIAL, &chunked, &consumed);
            if (consumed) cont = TFM_BPE_CONTINUATION;
            start += consumed;
        }
        tfm_bpe_encode(tok, (const char *)buf + start, n - start, flags | cont, &chunked, NULL);
        bad += !same_ids(&whole, &chunked);
        tfm_tokens_free(&whole);
        tfm_tokens_free(&chunked);
    }
    CHECK(bad == 0, "%d texts encode differently when streamed in chunks", bad);
    tfm_tokens_free(&plain);
    tfm_tokens_free(&with);
    tfm_bpe_free(tok);
}

static void test_training_rules(void) {
    /* Counts: "ab" x3 via words, "cd" x3: a tie at count 3 goes to the smaller (left id, right id). */
    const char text[] = "ab ab ab cd cd cd";
    const char *texts[] = {text};
    size_t lengths[] = {sizeof text - 1};
    tfm_bpe_train_options o = {256 + 1, 1, NULL, 0};
    tfm_bpe *tok = NULL;
    CHECK_OK(tfm_bpe_train(&tok, texts, lengths, 1, &o));
    if (tok) {
        /* Pieces: "ab" once, " ab" x2, " cd" x3. Pair counts: (a,b)=3, (Ġ,a)=2, (c,d)=3, (Ġ,c)=3.
         * Byte ids follow the byte-level spelling order ('!' = 0 ... 'a' = 64, 'b' = 65, ' ' = 220+). */
        CHECK(tfm_bpe_merge_count(tok) == 1, "one merge");
        size_t n;
        const char *t = tfm_bpe_id_to_token(tok, 256, &n);
        CHECK(t && n == 2 && memcmp(t, "ab", 2) == 0, "first merge is (a, b): smallest ids among the count-3 pairs");
        char a = 'a', bang = '!';
        CHECK(tfm_bpe_token_to_id(tok, &bang, 1) == 0 && tfm_bpe_token_to_id(tok, &a, 1) == 64, "byte order");
        tfm_bpe_free(tok);
    }
    /* min_frequency stops training. */
    o.vocab_size = 1000;
    o.min_frequency = 4;
    CHECK_OK(tfm_bpe_train(&tok, texts, lengths, 1, &o));
    if (tok) {
        CHECK(tfm_bpe_merge_count(tok) == 0 && tfm_bpe_vocab_size(tok) == 256, "min_frequency 4: no merge");
        tfm_bpe_free(tok);
    }
    /* Determinism: two trainings give the same merges. */
    tfm_bpe *x = train_small(600, NULL, 0), *y = train_small(600, NULL, 0);
    if (x && y) {
        int same = tfm_bpe_merge_count(x) == tfm_bpe_merge_count(y);
        for (size_t r = 0; same && r < tfm_bpe_merge_count(x); r++)
            same = x->merges[r].left == y->merges[r].left && x->merges[r].right == y->merges[r].right;
        CHECK(same, "training is deterministic");
    }
    tfm_bpe_free(x);
    tfm_bpe_free(y);
    /* Bad options. */
    o.vocab_size = 100;
    o.min_frequency = 1;
    CHECK(tfm_bpe_train(&tok, texts, lengths, 1, &o) == TFM_ERR_INVALID_ARGUMENT, "vocab below 256 is refused");
    const char *dup[] = {"<s>", "<s>"};
    tfm_bpe_train_options od = {300, 1, dup, 2};
    CHECK(tfm_bpe_train(&tok, texts, lengths, 1, &od) == TFM_ERR_INVALID_ARGUMENT, "duplicate special refused");
    CHECK(strstr(tfm_last_error(), "<s>") != NULL, "message names the token: %s", tfm_last_error());
}

static void test_save_load(void) {
    const char *special[] = {"<|endoftext|>"};
    tfm_bpe *tok = train_small(500, special, 1), *back = NULL;
    if (!tok) return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_bpe_%d.json", (int)getpid());
    CHECK_OK(tfm_bpe_save_hf(tok, path));
    CHECK_OK(tfm_bpe_load_hf(&back, path));
    if (back) {
        CHECK(tfm_bpe_vocab_size(back) == tfm_bpe_vocab_size(tok) && tfm_bpe_merge_count(back) == tfm_bpe_merge_count(tok),
              "vocab/merges survive a save + load");
        int same = 1;
        for (uint32_t id = 0; id < tfm_bpe_vocab_size(tok); id++) {
            size_t n1, n2;
            const char *a = tfm_bpe_id_to_token(tok, id, &n1), *b = tfm_bpe_id_to_token(back, id, &n2);
            same &= n1 == n2 && (!n1 || memcmp(a, b, n1) == 0);
        }
        CHECK(same, "every token survives");
        CHECK(tfm_bpe_is_special(back, 0), "special survives");
        tfm_tokens a = {0}, b = {0};
        CHECK_OK(tfm_bpe_encode(tok, training_text, sizeof training_text - 1, TFM_BPE_ALLOW_SPECIAL, &a, NULL));
        CHECK_OK(tfm_bpe_encode(back, training_text, sizeof training_text - 1, TFM_BPE_ALLOW_SPECIAL, &b, NULL));
        CHECK(same_ids(&a, &b), "reloaded tokenizer encodes the same");
        tfm_tokens_free(&a);
        tfm_tokens_free(&b);
        tfm_bpe_free(back);
    }
    remove(path);
    tfm_bpe_free(tok);
}

static void expect_hf_error(const char *json, tfm_status status, const char *fragment) {
    tfm_bpe *tok = NULL;
    tfm_status st = tfm_bpe_load_hf_text(&tok, json, strlen(json), "t.json");
    CHECK(st == status && tok == NULL, "status %d (%s), expected %d", st, tfm_last_error(), status);
    CHECK(strstr(tfm_last_error(), fragment) != NULL, "message \"%s\" should contain \"%s\"", tfm_last_error(), fragment);
    tfm_bpe_free(tok);
}

#define HF_HEAD "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"

static void test_errors(void) {
    tfm_bpe *tok = NULL;
    CHECK(tfm_bpe_load_hf(&tok, "/nonexistent/tokenizer.json") == TFM_ERR_IO, "missing file");
    CHECK(strstr(tfm_last_error(), "/nonexistent/tokenizer.json") != NULL, "names the file: %s", tfm_last_error());
    CHECK(tfm_bpe_load_gpt2(&tok, "/nonexistent/encoder.json", "/nonexistent/vocab.bpe") == TFM_ERR_IO, "missing gpt2");
    expect_hf_error("{\"model\": ", TFM_ERR_FORMAT, "invalid JSON");
    expect_hf_error("[]", TFM_ERR_FORMAT, "not a JSON object");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", TFM_ERR_UNSUPPORTED, "WordPiece");
    expect_hf_error("{\"normalizer\":{\"type\":\"NFC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", TFM_ERR_UNSUPPORTED, "NFC");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", TFM_ERR_FORMAT,
                    "merge result \"ab\"");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a x\"]}}", TFM_ERR_FORMAT,
                    "\"x\" is not in the vocabulary");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0}}}", TFM_ERR_FORMAT, "used twice");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1}}}", TFM_ERR_FORMAT, "not an integer");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", TFM_ERR_FORMAT,
                    "two tokens separated by one space");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u0001\":0}}}", TFM_ERR_FORMAT, "byte-level alphabet");
    expect_hf_error(HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", TFM_ERR_FORMAT, "empty");
    expect_hf_error(HF_HEAD "\"added_tokens\":[{\"id\":1,\"content\":\"<m>\",\"lstrip\":true}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
                    TFM_ERR_UNSUPPORTED, "lstrip");
    /* Both merge spellings load. */
    const char *forms[] = {HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}",
                           HF_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",\"b\"]]}}"};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(tfm_bpe_load_hf_text(&tok, forms[i], strlen(forms[i]), "t.json"));
        if (!tok) continue;
        tfm_tokens ids = {0};
        /* "abc": c has no token and there is no unk_token: dropped, as Hugging Face does. */
        CHECK_OK(tfm_bpe_encode(tok, "abc", 3, 0, &ids, NULL));
        CHECK(ids.count == 1 && ids.ids[0] == 2, "\"abc\" -> [ab] (count %zu)", ids.count);
        char *bytes = NULL;
        size_t blen = 0, bcap = 0;
        uint32_t bad_id = 7;
        CHECK(tfm_bpe_decode(tok, &bad_id, 1, 0, &bytes, &blen, &bcap) == TFM_ERR_INVALID_ARGUMENT, "unknown id");
        CHECK(strstr(tfm_last_error(), "id 7") != NULL, "message names the id: %s", tfm_last_error());
        tfm_free(bytes, bcap);
        tfm_tokens_free(&ids);
        tfm_bpe_free(tok);
    }
    /* GPT-2 files: a bad merges line names the line. */
    const char *enc = "{\"a\":0,\"b\":1,\"ab\":2}";
    CHECK(tfm_bpe_load_gpt2_text(&tok, enc, strlen(enc), "e.json", "#version: 0.2\na b\nb a\n", 22, "v.bpe") == TFM_ERR_FORMAT,
          "merge result not in vocabulary");
    CHECK(strstr(tfm_last_error(), "v.bpe: line 3") != NULL, "names the line: %s", tfm_last_error());
    CHECK(tfm_bpe_load_gpt2_text(&tok, enc, strlen(enc), "e.json", "a b c\n", 6, "v.bpe") == TFM_ERR_FORMAT, "3 parts");
    CHECK(strstr(tfm_last_error(), "line 1: expected two tokens") != NULL, "%s", tfm_last_error());
    CHECK(tfm_bpe_load_gpt2_text(&tok, "{\"a\":\"x\"}", 9, "e.json", "", 0, "v.bpe") == TFM_ERR_FORMAT, "string id");
    /* Empty input encodes to nothing; decode of nothing is nothing. */
    CHECK_OK(tfm_bpe_load_gpt2_text(&tok, enc, strlen(enc), "e.json", "#version: 0.2\na b\n", 18, "v.bpe"));
    if (tok) {
        tfm_tokens ids = {0};
        CHECK_OK(tfm_bpe_encode(tok, "", 0, 0, &ids, NULL));
        CHECK(ids.count == 0, "empty input");
        CHECK(tfm_bpe_encode(tok, "ab", 2, TFM_BPE_PARTIAL, &ids, NULL) == TFM_ERR_INVALID_ARGUMENT, "partial needs consumed");
        tfm_tokens_free(&ids);
        tfm_bpe_free(tok);
    }
}

int main(void) {
    test_pretokenizer_rules();
    test_pretokenizer_fast_vs_reference();
    test_encode_fast_vs_reference_and_roundtrip();
    test_special_tokens_and_streaming();
    test_training_rules();
    test_save_load();
    test_errors();
    return test_summary();
}
