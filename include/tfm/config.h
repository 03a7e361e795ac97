/* tfm/config.h: the model and training configurations, as read from the configs/ JSON files and written beside checkpoints. */
#ifndef TFM_CONFIG_H
#define TFM_CONFIG_H

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GPT (decoder-only). In config.json beside a checkpoint these use Hugging Face GPT-2's keys
 * (vocab_size, n_positions, n_embd, n_layer, n_head, n_inner, resid_pdrop, embd_pdrop, attn_pdrop,
 * layer_norm_epsilon, activation_function, model_type "gpt2") so transformers can load it; in a tfm
 * training config file the same object may use tfm's names (vocab_size, context_length, d_model,
 * n_layers, n_heads, d_ff, dropout, ...). */
typedef struct tfm_gpt_config {
    int vocab_size;          /* 256 for the byte-level vocabulary */
    int context_length;      /* T_max: learned position table rows */
    int d_model;             /* C */
    int n_layers;            /* L */
    int n_heads;             /* H; d_model % n_heads == 0 */
    int d_ff;                /* FFN inner width, default 4 * d_model */
    float dropout;           /* embedding, residual and attention dropout, train only */
    float layernorm_eps;     /* 1e-5 */
    int pre_layernorm;       /* 1: GPT-2's pre-LN (+ final LN); 0: post-LN as in the paper */
    int tie_embeddings;      /* 1: output projection = token embedding transposed */
    int activation;          /* TFM_ACTIVATION_GELU (tanh approximation, GPT-2's) or TFM_ACTIVATION_RELU */
} tfm_gpt_config;

/* GELU: tanh approximation (GPT-2's "gelu_new"); GELU_ERF: the exact erf form (BERT's "gelu"). */
enum { TFM_ACTIVATION_GELU = 0, TFM_ACTIVATION_RELU = 1, TFM_ACTIVATION_GELU_ERF = 2 };
enum { TFM_OPTIMIZER_ADAMW = 0, TFM_OPTIMIZER_SGD = 1 };
enum { TFM_SCHEDULE_CONSTANT = 0, TFM_SCHEDULE_COSINE = 1, TFM_SCHEDULE_NOAM = 2 };

typedef struct tfm_train_config {
    int batch_size;          /* B sequences per micro-batch */
    int seq_len;             /* T tokens per sequence (<= context_length) */
    int grad_accum_steps;    /* micro-batches per optimizer step */
    long max_steps;          /* optimizer steps in total */
    int optimizer;           /* TFM_OPTIMIZER_* */
    float learning_rate;     /* peak LR (cosine, constant); a multiplier for "noam" */
    float min_lr;            /* cosine floor */
    int schedule;            /* TFM_SCHEDULE_* */
    int warmup_steps;
    float beta1, beta2, eps; /* Adam: 0.9, 0.95, 1e-8 */
    float momentum;          /* SGD */
    float weight_decay;      /* AdamW, decoupled; matrices only */
    float grad_clip;         /* global-norm clip; 0 disables */
    float label_smoothing;   /* 0 for language modelling */
    float valid_fraction;    /* tail of the data file held out for validation */
    int eval_every;          /* steps between validation runs */
    int eval_batches;        /* micro-batches per validation */
    int save_every;          /* steps between checkpoints (0: only at the end) */
    int log_every;           /* steps between progress lines */
    unsigned long long seed;
} tfm_train_config;

void tfm_gpt_config_default(tfm_gpt_config *c);     /* the built-in "tiny" byte-level GPT */
void tfm_train_config_default(tfm_train_config *c);
/* Check ranges and consistency (d_model % n_heads, seq_len <= context_length, ...). */
tfm_status tfm_gpt_config_validate(const tfm_gpt_config *c);
tfm_status tfm_train_config_validate(const tfm_train_config *t, const tfm_gpt_config *m);

/* Read a tfm training config file: {"model": {...}, "train": {...}}; absent fields keep defaults.
 * Errors name the file and the field: "configs/x.json: model.n_heads: expected a positive integer, got "four"". */
tfm_status tfm_config_load(const char *path, tfm_gpt_config *model, tfm_train_config *train);
/* config.json beside a checkpoint (Hugging Face GPT-2 keys, plus "tfm" extras). Caller frees with tfm_free(text, strlen+1). */
tfm_status tfm_gpt_config_to_json(const tfm_gpt_config *c, char **json_text);
tfm_status tfm_gpt_config_from_json(const char *json_text, const char *source_name, tfm_gpt_config *c);
tfm_status tfm_train_config_to_json(const tfm_train_config *t, char **json_text);
tfm_status tfm_train_config_from_json(const char *json_text, const char *source_name, tfm_train_config *t);

#ifdef __cplusplus
}
#endif
#endif
