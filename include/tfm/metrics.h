/* tfm/metrics.h: translation metrics computed exactly as sacreBLEU 2.x does: corpus/sentence BLEU and chrF(++). */
#ifndef TFM_METRICS_H
#define TFM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Inputs. Text is UTF-8, one segment (sentence) per string, without the trailing newline.
 * Hypotheses: hyps[i], i < count. References: refs[r][i] is reference stream r for segment i
 * (sacreBLEU's layout: one list per reference file). A NULL reference is skipped (sacreBLEU's None),
 * so segments may have different numbers of references; "" is a real reference of length 0, as in
 * sacreBLEU 2.x. A segment whose references are all NULL is an error (TFM_ERR_INVALID_ARGUMENT
 * naming the segment).
 * Invalid UTF-8 bytes are not an error: each is kept as a distinct character (like Python's
 * "surrogateescape"), so it only ever matches the same byte.
 * Whitespace means what Python's str.split() means (Unicode White_Space, e.g. U+00A0, U+3000);
 * lower-casing follows Python's str.lower() (full mapping of U+0130, final sigma).
 * --------------------------------------------------------------------------------------------- */

#define TFM_BLEU_MAX_ORDER 8

/* sacreBLEU's --tokenize choices that need no external resources. */
typedef enum tfm_bleu_tokenizer {
    TFM_BLEU_TOKENIZE_13A = 0, /* mteval-v13a: the default */
    TFM_BLEU_TOKENIZE_NONE,    /* split on whitespace only */
    TFM_BLEU_TOKENIZE_INTL,    /* mteval-v14 international: Unicode punctuation and symbols */
    TFM_BLEU_TOKENIZE_CHAR,    /* every non-space character is a token */
} tfm_bleu_tokenizer;

typedef enum tfm_bleu_smoothing {
    TFM_BLEU_SMOOTH_EXP = 0, /* default: the k-th order without matches gets precision 1/(2^k * total) */
    TFM_BLEU_SMOOTH_NONE,
    TFM_BLEU_SMOOTH_FLOOR,   /* orders without matches get smooth_value / total (default 0.1) */
    TFM_BLEU_SMOOTH_ADD_K,   /* add smooth_value (default 1) to matches and totals of orders >= 2 */
} tfm_bleu_smoothing;

typedef struct tfm_bleu_options {
    tfm_bleu_tokenizer tokenizer;
    tfm_bleu_smoothing smoothing;
    double smooth_value;  /* < 0: the method's default */
    int lowercase;        /* 1: compare lower-cased text */
    int max_order;        /* 1..TFM_BLEU_MAX_ORDER; 4 by default */
    int effective_order;  /* 1: average only over orders the hypothesis has n-grams of (sentence BLEU) */
} tfm_bleu_options;

/* sacreBLEU's BLEU() defaults (corpus BLEU): 13a, exp smoothing, case-sensitive, order 4, no effective order. */
void tfm_bleu_options_default(tfm_bleu_options *options);
/* sacreBLEU's sentence_bleu() defaults: as above plus effective order. */
void tfm_bleu_options_sentence(tfm_bleu_options *options);

/* The sufficient statistics, summed over segments. */
typedef struct tfm_bleu_stats {
    int64_t hyp_len, ref_len;                  /* tokens; ref_len sums each segment's closest reference length */
    int64_t correct[TFM_BLEU_MAX_ORDER];       /* clipped n-gram matches per order */
    int64_t total[TFM_BLEU_MAX_ORDER];         /* hypothesis n-grams per order */
} tfm_bleu_stats;

typedef struct tfm_bleu_score {
    double score;                              /* 0..100 */
    double precisions[TFM_BLEU_MAX_ORDER];     /* 0..100, after smoothing */
    double brevity_penalty;
    double ratio;                              /* hyp_len / ref_len (0 if ref_len is 0) */
    tfm_bleu_stats stats;
    int max_order;
} tfm_bleu_score;

