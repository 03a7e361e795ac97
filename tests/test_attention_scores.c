/* tests/test_attention_scores.c: the four attention scores' kernels: fast (tfm_matmul) against reference (plain loops),
 * gradients by finite differences, a fully masked query, and the graph function's errors. Against torch:
 * tests/test_attention_scores_torch.py. */
#include <math.h>
#include <string.h>

#include "nn/attention_scores.h"
#include "ops/attention_scores.h"
#include "test_util.h"
#include "tfm/graph.h"

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

/* The multi-head layer's path for general and additive scores (heads split into a batch of single-head attentions,
 * then merged) run with the scaled dot product must equal the fused kernel: outputs and every gradient, for a fused
 * q|k|v projection with padded, causal keys and for queries against a longer cache-like k/v (Tq < Tk, item stride). */
static void test_head_batch_equals_fused(int cache_like) {
    enum { BATCH = 3, HEADS = 3, HEAD = 4, C = HEADS * HEAD, T = 6, CAPACITY = 9 };
    int Tq = cache_like ? 2 : T, Tk = T;
    static const int lengths[BATCH] = {6, 3, 5};
    size_t q_rows = (size_t)BATCH * Tq, kv_rows = (size_t)BATCH * (cache_like ? CAPACITY : T);
    int q_width = cache_like ? C : 3 * C, kv_width = cache_like ? C : 3 * C;
    float *out[2], *grads[2][3];
    for (int path = 0; path < 2; path++) {
        tfm_graph *g = NULL;
        CHECK_OK(tfm_graph_create(&g, 0));
        CHECK_OK(tfm_graph_begin(g, 1, 1));
        float *qd = test_random_floats(q_rows * q_width, 11, -1.5f, 1.5f), *kd = test_random_floats(kv_rows * kv_width, 12, -1.5f, 1.5f);
        float *vd = test_random_floats(kv_rows * kv_width, 13, -1.5f, 1.5f);
        tfm_tensor q = {.data = qd, .ndim = 2, .shape = {(int)q_rows, q_width}, .size = q_rows * q_width, .requires_grad = 1};
        tfm_tensor k = {.data = kd, .ndim = 2, .shape = {(int)kv_rows, kv_width}, .size = kv_rows * kv_width, .requires_grad = 1};
        tfm_tensor v = {.data = vd, .ndim = 2, .shape = {(int)kv_rows, kv_width}, .size = kv_rows * kv_width, .requires_grad = 1};
        q.grad = calloc(q.size, sizeof(float)), k.grad = calloc(k.size, sizeof(float)), v.grad = calloc(v.size, sizeof(float));
        tfm_attention_args a = {.q = &q, .k = cache_like ? &k : &q, .v = cache_like ? &v : &q, .q_column = 0,
                                .k_column = cache_like ? 0 : C, .v_column = cache_like ? 0 : 2 * C, .batch = BATCH, .query_length = Tq,
                                .key_length = Tk, .heads = HEADS, .head_dim = HEAD, .causal = 1, .key_lengths = lengths,
                                .kv_batch_stride = cache_like ? (size_t)CAPACITY * C : 0};
        tfm_tensor *o = path ? tfm_attention_with_scores(g, &a, cache_like ? CAPACITY : T) : tfm_fn_attention(g, &a);
        CHECK(o && o->size == (size_t)BATCH * Tq * C, "%s path: %s", path ? "head-batch" : "fused", tfm_last_error());
        float *weights = test_random_floats((size_t)BATCH * Tq * C, 14, -1, 1);
        tfm_tensor *loss = o ? tfm_fn_weighted_sum(g, o, weights) : NULL;
        CHECK_OK(loss ? tfm_graph_backward(g, loss, 1.0f) : TFM_ERR_INVALID_ARGUMENT);
        out[path] = o ? test_copy_floats(o->data, o->size) : calloc(1, sizeof(float));
        grads[path][0] = q.grad, grads[path][1] = k.grad, grads[path][2] = v.grad;
        tfm_free(qd, sizeof(float) * q.size), tfm_free(kd, sizeof(float) * k.size), tfm_free(vd, sizeof(float) * v.size);
        tfm_free(weights, sizeof(float) * (size_t)BATCH * Tq * C);
        tfm_graph_free(g);
    }
    double d = test_max_rel_diff(out[0], out[1], (size_t)BATCH * Tq * C, 1.0);
    CHECK(d < 1e-5, "%s: head-batch attention vs the fused kernel: outputs differ by %g", cache_like ? "cache" : "fused qkv", d);
    size_t sizes[3] = {q_rows * q_width, kv_rows * kv_width, kv_rows * kv_width};
    for (int i = 0; i < (cache_like ? 3 : 1); i++) {
        d = test_max_rel_diff(grads[0][i], grads[1][i], sizes[i], 1.0);
        CHECK(d < 1e-5, "%s: gradient %d differs by %g", cache_like ? "cache" : "fused qkv", i, d);
    }
    for (int path = 0; path < 2; path++) {
        free(out[path]);
        for (int i = 0; i < 3; i++) free(grads[path][i]);
    }
}

int main(void) {
    test_head_batch_equals_fused(0);
    test_head_batch_equals_fused(1);
    for (int kind = 0; kind < TFM_SCORE_COUNT; kind++) {
        test_kind(kind, 0);
        test_kind(kind, 1);
    }
    test_errors();
    return test_summary();
}
