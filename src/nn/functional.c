/* nn/functional.c: differentiable functions: run a fast kernel forward, record the matching backward on the tape. */
#include "tfm/nn.h"

#include <math.h>
#include <string.h>

#include "core/graph_internal.h"
#include "nn/attention_scores.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ops/linear_packed.h"
#include "ops/loss.h"
#include "ops/residual.h"
#include "ops/rope.h"
#include "ops/softmax.h"
#include "nn/tensor_util.h"
#include "tfm/base.h"


/* A new tensor shaped like x but with the last dimension replaced by `last`. */
static tfm_tensor *like_with_last(tfm_graph *g, const tfm_tensor *x, int last) {
    int shape[TFM_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = last;
    return tfm_graph_tensor(g, x->ndim, shape);
}

/* ---- embedding ---- */
static void embedding_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *table = n->in[0];
    tfm_embedding_backward(grad_of(table), n->out->grad, (const int32_t *)n->object, n->ints[0], table->shape[1]);
}

tfm_tensor *tfm_fn_embedding(tfm_graph *g, tfm_tensor *table, const int32_t *ids, int ndim, const int *shape) {
    if (!table) return NULL;
    int out_shape[TFM_MAX_DIMS];
    if (ndim + 1 > TFM_MAX_DIMS) { tfm_error(TFM_ERR_INVALID_ARGUMENT, "embedding: too many dimensions"); return NULL; }
    memcpy(out_shape, shape, sizeof(int) * (size_t)ndim);
    out_shape[ndim] = table->shape[1];
    tfm_tensor *out = tfm_graph_tensor(g, ndim + 1, out_shape);
    if (!out) return NULL;
    int N = (int)tfm_shape_size(ndim, shape), C = table->shape[1];
    tfm_embedding_forward(out->data, table->data, ids, N, C);
    tfm_node *n = tfm_graph_record(g, embedding_backward, out, 1, &table);
    if (n) { n->object = ids; n->ints[0] = N; }
    return out;
}

/* ---- gather rows: the embedding lookup with a graph tensor as the table ---- */
static void gather_rows_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0];
    tfm_embedding_backward(grad_of(x), n->out->grad, (const int32_t *)n->object, n->ints[0], x->shape[x->ndim - 1]);
}

tfm_tensor *tfm_fn_gather_rows(tfm_graph *g, tfm_tensor *x, const int32_t *rows, int count) {
    if (!x) return NULL;
    size_t available = rows_of(x);
    for (int i = 0; i < count; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= available) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "gather rows: row %d (entry %d) is outside [0, %zu)", rows[i], i, available);
            return NULL;
        }
    int C = x->shape[x->ndim - 1];
    tfm_tensor *out = tfm_graph_tensor(g, 2, (int[]){count, C});
    if (!out) return NULL;
    tfm_embedding_forward(out->data, x->data, rows, count, C);
    tfm_node *n = tfm_graph_record(g, gather_rows_backward, out, 1, &x);
    if (n) { n->object = rows; n->ints[0] = count; }
    return out;
}

/* ---- residual add ---- */
static void add_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_residual_backward(grad_of(n->in[0]), grad_of(n->in[1]), n->out->grad, n->out->size);
}

static tfm_tensor *add(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, int overwrite_b) {
    if (!a || !b) return NULL;
    if (a->size != b->size) { tfm_error(TFM_ERR_INVALID_ARGUMENT, "add: sizes differ (%zu vs %zu)", a->size, b->size); return NULL; }
    tfm_tensor *out = tfm_graph_tensor_like(g, b, overwrite_b);
    if (!out) return NULL;
    tfm_residual_forward(out->data, a->data, b->data, a->size);
    tfm_tensor *in[2] = {a, b};
    tfm_graph_record(g, add_backward, out, 2, in);
    return out;
}

tfm_tensor *tfm_fn_add(tfm_graph *g, tfm_tensor *a, tfm_tensor *b) { return add(g, a, b, 0); }
tfm_tensor *tfm_fn_add_in_place(tfm_graph *g, tfm_tensor *a, tfm_tensor *b) { return add(g, a, b, 1); }

/* ---- residual add around a dropped-out branch: dropout(b) is never stored ---- */
static void add_dropout_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_residual_backward(grad_of(n->in[0]), NULL, n->out->grad, n->out->size);
    tfm_dropout_backward(grad_of(n->in[1]), n->out->grad, n->out->size, n->floats[0], n->words[0], n->words[1]);
}

