/* eval/eval_text.h: code-point strings with Python's str semantics (split, rstrip, lower) for the metrics. */
#ifndef TFM_EVAL_TEXT_H
#define TFM_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

/* A growable array of Unicode code points. Invalid UTF-8 bytes decode to U+DC80..U+DCFF (Python's
 * "surrogateescape"), so they stay distinct characters and encode back to the same byte. */
typedef struct eval_text {
    uint32_t *cp;
    size_t count, capacity;
} eval_text;

void eval_text_free(eval_text *text);
tfm_status eval_text_reserve(eval_text *text, size_t capacity);
tfm_status eval_text_push(eval_text *text, uint32_t cp);
/* Replace the contents with the decoded UTF-8 string. */
tfm_status eval_text_decode(eval_text *text, const char *utf8);
/* Encode to a fresh UTF-8 string (free with tfm_free(p, strlen(p) + 1)). */
tfm_status eval_text_encode(const eval_text *text, char **out);

/* Python's str.isspace() for one code point (what str.split() and str.rstrip() use). */
int eval_is_space(uint32_t cp);
/* Python's str.lower() in place (may grow: U+0130 becomes "i" + U+0307). */
tfm_status eval_text_lower(eval_text *text);
/* Python's str.rstrip(): drop trailing whitespace. */
void eval_text_rstrip(eval_text *text);
/* ''.join(s.split()): remove every whitespace character. */
void eval_text_remove_spaces(eval_text *text);

/* A run of code points: cp[start .. start + length). */
typedef struct eval_span {
    size_t start, length;
} eval_span;

/* Tokens of a whitespace-split text. */
typedef struct eval_tokens {
    eval_span *span;
    size_t count, capacity;
} eval_tokens;

void eval_tokens_free(eval_tokens *tokens);
tfm_status eval_tokens_push(eval_tokens *tokens, size_t start, size_t length);
/* Python's str.split() with no argument (tokens are appended after clearing). */
tfm_status eval_text_split(const eval_text *text, eval_tokens *tokens);

/* Maps token strings (code-point sequences) to dense ids 0, 1, 2, ... so n-grams can be compared as
 * integer sequences. */
typedef struct eval_interner {
    uint32_t *keys;        /* all interned code points, back to back */
    size_t keys_count, keys_capacity;
    eval_span *span;       /* per id: where its code points are in keys */
    size_t ids, ids_capacity;
    uint32_t *slots;       /* open addressing: id + 1, 0 = empty */
    size_t slots_count;    /* power of two */
} eval_interner;

void eval_interner_free(eval_interner *interner);
tfm_status eval_interner_id(eval_interner *interner, const uint32_t *cp, size_t length, uint32_t *id);

#endif
