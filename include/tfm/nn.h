/* tfm/nn.h: differentiable functions on graph tensors, and the layers (parameters + forward) models are built from. */
#ifndef TFM_NN_H
#define TFM_NN_H

#include "tfm/config.h"
#include "tfm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Differentiable functions ----
 * Each takes and returns arena tensors of `g`, records its backward on the tape when any input needs a
 * gradient, and returns NULL on failure (with tfm_last_error() set). A NULL input yields NULL, so a
 * model can chain calls and check once at the end. The last dimension is the feature dimension; all
 * leading dimensions are flattened into rows.
 *
 * The _in_place variants are for an input that nothing reads afterwards (the caller's promise: its last
 * tensor argument, x or b): they write their output over it when the graph can tell that is safe (see
 * tfm_graph_tensor_like), so the op takes no new activation memory; otherwise they allocate as the
 * plain version does. Values and gradients are the same bits either way. */

/* table [V, C], ids [N] (validated by the caller to be in [0, V)) -> [N, C] */
tfm_tensor *tfm_fn_embedding(tfm_graph *g, tfm_tensor *table, const int32_t *ids, int ndim, const int *shape);
/* Rows of x [..., C] (leading dimensions flattened) picked by rows[count] -> [count, C]; backward adds each
 * row's gradient back (rows may repeat). rows must stay valid until backward (e.g. in the graph's arena). */
tfm_tensor *tfm_fn_gather_rows(tfm_graph *g, tfm_tensor *x, const int32_t *rows, int count);
/* a + b, same shape */
tfm_tensor *tfm_fn_add(tfm_graph *g, tfm_tensor *a, tfm_tensor *b);
tfm_tensor *tfm_fn_add_in_place(tfm_graph *g, tfm_tensor *a, tfm_tensor *b);
/* a + dropout(b, p), same shape: a residual connection around a branch, as one op that never stores
 * dropout(b) (its mask is recomputed in backward). The same draws, values and gradients as
 * tfm_fn_add(g, a, tfm_fn_dropout(g, b, p)). */
tfm_tensor *tfm_fn_add_dropout(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, float p);
tfm_tensor *tfm_fn_add_dropout_in_place(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, float p);
/* x [..., C] · weight[OC, C]ᵀ + bias[OC] (bias may be NULL) -> [..., OC] */
tfm_tensor *tfm_fn_linear(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias);
/* LayerNorm over the last dimension with gain weight[C] and bias[C] */
tfm_tensor *tfm_fn_layernorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias, float eps);
/* RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight[C] (torch.nn.RMSNorm, Llama's norm). */
tfm_tensor *tfm_fn_rmsnorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, float eps);
/* BatchNorm over the rows (every leading position) per feature, as torch.nn.BatchNorm1d: while the graph is training,
 * the batch's mean and biased variance normalise and running_mean / running_var [C] move by momentum (the variance
 * unbiased); otherwise the running statistics normalise. row_mask [rows] (or NULL): rows with 0 (padding) take no
 * part in the statistics and output 0. Training needs 2 or more counted rows. */
tfm_tensor *tfm_fn_batchnorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias, tfm_tensor *running_mean,
                             tfm_tensor *running_var, const uint8_t *row_mask, float momentum, float eps);
tfm_tensor *tfm_fn_gelu(tfm_graph *g, tfm_tensor *x);   /* tanh approximation (GPT-2) */
tfm_tensor *tfm_fn_relu(tfm_graph *g, tfm_tensor *x);
/* Any element-wise activation, kind a TFM_ACTIVATION_* of tfm/config.h: GELU (tanh or erf), ReLU, tanh, sigmoid,
 * SiLU/Swish, LeakyReLU (slope 0.01), ELU (alpha 1), SELU, ThresholdedReLU (theta 1). _with_parameter sets the
 * slope, alpha or theta. */