static tfm_tensor *add_dropout(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, float p, int overwrite_b) {
    if (!g->training || p <= 0) return add(g, a, b, overwrite_b); /* what tfm_fn_dropout's identity gives */
    if (!a || !b) return NULL;
    if (a->size != b->size) { tfm_error(TFM_ERR_INVALID_ARGUMENT, "add: sizes differ (%zu vs %zu)", a->size, b->size); return NULL; }
    tfm_tensor *out = tfm_graph_tensor_like(g, b, overwrite_b);
    if (!out) return NULL;
    uint64_t offset = tfm_rng_reserve(&g->dropout_rng, b->size); /* the draws tfm_fn_dropout(b) would take */
    tfm_dropout_add_forward(out->data, a->data, b->data, b->size, p, g->dropout_rng.seed, offset);
    tfm_tensor *in[2] = {a, b};
    tfm_node *n = tfm_graph_record(g, add_dropout_backward, out, 2, in);
    if (n) { n->floats[0] = p; n->words[0] = g->dropout_rng.seed; n->words[1] = offset; }
    return out;
}

tfm_tensor *tfm_fn_add_dropout(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, float p) { return add_dropout(g, a, b, p, 0); }
tfm_tensor *tfm_fn_add_dropout_in_place(tfm_graph *g, tfm_tensor *a, tfm_tensor *b, float p) { return add_dropout(g, a, b, p, 1); }

/* ---- linear ---- */
static void linear_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    tfm_linear_backward(grad_of(x), grad_of(w), grad_of(b), n->out->grad, x->data, w->data, n->ints[0], n->ints[1], n->ints[2]);
}

tfm_tensor *tfm_fn_linear(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias) {
    if (!x || !weight) return NULL;
    int C = x->shape[x->ndim - 1], OC = weight->shape[0];
    if (weight->shape[1] != C) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "linear: input has %d features, weight expects %d", C, weight->shape[1]);
        return NULL;
    }
    if (weight->packed && g->recording) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "linear: the weight is packed for inference (load the model for training instead)");
        return NULL;
    }
    tfm_tensor *out = like_with_last(g, x, OC);
    if (!out) return NULL;
    int N = (int)rows_of(x);
    if (weight->packed) {
        tfm_linear_packed_forward(out->data, x->data, weight->data, bias ? bias->data : NULL, N, C, OC);
        return out;
    }
    tfm_linear_forward(out->data, x->data, weight->data, bias ? bias->data : NULL, N, C, OC);
    tfm_tensor *in[3] = {x, weight, bias};
    tfm_node *n = tfm_graph_record(g, linear_backward, out, 3, in);
    if (n) { n->ints[0] = N; n->ints[1] = C; n->ints[2] = OC; }
    return out;
}

/* ---- LayerNorm ---- */
static void layernorm_backward(tfm_graph *g, tfm_node *n) {
    tfm_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = n->ints[0], C = n->ints[1];
    (void)g;
    tfm_layernorm_backward(grad_of(x), grad_of(w), grad_of(b), n->out->grad, x->data, w->data, n->saved[0], n->saved[1], N, C);
}

tfm_tensor *tfm_fn_layernorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias, float eps) {
    if (!x || !weight || !bias) return NULL;
    int C = x->shape[x->ndim - 1], N = (int)rows_of(x);
    tfm_tensor *out = tfm_graph_tensor(g, x->ndim, x->shape);
    float *mean = tfm_graph_alloc(g, sizeof(float) * (size_t)N);
    float *rstd = tfm_graph_alloc(g, sizeof(float) * (size_t)N);
    if (!out || !mean || !rstd) return NULL;
    tfm_layernorm_forward(out->data, mean, rstd, x->data, weight->data, bias->data, N, C, eps);
    tfm_tensor *in[3] = {x, weight, bias};
    tfm_node *n = tfm_graph_record(g, layernorm_backward, out, 3, in);
    if (n) { n->saved[0] = mean; n->saved[1] = rstd; n->ints[0] = N; n->ints[1] = C; }
    return out;
}

/* ---- activations (kind: TFM_ACTIVATION_* from tfm/config.h) ---- */
static void activation_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *out = n->out;
    if (!n->ints[1]) {
        tfm_activation_backward(n->ints[0], n->floats[0], grad_of(x), out->grad, x->data, out->size);
    } else if (n->reuses_output_grad) { /* ReLU from its output (x's values may be gone); x->grad is out->grad */
        tfm_relu_backward_in_place(x->grad, out->data, out->size);
    } else {
        tfm_relu_backward(grad_of(x), out->grad, out->data, out->size);
    }
}

