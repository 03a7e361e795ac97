/* eval/chrf.c: chrF and chrF++ as sacreBLEU 2.x computes them (best reference per segment, corpus-summed statistics). */
#include <stdio.h>
#include <string.h>

#include "eval/eval_text.h"
#include "eval/ngram.h"
#include "tfm/metrics.h"

#define CHRF_ORDERS (TFM_CHRF_MAX_ORDER + 2)

void tfm_chrf_options_default(tfm_chrf_options *options) {
    memset(options, 0, sizeof *options);
    options->char_order = 6;
    options->word_order = 0;
    options->beta = 2;
}

static tfm_status check_options(const tfm_chrf_options *o) {
    if (o->char_order < 1 || o->char_order > TFM_CHRF_MAX_ORDER)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: char_order %d outside 1..%d", o->char_order, TFM_CHRF_MAX_ORDER);
    if (o->word_order < 0 || o->word_order > 2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: word_order %d outside 0..2", o->word_order);
    if (o->beta < 0 || o->beta > 100) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: beta %d outside 0..100", o->beta);
    return TFM_OK;
}

/* The n-grams of one preprocessed segment: characters (orders 1..char_order) and words (1..word_order). */
typedef struct chrf_ngrams {
    eval_ngram_table chars, words;
} chrf_ngrams;

typedef struct chrf_work {
    eval_text text, chars;
    eval_tokens tokens;
    eval_interner interner;
    uint32_t *ids;
    size_t ids_capacity;
    chrf_ngrams hyp, ref;
} chrf_work;

static void ngrams_free(chrf_ngrams *g) {
    eval_ngram_table_free(&g->chars);
    eval_ngram_table_free(&g->words);
}

static void work_free(chrf_work *w) {
    eval_text_free(&w->text);
    eval_text_free(&w->chars);
    eval_tokens_free(&w->tokens);
    eval_interner_free(&w->interner);
    tfm_free(w->ids, w->ids_capacity * sizeof *w->ids);
    ngrams_free(&w->hyp);
    ngrams_free(&w->ref);
}

/* Python's string.punctuation. */
static int is_ascii_punctuation(uint32_t c) { return c < 0x80 && c > 0x20 && c != 0x7F && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c) != NULL; }

/* sacreBLEU's CHRF._remove_punctuation: split on whitespace, then detach one trailing (or else one
 * leading) ASCII punctuation character from each word longer than one character. */
static tfm_status words_without_punctuation(chrf_work *w) {
    eval_tokens *t = &w->tokens;
    tfm_status st = eval_text_split(&w->text, t);
    if (st) return st;
    size_t words = t->count;
    /* Append the re-split words after the originals, then move them to the front. */
    for (size_t i = 0; i < words; i++) {
        eval_span s = t->span[i];
        const uint32_t *cp = w->text.cp + s.start;
        if (s.length == 1) st = eval_tokens_push(t, s.start, 1);
        else if (is_ascii_punctuation(cp[s.length - 1])) {
            if ((st = eval_tokens_push(t, s.start, s.length - 1)) == TFM_OK) st = eval_tokens_push(t, s.start + s.length - 1, 1);
        } else if (is_ascii_punctuation(cp[0])) {
            if ((st = eval_tokens_push(t, s.start, 1)) == TFM_OK) st = eval_tokens_push(t, s.start + 1, s.length - 1);
        } else st = eval_tokens_push(t, s.start, s.length);
        if (st) return st;
    }
    if (t->count > words) memmove(t->span, t->span + words, (t->count - words) * sizeof *t->span);
    t->count -= words;
    return TFM_OK;
}

