/* nn/recurrent.c: RNN, LSTM and GRU layers (multi-layer, bidirectional, variable lengths) as graph functions. */
#include "tfm/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/graph_internal.h"
#include "nn/tensor_util.h"
#include "ops/recurrent.h"
#include "tfm/base.h"

const char *const tfm_recurrent_names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru", NULL};

/* ---- One direction of one layer on the graph ---- */
typedef struct direction_saved {
    tfm_recurrent_shape shape;
    float *workspace, *scratch;
} direction_saved;

static void direction_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    const direction_saved *d = n->object;
    tfm_tensor *x = n->in[0], *w_ih = n->in[1], *w_hh = n->in[2], *b_ih = n->in[3], *b_hh = n->in[4];
    tfm_recurrent_backward(&d->shape, grad_of(x), grad_of(w_ih), grad_of(w_hh), grad_of(b_ih), grad_of(b_hh), n->out->grad, NULL,
                           d->workspace, d->scratch, x->data, w_ih->data, w_hh->data);
}

tfm_tensor *tfm_fn_recurrent(tfm_graph *g, int kind, tfm_tensor *x, tfm_tensor *w_ih, tfm_tensor *w_hh, tfm_tensor *b_ih, tfm_tensor *b_hh,
                             const int *lengths, int reverse, const float *h0, const float *c0, float *h_n, float *c_n) {
    if (!x || !w_ih || !w_hh) return NULL;
    if (kind < 0 || kind > TFM_RECURRENT_GRU) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "recurrent: unknown kind %d", kind);
        return NULL;
    }
    int G = tfm_recurrent_gates(kind), H = w_hh->shape[w_hh->ndim - 1];
    if (x->ndim != 3 || w_ih->ndim != 2 || w_ih->shape[0] != G * H || w_ih->shape[1] != x->shape[2] || w_hh->shape[0] != G * H ||
        (b_ih && b_ih->size != (size_t)G * H) || (b_hh && b_hh->size != (size_t)G * H)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: expected x [B, T, I], w_ih [%d, I], w_hh [%d, %d] and biases [%d]",
                  tfm_recurrent_names[kind], G * H, G * H, H, G * H);
        return NULL;
    }
    int B = x->shape[0], T = x->shape[1];
    direction_saved *d = tfm_graph_alloc(g, sizeof *d);
    int *kept_lengths = lengths ? tfm_graph_alloc(g, sizeof(int) * (size_t)B) : NULL;
    if (!d || (lengths && !kept_lengths)) return NULL;
    for (int b = 0; lengths && b < B; b++) {
        if (lengths[b] < 1 || lengths[b] > T) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: lengths[%d] = %d; expected 1 to T = %d", tfm_recurrent_names[kind], b, lengths[b], T);
            return NULL;
        }
        kept_lengths[b] = lengths[b];
    }
    d->shape = (tfm_recurrent_shape){.kind = kind, .B = B, .T = T, .I = x->shape[2], .H = H, .reverse = reverse, .lengths = kept_lengths};
    d->workspace = tfm_graph_alloc(g, sizeof(float) * tfm_recurrent_workspace_floats(&d->shape));
    d->scratch = tfm_graph_alloc(g, sizeof(float) * tfm_recurrent_scratch_floats(&d->shape));
    tfm_tensor *out = tfm_graph_tensor(g, 3, (int[]){B, T, H});
    if (!d->workspace || !d->scratch || !out) return NULL;
    tfm_recurrent_forward(&d->shape, out->data, h_n, c_n, d->workspace, x->data, w_ih->data, w_hh->data, b_ih ? b_ih->data : NULL,
                          b_hh ? b_hh->data : NULL, h0, c0);
    tfm_tensor *in[5] = {x, w_ih, w_hh, b_ih, b_hh};
    tfm_node *n = tfm_graph_record(g, direction_backward, out, 5, in);
    if (n) n->object = d;
    return out;
}

