/* tfm/config.h: the model and training configurations, as read from the configs/ JSON files and written beside checkpoints. */
#ifndef TFM_CONFIG_H
#define TFM_CONFIG_H

#include "tfm/base.h"
#include "tfm/bert_data.h"

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
    float dropout;           /* residual dropout (and the two below unless set), train only */
    float attention_dropout; /* on the attention weights (transformers' attn_pdrop) */
    float embedding_dropout; /* on the summed token + position embeddings (embd_pdrop) */
    float layernorm_eps;     /* 1e-5 */
    int pre_layernorm;       /* 1: GPT-2's pre-LN (+ final LN); 0: post-LN as in the paper */
    int norm;                /* TFM_NORM_* of tfm/nn.h: "layernorm" (GPT-2's), "rmsnorm" or "batchnorm" */
    int positions;           /* TFM_POSITIONS_*: "learned" (GPT-2's table wpe), "sinusoidal", "rope", "alibi" or "relative" */
    float rope_base;         /* rope: 10000 */
    int relative_clip;       /* relative: distances clipped to [-R, R], 16 (Shaw et al.'s k) */
    int tie_embeddings;      /* 1: output projection = token embedding transposed */
    int activation;          /* TFM_ACTIVATION_GELU (tanh approximation, GPT-2's) or TFM_ACTIVATION_RELU */
} tfm_gpt_config;

/* GELU: tanh approximation (GPT-2's "gelu_new"); GELU_ERF: the exact erf form (BERT's "gelu"); TANH: BERT's pooler. */
/* Element-wise activations: the FFN's ("activation" in a model config, "hidden_act" in BERT's) and tfm_fn_activation's. */
enum {
    TFM_ACTIVATION_GELU = 0,             /* "gelu": tanh approximation (GPT-2's gelu_new) */
    TFM_ACTIVATION_RELU = 1,             /* "relu" */
    TFM_ACTIVATION_GELU_ERF = 2,         /* "gelu_erf": exact, 0.5 x (1 + erf(x / sqrt 2)) (BERT's "gelu") */
    TFM_ACTIVATION_TANH = 3,             /* "tanh" */
    TFM_ACTIVATION_SIGMOID = 4,          /* "sigmoid" */
    TFM_ACTIVATION_SILU = 5,             /* "silu": x sigmoid(x), also called Swish */
    TFM_ACTIVATION_LEAKY_RELU = 6,       /* "leaky_relu": slope 0.01 below 0 */
    TFM_ACTIVATION_ELU = 7,              /* "elu": alpha (e^x - 1) below 0, alpha 1 */
    TFM_ACTIVATION_SELU = 8,             /* "selu": self-normalising ELU (Klambauer et al. 2017) */
    TFM_ACTIVATION_THRESHOLDED_RELU = 9, /* "thresholded_relu": x above theta = 1, else 0 (Keras) */
    TFM_ACTIVATION_COUNT
};
/* Where a model's sense of order comes from ("positions" in a GPT or encoder-decoder config). The first two add a
 * table to the token embeddings; the other three act inside the self-attention (cross-attention has no positions). */
enum {
    TFM_POSITIONS_SINUSOIDAL = 0, /* "sinusoidal": the paper's fixed sin/cos table */
    TFM_POSITIONS_LEARNED = 1,    /* "learned": a trained table of context-length rows (GPT-2's wpe) */
    TFM_POSITIONS_ROPE = 2,       /* "rope": queries and keys rotated by their position (Su et al. 2021), base rope_base */
    TFM_POSITIONS_ALIBI = 3,      /* "alibi": score -= slope_h |j - i| (Press et al. 2022) */
    TFM_POSITIONS_RELATIVE = 4,   /* "relative": learned [2R+1, head_dim] key and value tables per self-attention, indexed
                                   * by the clipped distance j - i (Shaw et al. 2018), R = relative_clip */
    TFM_POSITIONS_COUNT
};
extern const char *const tfm_position_names[]; /* indexed by TFM_POSITIONS_* (NULL-terminated) */
/* The normalisation in a Transformer block ("norm" in a GPT config); tfm/nn.h's tfm_norm_layer runs it. */
enum { TFM_NORM_LAYERNORM = 0, TFM_NORM_RMSNORM = 1, TFM_NORM_BATCHNORM = 2, TFM_NORM_COUNT };
extern const char *const tfm_norm_names[]; /* "layernorm", "rmsnorm", "batchnorm" (NULL-terminated) */
/* Their names in tfm's configs, indexed by TFM_ACTIVATION_* (NULL-terminated). */
extern const char *const tfm_activation_names[];
/* A GPT's or encoder-decoder's FFN may also use PReLU (He et al. 2015): x, or w x below 0, with the slope w a learned
 * parameter of each layer ([1], 0.25 at the start as torch's nn.PReLU). Not element-wise, so not a tfm_fn_activation
 * kind: tfm_fn_ffn_activation runs it. */