tfm_tensor *tfm_fn_activation(tfm_graph *g, tfm_tensor *x, int kind);
tfm_tensor *tfm_fn_activation_with_parameter(tfm_graph *g, tfm_tensor *x, int kind, float parameter);
/* In place, ReLU's backward reads its output (> 0 exactly where x > 0), so x's values are not needed:
 * the output is written over x, and backward turns the output's gradient into x's in the same buffer
 * when it can. The others' backward needs x, so while recording a gradient for x they allocate. */
tfm_tensor *tfm_fn_activation_in_place(tfm_graph *g, tfm_tensor *x, int kind);
/* PReLU: x > 0 ? x : w x with a learned slope, weight [1] (one for all) or [C] (one per feature); both get gradients. */
tfm_tensor *tfm_fn_prelu(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight);
/* A model's FFN activation: kind TFM_ACTIVATION_PRELU runs tfm_fn_prelu with prelu_weight, any other
 * tfm_fn_activation_in_place (prelu_weight unused). */
tfm_tensor *tfm_fn_ffn_activation(tfm_graph *g, tfm_tensor *x, int kind, tfm_tensor *prelu_weight);
/* Softmax and log-softmax over the last dimension (stable: the row maximum is subtracted first). */
tfm_tensor *tfm_fn_softmax(tfm_graph *g, tfm_tensor *x);
tfm_tensor *tfm_fn_log_softmax(tfm_graph *g, tfm_tensor *x);
/* Inverted dropout with probability p; the identity (x itself) when not training or p == 0. */
tfm_tensor *tfm_fn_dropout(tfm_graph *g, tfm_tensor *x, float p);
tfm_tensor *tfm_fn_dropout_in_place(tfm_graph *g, tfm_tensor *x, float p);

/* Multi-head scaled dot-product attention, reading heads in place from wider rows.
 * q is [B, Tq, *] and the queries are its columns [q_column, q_column + H*hd); likewise k and v ([B, Tk, *]).
 * So the output of one fused QKV projection [B, T, 3C] serves as q, k and v with columns 0, C and 2C.
 * causal: query i sees key j iff j <= i + (Tk - Tq). key_lengths [B] (or NULL): keys at positions >=
 * key_lengths[b] are padding. Attention-weight dropout with probability dropout_p when training.
 * kv_batch_stride lets k and v be a KV cache [B, capacity, C] of which only the first Tk rows are used.
 * -> [B, Tq, H*hd] */
typedef struct tfm_attention_args {
    tfm_tensor *q, *k, *v;
    int q_column, k_column, v_column;
    int batch, query_length, key_length, heads, head_dim;
    int causal;
    const int *key_lengths;
    float dropout_p;
    size_t kv_batch_stride;  /* floats between batch items of k and v; 0: contiguous (Tk rows) */
    const int *kv_index;     /* [B] or NULL (inference only): query item b reads k/v item kv_index[b], so
                              * beams share their sentence's keys without copies */
    int alibi;               /* 1: ALiBi's linear biases instead of position embeddings (Press et al. 2022) */
    tfm_tensor *relative_keys, *relative_values; /* [2R+1, hd] each, or NULL: Shaw et al. (2018)'s relative positions,
                              * tables shared by the heads, row clamp(j - i, -R, R) + R; learned (gradients flow) */
    int relative_clip;       /* R */
    int score;               /* TFM_SCORE_* (below): 0, the Transformer's scaled dot product, and "dot" run in the fused
                              * kernel; "general" and "additive" as a batch of single-head tfm_fn_attention_scores, every
                              * head with the same score_weights (shaped for head_dim), without dropout, ALiBi or relative
                              * positions */
    const struct tfm_score_weights *score_weights;
} tfm_attention_args;
tfm_tensor *tfm_fn_attention(tfm_graph *g, const tfm_attention_args *args);

/* Mean cross-entropy of logits [N, V] against targets [N] (rows whose target is ignore_index do not
 * count), with label smoothing eps as PyTorch defines it. -> scalar [1]. *counted (if not NULL) receives
 * the number of rows that counted.
 * When this is the only op that reads `logits`, backward writes their gradient over their values
 * (the largest buffer of a language model, [N, V], is then needed once, not twice): copy the logits
 * before tfm_graph_backward if you need them afterwards. */