/* ---- The layer stack ---- */
tfm_status tfm_recurrent_declare(tfm_recurrent_layer *layer, tfm_params *p, const char *prefix, const tfm_recurrent_config *config) {
    const tfm_recurrent_config *c = config;
    if (c->kind < 0 || c->kind > TFM_RECURRENT_GRU || c->input_size < 1 || c->hidden_size < 1 || c->num_layers < 1 ||
        c->num_layers > TFM_RECURRENT_MAX_LAYERS)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: recurrent layer: kind %d, input %d, hidden %d, %d layers (1 to %d)", prefix, c->kind,
                         c->input_size, c->hidden_size, c->num_layers, TFM_RECURRENT_MAX_LAYERS);
    memset(layer, 0, sizeof *layer);
    layer->config = *c;
    int G = tfm_recurrent_gates(c->kind), H = c->hidden_size, directions = c->bidirectional ? 2 : 1;
    static const char *const parts[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int l = 0; l < c->num_layers; l++)
        for (int dir = 0; dir < directions; dir++) {
            int in = l == 0 ? c->input_size : directions * H;
            int shapes[4][2] = {{G * H, in}, {G * H, H}, {G * H, 0}, {G * H, 0}};
            for (int q = 0; q < (c->bias ? 4 : 2); q++) {
                char name[256];
                snprintf(name, sizeof name, "%s.%s_l%d%s", prefix, parts[q], l, dir ? "_reverse" : "");
                tfm_status st = tfm_params_declare(p, name, q < 2 ? 2 : 1, shapes[q], &layer->weights[l][dir][q], q < 2);
                if (st) return st;
            }
        }
    return TFM_OK;
}

/* torch's default: every weight and bias U(-1/sqrt(H), 1/sqrt(H)). */
void tfm_recurrent_init(tfm_recurrent_layer *layer, tfm_rng *rng) {
    const tfm_recurrent_config *c = &layer->config;
    float bound = 1.0f / sqrtf((float)c->hidden_size);
    for (int l = 0; l < c->num_layers; l++)
        for (int dir = 0; dir < (c->bidirectional ? 2 : 1); dir++)
            for (int q = 0; q < (c->bias ? 4 : 2); q++) {
                tfm_tensor *t = &layer->weights[l][dir][q];
                for (size_t i = 0; i < t->size; i++) t->data[i] = bound * (2.0f * tfm_rng_uniform(rng) - 1.0f);
            }
}

tfm_tensor *tfm_recurrent_forward_graph(tfm_graph *g, tfm_recurrent_layer *layer, tfm_tensor *x, const int *lengths, const float *h0,
                                        const float *c0, tfm_tensor **h_n, float *c_n) {
    const tfm_recurrent_config *c = &layer->config;
    if (!x) return NULL;
    int directions = c->bidirectional ? 2 : 1, B = x->shape[0], T = x->ndim == 3 ? x->shape[1] : 0, H = c->hidden_size;
    size_t BH = (size_t)B * H;
    for (int l = 0; l < c->num_layers && x; l++) {
        tfm_tensor *outs[2] = {NULL, NULL};
        for (int dir = 0; dir < directions; dir++) {
            int k = l * directions + dir;
            tfm_tensor *w = layer->weights[l][dir];
            outs[dir] = tfm_fn_recurrent(g, c->kind, x, &w[0], &w[1], c->bias ? &w[2] : NULL, c->bias ? &w[3] : NULL, lengths, dir,
                                         h0 ? h0 + k * BH : NULL, c0 ? c0 + k * BH : NULL, NULL, c_n ? c_n + k * BH : NULL);
            if (!outs[dir] || !h_n) continue;
            /* h_n as rows of the output (so a loss on it backpropagates): each sequence's last step in this direction */
            int32_t *rows = tfm_graph_alloc(g, sizeof(int32_t) * (size_t)B);
            if (!rows) return NULL;
            for (int b = 0; b < B; b++) rows[b] = b * T + (dir ? 0 : (lengths ? lengths[b] : T) - 1);
            h_n[k] = tfm_fn_gather_rows(g, outs[dir], rows, B);
        }
        x = directions == 2 ? tfm_fn_concat_last(g, outs[0], outs[1]) : outs[0];
    }
    return x;
}
