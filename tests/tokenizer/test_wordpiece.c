/* tests/tokenizer/test_wordpiece.c: WordPiece unit tests: BERT rules on small cases, pairs, decoding, errors,
 * streaming, allocation failures, training, and the streaming encoder held to the plain reference encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tfm/wordpiece.h"
#include "tokenizer/wordpiece_internal.h"

static const char vocab_text[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"          /* 0-4 */
    "un\n##aff\n##able\nhello\nworld\n"             /* 5-9 */
    ",\n!\n.\n'\ns\n"                               /* 10-14 */
    "cafe\nstrasse\n中\n文\nthe\n"                   /* 15-19 */
    "a\n##a\nab\n##b\nHello\n"                       /* 20-24 */
    "don\nt\n?\n";                                  /* 25-27 */

static tfm_wordpiece *small(int lowercase) {
    tfm_wordpiece *tok = NULL;
    CHECK_OK(tfm_wordpiece_load_text(&tok, vocab_text, sizeof vocab_text - 1, "small", lowercase));
    return tok;
}

/* Encode and compare with an expected id list (terminated by -1). */
static void expect_ids(tfm_wordpiece *tok, const char *text, size_t len, unsigned flags, const int *expected,
                       const char *what) {
    tfm_tokens ids = {0};
    CHECK_OK(tfm_wordpiece_encode(tok, text, len, flags, &ids));
    size_t n = 0;
    while (expected[n] >= 0) n++;
    int same = ids.count == n;
    for (size_t i = 0; same && i < n; i++) same = ids.ids[i] == (uint32_t)expected[i];
    CHECK(same, "%s: got %zu ids (first %d), expected %zu", what, ids.count, ids.count ? (int)ids.ids[0] : -1, n);
    tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
}
#define EXPECT(tok, text, flags, ...)                                                             \
    do {                                                                                          \
        static const int expected_[] = {__VA_ARGS__, -1};                                         \
        expect_ids(tok, text, sizeof(text) - 1, flags, expected_, text);                          \
    } while (0)

static void test_rules(void) {
    tfm_wordpiece *tok = small(1);
    EXPECT(tok, "unaffable", 0, 5, 6, 7);                      /* greedy longest match with ## */
    EXPECT(tok, "Hello, World!", 0, 8, 10, 9, 11);             /* lower-case, punctuation split */
    EXPECT(tok, "  hello\t\n\r world  ", 0, 8, 9);             /* whitespace of every kind */
    EXPECT(tok, "Café STRASSE", 0, 15, 16);                     /* accents stripped (NFD, drop Mn) */
    EXPECT(tok, "Cafe\xcc\x81", 0, 15);                         /* combining acute accent dropped */
    EXPECT(tok, "中文", 0, 17, 18);                             /* CJK ideographs split */
    EXPECT(tok, "hel\x01lo\x7f", 0, 8);                         /* control characters removed */
    EXPECT(tok, "hel\xff\xc3lo", 0, 8);                         /* invalid UTF-8: U+FFFD, removed */
    EXPECT(tok, "hel\xe2\x80\x8blo", 0, 8);                     /* zero-width space (Cf) removed */
    EXPECT(tok, "hello\xc2\xa0world", 0, 8, 9);                 /* no-break space is whitespace */
    EXPECT(tok, "xyz hello", 0, 1, 8);                          /* unknown word: one [UNK] */
    EXPECT(tok, "aab", 0, 20, 21, 23);                          /* a ##a ##b */
    EXPECT(tok, "unaffablex", 0, 1);                            /* a word that cannot finish: [UNK] */
    EXPECT(tok, "[SEP]hello[CLS]", TFM_WORDPIECE_ALLOW_SPECIAL, 3, 8, 2);
    EXPECT(tok, "[SEP]", 0, 1, 1, 1);                           /* not special without the flag: [ sep ] */
    /* 100 characters is still a word, 101 is [UNK]. */
    char word[128];
    memset(word, 'a', sizeof word);
    tfm_tokens ids = {0};
    CHECK_OK(tfm_wordpiece_encode(tok, word, 100, 0, &ids));
    CHECK(ids.count == 100 && ids.ids[0] == 20 && ids.ids[99] == 21, "100 a's: %zu ids", ids.count);
    ids.count = 0;
    CHECK_OK(tfm_wordpiece_encode(tok, word, 101, 0, &ids));
    CHECK(ids.count == 1 && ids.ids[0] == 1, "101 a's: %zu ids", ids.count);
    ids.count = 0;
    CHECK_OK(tfm_wordpiece_encode(tok, "", 0, 0, &ids));
    CHECK(ids.count == 0, "empty input");
    tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
    tfm_wordpiece_free(tok);

    tok = small(0); /* cased: no lower-casing, accents kept */
    EXPECT(tok, "Hello hello", 0, 24, 8);
    EXPECT(tok, "Café", 0, 1);
    tfm_wordpiece_free(tok);
}

