/* eval/bleu.c: corpus and sentence BLEU with sacreBLEU 2.x's statistics, smoothing, brevity penalty and output. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/bleu_tokenize.h"
#include "eval/ngram.h"
#include "tfm/metrics.h"

void tfm_bleu_options_default(tfm_bleu_options *options) {
    memset(options, 0, sizeof *options);
    options->tokenizer = TFM_BLEU_TOKENIZE_13A;
    options->smoothing = TFM_BLEU_SMOOTH_EXP;
    options->smooth_value = -1;
    options->max_order = 4;
}

void tfm_bleu_options_sentence(tfm_bleu_options *options) {
    tfm_bleu_options_default(options);
    options->effective_order = 1;
}

static tfm_status check_options(const tfm_bleu_options *o) {
    if (o->max_order < 1 || o->max_order > TFM_BLEU_MAX_ORDER)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: max_order %d outside 1..%d", o->max_order, TFM_BLEU_MAX_ORDER);
    if ((unsigned)o->tokenizer > TFM_BLEU_TOKENIZE_CHAR)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: unknown tokenizer %d", (int)o->tokenizer);
    if ((unsigned)o->smoothing > TFM_BLEU_SMOOTH_ADD_K)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: unknown smoothing method %d", (int)o->smoothing);
    if (!isfinite(o->smooth_value)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: smooth_value is not finite");
    return TFM_OK;
}

/* Buffers reused across the segments of one corpus. */
typedef struct bleu_work {
    eval_text text, scratch;
    eval_tokens tokens;
    eval_interner interner;
    uint32_t *ids;
    size_t ids_capacity;
    eval_ngram_table ref, one, hyp, merge;
} bleu_work;

static void work_free(bleu_work *w) {
    eval_text_free(&w->text);
    eval_text_free(&w->scratch);
    eval_tokens_free(&w->tokens);
    eval_interner_free(&w->interner);
    tfm_free(w->ids, w->ids_capacity * sizeof *w->ids);
    eval_ngram_table_free(&w->ref);
    eval_ngram_table_free(&w->one);
    eval_ngram_table_free(&w->hyp);
    eval_ngram_table_free(&w->merge);
}

/* Tokenize `line` and build its n-gram table; *length = number of tokens. */
static tfm_status segment_ngrams(bleu_work *w, const char *line, const tfm_bleu_options *o, eval_ngram_table *table,
                                 int64_t *length) {
    tfm_status st;
    if ((st = eval_text_decode(&w->text, line)) != TFM_OK) return st;
    if ((st = eval_bleu_tokenize_text(&w->text, &w->scratch, o->tokenizer, o->lowercase, &w->tokens)) != TFM_OK) return st;
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
    *length = (int64_t)n;
    return eval_ngram_table_build(table, w->ids, n, 1, o->max_order);
}

/* sacreBLEU's _get_closest_ref_len: the reference length closest to the hypothesis length, the shorter on ties. */
static int64_t closest_ref_len(int64_t hyp_len, const int64_t *ref_lens, size_t count) {
    int64_t best_diff = -1, best_len = -1;
    for (size_t r = 0; r < count; r++) {
        int64_t diff = hyp_len > ref_lens[r] ? hyp_len - ref_lens[r] : ref_lens[r] - hyp_len;
        if (best_diff == -1 || diff < best_diff) { best_diff = diff; best_len = ref_lens[r]; }
        else if (diff == best_diff && ref_lens[r] < best_len) best_len = ref_lens[r];
    }
    return best_len;
}

/* Statistics of one segment; *used_refs = how many non-empty references it had (0 is an error for the caller). */
static tfm_status segment_stats(bleu_work *w, const char *hyp, const char *const *refs, size_t num_refs,
                                const tfm_bleu_options *o, tfm_bleu_stats *stats, size_t *used_refs) {
    memset(stats, 0, sizeof *stats);
    *used_refs = 0;
    int64_t ref_lens_small[16], *ref_lens = ref_lens_small;
    if (num_refs > 16) {
        ref_lens = tfm_malloc(num_refs * sizeof *ref_lens);
        if (!ref_lens) return TFM_ERR_OUT_OF_MEMORY;
    }
    tfm_status st = TFM_OK;
    w->ref.count = 0;
    for (size_t r = 0; r < num_refs; r++) {
        if (!refs[r]) continue; /* sacreBLEU drops None references; "" is a reference of length 0 */
        int64_t len;
        if ((st = segment_ngrams(w, refs[r], o, *used_refs == 0 ? &w->ref : &w->one, &len)) != TFM_OK) goto done;
        if (*used_refs > 0 && (st = eval_ngram_table_merge_max(&w->ref, &w->one, &w->merge)) != TFM_OK) goto done;
        ref_lens[(*used_refs)++] = len;
    }
    if (*used_refs == 0) goto done;
    if ((st = segment_ngrams(w, hyp, o, &w->hyp, &stats->hyp_len)) != TFM_OK) goto done;
    stats->ref_len = closest_ref_len(stats->hyp_len, ref_lens, *used_refs);
    eval_ngram_match(&w->hyp, &w->ref, o->max_order, stats->total, NULL, stats->correct);
done:
    if (ref_lens != ref_lens_small) tfm_free(ref_lens, num_refs * sizeof *ref_lens);
    return st;
}