static tfm_tensor *activation(tfm_graph *g, tfm_tensor *x, int kind, float parameter, int in_place) {
    if (!x) return NULL;
    if (kind < 0 || kind >= TFM_ACTIVATION_COUNT) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "activation: unknown kind %d (expected 0 to %d)", kind, TFM_ACTIVATION_COUNT - 1);
        return NULL;
    }
    if (!isfinite(parameter) || (kind == TFM_ACTIVATION_ELU && parameter < 0.0f)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "activation %s: parameter %g out of range", tfm_activation_names[kind], (double)parameter);
        return NULL;
    }
    /* ReLU's backward can read its output instead of its input; the others' need the input itself. */
    int from_output = in_place && kind == TFM_ACTIVATION_RELU;
    int overwrite = in_place && (from_output || !g->recording || !x->requires_grad);
    tfm_tensor *out = tfm_graph_tensor_like(g, x, overwrite);
    if (!out) return NULL;
    tfm_activation_forward(kind, parameter, out->data, x->data, x->size);
    tfm_node *n = tfm_graph_record(g, activation_backward, out, 1, &x);
    if (n) {
        n->ints[0] = kind;
        n->ints[1] = from_output;
        n->floats[0] = parameter;
        n->can_reuse_output_grad = from_output;
        out->read_by_producer = from_output;
    }
    return out;
}

tfm_tensor *tfm_fn_activation(tfm_graph *g, tfm_tensor *x, int kind) {
    return activation(g, x, kind, tfm_activation_default_parameter(kind), 0);
}
tfm_tensor *tfm_fn_activation_in_place(tfm_graph *g, tfm_tensor *x, int kind) {
    return activation(g, x, kind, tfm_activation_default_parameter(kind), 1);
}
tfm_tensor *tfm_fn_activation_with_parameter(tfm_graph *g, tfm_tensor *x, int kind, float parameter) {
    return activation(g, x, kind, parameter, 0);
}
tfm_tensor *tfm_fn_gelu(tfm_graph *g, tfm_tensor *x) { return tfm_fn_activation(g, x, TFM_ACTIVATION_GELU); }
tfm_tensor *tfm_fn_relu(tfm_graph *g, tfm_tensor *x) { return tfm_fn_activation(g, x, TFM_ACTIVATION_RELU); }

/* ---- PReLU: the slope's gradient sums over every row ---- */
static void prelu_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *weight = n->in[1];
    int C = x->shape[x->ndim - 1];
    tfm_prelu_backward(grad_of(x), grad_of(weight), n->out->grad, x->data, weight->data, rows_of(x), C, (int)weight->size);
}

tfm_tensor *tfm_fn_prelu(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight) {
    if (!x || !weight) return NULL;
    int C = x->shape[x->ndim - 1];
    if (weight->size != 1 && weight->size != (size_t)C) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "prelu: weight has %zu entries; expected 1 or one per channel (%d)", weight->size, C);
        return NULL;
    }
    tfm_tensor *out = tfm_graph_tensor_like(g, x, 0);
    if (!out) return NULL;
    tfm_prelu_forward(out->data, x->data, weight->data, rows_of(x), C, (int)weight->size);
    tfm_tensor *in[2] = {x, weight};
    tfm_graph_record(g, prelu_backward, out, 2, in);
    return out;
}

tfm_tensor *tfm_fn_ffn_activation(tfm_graph *g, tfm_tensor *x, int kind, tfm_tensor *prelu_weight) {
    return kind == TFM_ACTIVATION_PRELU ? tfm_fn_prelu(g, x, prelu_weight) : tfm_fn_activation_in_place(g, x, kind);
}

/* ---- softmax and log-softmax over the last dimension; both backwards read the output ---- */
static void softmax_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *out = n->out;
    int V = x->shape[x->ndim - 1], N = (int)rows_of(x);
    if (n->ints[0]) tfm_log_softmax_backward(grad_of(x), out->grad, out->data, N, V);
    else tfm_softmax_backward(grad_of(x), out->grad, out->data, N, V);
}