static tfm_status segment_ngrams(chrf_work *w, const char *line, const tfm_chrf_options *o, chrf_ngrams *out) {
    tfm_status st;
    if ((st = eval_text_decode(&w->text, line)) != TFM_OK) return st;
    if (o->lowercase && (st = eval_text_lower(&w->text)) != TFM_OK) return st;
    w->chars.count = 0;
    if ((st = eval_text_reserve(&w->chars, w->text.count)) != TFM_OK) return st;
    if (w->text.count) memcpy(w->chars.cp, w->text.cp, w->text.count * sizeof *w->text.cp);
    w->chars.count = w->text.count;
    if (!o->whitespace) eval_text_remove_spaces(&w->chars);
    if ((st = eval_ngram_table_build(&out->chars, w->chars.cp, w->chars.count, 1, o->char_order)) != TFM_OK) return st;
    out->words.count = 0;
    if (o->word_order == 0) return TFM_OK;
    if ((st = words_without_punctuation(w)) != TFM_OK) return st;
    size_t n = w->tokens.count;
    if (n > w->ids_capacity) {
        size_t grown = n > 2 * w->ids_capacity ? n : 2 * w->ids_capacity;
        uint32_t *ids = tfm_realloc(w->ids, w->ids_capacity * sizeof *ids, grown * sizeof *ids);
        if (!ids) return TFM_ERR_OUT_OF_MEMORY;
        w->ids = ids;
        w->ids_capacity = grown;
    }
    for (size_t i = 0; i < n; i++) {
        const eval_span *s = &w->tokens.span[i];
        if ((st = eval_interner_id(&w->interner, w->text.cp + s->start, s->length, &w->ids[i])) != TFM_OK) return st;
    }
    return eval_ngram_table_build(&out->words, w->ids, n, 1, o->word_order);
}

/* sacreBLEU's CHRF._get_match_statistics for every order: [hyp, ref, match] triples, characters first. */
static void match_statistics(const chrf_ngrams *hyp, const chrf_ngrams *ref, const tfm_chrf_options *o, int64_t stats[][3]) {
    int64_t h[TFM_CHRF_MAX_ORDER], r[TFM_CHRF_MAX_ORDER], m[TFM_CHRF_MAX_ORDER];
    eval_ngram_match(&hyp->chars, &ref->chars, o->char_order, h, r, m);
    for (int n = 0; n < o->char_order; n++) {
        /* "Don't count hits if no reference exists for that n-gram": no reference n-grams of this order. */
        stats[n][0] = r[n] ? h[n] : 0;
        stats[n][1] = r[n];
        stats[n][2] = m[n];
    }
    if (o->word_order) {
        eval_ngram_match(&hyp->words, &ref->words, o->word_order, h, r, m);
        for (int n = 0; n < o->word_order; n++) {
            stats[o->char_order + n][0] = r[n] ? h[n] : 0;
            stats[o->char_order + n][1] = r[n];
            stats[o->char_order + n][2] = m[n];
        }
    }
}

/* sacreBLEU's CHRF._compute_f_score, operation for operation. */
static double f_score(const int64_t stats[][3], const tfm_chrf_options *o) {
    const double eps = 1e-16;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int effective_order = 0, order = o->char_order + o->word_order;
    double factor = (double)o->beta * (double)o->beta;
    for (int i = 0; i < order; i++) {
        int64_t n_hyp = stats[i][0], n_ref = stats[i][1], n_match = stats[i][2];
        double prec = n_hyp > 0 ? (double)n_match / (double)n_hyp : eps;
        double rec = n_ref > 0 ? (double)n_match / (double)n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += prec;
            avg_rec += rec;
            effective_order++;
        }
    }
    if (o->eps_smoothing) return 100 * score / order;
    if (effective_order == 0) avg_prec = avg_rec = 0.0;
    else {
        avg_prec /= effective_order;
        avg_rec /= effective_order;
    }
    if (avg_prec + avg_rec != 0) {
        score = (1 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        return 100 * score;
    }
    return 0.0;
}

