/* tfm/beam_search.h: beam search (GNMT or power length penalty, n-best) and sampling for the encoder-decoder, batched over sentences. */
#ifndef TFM_BEAM_SEARCH_H
#define TFM_BEAM_SEARCH_H

#include "tfm/decode.h"
#include "tfm/seq2seq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory a search keeps from one call to the next: the graph's arena and the decoder cache, grown to the
 * largest batch seen. A translation run passes the same workspace to every batch, so neither is allocated
 * again (nor its fresh pages faulted in, which costs more than decoding a short batch). Start from
 * {0}; free with tfm_seq2seq_workspace_free. One workspace serves one search at a time. */
typedef struct tfm_seq2seq_workspace {
    tfm_graph *graph;            /* created on first use */
    tfm_seq2seq_cache cache;
} tfm_seq2seq_workspace;
void tfm_seq2seq_workspace_free(tfm_seq2seq_workspace *workspace);

enum { TFM_LENGTH_PENALTY_GNMT = 0, TFM_LENGTH_PENALTY_POWER = 1 };

typedef struct tfm_beam_search_options {
    int beam_size;           /* K >= 1; K = 1 gives exactly tfm_seq2seq_greedy's tokens */
    int nbest;               /* hypotheses returned per sentence, 1..K */
    float length_penalty;    /* x of the length penalty below, length counting EOS; 0: raw log P */
    int length_penalty_form; /* TFM_LENGTH_PENALTY_GNMT: score = log P / ((5 + length) / 6)^x (Wu et al. 2016, fairseq);
                              * TFM_LENGTH_PENALTY_POWER: log P / length^x (transformers' and CTranslate2's length_penalty) */
    float max_length_a;      /* at most floor(a * source_length + b) tokens besides EOS (source_length counts EOS), */
    int max_length_b;        /* and never more than max_target_length - 1; EOS is then forced */
    tfm_seq2seq_workspace *workspace;  /* or NULL: allocate and free everything within the call */
} tfm_beam_search_options;

/* One finished hypothesis. */
typedef struct tfm_beam_hypothesis {
    int32_t *tokens;         /* [length] without BOS and EOS */
    int length;
    float score;             /* log_prob / length penalty: what the hypotheses are ranked by */
    float log_prob;          /* sum of the token log-probabilities, EOS included */
} tfm_beam_hypothesis;

typedef struct tfm_beam_result {
    int count;               /* nbest (fewer only if the vocabulary cannot supply K distinct beams) */
    tfm_beam_hypothesis *hypotheses;   /* best first */
} tfm_beam_result;

/* Beam search for B sentences: source [B, S] (EOS-terminated, right-padded), source_lengths [B].
 * Per sentence, as fairseq: K beams start from BOS (the first step expands only one, so beams are distinct);
 * each step takes the 2K best (beam, token) continuations by cumulative log-probability (pad, and BOS when
 * it differs from EOS, never chosen; ties go to the lower beam, then the lower token id); an EOS among the
 * first K finishes that hypothesis, and the first K non-EOS continuations become the next beams. A sentence
 * is done when it has K finished hypotheses; these are ranked by length-normalised score. The decoder runs
 * incrementally (cached self-attention keys/values; cross-attention keys/values once per sentence) and
 * finished sentences leave the batch, so a sentence's result never depends on its batch neighbours.
 * results [B] receive allocated hypotheses: free each with tfm_beam_result_free. */
tfm_status tfm_beam_search(tfm_seq2seq *model, const int32_t *source, const int *source_lengths, int B, int S,
                           const tfm_beam_search_options *options, tfm_beam_result *results);
void tfm_beam_result_free(tfm_beam_result *result);

/* Sampling (temperature / top-k / top-p, tfm_sampler's rules) for B sentences: sentence b draws from its own
 * stream seeded by seeds[b], so its output depends only on its source and seed. Length limits as above.
 * results [B] get one hypothesis each (score = log_prob of the sampled tokens under the unfiltered model). */
tfm_status tfm_seq2seq_sample(tfm_seq2seq *model, const int32_t *source, const int *source_lengths, int B, int S,
                              const tfm_sampler_config *sampler, const uint64_t *seeds, float max_length_a, int max_length_b,
                              tfm_seq2seq_workspace *workspace, tfm_beam_result *results);

#ifdef __cplusplus
}
#endif
#endif