static tfm_tensor *softmax(tfm_graph *g, tfm_tensor *x, int log) {
    if (!x) return NULL;
    if (rows_of(x) > INT32_MAX) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "softmax: %zu rows, more than this kernel takes", rows_of(x));
        return NULL;
    }
    tfm_tensor *out = tfm_graph_tensor_like(g, x, 0);
    if (!out) return NULL;
    int V = x->shape[x->ndim - 1], N = (int)rows_of(x);
    if (log) tfm_log_softmax_forward(out->data, x->data, N, V);
    else tfm_softmax_forward(out->data, x->data, N, V);
    tfm_node *n = tfm_graph_record(g, softmax_backward, out, 1, &x);
    if (n) n->ints[0] = log;
    return out;
}

tfm_tensor *tfm_fn_softmax(tfm_graph *g, tfm_tensor *x) { return softmax(g, x, 0); }
tfm_tensor *tfm_fn_log_softmax(tfm_graph *g, tfm_tensor *x) { return softmax(g, x, 1); }

/* ---- dropout: the mask is recomputed from (seed, offset) in backward, never stored ---- */
static void dropout_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_dropout_backward(grad_of(n->in[0]), n->out->grad, n->out->size, n->floats[0], n->words[0], n->words[1]);
}

static tfm_tensor *dropout(tfm_graph *g, tfm_tensor *x, float p, int overwrite) {
    if (!x) return NULL;
    if (!g->training || p <= 0) return x;
    tfm_tensor *out = tfm_graph_tensor_like(g, x, overwrite);
    if (!out) return NULL;
    uint64_t offset = tfm_rng_reserve(&g->dropout_rng, x->size);
    tfm_dropout_forward(out->data, x->data, x->size, p, g->dropout_rng.seed, offset);
    tfm_node *n = tfm_graph_record(g, dropout_backward, out, 1, &x);
    if (n) { n->floats[0] = p; n->words[0] = g->dropout_rng.seed; n->words[1] = offset; }
    return out;
}

tfm_tensor *tfm_fn_dropout(tfm_graph *g, tfm_tensor *x, float p) { return dropout(g, x, p, 0); }
tfm_tensor *tfm_fn_dropout_in_place(tfm_graph *g, tfm_tensor *x, float p) { return dropout(g, x, p, 1); }

/* ---- attention ---- */
typedef struct attention_saved {
    tfm_attention_config config;
    tfm_tensor *q, *k, *v;
    tfm_tensor *relative_keys, *relative_values; /* or NULL */
    int q_column, k_column, v_column;
    float *probs;            /* [B, H, Tq, Tk] */
} attention_saved;

static void attention_backward(tfm_graph *g, tfm_node *n) {
    const attention_saved *s = n->saved[0];
    tfm_attention_config config = s->config;
    if (s->relative_keys) config.relative_keys_grad = grad_of(s->relative_keys);
    if (s->relative_values) config.relative_values_grad = grad_of(s->relative_values);
    size_t scratch_floats = tfm_attention_scratch_floats(&config, tfm_threads_get());
    float *scratch = tfm_graph_alloc(g, sizeof(float) * (scratch_floats ? scratch_floats : 1));
    if (!scratch) return; /* out of memory: tfm_graph_backward reports it */
    float *dq = grad_of(s->q), *dk = grad_of(s->k), *dv = grad_of(s->v);
    tfm_attention_backward(dq ? dq + s->q_column : NULL, dk ? dk + s->k_column : NULL, dv ? dv + s->v_column : NULL, n->out->grad,
                           s->probs, s->q->data + s->q_column, s->k->data + s->k_column, s->v->data + s->v_column, &config,
                           scratch, scratch_floats);
}

