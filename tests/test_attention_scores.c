/* tests/test_attention_scores.c: the four attention scores' kernels: fast (tfm_matmul) against reference (plain loops),
 * gradients by finite differences, a fully masked query, and the graph function's errors. Against torch:
 * tests/test_attention_scores_torch.py. */
#include <math.h>
#include <string.h>

#include "ops/attention_scores.h"
#include "test_util.h"

enum { B = 2, TQ = 4, TK = 5, D = 6, DV = 3, A = 4 };

typedef struct scores_case {
    tfm_attention_scores_shape shape;
    float *q, *k, *v, *W, *Wq, *Wk, *u, *dctx, *ctx, *workspace;
} scores_case;

static tfm_attention_scores_params params_of(const scores_case *c) { return (tfm_attention_scores_params){c->W, c->Wq, c->Wk, c->u}; }

static double scores_loss(void *p) {
    scores_case *c = p;
    tfm_attention_scores_params params = params_of(c);
    tfm_attention_scores_forward_reference(&c->shape, c->ctx, c->workspace, c->q, c->k, c->v, &params);
    double sum = 0;
    for (size_t i = 0; i < (size_t)B * TQ * DV; i++) sum += (double)c->ctx[i] * c->dctx[i];
    return sum;
}

static void test_kind(int kind, int causal) {
    static const int lengths[B] = {5, 0}; /* the second item's keys all padding: zero contexts */
    scores_case c = {.shape = {kind, B, TQ, TK, D, DV, A, causal ? NULL : lengths, causal}};
    c.q = test_random_floats((size_t)B * TQ * D, 1, -1, 1), c.k = test_random_floats((size_t)B * TK * D, 2, -1, 1);
    c.v = test_random_floats((size_t)B * TK * DV, 3, -1, 1), c.W = test_random_floats(D * D, 4, -0.5f, 0.5f);
    c.Wq = test_random_floats(A * D, 5, -0.5f, 0.5f), c.Wk = test_random_floats(A * D, 6, -0.5f, 0.5f), c.u = test_random_floats(A, 7, -1, 1);
    c.dctx = test_random_floats((size_t)B * TQ * DV, 8, -1, 1);
    size_t ws = tfm_attention_scores_workspace_floats(&c.shape), nctx = (size_t)B * TQ * DV;
    float *ws_fast = calloc(ws, sizeof(float)), *ctx_fast = calloc(nctx, sizeof(float));
    c.workspace = calloc(ws, sizeof(float)), c.ctx = calloc(nctx, sizeof(float));
    tfm_attention_scores_params p = params_of(&c);
    tfm_attention_scores_forward_reference(&c.shape, c.ctx, c.workspace, c.q, c.k, c.v, &p);
    tfm_attention_scores_forward(&c.shape, ctx_fast, ws_fast, c.q, c.k, c.v, &p);
    size_t sizes[7] = {(size_t)B * TQ * D, (size_t)B * TK * D, (size_t)B * TK * DV, D * D, A * D, A * D, A};
    float *inputs[7] = {c.q, c.k, c.v, c.W, c.Wq, c.Wk, c.u}, *g[2][7];
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 7; i++) g[w][i] = calloc(sizes[i], sizeof(float));
    tfm_attention_scores_grads gr = {g[0][0], g[0][1], g[0][2], g[0][3], g[0][4], g[0][5], g[0][6]};
    tfm_attention_scores_grads gf = {g[1][0], g[1][1], g[1][2], g[1][3], g[1][4], g[1][5], g[1][6]};
    tfm_attention_scores_backward_reference(&c.shape, &gr, c.dctx, c.workspace, c.q, c.k, c.v, &p);
    tfm_attention_scores_backward(&c.shape, &gf, c.dctx, ws_fast, c.q, c.k, c.v, &p);
    double forward = test_max_rel_diff(c.ctx, ctx_fast, nctx, 1.0), backward = 0, fd = 0;
    for (int i = 0; i < 7; i++) backward = fmax(backward, test_max_rel_diff(g[0][i], g[1][i], sizes[i], 1.0));
    const char *name = tfm_score_names[kind];
    CHECK(forward < 1e-5 && backward < 1e-5, "%s: fast vs reference %g, %g", name, forward, backward);
    for (int i = 0; i < 7; i++) {
        int used = i < 3 || (kind == TFM_SCORE_GENERAL && i == 3) || (kind == TFM_SCORE_ADDITIVE && i >= 4);
        if (used) fd = fmax(fd, test_fd_max_error(inputs[i], sizes[i], g[0][i], scores_loss, &c, 1e-2f, 24));
    }
    CHECK(fd < 1e-2, "%s%s: gradients vs finite differences %g", name, causal ? " causal" : "", fd);
    int zeros = 1;
    for (size_t i = (size_t)TQ * DV; !causal && i < nctx; i++) zeros &= ctx_fast[i] == 0.0f;
    CHECK(zeros, "%s: a query whose keys are all padding must get a zero context", name);
    printf("%-10s %-6s fast-ref fwd %.1e bwd %.1e, fd %.1e\n", name, causal ? "causal" : "masked", forward, backward, fd);
    for (int i = 0; i < 7; i++) free(inputs[i]), free(g[0][i]), free(g[1][i]);
    free(c.dctx), free(c.ctx), free(c.workspace), free(ws_fast), free(ctx_fast);
}

static void test_errors(void) {
    tfm_graph *g = NULL;
    tfm_params p;
    tfm_tensor q, k, v, W;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_params_init(&p);
    CHECK_OK(tfm_params_declare(&p, "q", 3, (int[]){1, 2, 4}, &q, 0));
    CHECK_OK(tfm_params_declare(&p, "k", 3, (int[]){1, 3, 4}, &k, 0));
    CHECK_OK(tfm_params_declare(&p, "v", 3, (int[]){1, 3, 2}, &v, 0));
    CHECK_OK(tfm_params_declare(&p, "W", 2, (int[]){3, 3}, &W, 0));
    CHECK_OK(tfm_params_allocate(&p));
    tfm_graph_begin(g, 1, 0);
    tfm_score_weights bad = {.W = &W};
    CHECK(!tfm_fn_attention_scores(g, TFM_SCORE_GENERAL, &q, &k, &v, &bad, NULL, 0) && strstr(tfm_last_error(), "expected W [4, 4]"),
          "general with a wrong W: %s", tfm_last_error());
    CHECK(!tfm_fn_attention_scores(g, TFM_SCORE_ADDITIVE, &q, &k, &v, NULL, NULL, 0) && strstr(tfm_last_error(), "Wq and Wk [A, 4]"),
          "additive without weights: %s", tfm_last_error());
    CHECK(!tfm_fn_attention_scores(g, TFM_SCORE_DOT, &q, &v, &v, NULL, NULL, 0) && strstr(tfm_last_error(), "expected q [B, Tq, D]"),
          "dot with mismatched k: %s", tfm_last_error());
    CHECK(tfm_fn_attention_scores(g, TFM_SCORE_SCALED_DOT, &q, &k, &v, NULL, NULL, 1) != NULL, "scaled: %s", tfm_last_error());
    tfm_params_free(&p);
    tfm_graph_free(g);
}

int main(void) {
    for (int kind = 0; kind < TFM_SCORE_COUNT; kind++) {
        test_kind(kind, 0);
        test_kind(kind, 1);
    }
    test_errors();
    return test_summary();
}