/* Python's sacrebleu.utils.my_log. */
static double floored_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

void tfm_bleu_from_stats(const tfm_bleu_stats *stats, const tfm_bleu_options *o, tfm_bleu_score *score) {
    memset(score, 0, sizeof *score);
    int order = o->max_order < 1 ? 1 : o->max_order > TFM_BLEU_MAX_ORDER ? TFM_BLEU_MAX_ORDER : o->max_order;
    score->stats = *stats;
    score->max_order = order;
    double smooth_value = o->smooth_value;
    if (smooth_value < 0) smooth_value = o->smoothing == TFM_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
    int64_t sys_len = stats->hyp_len, ref_len = stats->ref_len;
    if (sys_len < ref_len) score->brevity_penalty = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
    else score->brevity_penalty = 1.0;
    score->ratio = ref_len ? (double)sys_len / (double)ref_len : 0.0;

    int any_correct = 0;
    for (int n = 0; n < order; n++) any_correct |= stats->correct[n] != 0;
    if (!any_correct) return; /* sacreBLEU returns 0 with zero precisions when nothing matches (its #141) */

    double smooth_mteval = 1.0;
    int effective = order;
    for (int n = 1; n <= order; n++) {
        double correct = (double)stats->correct[n - 1], total = (double)stats->total[n - 1];
        if (o->smoothing == TFM_BLEU_SMOOTH_ADD_K && n > 1) {
            correct += smooth_value;
            total += smooth_value;
        }
        if (total == 0) break;
        if (o->effective_order) effective = n;
        if (correct == 0) {
            if (o->smoothing == TFM_BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2;
                score->precisions[n - 1] = 100.0 / (smooth_mteval * total);
            } else if (o->smoothing == TFM_BLEU_SMOOTH_FLOOR) {
                score->precisions[n - 1] = 100.0 * smooth_value / total;
            }
        } else {
            score->precisions[n - 1] = 100.0 * correct / total;
        }
    }
    double sum = 0.0;
    for (int n = 0; n < effective; n++) sum += floored_log(score->precisions[n]);
    score->score = score->brevity_penalty * exp(sum / effective);
}