tfm_tensor *tfm_fn_attention(tfm_graph *g, const tfm_attention_args *a) {
    if (!a->q || !a->k || !a->v) return NULL;
    int B = a->batch, Tq = a->query_length, Tk = a->key_length, H = a->heads, hd = a->head_dim;
    tfm_tensor *q = a->q, *k = a->k, *v = a->v;
    tfm_attention_config config = tfm_attention_config_default(B, Tq, Tk, H, hd);
    config.q_row_stride = (size_t)q->shape[q->ndim - 1];
    config.k_row_stride = (size_t)k->shape[k->ndim - 1];
    config.v_row_stride = (size_t)v->shape[v->ndim - 1];
    config.q_batch_stride = config.q_row_stride * Tq;
    config.k_batch_stride = a->kv_batch_stride ? a->kv_batch_stride : config.k_row_stride * Tk;
    config.v_batch_stride = a->kv_batch_stride ? a->kv_batch_stride : config.v_row_stride * Tk;
    config.causal = a->causal;
    config.alibi = a->alibi;
    if (a->relative_keys || a->relative_values) {
        size_t rows = 2 * (size_t)(a->relative_clip > 0 ? a->relative_clip : 0) + 1;
        for (int t = 0; t < 2; t++) {
            const tfm_tensor *table = t ? a->relative_values : a->relative_keys;
            if (table && (a->relative_clip < 1 || table->size != rows * (size_t)hd)) {
                tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention: relative %s table has %zu values, expected (2 * clip %d + 1) x head_dim %d",
                          t ? "value" : "key", table->size, a->relative_clip, hd);
                return NULL;
            }
        }
        config.relative_keys = a->relative_keys ? a->relative_keys->data : NULL;
        config.relative_values = a->relative_values ? a->relative_values->data : NULL;
        config.relative_clip = a->relative_clip;
    }
    config.key_lengths = a->key_lengths;
    config.kv_index = a->kv_index;
    int kv_items = B; /* k/v batch items read */
    if (a->kv_index) {
        if (g->recording) { tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention: kv_index is for inference (graph recording)"); return NULL; }
        kv_items = 0;
        for (int b = 0; b < B; b++) kv_items = a->kv_index[b] + 1 > kv_items ? a->kv_index[b] + 1 : kv_items;
    }
    size_t k_rows_needed = (size_t)(kv_items - 1) * config.k_batch_stride / config.k_row_stride + (size_t)Tk;
    if (a->q_column + (size_t)H * hd > config.q_row_stride || a->k_column + (size_t)H * hd > config.k_row_stride ||
        a->v_column + (size_t)H * hd > config.v_row_stride || q->size / config.q_row_stride != (size_t)B * Tq ||
        k->size / config.k_row_stride < k_rows_needed || v->size / config.v_row_stride < k_rows_needed) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention: q/k/v shapes do not match B=%d Tq=%d Tk=%d H=%d hd=%d", B, Tq, Tk, H, hd);
        return NULL;
    }
    if (a->score < 0 || a->score >= TFM_SCORE_COUNT) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention: unknown score %d (TFM_SCORE_*)", a->score);
        return NULL;
    }
    if (a->score == TFM_SCORE_GENERAL || a->score == TFM_SCORE_ADDITIVE)
        return tfm_attention_with_scores(g, a, config.k_batch_stride / config.k_row_stride);
    if (a->score == TFM_SCORE_DOT) config.scale = 1.0f;
    tfm_tensor *out = tfm_graph_tensor(g, 3, (int[]){B, Tq, H * hd});
    float *probs = tfm_graph_alloc(g, sizeof(float) * (size_t)B * H * Tq * Tk);
    if (!out || !probs) return NULL;
    config.dropout_p = g->training ? a->dropout_p : 0.0f;
    if (config.dropout_p > 0) {
        config.dropout_seed = g->dropout_rng.seed;
        config.dropout_offset = tfm_rng_reserve(&g->dropout_rng, (uint64_t)B * H * Tq * Tk);
    }
    size_t scratch_floats = tfm_attention_scratch_floats(&config, tfm_threads_get());
    float *scratch = tfm_graph_alloc(g, sizeof(float) * (scratch_floats ? scratch_floats : 1));
    if (!scratch) return NULL;
    tfm_status st = tfm_attention_forward(out->data, probs, q->data + a->q_column, k->data + a->k_column, v->data + a->v_column, &config,
                                          scratch, scratch_floats);
    if (st) return NULL;
    tfm_tensor *in[5] = {q, k, v, a->relative_keys, a->relative_values};
    tfm_node *n = tfm_graph_record(g, attention_backward, out, 5, in);
    if (n) {
        attention_saved *s = tfm_graph_alloc(g, sizeof *s);
        if (!s) return NULL;
        *s = (attention_saved){.config = config, .q = q, .k = k, .v = v, .relative_keys = a->relative_keys,
                               .relative_values = a->relative_values, .q_column = a->q_column, .k_column = a->k_column,
                               .v_column = a->v_column, .probs = probs};
        n->saved[0] = s;
    }
    return out;
}