enum { TFM_ACTIVATION_PRELU = TFM_ACTIVATION_COUNT };
extern const char *const tfm_ffn_activation_names[]; /* tfm_activation_names, then "prelu" (NULL-terminated) */
/* Optimizers, as torch.optim defines them (Ftrl as Keras does); JSON names "adamw", "sgd", "adam", "adagrad",
 * "rmsprop", "adadelta", "adamax", "nadam", "ftrl". */
enum {
    TFM_OPTIMIZER_ADAMW = 0,    /* Adam with decoupled weight decay (Loshchilov & Hutter) */
    TFM_OPTIMIZER_SGD = 1,      /* with momentum, dampening, Nesterov */
    TFM_OPTIMIZER_ADAM = 2,     /* weight decay as an L2 term added to the gradient */
    TFM_OPTIMIZER_ADAGRAD = 3,  /* per-weight rate from the sum of squared gradients (Duchi et al.) */
    TFM_OPTIMIZER_RMSPROP = 4,  /* moving average of squared gradients (Hinton), centered and momentum options */
    TFM_OPTIMIZER_ADADELTA = 5, /* Zeiler's unit-corrected rate */
    TFM_OPTIMIZER_ADAMAX = 6,   /* Adam with the infinity norm */
    TFM_OPTIMIZER_NADAM = 7,    /* Adam with Nesterov momentum (Dozat), momentum decay */
    TFM_OPTIMIZER_FTRL = 8,     /* follow the regularized leader (McMahan et al.), L1/L2 */
    TFM_OPTIMIZER_COUNT
};

/* The hyper-parameters only some optimizers have (the shared ones, learning rate, beta1/beta2, eps, momentum and
 * weight decay, are in tfm_train_config). Defaults are torch.optim's (Keras' for Ftrl); JSON keys are the names. */
typedef struct tfm_optimizer_options {
    float dampening;           /* SGD: 0 */
    int nesterov;              /* SGD: false */
    float alpha;               /* RMSprop: the squared average's smoothing, 0.99 */
    int centered;              /* RMSprop: divide by the variance estimate instead of the raw second moment */
    float rho;                 /* Adadelta: 0.9 */
    float lr_decay;            /* Adagrad: the rate is lr / (1 + (t - 1) lr_decay) */
    float initial_accumulator; /* Adagrad: 0; Ftrl: 0.1 (its squared-gradient sum starts there) */
    float momentum_decay;      /* NAdam: 0.004 */
    float l1, l2;              /* Ftrl: regularisation strengths, 0 */
    float lr_power;            /* Ftrl: -0.5 */
    float l2_shrinkage;        /* Ftrl: 0 */
    float ftrl_beta;           /* Ftrl: 0 */
} tfm_optimizer_options;
/* Learning-rate schedules ("schedule" in the config; formulas at tfm_schedule_learning_rate in tfm/train.h). Every one
 * but noam starts with a linear warm-up over warmup_steps when that is > 0. */