tfm_tensor *tfm_fn_cross_entropy(tfm_graph *g, tfm_tensor *logits, const int32_t *targets, int ignore_index,
                                 float label_smoothing, int *counted);

/* The other losses: pred [..., C] against a constant target of the same shape (plain floats that must stay valid
 * until backward). -> scalar [1], the mean of the loss's terms (TFM_REDUCTION_MEAN: over elements, or over rows for
 * the per-row kinds) or their sum. Values and gradients equal torch's functions where it has them (named below),
 * else Keras' formulas. Bad input (a BCE probability outside [0, 1], a hinge label not -1 or 1, ...) is an error
 * naming the entry. */
enum {
    TFM_LOSS_MSE = 0,            /* (p - t)^2                                          F.mse_loss */
    TFM_LOSS_MAE,                /* |p - t|                                            F.l1_loss */
    TFM_LOSS_MAPE,               /* 100 |p - t| / max(|t|, 1e-7)                       Keras */
    TFM_LOSS_MSLE,               /* (log(1 + max(p, 1e-7)) - log(1 + max(t, 1e-7)))^2  Keras */
    TFM_LOSS_HUBER,              /* d^2 / 2 within delta, else delta (|d| - delta / 2) F.huber_loss */
    TFM_LOSS_SMOOTH_L1,          /* d^2 / (2 beta) within beta (= delta), else |d| - beta / 2   F.smooth_l1_loss */
    TFM_LOSS_LOG_COSH,           /* log cosh(p - t)                                    Keras */
    TFM_LOSS_BINARY_CROSS_ENTROPY, /* p a probability; logs clamped at -100            F.binary_cross_entropy */
    TFM_LOSS_BINARY_CROSS_ENTROPY_WITH_LOGITS, /* p a logit                           F.binary_cross_entropy_with_logits */
    TFM_LOSS_POISSON,            /* p - t log(p + 1e-8), p a rate                      F.poisson_nll_loss(log_input=False) */
    TFM_LOSS_HINGE,              /* max(1 - t p, 0), t in {-1, 1}                      Keras */
    TFM_LOSS_SQUARED_HINGE,      /* max(1 - t p, 0)^2                                  Keras */
    /* per row (the mean is over rows): */
    TFM_LOSS_KL_DIVERGENCE,      /* sum_c t (log t - p), p log-probabilities           F.kl_div(reduction="batchmean") */
    TFM_LOSS_CATEGORICAL_CROSS_ENTROPY, /* -sum_c t log_softmax(p), p logits, t probabilities  F.cross_entropy(soft targets) */
    TFM_LOSS_COSINE_SIMILARITY,  /* -cos(p, t), norms floored at 1e-6                  Keras' CosineSimilarity */
    TFM_LOSS_CATEGORICAL_HINGE,  /* max(max_c (1 - t) p - sum_c t p + 1, 0)             Keras */
    TFM_LOSS_COUNT
};
enum { TFM_REDUCTION_MEAN = 0, TFM_REDUCTION_SUM = 1 };
extern const char *const tfm_loss_names[]; /* "mse", "mae", ..., indexed by TFM_LOSS_* (NULL-terminated) */
/* delta: Huber's delta, smooth L1's beta (ignored by the others; torch's default is 1). */
tfm_tensor *tfm_fn_loss(tfm_graph *g, int kind, tfm_tensor *pred, const float *target, int reduction, float delta);
/* Negative log-likelihood of log-probabilities [N, V] (e.g. tfm_fn_log_softmax's) at targets[N], the mean over rows
 * whose target is not ignore_index (F.nll_loss); *counted (may be NULL) receives their number. Sparse categorical
 * cross-entropy from logits is tfm_fn_cross_entropy. */
tfm_tensor *tfm_fn_nll(tfm_graph *g, tfm_tensor *log_probs, const int32_t *targets, int ignore_index, int *counted);

/* sum(x * weights), weights [x's size] constant (valid until backward): a scalar whose backward gives x the
 * gradient `weights`, to backpropagate any chosen gradient (tests) or build a custom loss. */