/* ---- cross-entropy ---- */
static void cross_entropy_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *logits = n->in[0];
    int N = n->ints[0], V = n->ints[1], counted = n->ints[3];
    if (!grad_of(logits)) return;
    float scale = counted ? n->out->grad[0] / (float)counted : 0.0f;
    if (n->overwrites_input) /* logits->grad is logits->data: no second [N, V] buffer */
        tfm_cross_entropy_backward_in_place(logits->data, n->saved[0], (const int32_t *)n->object, N, V, n->ints[2], n->floats[0], scale);
    else if (counted)
        tfm_cross_entropy_backward(grad_of(logits), logits->data, n->saved[0], (const int32_t *)n->object, N, V, n->ints[2], n->floats[0], scale);
}

tfm_tensor *tfm_fn_cross_entropy(tfm_graph *g, tfm_tensor *logits, const int32_t *targets, int ignore_index, float label_smoothing,
                                 int *counted) {
    if (!logits) return NULL;
    int V = logits->shape[logits->ndim - 1], N = (int)rows_of(logits);
    tfm_tensor *out = tfm_graph_tensor(g, 1, (int[]){1});
    float *losses = tfm_graph_alloc(g, sizeof(float) * (size_t)N);
    float *logsumexp = tfm_graph_alloc(g, sizeof(float) * (size_t)N);
    if (!out || !losses || !logsumexp) return NULL;
    int count = 0;
    out->data[0] = tfm_cross_entropy_forward(losses, logsumexp, logits->data, targets, N, V, ignore_index, label_smoothing, &count);
    if (counted) *counted = count;
    tfm_node *n = tfm_graph_record(g, cross_entropy_backward, out, 1, &logits);
    if (n) {
        n->saved[0] = logsumexp;
        n->object = targets;
        n->ints[0] = N; n->ints[1] = V; n->ints[2] = ignore_index; n->ints[3] = count;
        n->floats[0] = label_smoothing;
        n->can_overwrite_input = 1;
    }
    return out;
}

/* ---- the other losses (ops/loss.c): a scalar, the mean (or sum) of the terms ---- */
static void loss_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *pred = n->in[0];
    if (!grad_of(pred)) return;
    float scale = n->out->grad[0] * n->floats[1];
    tfm_loss_backward(n->ints[0], grad_of(pred), pred->data, (const float *)n->object, rows_of(pred), pred->shape[pred->ndim - 1],
                      n->floats[0], scale);
}

/* What a loss needs of its inputs: the first entry that breaks it, named. */
static tfm_status check_loss_inputs(int kind, const float *pred, const float *target, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float p = pred[i], t = target[i];
        if (kind == TFM_LOSS_BINARY_CROSS_ENTROPY && !(p >= 0.0f && p <= 1.0f))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "binary_cross_entropy: prediction[%zu] = %g; expected a probability in [0, 1] "
                                                       "(binary_cross_entropy_with_logits takes logits)", i, (double)p);
        if (kind == TFM_LOSS_BINARY_CROSS_ENTROPY && !(t >= 0.0f && t <= 1.0f))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "binary_cross_entropy: target[%zu] = %g; expected a number in [0, 1]", i, (double)t);
        if ((kind == TFM_LOSS_HINGE || kind == TFM_LOSS_SQUARED_HINGE) && t != 1.0f && t != -1.0f)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: target[%zu] = %g; expected -1 or 1 (map 0/1 labels with 2y - 1)",
                             tfm_loss_names[kind], i, (double)t);
        if (kind == TFM_LOSS_POISSON && !(p >= 0.0f && t >= 0.0f))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "poisson: prediction[%zu] = %g, target %g; expected non-negative rates and counts", i,
                             (double)p, (double)t);
        if ((kind == TFM_LOSS_KL_DIVERGENCE || kind == TFM_LOSS_CATEGORICAL_CROSS_ENTROPY || kind == TFM_LOSS_CATEGORICAL_HINGE) &&
            !(t >= 0.0f && t <= 1.0f))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: target[%zu] = %g; expected a probability in [0, 1]", tfm_loss_names[kind], i,
                             (double)t);
    }
    return TFM_OK;
}

