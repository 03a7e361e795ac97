/* GPT-2 pre-tokenizer: splits text into the pieces BPE merges within, exactly as GPT-2's regex does. */
#ifndef TFM_TOKENIZER_PRETOKENIZE_H
#define TFM_TOKENIZER_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* The pattern, with \p{L} / \p{N} the Unicode letter / number categories (from utf8proc) and \s the
 * Unicode White_Space property (as in tiktoken's and Hugging Face's regex engines):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Every position matches some alternative, so the pieces tile the text. Bytes that are not part of a
 * well-formed UTF-8 sequence count as one "other" character each (neither letter, number nor space),
 * which is how the replacement character U+FFFD would be classified. */

/* Character classes used by the pattern. */
enum { TFM_PRETOKENIZE_OTHER = 0, TFM_PRETOKENIZE_LETTER = 1, TFM_PRETOKENIZE_NUMBER = 2, TFM_PRETOKENIZE_SPACE = 3 };

/* The end (exclusive) of the piece that starts at `pos` (< len) in text[0, len). Fast version. */
size_t tfm_pretokenize_next(const uint8_t *text, size_t len, size_t pos);
/* The same, by a literal, slow simulation of the regex alternatives with utf8proc calls; the tests
 * hold tfm_pretokenize_next to it. */
size_t tfm_pretokenize_next_reference(const uint8_t *text, size_t len, size_t pos);

/* Decode one character at text[pos] (pos < len): returns its length in bytes (1 for an invalid byte)
 * and stores its class. */
size_t tfm_pretokenize_char(const uint8_t *text, size_t len, size_t pos, int *char_class);
/* Class of a code point (letter / number / space / other). */
int tfm_pretokenize_class(int32_t codepoint);

/* How many bytes past a piece's end the pattern may look at before deciding that piece: a piece that
 * ends at least this far before the end of the available text cannot change when text is appended. */
#define TFM_PRETOKENIZE_LOOKAHEAD 8

#endif