enum {
    TFM_SCHEDULE_CONSTANT = 0,    /* "constant": lr */
    TFM_SCHEDULE_COSINE = 1,      /* "cosine": cosine decay to min_lr at max_steps */
    TFM_SCHEDULE_NOAM = 2,        /* "noam": the paper's inverse square root of the step, warm-up included */
    TFM_SCHEDULE_STEP = 3,        /* "step": lr * gamma every step_size steps (torch's StepLR) */
    TFM_SCHEDULE_EXPONENTIAL = 4, /* "exponential": lr * gamma each step (ExponentialLR) */
    TFM_SCHEDULE_LINEAR = 5,      /* "linear": straight line from lr to min_lr at max_steps (LinearLR; transformers' linear warm-up) */
    TFM_SCHEDULE_PLATEAU = 6,     /* "plateau": lr * plateau_factor when validation stops improving (ReduceLROnPlateau) */
    TFM_SCHEDULE_COUNT
};
/* The names a config file uses for them, indexed by TFM_OPTIMIZER_* and TFM_SCHEDULE_* (NULL-terminated). */
extern const char *const tfm_optimizer_names[];
extern const char *const tfm_schedule_names[];
/* What the step, exponential and plateau schedules need; JSON keys are the field names. */
typedef struct tfm_schedule_options {
    int step_size;           /* step: steps between decays (required for "step") */
    float gamma;             /* step, exponential: the decay factor, in (0, 1] (default 0.1, StepLR's) */
    float plateau_factor;    /* plateau: the rate is multiplied by this, in (0, 1) (0.1) */
    int plateau_patience;    /* plateau: validations without improvement tolerated before a reduction (10) */
    float plateau_threshold; /* plateau: an improvement is relative, by more than this (1e-4) */
    int plateau_cooldown;    /* plateau: validations ignored after a reduction (0) */
} tfm_schedule_options;
/* A step whose loss or gradient is NaN or infinite: STOP saves the last good parameters and ends the run with
 * TFM_ERR_NUMERIC; SKIP drops the step's batch and goes on (until nonfinite_skip_limit steps in a row fail). */
enum { TFM_ON_NONFINITE_STOP = 0, TFM_ON_NONFINITE_SKIP = 1 };

/* Which model a training config is for: it chooses the defaults and which task part applies. */
enum { TFM_TASK_GPT = 0, TFM_TASK_SEQ2SEQ = 1, TFM_TASK_BERT = 2 };

/* GPT's part of the "train" object: windows of a token stream. */
typedef struct tfm_gpt_train_config {
    int batch_size;          /* B sequences per micro-batch */
    int seq_len;             /* T tokens per sequence (<= context_length) */
    float valid_fraction;    /* tail of the data file held out for validation */
    int eval_batches;        /* micro-batches per validation */
} tfm_gpt_train_config;

/* The encoder-decoder's part: token-count batches of sentence pairs, validation BLEU. */
typedef struct tfm_seq2seq_train_config {
    int batch_tokens;        /* padded tokens per micro-batch (count * max(S, T)) */
    int max_sentences;       /* pairs per micro-batch at most (0: no limit) */
    int bleu_sentences;      /* validation sentences decoded greedily for BLEU (0: none, -1: all) */
    float max_length_a;      /* validation decoding: at most a * source length + b tokens */
    int max_length_b;
    char source_lang[16], target_lang[16];   /* file suffixes: <data>/train.<source_lang> etc. */
} tfm_seq2seq_train_config;

/* BERT's part: pre-training sequences built from sentences and documents (tfm/bert_data.h). JSON keys:
 * batch_size, seq_len (data.max_length), valid_fraction, eval_batches, and the data options by their field names
 * (objective "nsp" | "sop" | "mlm", mask_probability, max_predictions, ..., whole_word_masking, dynamic_masking). */
typedef struct tfm_bert_train_config {
    int batch_size;          /* sequences per micro-batch */
    float valid_fraction;    /* documents at the end of the text held out for validation */
    int eval_batches;        /* micro-batches per validation (fewer if the held-out part is smaller; fine-tuning: all of valid.tsv
                                when 0) */
    int freeze_steps;        /* fine-tuning: the first this many steps train only the classifier, then everything (0: none) */
    tfm_bert_data_options data;
} tfm_bert_train_config;

/* The "train" object of a config file: what the one training loop reads, then the task's own part. JSON
 * names are the field names, flat: {"batch_size": 32, "max_steps": 2000, ...}; a field of the other task is
 * an error naming it. */
