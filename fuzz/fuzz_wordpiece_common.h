/* fuzz/fuzz_wordpiece_common.h: a small in-memory WordPiece vocabulary and checks shared by the WordPiece fuzz targets. */
#ifndef TFM_FUZZ_WORDPIECE_COMMON_H
#define TFM_FUZZ_WORDPIECE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/wordpiece.h"
#include "tokenizer/wordpiece_internal.h"

#define WP_FUZZ_REQUIRE(cond, what)                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_wordpiece: %s failed: %s\n", what, tfm_last_error());       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Pieces chosen so that greedy matching backtracks, continues with "##", meets non-ASCII and fails. */
static const char wp_fuzz_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "a\nb\nc\nd\ne\nab\nabc\nabcd\n##a\n##b\n##c\n##d\n##e\n##bc\n##cd\n##abc\nun\n##able\n##ing\nthe\nthere\n"
    "caf\n##e\ncafe\nstra\n##sse\n##ße\nü\n##ü\n中\n文\n.\n,\n!\n?\n'\n-\n#\n##\n###\n[\n]\n0\n1\n##0\n##1\n"
    "é\n##é\nα\nβ\n##β\nя\n😀\n\xe2\x80\x8b\nx\n##x\nxx\n##xx\n";

static inline tfm_wordpiece *wp_fuzz_tokenizer(int lowercase) {
    static tfm_wordpiece *toks[2];
    if (!toks[lowercase]) {
        WP_FUZZ_REQUIRE(tfm_wordpiece_load_text(&toks[lowercase], wp_fuzz_vocab, sizeof wp_fuzz_vocab - 1, "fuzz",
                                                lowercase) == TFM_OK,
                        "load");
    }
    return toks[lowercase];
}

/* Encode (fast == reference), decode, and a pair encoding with invariants. */
static void wp_fuzz_check(tfm_wordpiece *tok, const char *text, size_t size) {
    static tfm_tokens fast, slow;
    fast.count = slow.count = 0;
    WP_FUZZ_REQUIRE(tfm_wordpiece_encode(tok, text, size, 0, &fast) == TFM_OK, "encode");
    WP_FUZZ_REQUIRE(tfm_wordpiece_encode_reference(tok, text, size, &slow) == TFM_OK, "reference encode");
    if (fast.count != slow.count || (fast.count && memcmp(fast.ids, slow.ids, fast.count * sizeof(uint32_t)))) {
        fprintf(stderr, "fuzz_wordpiece: fast and reference encoders disagree (%zu vs %zu ids)\n", fast.count,
                slow.count);
        abort();
    }
    /* Streaming in pieces (cut points from the data itself) gives the same ids, with and without specials. */
    for (unsigned flags = 0; flags <= TFM_WORDPIECE_ALLOW_SPECIAL; flags += TFM_WORDPIECE_ALLOW_SPECIAL) {
        static tfm_tokens whole, streamed;
        whole.count = streamed.count = 0;
        WP_FUZZ_REQUIRE(tfm_wordpiece_encode(tok, text, size, flags, &whole) == TFM_OK, "encode whole");
        size_t at = 0, step = 1 + (size ? (unsigned char)text[size - 1] % 13 : 0);
        while (at < size) {
            size_t end = at + step < size ? at + step : size, consumed = 0;
            WP_FUZZ_REQUIRE(tfm_wordpiece_encode_chunk(tok, text + at, end - at, flags, end == size, &streamed,
                                                       &consumed) == TFM_OK,
                            "encode chunk");
            WP_FUZZ_REQUIRE(consumed <= end - at && (end < size || consumed == end - at), "consumed");
            if (consumed == 0 && end < size) { /* held back: give it more text */
                step *= 2;
                continue;
            }
            at += consumed;
            step = 1 + (size ? (unsigned char)text[at % size] % 13 : 0);
        }
        if (whole.count != streamed.count ||
            (whole.count && memcmp(whole.ids, streamed.ids, whole.count * sizeof(uint32_t)))) {
            fprintf(stderr, "fuzz_wordpiece: streamed encoding differs (%zu vs %zu ids, flags %u)\n", streamed.count,
                    whole.count, flags);
            abort();
        }
    }
    size_t before = fast.count;
    WP_FUZZ_REQUIRE(tfm_wordpiece_encode(tok, text, size, TFM_WORDPIECE_ALLOW_SPECIAL, &fast) == TFM_OK,
                    "encode special");
    for (size_t i = 0; i < fast.count; i++) WP_FUZZ_REQUIRE(fast.ids[i] < tfm_wordpiece_vocab_size(tok), "id range");
    char *out = NULL;
    size_t out_len = 0, out_capacity = 0;
    WP_FUZZ_REQUIRE(tfm_wordpiece_decode(tok, fast.ids, before, 0, &out, &out_len, &out_capacity) == TFM_OK, "decode");
    WP_FUZZ_REQUIRE(out && strlen(out) == out_len, "decode length");
    tfm_free(out, out_capacity);
    uint32_t ids[24], types[24], mask[24];
    size_t max_length = 3 + (size ? (unsigned char)text[0] % 21 : 0), used = 0, half = size / 2;
    if (tfm_wordpiece_cls_id(tok) < 0 || tfm_wordpiece_sep_id(tok) < 0 || tfm_wordpiece_pad_id(tok) < 0) {
        WP_FUZZ_REQUIRE(tfm_wordpiece_encode_pair(tok, text, half, text + half, size - half, 0, max_length, ids, types,
                                                  mask, &used) == TFM_ERR_UNSUPPORTED,
                        "encode_pair refuses a vocabulary without [CLS]/[SEP]/[PAD]");
        return;
    }
    WP_FUZZ_REQUIRE(tfm_wordpiece_encode_pair(tok, text, half, text + half, size - half, 0, max_length, ids, types,
                                              mask, &used) == TFM_OK,
                    "encode_pair");
    WP_FUZZ_REQUIRE(used >= 3 && used <= max_length, "pair length");
    for (size_t i = 0; i < max_length; i++) {
        WP_FUZZ_REQUIRE(mask[i] == (i < used), "attention mask");
        WP_FUZZ_REQUIRE(i < used || (ids[i] == (uint32_t)tfm_wordpiece_pad_id(tok) && types[i] == 0), "padding");
    }
    WP_FUZZ_REQUIRE(ids[0] == (uint32_t)tfm_wordpiece_cls_id(tok) && ids[used - 1] == (uint32_t)tfm_wordpiece_sep_id(tok),
                    "pair frame");
}

#endif