tfm_status tfm_bleu_corpus(const char *const *hyps, size_t count, const char *const *const *refs, size_t num_streams,
                           const tfm_bleu_options *options, tfm_bleu_score *score) {
    tfm_bleu_options defaults;
    if (!options) { tfm_bleu_options_default(&defaults); options = &defaults; }
    tfm_status st = check_options(options);
    if (st) return st;
    if (!hyps && count) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: no hypotheses given");
    if (num_streams == 0 || !refs) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: no references given");
    const char **segment_refs = tfm_malloc(num_streams * sizeof *segment_refs);
    if (!segment_refs) return TFM_ERR_OUT_OF_MEMORY;
    bleu_work w;
    memset(&w, 0, sizeof w);
    tfm_bleu_stats sum;
    memset(&sum, 0, sizeof sum);
    for (size_t i = 0; i < count; i++) {
        if (!hyps[i]) { st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: hypothesis %zu is NULL", i + 1); break; }
        for (size_t r = 0; r < num_streams; r++) segment_refs[r] = refs[r] ? refs[r][i] : NULL;
        tfm_bleu_stats s;
        size_t used;
        if ((st = segment_stats(&w, hyps[i], segment_refs, num_streams, options, &s, &used)) != TFM_OK) break;
        if (used == 0) {
            st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: segment %zu has no reference (every reference is NULL)", i + 1);
            break;
        }
        sum.hyp_len += s.hyp_len;
        sum.ref_len += s.ref_len;
        for (int n = 0; n < options->max_order; n++) {
            sum.correct[n] += s.correct[n];
            sum.total[n] += s.total[n];
        }
    }
    work_free(&w);
    tfm_free(segment_refs, num_streams * sizeof *segment_refs);
    if (st) return st;
    tfm_bleu_from_stats(&sum, options, score);
    return TFM_OK;
}

tfm_status tfm_bleu_segment_stats(const char *hyp, const char *const *refs, size_t num_refs, const tfm_bleu_options *options,
                                  tfm_bleu_stats *stats) {
    tfm_bleu_options defaults;
    if (!options) { tfm_bleu_options_sentence(&defaults); options = &defaults; }
    tfm_status st = check_options(options);
    if (st) return st;
    if (!hyp) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: hypothesis is NULL");
    bleu_work w;
    memset(&w, 0, sizeof w);
    size_t used;
    st = segment_stats(&w, hyp, refs, num_refs, options, stats, &used);
    work_free(&w);
    if (!st && used == 0) st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: no reference (every reference is NULL)");
    return st;
}

tfm_status tfm_bleu_sentence(const char *hyp, const char *const *refs, size_t num_refs, const tfm_bleu_options *options,
                             tfm_bleu_score *score) {
    tfm_bleu_options defaults;
    if (!options) { tfm_bleu_options_sentence(&defaults); options = &defaults; }
    tfm_bleu_stats stats;
    tfm_status st = tfm_bleu_segment_stats(hyp, refs, num_refs, options, &stats);
    if (st) return st;
    tfm_bleu_from_stats(&stats, options, score);
    return TFM_OK;
}

int tfm_bleu_format(const tfm_bleu_score *score, char *buffer, size_t size) {
    char precisions[TFM_BLEU_MAX_ORDER * 12] = "";
    size_t used = 0;
    for (int n = 0; n < score->max_order; n++) {
        int k = snprintf(precisions + used, sizeof precisions - used, "%s%.1f", n ? "/" : "", score->precisions[n]);
        if (k < 0 || (size_t)k >= sizeof precisions - used) break;
        used += (size_t)k;
    }
    return snprintf(buffer, size, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", score->score,
                    precisions, score->brevity_penalty, score->ratio, (long long)score->stats.hyp_len,
                    (long long)score->stats.ref_len);
}

static const char *const tokenizer_names[] = {"13a", "none", "intl", "char"};
static const char *const smoothing_names[] = {"exp", "none", "floor", "add-k"};

int tfm_bleu_signature(const tfm_bleu_options *o, int num_refs, char *buffer, size_t size) {
    char nrefs[24], smooth[32];
    if (num_refs < 0) snprintf(nrefs, sizeof nrefs, "var");
    else snprintf(nrefs, sizeof nrefs, "%d", num_refs);
    const char *method = (unsigned)o->smoothing <= TFM_BLEU_SMOOTH_ADD_K ? smoothing_names[o->smoothing] : "?";
    if (o->smoothing == TFM_BLEU_SMOOTH_FLOOR || o->smoothing == TFM_BLEU_SMOOTH_ADD_K) {
        double v = o->smooth_value >= 0 ? o->smooth_value : o->smoothing == TFM_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
        snprintf(smooth, sizeof smooth, "%s[%.2f]", method, v);
    } else {
        snprintf(smooth, sizeof smooth, "%s", method);
    }
    return snprintf(buffer, size, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s", nrefs, o->lowercase ? "lc" : "mixed",
                    o->effective_order ? "yes" : "no",
                    (unsigned)o->tokenizer <= TFM_BLEU_TOKENIZE_CHAR ? tokenizer_names[o->tokenizer] : "?", smooth);
}

tfm_status tfm_bleu_tokenize(const char *line, tfm_bleu_tokenizer tokenizer, int lowercase, char **out) {
    *out = NULL;
    if ((unsigned)tokenizer > TFM_BLEU_TOKENIZE_CHAR) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: unknown tokenizer %d", (int)tokenizer);
    eval_text text = {0}, scratch = {0}, joined = {0};
    eval_tokens tokens = {0};
    tfm_status st = eval_text_decode(&text, line);
    if (!st) st = eval_bleu_tokenize_text(&text, &scratch, tokenizer, lowercase, &tokens);
    for (size_t i = 0; !st && i < tokens.count; i++) {
        if (i) st = eval_text_push(&joined, ' ');
        for (size_t k = 0; !st && k < tokens.span[i].length; k++) st = eval_text_push(&joined, text.cp[tokens.span[i].start + k]);
    }
    if (!st) st = eval_text_encode(&joined, out);
    eval_text_free(&text);
    eval_text_free(&scratch);
    eval_text_free(&joined);
    eval_tokens_free(&tokens);
    return st;
}

tfm_status tfm_bleu_tokenizer_parse(const char *name, tfm_bleu_tokenizer *tokenizer) {
    for (int i = 0; i <= TFM_BLEU_TOKENIZE_CHAR; i++)
        if (strcmp(name, tokenizer_names[i]) == 0) { *tokenizer = (tfm_bleu_tokenizer)i; return TFM_OK; }
    return tfm_error(TFM_ERR_INVALID_ARGUMENT, "unknown BLEU tokenizer '%s' (expected 13a, none, intl or char)", name);
}

tfm_status tfm_bleu_smoothing_parse(const char *name, tfm_bleu_smoothing *smoothing) {
    for (int i = 0; i <= TFM_BLEU_SMOOTH_ADD_K; i++)
        if (strcmp(name, smoothing_names[i]) == 0) { *smoothing = (tfm_bleu_smoothing)i; return TFM_OK; }
    return tfm_error(TFM_ERR_INVALID_ARGUMENT, "unknown BLEU smoothing '%s' (expected exp, none, floor or add-k)", name);
}