typedef struct tfm_train_config {
    int task;                /* TFM_TASK_*: set by the _default function, never read from JSON */
    int grad_accum_steps;    /* micro-batches per optimizer step */
    long max_steps;          /* optimizer steps in total */
    int optimizer;           /* TFM_OPTIMIZER_* */
    float learning_rate;     /* peak LR (cosine, constant); a multiplier for "noam" */
    float min_lr;            /* cosine, linear: the rate at max_steps; plateau: the floor */
    int schedule;            /* TFM_SCHEDULE_* */
    int warmup_steps;
    tfm_schedule_options schedule_options;
    float beta1, beta2, eps; /* Adam: GPT 0.9, 0.95, 1e-8; the paper's 0.9, 0.98, 1e-9 */
    float momentum;          /* SGD, RMSprop */
    float weight_decay;      /* AdamW (and Ftrl): decoupled; the others: an L2 term in the gradient; matrices only */
    tfm_optimizer_options optimizer_options;
    float grad_clip;         /* global-norm clip; 0 disables */
    float grad_clip_value;   /* clip every gradient entry to [-v, v] (torch's clip_grad_value_); 0 disables */
    float penalty_l1, penalty_l2; /* add l1 sum |w| + l2 sum w^2 over the penalized parameters to the loss (Keras' L1L2) */
    char penalty_parameters[256]; /* which: "matrices" (default: those with weight decay), "all", or comma-separated
                                     name patterns with * ("h.*.mlp.*,wte.weight") */
    float label_smoothing;   /* 0 for language modelling, 0.1 in the paper */
    int eval_every;          /* steps between validations (0: GPT never, seq2seq only at the end) */
    int patience;            /* stop after this many validations without a better score (0: never) */
    int save_every;          /* steps between checkpoints (0: only at the end) */
    int keep_checkpoints;    /* checkpoints kept under <run>/checkpoints/ (the newest; >= 1) */
    int log_every;           /* steps between progress lines */
    int on_nonfinite;        /* TFM_ON_NONFINITE_*: "stop" (default) or "skip" */
    int nonfinite_skip_limit; /* "skip": stop after this many non-finite steps in a row (default 10) */
    unsigned long long seed;
    tfm_gpt_train_config gpt;
    tfm_seq2seq_train_config seq2seq;
    tfm_bert_train_config bert;
} tfm_train_config;

void tfm_gpt_config_default(tfm_gpt_config *c);     /* the built-in "tiny" byte-level GPT */
void tfm_train_config_default(tfm_train_config *c);                /* GPT's defaults */
/* The defaults of a task: GPT's above, the paper's for TFM_TASK_SEQ2SEQ (Adam 0.9/0.98/1e-9, "noam" warm-up
 * 4000, label smoothing 0.1, batches of 4096 tokens), or for TFM_TASK_BERT BERT's (AdamW 0.9/0.999/1e-6, weight
 * decay 0.01, NSP + 15% masked LM on 128-token sequences) with a peak rate of 5e-4 for small models. */
void tfm_train_config_default_task(tfm_train_config *c, int task);
/* Check ranges and consistency (d_model % n_heads, seq_len <= context_length, ...). */
tfm_status tfm_gpt_config_validate(const tfm_gpt_config *c);
tfm_status tfm_train_config_validate(const tfm_train_config *t, const tfm_gpt_config *m);

/* Read a tfm training config file: {"model": {...}, "train": {...}}; absent fields keep defaults.
 * Errors name the file and the field: "configs/x.json: model.n_heads: expected a positive integer, got "four"". */
tfm_status tfm_config_load(const char *path, tfm_gpt_config *model, tfm_train_config *train);
/* The "train" part of a config for a `task` (TFM_TASK_*) whose model comes from elsewhere (tfm train --init DIR: BERT
 * fine-tuning, a GPT continued from Hugging Face weights): the file must not have a "model" object. */
tfm_status tfm_train_config_load_part(const char *path, int task, tfm_train_config *train);
/* config.json beside a checkpoint (Hugging Face GPT-2 keys, plus "tfm" extras). Caller frees with tfm_free(text, strlen+1). */
tfm_status tfm_gpt_config_to_json(const tfm_gpt_config *c, char **json_text);
tfm_status tfm_gpt_config_from_json(const char *json_text, const char *source_name, tfm_gpt_config *c);
tfm_status tfm_train_config_to_json(const tfm_train_config *t, char **json_text);
tfm_status tfm_train_config_from_json(const char *json_text, const char *source_name, tfm_train_config *t);

#ifdef __cplusplus
}
#endif
#endif