static void test_pairs_and_decode(void) {
    tfm_wordpiece *tok = small(1);
    uint32_t ids[16], types[16], mask[16];
    size_t used = 0;
    CHECK_OK(tfm_wordpiece_encode_pair(tok, "hello world", 11, "unaffable", 9, 0, 10, ids, types, mask, &used));
    static const uint32_t want_ids[10] = {2, 8, 9, 3, 5, 6, 7, 3, 0, 0};
    static const uint32_t want_types[10] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    CHECK(used == 8 && !memcmp(ids, want_ids, sizeof want_ids) && !memcmp(types, want_types, sizeof want_types),
          "pair layout (used %zu)", used);
    CHECK(mask[7] == 1 && mask[8] == 0, "attention mask");
    /* Longest first: budget 4 (7 - 3); a has 2, b has 3 -> b loses one; tie 2/2 with budget 3 -> 1/2. */
    CHECK_OK(tfm_wordpiece_encode_pair(tok, "hello world", 11, "unaffable", 9, 0, 7, ids, types, mask, &used));
    CHECK(used == 7 && ids[1] == 8 && ids[2] == 9 && ids[4] == 5 && ids[5] == 6 && ids[6] == 3, "longest first");
    CHECK_OK(tfm_wordpiece_encode_pair(tok, "hello world", 11, "the world", 9, 0, 6, ids, types, mask, &used));
    CHECK(used == 6 && ids[1] == 8 && ids[2] == 3 && ids[3] == 19 && ids[4] == 9, "tie: second keeps the odd one");
    CHECK_OK(tfm_wordpiece_encode_pair(tok, "hello world", 11, NULL, 0, 0, 3, ids, types, mask, &used));
    CHECK(used == 3 && ids[0] == 2 && ids[1] == 8 && ids[2] == 3, "single sentence truncated");
    CHECK(tfm_wordpiece_encode_pair(tok, "a", 1, "b", 1, 0, 2, ids, types, mask, &used) == TFM_ERR_INVALID_ARGUMENT,
          "max_length below the special tokens");

    char *text = NULL;
    size_t len = 0, capacity = 0;
    const uint32_t seq[] = {2, 8, 10, 5, 6, 7, 11, 25, 13, 26, 3, 0};
    CHECK_OK(tfm_wordpiece_decode(tok, seq, 12, 1, &text, &len, &capacity));
    CHECK(!strcmp(text, "hello, unaffable! don ' t"), "decode: '%s'", text);
    len = 0;
    CHECK_OK(tfm_wordpiece_decode(tok, seq, 3, 0, &text, &len, &capacity));
    CHECK(!strcmp(text, "[CLS] hello,"), "decode with specials: '%s'", text);
    const uint32_t bad[] = {5, 999};
    CHECK(tfm_wordpiece_decode(tok, bad, 2, 0, &text, &len, &capacity) == TFM_ERR_INVALID_ARGUMENT, "bad id");
    tfm_free(text, capacity);
    CHECK(tfm_wordpiece_token_to_id(tok, "##aff", 5) == 6 && tfm_wordpiece_token_to_id(tok, "aff", 3) == -1, "lookup");
    tfm_wordpiece_free(tok);
}

