/* models/seq2seq_functional.c: the differentiable functions the encoder-decoder needs beyond tfm/nn.h: scaling by a constant, a zero start. */
#include "models/seq2seq_internal.h"

static void scale_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0];
    if (!x->requires_grad) return;
    float s = n->floats[0];
    const float *dout = n->out->grad;
    for (size_t i = 0; i < x->size; i++) x->grad[i] += s * dout[i];
}

tfm_tensor *tfm_seq2seq_fn_scale_in_place(tfm_graph *g, tfm_tensor *x, float scale) {
    if (!x) return NULL;
    if (scale == 1.0f) return x;
    tfm_tensor *out = tfm_graph_tensor_like(g, x, 1);
    if (!out) return NULL;
    for (size_t i = 0; i < x->size; i++) out->data[i] = scale * x->data[i];
    tfm_node *n = tfm_graph_record(g, scale_backward, out, 1, &x);
    if (n) n->floats[0] = scale;
    return out;
}

/* dx += dout, except on the zeroed rows (their input never reached the output). */
static void zero_first_backward(tfm_graph *g, tfm_node *n) {
    (void)g;
    tfm_tensor *x = n->in[0];
    if (!x->requires_grad) return;
    int T = n->ints[0], C = n->ints[1];
    const float *dout = n->out->grad;
    for (size_t i = 0; i < x->size; i++)
        if ((i / (size_t)C) % (size_t)T) x->grad[i] += dout[i];
}

tfm_tensor *tfm_seq2seq_fn_zero_first_in_place(tfm_graph *g, tfm_tensor *x, int T) {
    if (!x) return NULL;
    int C = x->shape[x->ndim - 1];
    tfm_tensor *out = tfm_graph_tensor_like(g, x, 1);
    if (!out) return NULL;
    for (size_t i = 0; i < x->size; i++) out->data[i] = (i / (size_t)C) % (size_t)T ? x->data[i] : 0.0f;
    tfm_node *n = tfm_graph_record(g, zero_first_backward, out, 1, &x);
    if (n) n->ints[0] = T, n->ints[1] = C;
    return out;
}
