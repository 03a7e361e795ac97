/* tests/tools/attention_values.c: tfm_fn_attention_scores forward and backward, for tests/test_attention_scores_torch.py.
 *   usage: attention_values DIR KIND B TQ TK D DV A CAUSAL [KEY_LENGTH...]
 * KIND is one of tfm_score_names. DIR holds inputs.f32: q [B, TQ, D], k [B, TK, D], v [B, TK, DV], then W [D, D]
 * (general) or Wq, Wk [A, D] and u [A] (additive), then dcontext [B, TQ, DV]. Writes context.f32 and grads.f32 (the
 * gradients of sum(context * dcontext) in the same order as the inputs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/nn.h"
#include "tfm/tensor.h"
#include "tools/tool_files.h"

int main(int argc, char **argv) {
    if (argc < 10) {
        fprintf(stderr, "usage: attention_values DIR KIND B TQ TK D DV A CAUSAL [KEY_LENGTH...]\n");
        return 2;
    }
    const char *dir = argv[1];
    int kind = -1, B = atoi(argv[3]), Tq = atoi(argv[4]), Tk = atoi(argv[5]), D = atoi(argv[6]), Dv = atoi(argv[7]), A = atoi(argv[8]);
    int causal = atoi(argv[9]), *lengths = argc > 10 ? calloc((size_t)B, sizeof(int)) : NULL;
    for (int i = 0; tfm_score_names[i]; i++)
        if (strcmp(tfm_score_names[i], argv[2]) == 0) kind = i;
    for (int b = 0; lengths && b < B && 10 + b < argc; b++) lengths[b] = atoi(argv[10 + b]);
    tfm_params p;
    tfm_tensor q, k, v, W, Wq, Wk, u;
    tfm_params_init(&p);
    int ok = !tfm_params_declare(&p, "q", 3, (int[]){B, Tq, D}, &q, 0) && !tfm_params_declare(&p, "k", 3, (int[]){B, Tk, D}, &k, 0) &&
             !tfm_params_declare(&p, "v", 3, (int[]){B, Tk, Dv}, &v, 0);
    if (kind == TFM_SCORE_GENERAL) ok = ok && !tfm_params_declare(&p, "W", 2, (int[]){D, D}, &W, 0);
    if (kind == TFM_SCORE_ADDITIVE)
        ok = ok && !tfm_params_declare(&p, "Wq", 2, (int[]){A, D}, &Wq, 0) && !tfm_params_declare(&p, "Wk", 2, (int[]){A, D}, &Wk, 0) &&
             !tfm_params_declare(&p, "u", 1, (int[]){A}, &u, 0);
    if (!ok || tfm_params_allocate(&p)) {
        fprintf(stderr, "attention_values: %s\n", tfm_last_error());
        return 1;
    }
    size_t weights = tfm_params_count_values(&p), context = (size_t)B * Tq * Dv;
    float *in = tool_read("attention_values", dir, "inputs.f32", (weights + context) * sizeof(float)), *grads = calloc(weights, sizeof(float));
    size_t at = 0;
    for (int e = 0; e < p.count; e++) memcpy(p.data + p.entries[e].offset, in + at, p.entries[e].size * sizeof(float)), at += p.entries[e].size;
    tfm_graph *g = NULL;
    tfm_score_weights sw = {.W = kind == TFM_SCORE_GENERAL ? &W : NULL, .Wq = kind == TFM_SCORE_ADDITIVE ? &Wq : NULL,
                            .Wk = kind == TFM_SCORE_ADDITIVE ? &Wk : NULL, .u = kind == TFM_SCORE_ADDITIVE ? &u : NULL};
    if (tfm_graph_create(&g, 0)) return 1;
    tfm_graph_begin(g, 1, 0);
    tfm_params_zero_grad(&p);
    tfm_tensor *ctx = tfm_fn_attention_scores(g, kind, &q, &k, &v, &sw, lengths, causal);
    tfm_tensor *loss = tfm_fn_weighted_sum(g, ctx, in + weights);
    if (!loss || tfm_graph_backward(g, loss, 1.0f)) {
        fprintf(stderr, "attention_values: %s\n", tfm_last_error());
        return 1;
    }
    at = 0;
    for (int e = 0; e < p.count; e++) memcpy(grads + at, p.grad + p.entries[e].offset, p.entries[e].size * sizeof(float)), at += p.entries[e].size;
    tool_write("attention_values", dir, "context.f32", ctx->data, context * sizeof(float));
    tool_write("attention_values", dir, "grads.f32", grads, weights * sizeof(float));
    tfm_graph_free(g);
    tfm_params_free(&p);
    free(in), free(grads), free(lengths);
    return 0;
}
