/* tfm/decode.h: choosing the next token from logits: greedy, temperature, top-k and top-p (nucleus) sampling. */
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
} tfm_sampler_config;

/* Scratch for one vocabulary size, allocated once (nothing is allocated per token). */
typedef struct tfm_sampler {
    tfm_sampler_config config;
    int vocab_size;
    float *probabilities;   /* [V] */
    int *order;             /* [V] candidate token ids, most likely first */
    tfm_rng rng;
} tfm_sampler;

tfm_status tfm_sampler_init(tfm_sampler *s, int vocab_size, const tfm_sampler_config *config, uint64_t seed);
void tfm_sampler_free(tfm_sampler *s);
tfm_status tfm_sampler_config_validate(const tfm_sampler_config *config);
/* The next token for logits [V]. Filtering follows Hugging Face's order: temperature, top-k, top-p. */
int tfm_sampler_next(tfm_sampler *s, const float *logits);
/* Index of the largest value (the first one on ties). */
int tfm_argmax(const float *values, int n);
/* TFM_ERR_NUMERIC naming the decoding step and the logit when any of logits[count] is NaN or infinite: every
 * decoder checks the rows it chooses from, so a broken model fails instead of printing arbitrary tokens. */
tfm_status tfm_logits_check_finite(const float *logits, size_t count, long step);

#ifdef __cplusplus
}
#endif
#endif
