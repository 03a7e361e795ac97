/* nn/attention_scores.c: single-head attention with a chosen score (dot, scaled, general, additive) as a graph function. */
#include "tfm/nn.h"

#include <string.h>

#include "core/graph_internal.h"
#include "nn/attention_scores.h"
#include "nn/tensor_util.h"
#include "ops/attention_scores.h"


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

/* ---- The multi-head layer's other scores: heads as a batch of single-head attentions ---- */

/* Copy between a position matrix and its heads as a batch: row t of item b lives at row b * item_rows + t of x
 * (width columns), head h at columns [column + h * hd, + hd); heads is [items * H, T, hd]. to_heads: x -> heads,
 * else heads -> x (accumulating when add). */
typedef struct head_layout {
    int items, T, H, hd, column, width;
    size_t item_rows;
} head_layout;

static void move_heads(const head_layout *l, float *x, float *heads, const int *item_of, int to_heads, int add) {
    for (int b = 0; b < l->items; b++)
        for (int h = 0; h < l->H; h++)
            for (int t = 0; t < l->T; t++) {
                size_t source_item = item_of ? (size_t)item_of[b] : (size_t)b;
                float *row = x + (source_item * l->item_rows + t) * l->width + l->column + (size_t)h * l->hd;
                float *head = heads + (((size_t)b * l->H + h) * l->T + t) * l->hd;
                if (to_heads) memcpy(head, row, sizeof(float) * l->hd);
                else if (add)
                    for (int d = 0; d < l->hd; d++) row[d] += head[d];
                else memcpy(row, head, sizeof(float) * l->hd);
            }
}

static void split_heads_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    float *dx = grad_of(n->in[0]);
    if (dx) move_heads(n->object, dx, n->out->grad, NULL, 0, 1);
}

/* x's heads -> [items * H, T, hd]; item_of (inference only) picks the source item of each. */
static tfm_tensor *split_heads(tfm_graph *g, tfm_tensor *x, const head_layout *layout, const int *item_of) {
    head_layout *l = tfm_graph_alloc(g, sizeof *l);
    tfm_tensor *out = tfm_graph_tensor(g, 3, (int[]){layout->items * layout->H, layout->T, layout->hd});
    if (!l || !out) return NULL;
    *l = *layout;
    move_heads(l, x->data, out->data, item_of, 1, 0);
    if (item_of) return out; /* kv_index: inference, nothing recorded */
    tfm_node *n = tfm_graph_record(g, split_heads_backward, out, 1, &x);
    if (n) n->object = l;
    return out;
}

static void merge_heads_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    float *dheads = grad_of(n->in[0]);
    if (!dheads) return;
    const head_layout *l = n->object;
    float *scratch = tfm_graph_alloc(g, sizeof(float) * (size_t)l->items * l->H * l->T * l->hd);
    if (!scratch) return;
    move_heads(l, n->out->grad, scratch, NULL, 1, 0);
    for (size_t i = 0; i < n->in[0]->size; i++) dheads[i] += scratch[i];
}

/* [items * H, T, hd] -> [items, T, H * hd] */
static tfm_tensor *merge_heads(tfm_graph *g, tfm_tensor *heads, int items, int T, int H, int hd) {
    if (!heads) return NULL;
    head_layout *l = tfm_graph_alloc(g, sizeof *l);
    tfm_tensor *out = tfm_graph_tensor(g, 3, (int[]){items, T, H * hd});
    if (!l || !out) return NULL;
    *l = (head_layout){.items = items, .T = T, .H = H, .hd = hd, .column = 0, .width = H * hd, .item_rows = (size_t)T};
    move_heads(l, out->data, heads->data, NULL, 0, 0);
    tfm_node *n = tfm_graph_record(g, merge_heads_backward, out, 1, &heads);
    if (n) n->object = l;
    return out;
}

tfm_tensor *tfm_attention_with_scores(tfm_graph *g, const tfm_attention_args *a, size_t kv_item_rows) {
    int B = a->batch, H = a->heads, hd = a->head_dim;
    if (a->dropout_p > 0.0f && tfm_graph_training(g)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s attention: no dropout on the attention weights (set attention_dropout 0)",
                  tfm_score_names[a->score]);
        return NULL;
    }
    if (a->alibi || a->relative_keys || a->relative_values) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s attention: ALiBi and relative positions go with the dot-product scores only",
                  tfm_score_names[a->score]);
        return NULL;
    }
    head_layout lq = {.items = B, .T = a->query_length, .H = H, .hd = hd, .column = a->q_column, .width = a->q->shape[a->q->ndim - 1],
                      .item_rows = (size_t)a->query_length};
    head_layout lk = {.items = B, .T = a->key_length, .H = H, .hd = hd, .column = a->k_column, .width = a->k->shape[a->k->ndim - 1],
                      .item_rows = kv_item_rows};
    head_layout lv = lk;
    lv.column = a->v_column;
    lv.width = a->v->shape[a->v->ndim - 1];
    int *lengths = NULL; /* the items' key lengths, once per head */
    if (a->key_lengths) {
        lengths = tfm_graph_alloc(g, sizeof(int) * (size_t)B * H);
        if (!lengths) return NULL;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) lengths[b * H + h] = a->key_lengths[b];
    }
    tfm_tensor *q = split_heads(g, a->q, &lq, NULL), *k = split_heads(g, a->k, &lk, a->kv_index), *v = split_heads(g, a->v, &lv, a->kv_index);
    if (!q || !k || !v) return NULL;
    tfm_tensor *context = tfm_fn_attention_scores(g, a->score, q, k, v, a->score_weights, lengths, a->causal); /* [B*H, Tq, hd] */
    return merge_heads(g, context, B, a->query_length, H, hd);
}
