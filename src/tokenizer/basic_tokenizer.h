/* BERT's basic tokenizer (text cleaning, CJK splitting, lower-casing + accent stripping, punctuation
 * split), as the Hugging Face BertNormalizer + BertPreTokenizer pair does it. Internal to libtfm. */
#ifndef TFM_TOKENIZER_BASIC_TOKENIZER_H
#define TFM_TOKENIZER_BASIC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* How a code point is treated, as the reference (Hugging Face tokenizers) sees it. Its Unicode
 * categories come from utf8proc, corrected by the small generated tables in basic_tokenizer_tables.c
 * where the reference's own (older) Unicode data disagrees. */
enum {
    TFM_BASIC_REMOVE = 1u << 0,     /* dropped by cleaning: NUL, U+FFFD, control/format/private use */
    TFM_BASIC_WHITESPACE = 1u << 1, /* becomes a space: separates words */
    TFM_BASIC_CHINESE = 1u << 2,    /* CJK ideograph: surrounded by spaces, so a word of its own */
    TFM_BASIC_PUNCT = 1u << 3,      /* punctuation: a word of its own */
    TFM_BASIC_MARK = 1u << 4,       /* nonspacing mark (Mn): dropped when stripping accents */
};

/* Normalization switches (Hugging Face BertNormalizer's options). */
enum {
    TFM_BASIC_CLEAN_TEXT = 1u << 0,
    TFM_BASIC_CHINESE_CHARS = 1u << 1,
    TFM_BASIC_STRIP_ACCENTS = 1u << 2, /* NFD, then drop Mn */
    TFM_BASIC_LOWERCASE = 1u << 3,
};

unsigned tfm_basic_char_class(int32_t cp);
/* Same from utf8proc alone, without the compatibility tables (for regenerating them). */
unsigned tfm_basic_char_class_raw(int32_t cp);
/* Full lower-case mapping of one code point (1 or 2 code points, e.g. U+0130 -> "i\u0307"). */
size_t tfm_basic_char_lower(int32_t cp, int32_t out[3]);
size_t tfm_basic_char_lower_raw(int32_t cp, int32_t out[3]);
/* Canonical (NFD) decomposition of one code point, not reordered; returns the count (<= cap). */
size_t tfm_basic_char_decompose(int32_t cp, int32_t *out, size_t cap);
size_t tfm_basic_char_decompose_raw(int32_t cp, int32_t *out, size_t cap);

/* Decode one code point from UTF-8 at text[*pos] (len bytes total), advancing *pos. Invalid bytes give
 * U+FFFD, one per maximal ill-formed subpart (the WHATWG / Unicode "substitution of maximal subparts"
 * rule, which is what Node's and Rust's lossy decoders do). */
int32_t tfm_utf8_decode(const unsigned char *text, size_t len, size_t *pos);
/* Encode cp as UTF-8 into out (4 bytes room); returns the byte count. */
size_t tfm_utf8_encode(int32_t cp, char *out);

/* Called once per word (a maximal run of normalized text between whitespace and punctuation, or one
 * punctuation character). `bytes` holds the word's first `byte_count` bytes of UTF-8: the whole word
 * unless it has more than the splitter's `max_chars` characters, in which case only `char_count` is
 * meaningful. Return nonzero to stop. */
typedef int (*tfm_basic_word_fn)(void *user, const char *bytes, size_t byte_count, size_t char_count);

/* The splitter's working state. It keeps a bounded buffer (no allocation per call): a word longer than
 * max_chars is reported with its length only, and a run of more than TFM_BASIC_MARK_CAP consecutive
 * combining characters that accent stripping keeps (not Mn) is put in canonical order in pieces of that
 * size (a full NFD would sort the whole run; no real text has such runs). */
enum { TFM_BASIC_MARK_CAP = 64 };
typedef struct tfm_basic_splitter {
    unsigned flags;
    size_t max_chars;
    char *word;
    size_t word_capacity; /* 4 * (max_chars + 1) */
    size_t word_len;
    size_t word_chars;
    int32_t marks[TFM_BASIC_MARK_CAP]; /* pending non-starters, for canonical ordering */
    size_t mark_count;
    tfm_basic_word_fn on_word;
    void *user;
    int stopped;
    int in_stream; /* a chunked split is under way */
} tfm_basic_splitter;

/* `flags` from the TFM_BASIC_* switches. Allocates the word buffer. */
int tfm_basic_splitter_init(tfm_basic_splitter *splitter, unsigned flags, size_t max_chars);
void tfm_basic_splitter_release(tfm_basic_splitter *splitter);
/* Split `len` bytes of text into words, calling on_word for each, then flush the last word.
 * Returns nonzero if on_word asked to stop. */
int tfm_basic_split(tfm_basic_splitter *splitter, const char *text, size_t len, tfm_basic_word_fn on_word,
                    void *user);
/* Streaming: the same words as one tfm_basic_split over the concatenation of the chunks. Returns the
 * bytes consumed: all of them when `last`, otherwise all but an incomplete UTF-8 character at the end,
 * which the caller passes again in front of the next chunk. The word in progress stays in the splitter. */
size_t tfm_basic_split_chunk(tfm_basic_splitter *splitter, const char *text, size_t len, int last,
                             tfm_basic_word_fn on_word, void *user);

#endif
