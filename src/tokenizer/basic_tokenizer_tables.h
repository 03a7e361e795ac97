/* Compatibility tables for basic_tokenizer.c: where the reference's Unicode data differs from utf8proc's. */
#ifndef TFM_TOKENIZER_BASIC_TOKENIZER_TABLES_H
#define TFM_TOKENIZER_BASIC_TOKENIZER_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct tfm_basic_range {
    int32_t first, last; /* inclusive */
} tfm_basic_range;

typedef struct tfm_basic_case_pair {
    int32_t upper, lower;
} tfm_basic_case_pair;

/* Each table is sorted by code point. A code point inside a *_flip range has that property inverted
 * relative to utf8proc's answer. */
extern const tfm_basic_range tfm_basic_remove_flip[];
extern const size_t tfm_basic_remove_flip_count;
extern const tfm_basic_range tfm_basic_mark_flip[];
extern const size_t tfm_basic_mark_flip_count;
extern const tfm_basic_range tfm_basic_punct_flip[];
extern const size_t tfm_basic_punct_flip_count;
/* Lower-case mappings utf8proc does not know (newer Unicode than utf8proc's). */
extern const tfm_basic_case_pair tfm_basic_lower_extra[];
extern const size_t tfm_basic_lower_extra_count;
/* Code points that the reference leaves undecomposed although utf8proc decomposes them. */
extern const tfm_basic_range tfm_basic_no_decompose[];
extern const size_t tfm_basic_no_decompose_count;

#endif
