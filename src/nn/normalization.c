/* nn/normalization.c: RMSNorm and BatchNorm as graph functions, and the norm layer a model picks by config. */
#include "tfm/nn.h"

#include <stdio.h>

#include "core/graph_internal.h"
#include "nn/tensor_util.h"
#include "ops/batchnorm.h"
#include "ops/rmsnorm.h"

/* ---- RMSNorm ---- */
static void rmsnorm_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *w = n->in[1];
    tfm_rmsnorm_backward(grad_of(x), grad_of(w), n->out->grad, x->data, w->data, n->saved[0], n->ints[0], n->ints[1]);
}

tfm_tensor *tfm_fn_rmsnorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, float eps) {
    if (!x || !weight) return NULL;
    int C = x->shape[x->ndim - 1], N = (int)rows_of(x);
    if (weight->size != (size_t)C) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "rmsnorm: weight has %zu entries, the input %d features", weight->size, C);
        return NULL;
    }
    tfm_tensor *out = tfm_graph_tensor(g, x->ndim, x->shape);
    float *rstd = tfm_graph_alloc(g, sizeof(float) * (size_t)N);
    if (!out || !rstd) return NULL;
    tfm_rmsnorm_forward(out->data, rstd, x->data, weight->data, N, C, eps);
    tfm_tensor *in[2] = {x, weight};
    tfm_node *n = tfm_graph_record(g, rmsnorm_backward, out, 2, in);
    if (n) { n->saved[0] = rstd; n->ints[0] = N; n->ints[1] = C; }
    return out;
}

/* ---- BatchNorm ---- */
static void batchnorm_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = n->ints[0], C = n->ints[1];
    if (n->ints[2]) /* training: the batch's statistics */
        tfm_batchnorm_backward_train(grad_of(x), grad_of(w), grad_of(b), n->out->grad, x->data, w->data, n->saved[0], n->saved[1],
                                     n->object, N, C);
    else
        tfm_batchnorm_backward_eval(grad_of(x), grad_of(w), grad_of(b), n->out->grad, x->data, w->data, n->saved[0], n->saved[1], N, C,
                                    n->floats[0]);
}

tfm_tensor *tfm_fn_batchnorm(tfm_graph *g, tfm_tensor *x, tfm_tensor *weight, tfm_tensor *bias, tfm_tensor *running_mean,
                             tfm_tensor *running_var, const uint8_t *row_mask, float momentum, float eps) {
    if (!x || !weight || !bias || !running_mean || !running_var) return NULL;
    int C = x->shape[x->ndim - 1], N = (int)rows_of(x), training = tfm_graph_training(g);
    if (weight->size != (size_t)C || bias->size != (size_t)C || running_mean->size != (size_t)C || running_var->size != (size_t)C) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "batchnorm: weight, bias and running statistics need %d entries each (the features)", C);
        return NULL;
    }
    int counted = 0;
    for (int r = 0; r < N; r++) counted += !row_mask || row_mask[r];
    if (training && counted < 2) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "batchnorm: training needs at least 2 rows to take statistics over, got %d", counted);
        return NULL;
    }
    tfm_tensor *out = tfm_graph_tensor(g, x->ndim, x->shape);
    float *mean = training ? tfm_graph_alloc(g, sizeof(float) * (size_t)C) : running_mean->data;
    float *rstd = training ? tfm_graph_alloc(g, sizeof(float) * (size_t)C) : running_var->data;
    if (!out || !mean || !rstd) return NULL;
    if (training)
        tfm_batchnorm_forward_train(out->data, mean, rstd, running_mean->data, running_var->data, x->data, weight->data, bias->data,
                                    row_mask, N, C, momentum, eps);
    else
        tfm_batchnorm_forward_eval(out->data, x->data, weight->data, bias->data, running_mean->data, running_var->data, N, C, eps);
    tfm_tensor *in[3] = {x, weight, bias};
    tfm_node *n = tfm_graph_record(g, batchnorm_backward, out, 3, in);
    if (n) {
        n->saved[0] = mean; /* evaluation: the running statistics, read again by backward */
        n->saved[1] = rstd;
        n->object = row_mask;
        n->ints[0] = N; n->ints[1] = C; n->ints[2] = training;
        n->floats[0] = eps;
    }
    return out;
}

/* ---- The norm layer ---- */
tfm_status tfm_norm_declare(tfm_norm_layer *layer, tfm_params *p, const char *prefix, int C, int kind, float eps) {
    if (kind < 0 || kind >= TFM_NORM_COUNT) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: unknown norm kind %d", prefix, kind);
    char name[256];
    layer->kind = kind;
    layer->eps = eps;
    layer->momentum = 0.1f; /* torch's BatchNorm default */
    snprintf(name, sizeof name, "%s.weight", prefix);
    tfm_status st = tfm_params_declare(p, name, 1, (int[]){C}, &layer->weight, 0);
    if (st || kind == TFM_NORM_RMSNORM) return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    st = tfm_params_declare(p, name, 1, (int[]){C}, &layer->bias, 0);
    if (st || kind == TFM_NORM_LAYERNORM) return st;
    snprintf(name, sizeof name, "%s.running_mean", prefix);
    st = tfm_params_declare_buffer(p, name, 1, (int[]){C}, &layer->running_mean);
    snprintf(name, sizeof name, "%s.running_var", prefix);
    return st ? st : tfm_params_declare_buffer(p, name, 1, (int[]){C}, &layer->running_var);
}

void tfm_norm_reset(tfm_norm_layer *layer) {
    tfm_init_constant(&layer->weight, 1.0f);
    if (layer->kind == TFM_NORM_RMSNORM) return;
    tfm_init_constant(&layer->bias, 0.0f);
    if (layer->kind == TFM_NORM_LAYERNORM) return;
    tfm_init_constant(&layer->running_mean, 0.0f);
    tfm_init_constant(&layer->running_var, 1.0f);
}

const uint8_t *tfm_norm_real_rows(tfm_graph *g, int kind, const int *lengths, int B, int T) {
    if (kind != TFM_NORM_BATCHNORM || !lengths) return NULL;
    uint8_t *rows = tfm_graph_alloc(g, (size_t)B * T);
    if (rows)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) rows[(size_t)b * T + t] = t < lengths[b];
    return rows;
}

tfm_tensor *tfm_norm_forward_graph(tfm_graph *g, tfm_norm_layer *layer, tfm_tensor *x) { return tfm_norm_forward_masked(g, layer, x, NULL); }

tfm_tensor *tfm_norm_forward_masked(tfm_graph *g, tfm_norm_layer *layer, tfm_tensor *x, const uint8_t *row_mask) {
    switch (layer->kind) {
    case TFM_NORM_RMSNORM: return tfm_fn_rmsnorm(g, x, &layer->weight, layer->eps);
    case TFM_NORM_BATCHNORM:
        return tfm_fn_batchnorm(g, x, &layer->weight, &layer->bias, &layer->running_mean, &layer->running_var, row_mask, layer->momentum,
                                layer->eps);
    default: return tfm_fn_layernorm(g, x, &layer->weight, &layer->bias, layer->eps);
    }
}