tfm_tensor *tfm_fn_weighted_sum(tfm_graph *g, tfm_tensor *x, const float *weights);
/* a [..., Ca] and b [..., Cb] side by side -> [..., Ca + Cb] (the two directions of a bidirectional layer). */
tfm_tensor *tfm_fn_concat_last(tfm_graph *g, tfm_tensor *a, tfm_tensor *b);

/* Rotary position embedding on x [B, T, width]: the first `columns` of each row (whole heads of head_dim: a fused
 * projection's queries and keys) rotated by their position offset + t (transformers' Llama layout, base 10000 in
 * most models); the other columns pass through. Backward rotates the gradient back. */
tfm_tensor *tfm_fn_rope(tfm_graph *g, tfm_tensor *x, int columns, int head_dim, int offset, float base);

/* ---- Attention with a choice of score (single head; the Transformer's multi-head one is tfm_fn_attention) ----
 * q [B, Tq, D], k [B, Tk, D], v [B, Tk, Dv] -> context [B, Tq, Dv], the softmax over keys of the scores
 *   TFM_SCORE_SCALED_DOT q.k / sqrt(D), _DOT q.k, _GENERAL q.(W k) with W [D, D] (Luong), _ADDITIVE u.tanh(Wq q + Wk k)
 *   with Wq, Wk [A, D] and u [A] (Bahdanau); weights the score does not use are NULL. key_lengths [B] (or NULL) masks
 *   the padding keys, causal the later ones. Every input gets its gradient. */
enum { TFM_SCORE_SCALED_DOT = 0, TFM_SCORE_DOT = 1, TFM_SCORE_GENERAL = 2, TFM_SCORE_ADDITIVE = 3, TFM_SCORE_COUNT };
extern const char *const tfm_score_names[]; /* "scaled_dot", "dot", "general", "additive" */
typedef struct tfm_score_weights {
    tfm_tensor *W;           /* general */
    tfm_tensor *Wq, *Wk, *u; /* additive */
} tfm_score_weights;
tfm_tensor *tfm_fn_attention_scores(tfm_graph *g, int kind, tfm_tensor *q, tfm_tensor *k, tfm_tensor *v, const tfm_score_weights *weights,
                                    const int *key_lengths, int causal);

/* ---- Recurrent layers: Elman RNN, LSTM, GRU (torch.nn.RNN / LSTM / GRU, batch_first, gate order and names) ----
 * One direction of one layer: x [B, T, I] -> [B, T, H], backpropagation through time in backward. lengths [B] (or
 * NULL: all T) make variable-length batches, as a packed sequence: sequence b is its steps [0, lengths[b]), the
 * output is 0 beyond them, and reverse = 1 runs each sequence from its own last step. h0, c0 [B, H] (NULL: zeros)
 * are constants; h_n and c_n [B, H] (may be NULL) receive the final states as plain values. */
enum { TFM_RECURRENT_RNN_TANH = 0, TFM_RECURRENT_RNN_RELU = 1, TFM_RECURRENT_LSTM = 2, TFM_RECURRENT_GRU = 3 };
extern const char *const tfm_recurrent_names[]; /* "rnn_tanh", "rnn_relu", "lstm", "gru" */
tfm_tensor *tfm_fn_recurrent(tfm_graph *g, int kind, tfm_tensor *x, tfm_tensor *w_ih, tfm_tensor *w_hh, tfm_tensor *b_ih, tfm_tensor *b_hh,
                             const int *lengths, int reverse, const float *h0, const float *c0, float *h_n, float *c_n);

