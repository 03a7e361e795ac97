/* eval/ngram.h: n-gram count tables (sorted, exact: no hashing of n-grams) shared by BLEU and chrF. */
#ifndef TFM_EVAL_NGRAM_H
#define TFM_EVAL_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

#define EVAL_NGRAM_MAX_ITEMS 8

/* An n-gram of word ids or code points; items past `order` are zero. */
typedef struct eval_ngram {
    uint32_t order;
    uint32_t item[EVAL_NGRAM_MAX_ITEMS];
} eval_ngram;

typedef struct eval_ngram_entry {
    eval_ngram gram;
    int64_t count;
} eval_ngram_entry;

/* Distinct n-grams with their counts, sorted by (order, items). */
typedef struct eval_ngram_table {
    eval_ngram_entry *entry;
    size_t count, capacity;
} eval_ngram_table;

void eval_ngram_table_free(eval_ngram_table *table);
/* Replace the contents with every n-gram of orders min_order..max_order of items[0..length). */
tfm_status eval_ngram_table_build(eval_ngram_table *table, const uint32_t *items, size_t length, int min_order, int max_order);
/* dst[g] = max(dst[g], src[g]) for every n-gram (sacreBLEU's merge over multiple references).
 * `scratch` is clobbered. */
tfm_status eval_ngram_table_merge_max(eval_ngram_table *dst, const eval_ngram_table *src, eval_ngram_table *scratch);

/* Per order n (index n-1, n <= max_order): hyp_total[n-1] = hypothesis n-grams, ref_total[n-1] =
 * reference n-grams, matched[n-1] = sum over hypothesis n-grams of min(hyp count, ref count).
 * The arrays are overwritten (max_order entries each); ref_total may be NULL. */
void eval_ngram_match(const eval_ngram_table *hyp, const eval_ngram_table *ref, int max_order, int64_t *hyp_total,
                      int64_t *ref_total, int64_t *matched);

#endif
