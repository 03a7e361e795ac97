/* tfm/decode.h: choosing the next token from logits (greedy, temperature, top-k, top-p, min-p, repetition penalty) and stop strings. */
#ifndef TFM_DECODE_H
#define TFM_DECODE_H

#include "tfm/base.h"
#include "tfm/random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tfm_sampler_config {
    float temperature;   /* 0: greedy (argmax); otherwise logits / temperature */
    int top_k;           /* keep the k most likely tokens; 0: all */
    float top_p;         /* keep the smallest set whose probability reaches p; 1: all */
    float min_p;         /* keep tokens at least min_p times as likely as the most likely one; 0: all */
    float repetition_penalty; /* > 0; 1 (or 0, unset): off. Every token seen so far (tfm_sampler_observe: the prompt and
                                 what was generated) has its logit divided by it when positive, multiplied when negative
                                 (CTRL's penalty, as transformers' RepetitionPenaltyLogitsProcessor) */
} tfm_sampler_config;

/* Scratch for one vocabulary size, allocated once (nothing is allocated per token). */
typedef struct tfm_sampler {
    tfm_sampler_config config;
    int vocab_size;
    float *probabilities;   /* [V] */
    int *order;             /* [V] candidate token ids, most likely first */
    float *penalized;       /* [V] the logits after the repetition penalty (only with one) */
    unsigned char *seen;    /* [V] 1 for each token observed (only with a repetition penalty) */
    tfm_rng rng;
} tfm_sampler;

tfm_status tfm_sampler_init(tfm_sampler *s, int vocab_size, const tfm_sampler_config *config, uint64_t seed);
void tfm_sampler_free(tfm_sampler *s);
tfm_status tfm_sampler_config_validate(const tfm_sampler_config *config);
/* The next token for logits [V]. Hugging Face's order: repetition penalty, temperature, top-k, top-p, min-p. */
int tfm_sampler_next(tfm_sampler *s, const float *logits);
/* A token of the sequence so far (prompt or generated), for the repetition penalty; forget clears them (a new sequence). */
void tfm_sampler_observe(tfm_sampler *s, int token);
void tfm_sampler_forget(tfm_sampler *s);
/* Index of the largest value (the first one on ties). */
int tfm_argmax(const float *values, int n);
/* TFM_ERR_NUMERIC naming the decoding step and the logit when any of logits[count] is NaN or infinite: every
 * decoder checks the rows it chooses from, so a broken model fails instead of printing arbitrary tokens. */
tfm_status tfm_logits_check_finite(const float *logits, size_t count, long step);

/* ---- Stop strings on streamed text ----
 * Generated text arrives a token's bytes at a time; a stop string may span tokens. push appends a piece and gives
 * the bytes that can be shown now (the rest could still begin a stop string); when a stop string is complete,
 * *stopped = 1 and the bytes given end just before it (it is not shown, as in llama.cpp's server). flush gives what
 * was held back once generation ends without a stop. The given bytes stay valid until the next call. */
typedef struct tfm_stop_strings {
    const char *const *strings;  /* not owned */
    int count;
    char *pending;               /* [capacity]: held-back text, then the new piece */
    size_t length, capacity, shown;
} tfm_stop_strings;
tfm_status tfm_stop_strings_init(tfm_stop_strings *s, const char *const *strings, int count);
tfm_status tfm_stop_strings_push(tfm_stop_strings *s, const char *piece, size_t len, const char **ready, size_t *ready_len, int *stopped);
void tfm_stop_strings_flush(tfm_stop_strings *s, const char **rest, size_t *rest_len);
void tfm_stop_strings_free(tfm_stop_strings *s);

#ifdef __cplusplus
}
#endif
#endif