#define TFM_RECURRENT_MAX_LAYERS 16
typedef struct tfm_recurrent_config {
    int kind;                /* TFM_RECURRENT_* */
    int input_size, hidden_size, num_layers;
    int bidirectional;       /* 1: a forward and a reverse direction per layer, outputs side by side (2H) */
    int bias;                /* 1: b_ih and b_hh (torch's default) */
} tfm_recurrent_config;
typedef struct tfm_recurrent_layer {
    tfm_recurrent_config config;
    /* [layer][direction][weight_ih, weight_hh, bias_ih, bias_hh], named "<prefix>.weight_ih_l0_reverse" etc. as torch */
    tfm_tensor weights[TFM_RECURRENT_MAX_LAYERS][2][4];
} tfm_recurrent_layer;
tfm_status tfm_recurrent_declare(tfm_recurrent_layer *layer, tfm_params *p, const char *prefix, const tfm_recurrent_config *config);
void tfm_recurrent_init(tfm_recurrent_layer *layer, tfm_rng *rng); /* torch's U(-1/sqrt(H), 1/sqrt(H)) */
/* The stack on x [B, T, I] -> [B, T, directions H]. h0, c0 [layers directions, B, H] or NULL; h_n (may be NULL) an
 * array of layers x directions tensors [B, H] (rows of the outputs, so a loss on them backpropagates); c_n
 * [layers directions, B, H] plain values (LSTM; may be NULL). */
tfm_tensor *tfm_recurrent_forward_graph(tfm_graph *g, tfm_recurrent_layer *layer, tfm_tensor *x, const int *lengths, const float *h0,
                                        const float *c0, tfm_tensor **h_n, float *c_n);

/* ---- Layers: parameters declared in a tfm_params under a name prefix, plus their forward ---- */
typedef struct tfm_linear_layer {
    tfm_tensor weight;   /* [out, in] (PyTorch nn.Linear layout in memory) */
    tfm_tensor bias;     /* [out], unused if has_bias == 0 */
    int has_bias;
} tfm_linear_layer;

typedef struct tfm_layernorm_layer {
    tfm_tensor weight;   /* [C] gain, initialised to 1 */
    tfm_tensor bias;     /* [C], initialised to 0 */
    float eps;
} tfm_layernorm_layer;

/* The normalisation of a Transformer block, chosen by config ("norm"): LayerNorm (weight, bias), RMSNorm (weight)
 * or BatchNorm (weight, bias, and the buffers running_mean, running_var). */
/* (TFM_NORM_* and tfm_norm_names are in tfm/config.h.) */
typedef struct tfm_norm_layer {
    int kind;                /* TFM_NORM_* */
    tfm_tensor weight, bias; /* [C]; bias unused by RMSNorm */
    tfm_tensor running_mean, running_var; /* [C] BatchNorm's buffers */
    float eps, momentum;     /* momentum: BatchNorm's, 0.1 */
} tfm_norm_layer;
tfm_status tfm_norm_declare(tfm_norm_layer *layer, tfm_params *p, const char *prefix, int C, int kind, float eps);
void tfm_norm_reset(tfm_norm_layer *layer); /* gain 1, bias 0, running mean 0 and variance 1 */
tfm_tensor *tfm_norm_forward_graph(tfm_graph *g, tfm_norm_layer *layer, tfm_tensor *x);
/* The same, with BatchNorm's training statistics over the rows flagged 1 in row_mask [rows of x] (padding excluded); NULL: all. */
tfm_tensor *tfm_norm_forward_masked(tfm_graph *g, tfm_norm_layer *layer, tfm_tensor *x, const uint8_t *row_mask);
/* The row mask of a padded batch for a norm of kind `kind`: [B * T] flags on g, 1 where t < lengths[b], so BatchNorm's
 * statistics count real tokens only; NULL (every row counts) for the other norms or without lengths. */
const uint8_t *tfm_norm_real_rows(tfm_graph *g, int kind, const int *lengths, int B, int T);

/* Declares "<prefix>.weight" and (if has_bias) "<prefix>.bias". transposed_on_disk: the checkpoint holds
 * the weight as [in, out] (Hugging Face GPT-2's Conv1D). */
tfm_status tfm_linear_declare(tfm_linear_layer *layer, tfm_params *p, const char *prefix, int in, int out, int has_bias,
                              int transposed_on_disk);