static void test_errors(void) {
    tfm_wordpiece *tok = (tfm_wordpiece *)1;
    CHECK(tfm_wordpiece_load(&tok, "/nonexistent/vocab.txt", 1) == TFM_ERR_IO && tok == NULL, "missing file");
    CHECK(strstr(tfm_last_error(), "/nonexistent/vocab.txt") != NULL, "message names the file: %s", tfm_last_error());
    CHECK(tfm_wordpiece_load_text(&tok, "", 0, "v", 1) == TFM_ERR_FORMAT, "empty");
    CHECK(tfm_wordpiece_load_text(&tok, "a\nb\n", 4, "v", 1) == TFM_ERR_FORMAT, "no [UNK]");
    CHECK(strstr(tfm_last_error(), "[UNK]") != NULL, "message: %s", tfm_last_error());
    CHECK(tfm_wordpiece_load_text(&tok, "[UNK]\na\xff\n", 9, "v", 1) == TFM_ERR_FORMAT, "invalid UTF-8");
    CHECK(strstr(tfm_last_error(), "line 2") != NULL, "message: %s", tfm_last_error());
    CHECK(tfm_wordpiece_load_text(&tok, "[UNK]\na\0b\n", 10, "v", 1) == TFM_ERR_FORMAT, "NUL byte");
    /* A vocabulary without [CLS]/[SEP] encodes but cannot make pairs. */
    CHECK_OK(tfm_wordpiece_load_text(&tok, "[UNK]\r\nhello  \n", 15, "v", 1));
    CHECK(tfm_wordpiece_token_to_id(tok, "hello", 5) == 1, "trailing whitespace and CR trimmed");
    uint32_t ids[8];
    CHECK(tfm_wordpiece_encode_pair(tok, "a", 1, NULL, 0, 0, 8, ids, NULL, NULL, NULL) == TFM_ERR_UNSUPPORTED,
          "pair without [CLS]");
    tfm_wordpiece_free(tok);
    /* Repeated pieces: the last line wins, as in the reference. */
    CHECK_OK(tfm_wordpiece_load_text(&tok, "[UNK]\nx\nx\n", 10, "v", 1));
    CHECK(tfm_wordpiece_token_to_id(tok, "x", 1) == 2, "duplicate maps to the last line");
    tfm_wordpiece_free(tok);
}

/* Deterministic pseudo-random text mixing ASCII, accents, CJK, marks, controls and invalid bytes. */
static size_t random_text(char *out, size_t n, uint32_t seed) {
    static const char *const parts[] = {"hello", " ", "un", "aff", "able", ",", "Café", "\xcc\x81", "\xcc\x96",
                                        "中", "\xff", "\xc3", "\x01", "\t", "[SEP]", "[", "a", "ab", "\xe2\x80\x8b",
                                        "\xef\xbc\x81", "\xc4\xb0", "\xe1\xbe\x80", "\xf0\x9f\x98\x80", "\n", "STRASSE"};
    size_t at = 0;
    while (at + 8 < n) {
        seed = seed * 1664525u + 1013904223u;
        const char *p = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
        size_t k = strlen(p);
        if (at + k >= n) break;
        memcpy(out + at, p, k);
        at += k;
    }
    return at;
}

static int same_tokens(const tfm_tokens *a, const tfm_tokens *b) {
    return a->count == b->count && (!a->count || !memcmp(a->ids, b->ids, a->count * sizeof(uint32_t)));
}

static void test_fast_vs_reference_and_streaming(void) {
    for (int lowercase = 0; lowercase <= 1; lowercase++) {
        tfm_wordpiece *tok = small(lowercase);
        char text[4096];
        int mismatches = 0, stream_mismatches = 0;
        for (uint32_t seed = 1; seed <= 300; seed++) {
            size_t n = random_text(text, 1 + seed * 13 % sizeof text, seed);
            tfm_tokens fast = {0}, slow = {0}, streamed = {0};
            CHECK_OK(tfm_wordpiece_encode(tok, text, n, 0, &fast));
            CHECK_OK(tfm_wordpiece_encode_reference(tok, text, n, &slow));
            mismatches += !same_tokens(&fast, &slow);
            for (unsigned flags = 0; flags <= TFM_WORDPIECE_ALLOW_SPECIAL; flags++) {
                fast.count = streamed.count = 0;
                CHECK_OK(tfm_wordpiece_encode(tok, text, n, flags, &fast));
                size_t at = 0, step = 1 + seed % 7;
                while (at < n) {
                    size_t end = at + step < n ? at + step : n, consumed;
                    CHECK_OK(tfm_wordpiece_encode_chunk(tok, text + at, end - at, flags, end == n, &streamed, &consumed));
                    if (consumed == 0 && end < n) {
                        step++;
                        continue;
                    }
                    at += consumed;
                }
                stream_mismatches += !same_tokens(&fast, &streamed);
            }
            tfm_free(fast.ids, fast.capacity * sizeof(uint32_t));
            tfm_free(slow.ids, slow.capacity * sizeof(uint32_t));
            tfm_free(streamed.ids, streamed.capacity * sizeof(uint32_t));
        }
        CHECK(mismatches == 0, "lowercase %d: %d of 300 random texts differ from the reference encoder", lowercase,
              mismatches);
        CHECK(stream_mismatches == 0, "lowercase %d: %d streamed encodings differ", lowercase, stream_mismatches);
        tfm_wordpiece_free(tok);
    }
}