tfm_tensor *tfm_fn_loss(tfm_graph *g, int kind, tfm_tensor *pred, const float *target, int reduction, float delta) {
    if (!pred) return NULL;
    if (kind < 0 || kind >= TFM_LOSS_COUNT) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "loss: unknown kind %d (expected 0 to %d)", kind, TFM_LOSS_COUNT - 1);
        return NULL;
    }
    if (reduction != TFM_REDUCTION_MEAN && reduction != TFM_REDUCTION_SUM) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: reduction %d; expected TFM_REDUCTION_MEAN or _SUM", tfm_loss_names[kind], reduction);
        return NULL;
    }
    if ((kind == TFM_LOSS_HUBER || kind == TFM_LOSS_SMOOTH_L1) && !(isfinite(delta) && delta > 0.0f)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: delta %g; expected a positive number", tfm_loss_names[kind], (double)delta);
        return NULL;
    }
    if (check_loss_inputs(kind, pred->data, target, pred->size)) return NULL;
    size_t rows = rows_of(pred), terms = tfm_loss_per_row(kind) ? rows : pred->size;
    int C = pred->shape[pred->ndim - 1];
    tfm_tensor *out = tfm_graph_tensor(g, 1, (int[]){1});
    if (!out) return NULL;
    float per_term = reduction == TFM_REDUCTION_SUM ? 1.0f : (float)(1.0 / (double)(terms ? terms : 1));
    double sum = tfm_loss_forward(kind, pred->data, target, rows, C, delta);
    out->data[0] = (float)(reduction == TFM_REDUCTION_SUM ? sum : sum / (double)(terms ? terms : 1));
    tfm_node *n = tfm_graph_record(g, loss_backward, out, 1, &pred);
    if (n) {
        n->object = target;
        n->ints[0] = kind;
        n->floats[0] = delta;
        n->floats[1] = per_term;
    }
    return out;
}

/* ---- negative log-likelihood of log-probabilities ---- */
static void nll_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *logp = n->in[0];
    if (!grad_of(logp) || !n->ints[3]) return;
    tfm_nll_backward(grad_of(logp), (const int32_t *)n->object, n->ints[0], n->ints[1], n->ints[2], n->out->grad[0] / (float)n->ints[3]);
}

tfm_tensor *tfm_fn_nll(tfm_graph *g, tfm_tensor *log_probs, const int32_t *targets, int ignore_index, int *counted) {
    if (!log_probs) return NULL;
    int V = log_probs->shape[log_probs->ndim - 1];
    size_t N = rows_of(log_probs);
    for (size_t i = 0; i < N; i++)
        if (targets[i] != ignore_index && (targets[i] < 0 || targets[i] >= V)) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "nll: target[%zu] = %d; expected a class in [0, %d) or the ignore index %d", i, targets[i], V,
                      ignore_index);
            return NULL;
        }
    tfm_tensor *out = tfm_graph_tensor(g, 1, (int[]){1});
    if (!out) return NULL;
    int count = 0;
    double sum = tfm_nll_forward(log_probs->data, targets, (int)N, V, ignore_index, &count);
    out->data[0] = count ? (float)(sum / count) : 0.0f;
    if (counted) *counted = count;
    tfm_node *n = tfm_graph_record(g, nll_backward, out, 1, &log_probs);
    if (n) {
        n->object = targets;
        n->ints[0] = (int)N; n->ints[1] = V; n->ints[2] = ignore_index; n->ints[3] = count;
    }
    return out;
}

/* ---- sum(x * w) with w constant: a scalar to backpropagate any chosen gradient of x from (tests, custom losses) ---- */
static void weighted_sum_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0];
    float *dx = grad_of(x), seed = n->out->grad[0];
    const float *w = n->object;
    if (!dx) return;
    #pragma omp parallel for simd schedule(static) if (x->size >= (1 << 16))
    for (size_t i = 0; i < x->size; i++) dx[i] += seed * w[i];
}

/* sum(x * w) in blocks of 8192 added in order: the same value at any thread count. */
static double weighted_sum_of(const float *x, const float *w, size_t n) {
    enum { BLOCK = 8192, GROUP = 256 };
    size_t blocks = (n + BLOCK - 1) / BLOCK;
    double total = 0.0, partial[GROUP];
    for (size_t group = 0; group < blocks; group += GROUP) {
        size_t count = blocks - group < GROUP ? blocks - group : GROUP;
        #pragma omp parallel for schedule(static) if (count > 1)
        for (size_t b = 0; b < count; b++) {
            size_t begin = (group + b) * BLOCK, end = begin + BLOCK < n ? begin + BLOCK : n;
            double sum = 0.0;
            #pragma omp simd reduction(+ : sum)
            for (size_t i = begin; i < end; i++) sum += (double)x[i] * w[i];
            partial[b] = sum;
        }
        for (size_t b = 0; b < count; b++) total += partial[b];
    }
    return total;
}