/* Best-reference statistics of one segment; *used_refs = non-empty references seen. */
static tfm_status segment_stats(chrf_work *w, const char *hyp, const char *const *refs, size_t num_refs,
                                const tfm_chrf_options *o, int64_t best[][3], size_t *used_refs) {
    *used_refs = 0;
    tfm_status st = segment_ngrams(w, hyp, o, &w->hyp);
    if (st) return st;
    double best_f = -1.0;
    for (size_t r = 0; r < num_refs; r++) {
        if (!refs[r]) continue; /* None is skipped, "" is an empty reference (as in sacreBLEU) */
        (*used_refs)++;
        if ((st = segment_ngrams(w, refs[r], o, &w->ref)) != TFM_OK) return st;
        int64_t stats[CHRF_ORDERS][3];
        memset(stats, 0, sizeof stats);
        match_statistics(&w->hyp, &w->ref, o, stats);
        double f = f_score((const int64_t(*)[3])stats, o);
        if (f > best_f) {
            best_f = f;
            memcpy(best, stats, sizeof stats);
        }
    }
    return TFM_OK;
}

static void finish(const int64_t sum[][3], const tfm_chrf_options *o, tfm_chrf_score *score) {
    memset(score, 0, sizeof *score);
    memcpy(score->counts, sum, sizeof score->counts);
    score->beta = o->beta;
    score->char_order = o->char_order;
    score->word_order = o->word_order;
    score->score = f_score(sum, o);
}

tfm_status tfm_chrf_corpus(const char *const *hyps, size_t count, const char *const *const *refs, size_t num_streams,
                           const tfm_chrf_options *options, tfm_chrf_score *score) {
    tfm_chrf_options defaults;
    if (!options) { tfm_chrf_options_default(&defaults); options = &defaults; }
    tfm_status st = check_options(options);
    if (st) return st;
    if (!hyps && count) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: no hypotheses given");
    if (num_streams == 0 || !refs) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: no references given");
    const char **segment_refs = tfm_malloc(num_streams * sizeof *segment_refs);
    if (!segment_refs) return TFM_ERR_OUT_OF_MEMORY;
    chrf_work w;
    memset(&w, 0, sizeof w);
    int64_t sum[CHRF_ORDERS][3];
    memset(sum, 0, sizeof sum);
    for (size_t i = 0; i < count; i++) {
        if (!hyps[i]) { st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: hypothesis %zu is NULL", i + 1); break; }
        for (size_t r = 0; r < num_streams; r++) segment_refs[r] = refs[r] ? refs[r][i] : NULL;
        int64_t best[CHRF_ORDERS][3];
        memset(best, 0, sizeof best);
        size_t used;
        if ((st = segment_stats(&w, hyps[i], segment_refs, num_streams, options, best, &used)) != TFM_OK) break;
        if (used == 0) {
            st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: segment %zu has no reference (every reference is NULL)", i + 1);
            break;
        }
        for (int k = 0; k < CHRF_ORDERS; k++)
            for (int j = 0; j < 3; j++) sum[k][j] += best[k][j];
    }
    work_free(&w);
    tfm_free(segment_refs, num_streams * sizeof *segment_refs);
    if (st) return st;
    finish((const int64_t(*)[3])sum, options, score);
    return TFM_OK;
}

tfm_status tfm_chrf_sentence(const char *hyp, const char *const *refs, size_t num_refs, const tfm_chrf_options *options,
                             tfm_chrf_score *score) {
    tfm_chrf_options defaults;
    if (!options) { tfm_chrf_options_default(&defaults); options = &defaults; }
    tfm_status st = check_options(options);
    if (st) return st;
    if (!hyp) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: hypothesis is NULL");
    chrf_work w;
    memset(&w, 0, sizeof w);
    int64_t best[CHRF_ORDERS][3];
    memset(best, 0, sizeof best);
    size_t used;
    st = segment_stats(&w, hyp, refs, num_refs, options, best, &used);
    work_free(&w);
    if (st) return st;
    if (used == 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "chrf: no reference (every reference is NULL)");
    finish((const int64_t(*)[3])best, options, score);
    return TFM_OK;
}

int tfm_chrf_format(const tfm_chrf_score *score, char *buffer, size_t size) {
    return snprintf(buffer, size, "chrF%d%s = %.2f", score->beta, score->word_order == 2 ? "++" : score->word_order == 1 ? "+" : "",
                    score->score);
}