/* With bert-base-uncased's real vocabulary (all-MiniLM-L6-v2's, unpacked into TFM_ASSETS by scripts/setup.sh --test)
 * and the multilingual corpus (scripts/tokenizer-corpus.sh): fast == reference on a 2 MB slice. Run by hand without
 * TFM_ASSETS the check is not attempted; under CTest (which sets it) a missing file is a failure. */
static void test_corpus(void) {
    const char *source = getenv("TFM_SOURCE");
    const char *assets = getenv("TFM_ASSETS");
    if (!source || !assets) {
        printf("(TFM_SOURCE/TFM_ASSETS unset: the 2 MB corpus check needs ctest's environment)\n");
        return;
    }
    char vocab[1024], corpus[1024];
    snprintf(vocab, sizeof vocab, "%s/all-MiniLM-L6-v2/vocab.txt", assets);
    snprintf(corpus, sizeof corpus, "%s/data/tokenizer-corpus/corpus.txt", source);
    FILE *f = fopen(corpus, "rb");
    CHECK(f != NULL, "%s is missing (run scripts/tokenizer-corpus.sh)", corpus);
    tfm_wordpiece *tok = NULL;
    tfm_status status = tfm_wordpiece_load(&tok, vocab, 1);
    CHECK(status == TFM_OK, "%s does not load (run scripts/setup.sh --test): %s", vocab, tfm_last_error());
    if (!f || status != TFM_OK) {
        if (f) fclose(f);
        return;
    }
    size_t cap = 2 << 20;
    char *text = malloc(cap);
    size_t n = fread(text, 1, cap, f);
    fclose(f);
    tfm_tokens fast = {0}, slow = {0};
    CHECK_OK(tfm_wordpiece_encode(tok, text, n, 0, &fast));
    CHECK_OK(tfm_wordpiece_encode_reference(tok, text, n, &slow));
    CHECK(same_tokens(&fast, &slow), "corpus: fast %zu ids, reference %zu ids", fast.count, slow.count);
    tfm_free(fast.ids, fast.capacity * sizeof(uint32_t));
    tfm_free(slow.ids, slow.capacity * sizeof(uint32_t));
    free(text);
    tfm_wordpiece_free(tok);
}

/* The allocator fails at the n-th call: every call must fail cleanly (ASan checks for leaks). */
static long fail_at = -1, alloc_calls = 0;
static void *failing_alloc(void *user, void *pointer, size_t old_size, size_t size) {
    (void)user;
    (void)old_size;
    if (size == 0) {
        free(pointer);
        return NULL;
    }
    if (fail_at >= 0 && alloc_calls++ == fail_at) return NULL;
    void *p = aligned_alloc(64, (size + 63) / 64 * 64);
    if (p && pointer) {
        memcpy(p, pointer, old_size < size ? old_size : size);
        free(pointer);
    }
    return p;
}

static void test_allocation_failures(void) {
    tfm_set_allocator(failing_alloc, NULL);
    int clean = 1, succeeded = 0;
    for (long k = 0; k < 400 && !succeeded; k++) {
        fail_at = k;
        alloc_calls = 0;
        tfm_wordpiece *tok = NULL;
        tfm_status st = tfm_wordpiece_load_text(&tok, vocab_text, sizeof vocab_text - 1, "v", 1);
        if (st != TFM_OK) {
            clean &= st == TFM_ERR_OUT_OF_MEMORY && tok == NULL;
            continue;
        }
        tfm_tokens ids = {0};
        st = tfm_wordpiece_encode(tok, "hello unaffable world", 21, 0, &ids);
        clean &= st == TFM_OK || st == TFM_ERR_OUT_OF_MEMORY;
        const char *texts[1] = {"low lower lowest newer newest wider wide the the the"};
        tfm_wordpiece_train_options options = {.vocab_size = 60, .lowercase = 1};
        tfm_wordpiece *trained = NULL;
        tfm_status train_status = tfm_wordpiece_train(&trained, texts, NULL, 1, &options);
        clean &= train_status == TFM_OK || train_status == TFM_ERR_OUT_OF_MEMORY;
        if (st == TFM_OK && train_status == TFM_OK) succeeded = 1;
        tfm_wordpiece_free(trained);
        tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
        tfm_wordpiece_free(tok);
    }
    fail_at = -1;
    tfm_set_allocator(NULL, NULL);
    CHECK(clean, "an allocation failure gave something other than a clean out-of-memory error");
    CHECK(succeeded, "never got past the allocation failures");
}