/* Corpus BLEU of `count` hypotheses against `num_streams` reference streams. */
tfm_status tfm_bleu_corpus(const char *const *hyps, size_t count, const char *const *const *refs, size_t num_streams,
                           const tfm_bleu_options *options, tfm_bleu_score *score);
/* BLEU of one hypothesis against `num_refs` references (options NULL: sentence defaults). */
tfm_status tfm_bleu_sentence(const char *hyp, const char *const *refs, size_t num_refs, const tfm_bleu_options *options,
                             tfm_bleu_score *score);
/* Statistics of one segment (for callers that accumulate a corpus themselves: add them up field by
 * field, then call tfm_bleu_from_stats). */
tfm_status tfm_bleu_segment_stats(const char *hyp, const char *const *refs, size_t num_refs, const tfm_bleu_options *options,
                                  tfm_bleu_stats *stats);
/* The score from summed statistics (sacreBLEU's BLEU.compute_bleu). */
void tfm_bleu_from_stats(const tfm_bleu_stats *stats, const tfm_bleu_options *options, tfm_bleu_score *score);
/* sacreBLEU's text line: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)".
 * Returns what snprintf returns. */
int tfm_bleu_format(const tfm_bleu_score *score, char *buffer, size_t size);
/* sacreBLEU's signature without the version, e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp"
 * (num_refs < 0 prints "nrefs:var"). */
int tfm_bleu_signature(const tfm_bleu_options *options, int num_refs, char *buffer, size_t size);

/* The tokenized form of a line as BLEU sees it (lower-casing if asked, trailing whitespace removed,
 * then the tokenizer; tokens joined by single spaces). Free with tfm_free(*out, strlen(*out) + 1). */
tfm_status tfm_bleu_tokenize(const char *line, tfm_bleu_tokenizer tokenizer, int lowercase, char **out);
/* Parse "13a" / "none" / "intl" / "char" and "exp" / "none" / "floor" / "add-k". */
tfm_status tfm_bleu_tokenizer_parse(const char *name, tfm_bleu_tokenizer *tokenizer);
tfm_status tfm_bleu_smoothing_parse(const char *name, tfm_bleu_smoothing *smoothing);

/* ---------------------------------------------------------------------------------------------
 * chrF (Popovic 2015) and chrF++ (word_order 2), as sacreBLEU's CHRF(): per segment the reference
 * with the best F-score is used; statistics are summed over the corpus, then one F-beta is taken.
 * --------------------------------------------------------------------------------------------- */

#define TFM_CHRF_MAX_ORDER 8

typedef struct tfm_chrf_options {
    int char_order;     /* 1..TFM_CHRF_MAX_ORDER; 6 by default */
    int word_order;     /* 0 (chrF) .. 2 (chrF++) */
    int beta;           /* 2 */
    int lowercase;      /* 0 */
    int whitespace;     /* 0: spaces are removed before taking character n-grams */
    int eps_smoothing;  /* 0: sacreBLEU 2.x default (average over effective orders); 1: chrF++.py style */
} tfm_chrf_options;

void tfm_chrf_options_default(tfm_chrf_options *options);

typedef struct tfm_chrf_score {
    double score;       /* 0..100 */
    int beta, char_order, word_order;
    /* Summed [hypothesis, reference, matching] n-gram counts per order (characters, then words). */
    int64_t counts[TFM_CHRF_MAX_ORDER + 2][3];
} tfm_chrf_score;

tfm_status tfm_chrf_corpus(const char *const *hyps, size_t count, const char *const *const *refs, size_t num_streams,
                           const tfm_chrf_options *options, tfm_chrf_score *score);
tfm_status tfm_chrf_sentence(const char *hyp, const char *const *refs, size_t num_refs, const tfm_chrf_options *options,
                             tfm_chrf_score *score);
/* "chrF2 = 59.73" ("chrF2++ = ..." with word order 2). */
int tfm_chrf_format(const tfm_chrf_score *score, char *buffer, size_t size);

#ifdef __cplusplus
}
#endif
#endif
