/* eval/ngram.c: builds sorted n-gram count tables and matches them by a merge walk. */
#include "eval/ngram.h"

#include <stdlib.h>
#include <string.h>

void eval_ngram_table_free(eval_ngram_table *table) {
    tfm_free(table->entry, table->capacity * sizeof *table->entry);
    memset(table, 0, sizeof *table);
}

static tfm_status table_reserve(eval_ngram_table *table, size_t capacity) {
    if (capacity <= table->capacity) return TFM_OK;
    size_t grown = table->capacity ? table->capacity * 2 : 256;
    if (grown < capacity) grown = capacity;
    eval_ngram_entry *entry = tfm_realloc(table->entry, table->capacity * sizeof *entry, grown * sizeof *entry);
    if (!entry) return TFM_ERR_OUT_OF_MEMORY;
    table->entry = entry;
    table->capacity = grown;
    return TFM_OK;
}

static int compare_grams(const eval_ngram *a, const eval_ngram *b) {
    if (a->order != b->order) return a->order < b->order ? -1 : 1;
    for (uint32_t i = 0; i < a->order; i++)
        if (a->item[i] != b->item[i]) return a->item[i] < b->item[i] ? -1 : 1;
    return 0;
}

static int compare_entries(const void *a, const void *b) {
    return compare_grams(&((const eval_ngram_entry *)a)->gram, &((const eval_ngram_entry *)b)->gram);
}

tfm_status eval_ngram_table_build(eval_ngram_table *table, const uint32_t *items, size_t length, int min_order, int max_order) {
    table->count = 0;
    if (min_order < 1 || max_order > EVAL_NGRAM_MAX_ITEMS || min_order > max_order)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "n-gram orders %d..%d outside 1..%d", min_order, max_order, EVAL_NGRAM_MAX_ITEMS);
    size_t needed = 0;
    for (int n = min_order; n <= max_order; n++)
        if (length >= (size_t)n) needed += length - (size_t)n + 1;
    tfm_status st = table_reserve(table, needed);
    if (st) return st;
    for (int n = min_order; n <= max_order; n++) {
        for (size_t i = 0; i + (size_t)n <= length; i++) {
            eval_ngram_entry *e = &table->entry[table->count++];
            memset(&e->gram, 0, sizeof e->gram);
            e->gram.order = (uint32_t)n;
            memcpy(e->gram.item, items + i, (size_t)n * sizeof *items);
            e->count = 1;
        }
    }
    if (table->count > 1) qsort(table->entry, table->count, sizeof *table->entry, compare_entries);
    size_t out = 0;
    for (size_t i = 0; i < table->count; i++) {
        if (out > 0 && compare_grams(&table->entry[out - 1].gram, &table->entry[i].gram) == 0) table->entry[out - 1].count++;
        else table->entry[out++] = table->entry[i];
    }
    table->count = out;
    return TFM_OK;
}

tfm_status eval_ngram_table_merge_max(eval_ngram_table *dst, const eval_ngram_table *src, eval_ngram_table *scratch) {
    scratch->count = 0;
    tfm_status st = table_reserve(scratch, dst->count + src->count);
    if (st) return st;
    size_t i = 0, j = 0;
    while (i < dst->count || j < src->count) {
        int c = i == dst->count ? 1 : j == src->count ? -1 : compare_grams(&dst->entry[i].gram, &src->entry[j].gram);
        if (c < 0) scratch->entry[scratch->count++] = dst->entry[i++];
        else if (c > 0) scratch->entry[scratch->count++] = src->entry[j++];
        else {
            eval_ngram_entry e = dst->entry[i++];
            if (src->entry[j].count > e.count) e.count = src->entry[j].count;
            j++;
            scratch->entry[scratch->count++] = e;
        }
    }
    eval_ngram_table t = *dst;
    *dst = *scratch;
    *scratch = t;
    return TFM_OK;
}

void eval_ngram_match(const eval_ngram_table *hyp, const eval_ngram_table *ref, int max_order, int64_t *hyp_total,
                      int64_t *ref_total, int64_t *matched) {
    for (int n = 0; n < max_order; n++) {
        hyp_total[n] = 0;
        matched[n] = 0;
        if (ref_total) ref_total[n] = 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < hyp->count; i++) {
        const eval_ngram_entry *h = &hyp->entry[i];
        if (h->gram.order < 1 || (int)h->gram.order > max_order) continue;
        hyp_total[h->gram.order - 1] += h->count;
        while (j < ref->count && compare_grams(&ref->entry[j].gram, &h->gram) < 0) j++;
        if (j < ref->count && compare_grams(&ref->entry[j].gram, &h->gram) == 0)
            matched[h->gram.order - 1] += h->count < ref->entry[j].count ? h->count : ref->entry[j].count;
    }
    if (ref_total)
        for (size_t k = 0; k < ref->count; k++)
            if (ref->entry[k].gram.order >= 1 && (int)ref->entry[k].gram.order <= max_order)
                ref_total[ref->entry[k].gram.order - 1] += ref->entry[k].count;
}
