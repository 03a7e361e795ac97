/* tests/tools/recurrent_values.c: a recurrent stack of tfm on the graph (forward, final states, backpropagation through
 * time), for tests/test_recurrent_torch.py to hold against torch.nn.RNN / LSTM / GRU.
 *   usage: recurrent_values DIR KIND I H LAYERS BIDIRECTIONAL BIAS B T HAS_H0 [LENGTH...]
 * KIND is one of tfm_recurrent_names. DIR holds weights.f32 (every parameter in declaration order, torch's order),
 * x.f32 [B, T, I], dout.f32 [B, T, D H], dhn.f32 [L D, B, H] and, with HAS_H0, h0.f32 and c0.f32 [L D, B, H]. The loss
 * is sum(out dout) + sum(h_n dhn). Writes out.f32, hn.f32, cn.f32 (LSTM), grad_weights.f32 and grad_x.f32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/nn.h"
#include "tfm/tensor.h"
#include "tools/tool_files.h"

static const char *TOOL = "recurrent_values";

static int fail(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", TOOL, what, tfm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 11) {
        fprintf(stderr, "usage: recurrent_values DIR KIND I H LAYERS BIDIRECTIONAL BIAS B T HAS_H0 [LENGTH...]\n");
        return 2;
    }
    const char *dir = argv[1];
    tfm_recurrent_config c = {.kind = -1, .input_size = atoi(argv[3]), .hidden_size = atoi(argv[4]), .num_layers = atoi(argv[5]),
                              .bidirectional = atoi(argv[6]), .bias = atoi(argv[7])};
    for (int k = 0; tfm_recurrent_names[k]; k++)
        if (strcmp(tfm_recurrent_names[k], argv[2]) == 0) c.kind = k;
    int B = atoi(argv[8]), T = atoi(argv[9]), has_h0 = atoi(argv[10]), D = c.bidirectional ? 2 : 1, H = c.hidden_size;
    int *lengths = argc > 11 ? calloc((size_t)B, sizeof(int)) : NULL;
    for (int b = 0; lengths && b < B && 11 + b < argc; b++) lengths[b] = atoi(argv[11 + b]);
    tfm_params params;
    tfm_recurrent_layer *layer = calloc(1, sizeof *layer);
    tfm_tensor x;
    tfm_params_init(&params);
    if (tfm_recurrent_declare(layer, &params, "rnn", &c)) return fail("declare");
    size_t weights = tfm_params_count_values(&params);
    if (tfm_params_declare(&params, "x", 3, (int[]){B, T, c.input_size}, &x, 0) || tfm_params_allocate(&params)) return fail("allocate");
    float *w = tool_read(TOOL, dir, "weights.f32", weights * sizeof(float));
    size_t at = 0;
    for (int e = 0; e < params.count - 1; e++) { /* every entry but x, in declaration order */
        memcpy(params.data + params.entries[e].offset, w + at, params.entries[e].size * sizeof(float));
        at += params.entries[e].size;
    }
    float *xs = tool_read(TOOL, dir, "x.f32", x.size * sizeof(float));
    memcpy(x.data, xs, x.size * sizeof(float));
    size_t out_size = (size_t)B * T * D * H, state = (size_t)c.num_layers * D * B * H;
    float *dout = tool_read(TOOL, dir, "dout.f32", out_size * sizeof(float)), *dhn = tool_read(TOOL, dir, "dhn.f32", state * sizeof(float));
    float *h0 = has_h0 ? tool_read(TOOL, dir, "h0.f32", state * sizeof(float)) : NULL;
    float *c0 = has_h0 ? tool_read(TOOL, dir, "c0.f32", state * sizeof(float)) : NULL;
    float *cn = calloc(state, sizeof(float)), *hn = calloc(state, sizeof(float));
    tfm_tensor *h_n[2 * TFM_RECURRENT_MAX_LAYERS];
    tfm_graph *g = NULL;
    if (tfm_graph_create(&g, 0)) return fail("graph");
    tfm_graph_begin(g, 1, 1);
    tfm_params_zero_grad(&params);
    tfm_tensor *out = tfm_recurrent_forward_graph(g, layer, &x, lengths, h0, c0, h_n, cn);
    if (!out) return fail("forward");
    tfm_tensor *loss = tfm_fn_weighted_sum(g, out, dout);
    for (int k = 0; k < c.num_layers * D && loss; k++) {
        memcpy(hn + (size_t)k * B * H, h_n[k]->data, (size_t)B * H * sizeof(float));
        loss = tfm_fn_add(g, loss, tfm_fn_weighted_sum(g, h_n[k], dhn + (size_t)k * B * H));
    }
    if (!loss || tfm_graph_backward(g, loss, 1.0f)) return fail("backward");
    tool_write(TOOL, dir, "out.f32", out->data, out_size * sizeof(float));
    tool_write(TOOL, dir, "hn.f32", hn, state * sizeof(float));
    tool_write(TOOL, dir, "cn.f32", cn, state * sizeof(float));
    float *grads = calloc(weights, sizeof(float));
    at = 0;
    for (int e = 0; e < params.count - 1; e++) {
        memcpy(grads + at, params.grad + params.entries[e].offset, params.entries[e].size * sizeof(float));
        at += params.entries[e].size;
    }
    tool_write(TOOL, dir, "grad_weights.f32", grads, weights * sizeof(float));
    tool_write(TOOL, dir, "grad_x.f32", x.grad, x.size * sizeof(float));
    tfm_graph_free(g);
    tfm_params_free(&params);
    free(layer), free(lengths), free(w), free(xs), free(dout), free(dhn), free(h0), free(c0), free(cn), free(hn), free(grads);
    return 0;
}