tfm_tensor *tfm_fn_weighted_sum(tfm_graph *g, tfm_tensor *x, const float *weights) {
    if (!x) return NULL;
    tfm_tensor *out = tfm_graph_tensor(g, 1, (int[]){1});
    if (!out) return NULL;
    out->data[0] = (float)weighted_sum_of(x->data, weights, x->size);
    tfm_node *n = tfm_graph_record(g, weighted_sum_backward, out, 1, &x);
    if (n) n->object = weights;
    return out;
}

/* ---- [..., Ca] and [..., Cb] side by side: [..., Ca + Cb] ---- */
static void concat_last_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *a = n->in[0], *b = n->in[1];
    int Ca = a->shape[a->ndim - 1], Cb = b->shape[b->ndim - 1];
    float *da = grad_of(a), *db = grad_of(b);
    const float *dy = n->out->grad;
    for (size_t r = 0; r < rows_of(a); r++) {
        for (int c = 0; da && c < Ca; c++) da[r * Ca + c] += dy[r * (Ca + Cb) + c];
        for (int c = 0; db && c < Cb; c++) db[r * Cb + c] += dy[r * (Ca + Cb) + Ca + c];
    }
}

tfm_tensor *tfm_fn_concat_last(tfm_graph *g, tfm_tensor *a, tfm_tensor *b) {
    if (!a || !b) return NULL;
    int Ca = a->shape[a->ndim - 1], Cb = b->shape[b->ndim - 1];
    if (a->ndim != b->ndim || rows_of(a) != rows_of(b)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "concat: the inputs differ in their leading dimensions");
        return NULL;
    }
    int shape[TFM_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 1] = Ca + Cb;
    tfm_tensor *out = tfm_graph_tensor(g, a->ndim, shape);
    if (!out) return NULL;
    for (size_t r = 0; r < rows_of(a); r++) {
        memcpy(out->data + r * (Ca + Cb), a->data + r * Ca, sizeof(float) * (size_t)Ca);
        memcpy(out->data + r * (Ca + Cb) + Ca, b->data + r * Cb, sizeof(float) * (size_t)Cb);
    }
    tfm_tensor *in[2] = {a, b};
    tfm_graph_record(g, concat_last_backward, out, 2, in);
    return out;
}

/* ---- rotary position embedding ---- */
static void rope_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *out = n->out;
    float *dx = grad_of(x), *dy = out->grad;
    if (!dx) return;
    int B = n->ints[0], T = n->ints[1], width = n->ints[2];
    size_t count = (size_t)B * T * width;
    float *rotated = n->saved[1]; /* dy rotated back, then added: dx accumulates */
    tfm_rope(rotated, dy, B, T, width, n->ints[3], n->ints[4], n->ints[5], n->floats[0], 1, n->saved[0]);
    for (size_t i = 0; i < count; i++) dx[i] += rotated[i];
}

tfm_tensor *tfm_fn_rope(tfm_graph *g, tfm_tensor *x, int columns, int head_dim, int offset, float base) {
    if (!x) return NULL;
    int width = x->shape[x->ndim - 1];
    if (x->ndim != 3 || head_dim < 2 || head_dim % 2 || columns % head_dim || columns > width || offset < 0 || !(base > 1.0f)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "rope: expected x [B, T, width], whole heads of an even head_dim (%d) within the first %d of "
                  "%d columns, offset >= 0 and base > 1", head_dim, columns, width);
        return NULL;
    }
    int B = x->shape[0], T = x->shape[1];
    tfm_tensor *out = tfm_graph_tensor(g, 3, x->shape);
    float *table = tfm_graph_alloc(g, sizeof(float) * tfm_rope_table_floats(T, head_dim));
    if (!out || !table) return NULL;
    tfm_rope(out->data, x->data, B, T, width, columns, head_dim, offset, base, 0, table);
    tfm_node *n = tfm_graph_record(g, rope_backward, out, 1, &x);
    if (n) {
        n->saved[0] = table;
        n->saved[1] = tfm_graph_alloc(g, sizeof(float) * x->size);
        if (!n->saved[1]) return NULL;
        n->ints[0] = B; n->ints[1] = T; n->ints[2] = width; n->ints[3] = columns; n->ints[4] = head_dim; n->ints[5] = offset;
        n->floats[0] = base;
    }
    return out;
}