static void test_training(void) {
    /* Counts: "lo" pairs dominate; ties go to the smaller (left id, right id). */
    const char *texts[] = {"low low low lower lower newest newest newest newest wide", "Wider WIDER"};
    tfm_wordpiece_train_options options = {.vocab_size = 1000, .min_frequency = 2, .lowercase = 1};
    tfm_wordpiece *tok = NULL, *again = NULL;
    CHECK_OK(tfm_wordpiece_train(&tok, texts, NULL, 2, &options));
    CHECK_OK(tfm_wordpiece_train(&again, texts, NULL, 2, &options));
    size_t n = tfm_wordpiece_vocab_size(tok);
    CHECK(n == tfm_wordpiece_vocab_size(again) && n > 5, "vocabulary size %zu", n);
    for (uint32_t id = 0; id < n; id++) {
        size_t a, b;
        const char *x = tfm_wordpiece_id_to_token(tok, id, &a), *y = tfm_wordpiece_id_to_token(again, id, &b);
        CHECK(a == b && !memcmp(x, y, a), "run-to-run difference at id %u", id);
    }
    size_t len;
    CHECK(!strcmp(tfm_wordpiece_id_to_token(tok, 0, &len), "[PAD]") &&
              !strcmp(tfm_wordpiece_id_to_token(tok, 4, &len), "[MASK]"),
          "special tokens first");
    /* Alphabet in code point order right after the specials: d e i l n o r s t w. */
    CHECK(!strcmp(tfm_wordpiece_id_to_token(tok, 5, &len), "d") && !strcmp(tfm_wordpiece_id_to_token(tok, 14, &len), "w"),
          "alphabet order");
    CHECK(tfm_wordpiece_token_to_id(tok, "newest", 6) >= 0 && tfm_wordpiece_token_to_id(tok, "low", 3) >= 0,
          "frequent words learned");
    CHECK(tfm_wordpiece_token_to_id(tok, "wide", 4) < 0 || tfm_wordpiece_token_to_id(tok, "wider", 5) >= 0,
          "wide(r): 3 occurrences");
    tfm_tokens ids = {0};
    CHECK_OK(tfm_wordpiece_encode(tok, "newest lowest", 13, 0, &ids));
    CHECK(ids.count >= 2 && ids.ids[0] == (uint32_t)tfm_wordpiece_token_to_id(tok, "newest", 6), "encode with it");
    tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
    /* min_frequency above every count: only specials and the alphabet. */
    tfm_wordpiece *bare = NULL;
    options.min_frequency = 1000;
    CHECK_OK(tfm_wordpiece_train(&bare, texts, NULL, 2, &options));
    CHECK(tfm_wordpiece_token_to_id(bare, "lo", 2) < 0, "no merges under min_frequency");
    tfm_wordpiece_free(bare);
    /* Special tokens without [UNK] cannot make a tokenizer. */
    const char *no_unk[] = {"[PAD]"};
    options.special_tokens = no_unk;
    options.special_count = 1;
    options.min_frequency = 0;
    CHECK(tfm_wordpiece_train(&bare, texts, NULL, 2, &options) == TFM_ERR_FORMAT && bare == NULL, "train without [UNK]");
    /* Saving is atomic and reloads identically. */
    const char *path = "test_wordpiece_vocab.txt";
    CHECK_OK(tfm_wordpiece_save(tok, path));
    tfm_wordpiece *loaded = NULL;
    CHECK_OK(tfm_wordpiece_load(&loaded, path, 1));
    CHECK(loaded && tfm_wordpiece_vocab_size(loaded) == n, "reloaded size");
    remove(path);
    tfm_wordpiece_free(loaded);
    tfm_wordpiece_free(tok);
    tfm_wordpiece_free(again);
}

int main(void) {
    test_rules();
    test_pairs_and_decode();
    test_errors();
    test_fast_vs_reference_and_streaming();
    test_corpus();
    test_allocation_failures();
    test_training();
    return test_summary();
}
