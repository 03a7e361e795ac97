/* fuzz/fuzz_bpe_common.h: a small byte-level BPE tokenizer trained once per fuzzing process, and checks. */
#ifndef TFM_FUZZ_BPE_COMMON_H
#define TFM_FUZZ_BPE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretokenize.h"

#define FUZZ_REQUIRE(cond, what)                                                               \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz check failed: %s (%s:%d): %s\n", what, __FILE__, __LINE__,   \
                    tfm_last_error());                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static inline tfm_bpe *fuzz_small_tokenizer(void) {
    static tfm_bpe *tok;
    if (tok) return tok;
    static const char text[] =
        "The quick brown fox jumps over the lazy dog. It's 2024; we've 12345 numbers and they'll   tabs\t\t"
        "and newlines\n\n   ünïcödé  日本語のテキスト 中文 emoji 😀😀 don't stop 'til you're done. "
        "aaaaaaaa bbbb  the the the there their they them these those    1111 2222 3333 <<< >>> ";
    const char *texts[] = {text};
    size_t lengths[] = {sizeof text - 1};
    const char *special[] = {"<|endoftext|>", "<pad>"};
    tfm_bpe_train_options o = {400, 1, special, 2};
    FUZZ_REQUIRE(tfm_bpe_train(&tok, texts, lengths, 1, &o) == TFM_OK, "train the small tokenizer");
    return tok;
}

/* Encode `data`, check decode(encode(x)) == x, the fast path against the reference (pre-tokenizer and
 * per-piece BPE), and chunked partial encoding against whole encoding. */
static void fuzz_check_encoder(tfm_bpe *tok, const uint8_t *data, size_t size) {
    tfm_tokens whole = {0}, ref = {0}, chunked = {0};
    FUZZ_REQUIRE(tfm_bpe_encode(tok, (const char *)data, size, 0, &whole, NULL) == TFM_OK, "encode");
    char *bytes = NULL;
    size_t blen = 0, bcap = 0;
    FUZZ_REQUIRE(tfm_bpe_decode(tok, whole.ids, whole.count, 0, &bytes, &blen, &bcap) == TFM_OK, "decode");
    int has_all_bytes = 1;
    for (int b = 0; b < 256; b++) has_all_bytes &= tok->byte_id[b] != TFM_BPE_NONE;
    if (has_all_bytes) FUZZ_REQUIRE(blen == size && (size == 0 || memcmp(bytes, data, size) == 0), "decode(encode(x)) == x");
    tfm_free(bytes, bcap);
    if (tok->use_regex && !tok->add_prefix_space && tok->added_count == 0) {
        /* Reference: reference pre-tokenizer + reference BPE per piece. */
        for (size_t pos = 0; pos < size;) {
            size_t e = tfm_pretokenize_next(data, size, pos);
            size_t r = tfm_pretokenize_next_reference(data, size, pos);
            FUZZ_REQUIRE(e == r && e > pos && e <= size, "fast pre-tokenizer == reference");
            FUZZ_REQUIRE(tfm_bpe_encode_piece_reference(tok, data + pos, e - pos, &ref) == TFM_OK, "reference piece");
            pos = e;
        }
        FUZZ_REQUIRE(ref.count == whole.count && (ref.count == 0 || !memcmp(ref.ids, whole.ids, ref.count * 4)),
                     "fast encode == reference encode");
    }
    /* Streaming in chunks whose sizes come from the data itself. */
    for (unsigned flags = 0; flags <= TFM_BPE_ALLOW_SPECIAL; flags += TFM_BPE_ALLOW_SPECIAL) {
        tfm_tokens direct = {0};
        FUZZ_REQUIRE(tfm_bpe_encode(tok, (const char *)data, size, flags, &direct, NULL) == TFM_OK, "encode");
        chunked.count = 0;
        size_t fed = 0, start = 0;
        unsigned cont = 0;
        while (fed < size) {
            size_t step = 1 + (data[fed] % 7);
            fed = fed + step < size ? fed + step : size;
            size_t consumed = 0;
            FUZZ_REQUIRE(tfm_bpe_encode(tok, (const char *)data + start, fed - start, flags | cont | TFM_BPE_PARTIAL, &chunked,
                                        &consumed) == TFM_OK, "partial encode");
            if (consumed) cont = TFM_BPE_CONTINUATION;
            start += consumed;
        }
        size_t consumed = 0;
        FUZZ_REQUIRE(tfm_bpe_encode(tok, (const char *)data + start, size - start, flags | cont, &chunked, &consumed) == TFM_OK,
                     "final encode");
        FUZZ_REQUIRE(chunked.count == direct.count && (direct.count == 0 || !memcmp(chunked.ids, direct.ids, direct.count * 4)),
                     "chunked encode == whole encode");
        tfm_tokens_free(&direct);
    }
    tfm_tokens_free(&whole);
    tfm_tokens_free(&ref);
    tfm_tokens_free(&chunked);
}

#endif
