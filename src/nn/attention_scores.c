/* nn/attention_scores.c: single-head attention with a chosen score (dot, scaled, general, additive) as a graph function. */
#include "tfm/nn.h"

#include <string.h>

#include "core/graph_internal.h"
#include "nn/tensor_util.h"
#include "ops/attention_scores.h"

const char *const tfm_score_names[] = {"dot", "scaled_dot", "general", "additive", NULL};

typedef struct scores_saved {
    tfm_attention_scores_shape shape;
    float *workspace;
} scores_saved;

static void scores_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    const scores_saved *d = n->object;
    tfm_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *a = n->in[3], *b = n->in[4], *c = n->in[5];
    int general = d->shape.kind == TFM_SCORE_GENERAL, additive = d->shape.kind == TFM_SCORE_ADDITIVE;
    tfm_attention_scores_params p = {.W = general ? a->data : NULL, .Wq = additive ? a->data : NULL, .Wk = additive ? b->data : NULL,
                                     .u = additive ? c->data : NULL};
    tfm_attention_scores_grads grads = {.dq = grad_of(q), .dk = grad_of(k), .dv = grad_of(v), .dW = general ? grad_of(a) : NULL,
                                        .dWq = additive ? grad_of(a) : NULL, .dWk = additive ? grad_of(b) : NULL,
                                        .du = additive ? grad_of(c) : NULL};
    tfm_attention_scores_backward(&d->shape, &grads, n->out->grad, d->workspace, q->data, k->data, v->data, &p);
}

static int has_shape(const tfm_tensor *t, int ndim, int d0, int d1) {
    return t && t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
}

tfm_tensor *tfm_fn_attention_scores(tfm_graph *g, int kind, tfm_tensor *q, tfm_tensor *k, tfm_tensor *v, const tfm_score_weights *weights,
                                    const int *key_lengths, int causal) {
    if (!q || !k || !v) return NULL;
    if (kind < 0 || kind >= TFM_SCORE_COUNT) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention scores: unknown kind %d", kind);
        return NULL;
    }
    const char *name = tfm_score_names[kind];
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] ||
        k->shape[2] != q->shape[2] || v->shape[1] != k->shape[1]) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s attention: expected q [B, Tq, D], k [B, Tk, D], v [B, Tk, Dv]", name);
        return NULL;
    }
    int B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], D = q->shape[2], Dv = v->shape[2];
    tfm_tensor *a = NULL, *b = NULL, *c = NULL;
    int A = 0;
    if (kind == TFM_SCORE_GENERAL) {
        a = weights ? weights->W : NULL;
        if (!has_shape(a, 2, D, D)) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "general attention: expected W [%d, %d]", D, D);
            return NULL;
        }
    } else if (kind == TFM_SCORE_ADDITIVE) {
        a = weights ? weights->Wq : NULL, b = weights ? weights->Wk : NULL, c = weights ? weights->u : NULL;
        A = a ? a->shape[0] : 0;
        if (!has_shape(a, 2, A, D) || !has_shape(b, 2, A, D) || !has_shape(c, 1, A, 0)) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "additive attention: expected Wq and Wk [A, %d] and u [A]", D);
            return NULL;
        }
    }
    scores_saved *d = tfm_graph_alloc(g, sizeof *d);
    int *lengths = key_lengths ? tfm_graph_alloc(g, sizeof(int) * (size_t)B) : NULL;
    if (!d || (key_lengths && !lengths)) return NULL;
    for (int i = 0; key_lengths && i < B; i++) {
        if (key_lengths[i] < 0 || key_lengths[i] > Tk) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s attention: key_lengths[%d] = %d; expected 0 to %d", name, i, key_lengths[i], Tk);
            return NULL;
        }
        lengths[i] = key_lengths[i];
    }
    d->shape = (tfm_attention_scores_shape){kind, B, Tq, Tk, D, Dv, A, lengths, causal};
    d->workspace = tfm_graph_alloc(g, sizeof(float) * tfm_attention_scores_workspace_floats(&d->shape));
    tfm_tensor *out = tfm_graph_tensor(g, 3, (int[]){B, Tq, Dv});
    if (!d->workspace || !out) return NULL;
    tfm_attention_scores_params p = {.W = kind == TFM_SCORE_GENERAL ? a->data : NULL, .Wq = b ? a->data : NULL, .Wk = b ? b->data : NULL,
                                     .u = c ? c->data : NULL};
    tfm_attention_scores_forward(&d->shape, out->data, d->workspace, q->data, k->data, v->data, &p);
    tfm_tensor *in[6] = {q, k, v, a, b, c};
    tfm_node *n = tfm_graph_record(g, scores_backward, out, 6, in);
    if (n) n->object = d;
    return out;
}