tfm_tensor *tfm_linear_forward_graph(tfm_graph *g, tfm_linear_layer *layer, tfm_tensor *x);
tfm_status tfm_layernorm_declare(tfm_layernorm_layer *layer, tfm_params *p, const char *prefix, int C, float eps);
tfm_tensor *tfm_layernorm_forward_graph(tfm_graph *g, tfm_layernorm_layer *layer, tfm_tensor *x);
/* ---- Initializers: fill a tensor from a seeded stream (the same numbers for the same seed) ----
 * Fans follow torch for weights [out, in, k...]: fan_in = in * k..., fan_out = out * k... (a vector: its length).
 * `scale` is the gain of Glorot, He, LeCun, orthogonal and identity, and the scale of variance scaling. */
enum {
    TFM_INIT_ZEROS = 0, TFM_INIT_ONES, TFM_INIT_CONSTANT, /* 0, 1, value */
    TFM_INIT_NORMAL,            /* N(mean, std^2) */
    TFM_INIT_UNIFORM,           /* U[low, high) */
    TFM_INIT_TRUNCATED_NORMAL,  /* N(mean, std^2) redrawn beyond 2 std (Keras' TruncatedNormal) */
    TFM_INIT_GLOROT_NORMAL,     /* Xavier: N(0, 2 / (fan_in + fan_out))        torch.nn.init.xavier_normal_ */
    TFM_INIT_GLOROT_UNIFORM,    /* U(+-sqrt(6 / (fan_in + fan_out)))            xavier_uniform_ */
    TFM_INIT_HE_NORMAL,         /* Kaiming: N(0, 2 / fan), fan by mode           kaiming_normal_ (ReLU) */
    TFM_INIT_HE_UNIFORM,        /* U(+-sqrt(6 / fan))                            kaiming_uniform_ (ReLU) */
    TFM_INIT_LECUN_NORMAL,      /* truncated normal of variance 1 / fan_in       Keras' LecunNormal */
    TFM_INIT_LECUN_UNIFORM,     /* U(+-sqrt(3 / fan_in))                         Keras' LecunUniform */
    TFM_INIT_VARIANCE_SCALING,  /* variance scale / fan (mode), by distribution  Keras' VarianceScaling */
    TFM_INIT_ORTHOGONAL,        /* orthonormal rows or columns (Saxe et al.)     orthogonal_ */
    TFM_INIT_IDENTITY,          /* the identity matrix (rectangular: eye)        eye_ */
    TFM_INIT_COUNT
};
enum { TFM_FAN_IN = 0, TFM_FAN_OUT = 1, TFM_FAN_AVG = 2 };
enum { TFM_DISTRIBUTION_TRUNCATED_NORMAL = 0, TFM_DISTRIBUTION_NORMAL = 1, TFM_DISTRIBUTION_UNIFORM = 2 };
typedef struct tfm_init_options {
    float value;             /* constant */
    float mean, std;         /* normal, truncated normal (default 0, 1) */
    float low, high;         /* uniform (default 0, 1) */
    float scale;             /* gain / variance scale (default 1) */
    int mode;                /* TFM_FAN_*: He's and variance scaling's fan (default in) */
    int distribution;        /* TFM_DISTRIBUTION_*: variance scaling's (default truncated normal) */
} tfm_init_options;
extern const char *const tfm_init_names[]; /* "zeros", ..., "identity", indexed by TFM_INIT_* (NULL-terminated) */
void tfm_init_options_default(tfm_init_options *options);
void tfm_init_fans(const tfm_tensor *t, double *fan_in, double *fan_out);
/* options NULL: the defaults. Errors: an unknown kind, options out of range, a fan-based kind on a vector, identity
 * on anything but a matrix. */
tfm_status tfm_init_tensor(tfm_tensor *t, int kind, const tfm_init_options *options, tfm_rng *rng);
/* The two the models use: normal(0, std) for a weight; a constant (LayerNorm's ones and zeros). */
void tfm_init_normal(tfm_tensor *t, float std, tfm_rng *rng);
void tfm_init_constant(tfm_tensor *t, float value);

#ifdef __cplusplus
}
#endif
#endif
