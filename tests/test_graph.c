/* tests/test_graph.c: in-place differentiable functions (same bits as the ops they fuse or replace, buffers
 * shared only when safe) and the reuse of dead buffers for gradients during backward. */
#include <string.h>

#include "core/graph_internal.h" /* the arena's use, for the memory checks */
#include "test_util.h"
#include "tfm/config.h"
#include "tfm/nn.h"

enum { N = 6, C = 8, V = 12 };

/* Parameters of a tiny network: x [N, C] (an input that wants a gradient), w1 [C, C], w2 [C, C],
 * w3 [V, C], all in one slab. */
typedef struct net {
    tfm_params params;
    tfm_tensor x, w1, w2, w3;
} net;

static void net_init(net *m) {
    tfm_params_init(&m->params);
    CHECK_OK(tfm_params_declare(&m->params, "x", 2, (int[]){N, C}, &m->x, 1));
    CHECK_OK(tfm_params_declare(&m->params, "w1", 2, (int[]){C, C}, &m->w1, 1));
    CHECK_OK(tfm_params_declare(&m->params, "w2", 2, (int[]){C, C}, &m->w2, 1));
    CHECK_OK(tfm_params_declare(&m->params, "w3", 2, (int[]){V, C}, &m->w3, 1));
    CHECK_OK(tfm_params_allocate(&m->params));
    tfm_rng rng;
    tfm_rng_init(&rng, 5);
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] = tfm_rng_normal(&rng);
}

/* Which way a variant computes its middle: the plain functions, or the fused / in-place ones. */
enum { PLAIN, FUSED, FUSED_SECOND_READER };

/* x -> a = x·w1ᵀ, b = x·w2ᵀ -> s = a + dropout(b) -> h = s·w1ᵀ -> act(h) -> logits = ·w3ᵀ -> cross-entropy.
 * Returns the loss after backward (the gradients are in m->params.grad); *shared reports which in-place
 * outputs took over their input's buffer (bit 0: the residual, bit 1: the activation). */
static float run(net *m, tfm_graph *g, int variant, int kind, int training, int *shared) {
    int32_t targets[N] = {1, 5, 0, 11, 7, 3};
    tfm_graph_begin(g, 1, training);
    tfm_rng_init(&g->dropout_rng, 99);
    tfm_params_zero_grad(&m->params);
    tfm_tensor *a = tfm_fn_linear(g, &m->x, &m->w1, NULL), *b = tfm_fn_linear(g, &m->x, &m->w2, NULL);
    tfm_tensor *s, *h, *y;
    *shared = 0;
    if (variant == PLAIN) {
        s = tfm_fn_add(g, a, tfm_fn_dropout(g, b, 0.3f));
        h = tfm_fn_linear(g, s, &m->w1, NULL);
        y = tfm_fn_activation(g, h, kind);
    } else {
        if (variant == FUSED_SECOND_READER) {
            tfm_fn_add(g, b, b); /* recorded readers: neither b nor h may be overwritten */
        }
        s = tfm_fn_add_dropout_in_place(g, a, b, 0.3f);
        h = tfm_fn_linear(g, s, &m->w1, NULL);
        if (variant == FUSED_SECOND_READER) tfm_fn_add(g, h, h);
        y = tfm_fn_activation_in_place(g, h, kind);
        *shared = (s && b && s->data == b->data) | (y && h && y->data == h->data) << 1;
    }
    tfm_tensor *loss = tfm_fn_cross_entropy(g, tfm_fn_linear(g, y, &m->w3, NULL), targets, -100, 0.1f, NULL);
    CHECK(loss != NULL, "%s", tfm_last_error());
    if (!loss) return NAN;
    CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
    return loss->data[0];
}

static void test_same_bits(int kind, int training) {
    net m;
    net_init(&m);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    size_t bytes = sizeof(float) * m.params.total;
    float *want = malloc(bytes);
    int shared;
    float loss = run(&m, g, PLAIN, kind, training, &shared);
    memcpy(want, m.params.grad, bytes);
    for (int variant = FUSED; variant <= FUSED_SECOND_READER; variant++) {
        float fused = run(&m, g, variant, kind, training, &shared);
        CHECK(memcmp(&fused, &loss, sizeof loss) == 0, "kind %d training %d variant %d: loss %.9g vs %.9g", kind, training, variant,
              fused, loss);
        CHECK(memcmp(want, m.params.grad, bytes) == 0, "kind %d training %d variant %d: gradients differ", kind, training, variant);
        /* Over b: always unless b has another reader. Over h: ReLU (its backward reads its output), never a
         * GELU while recording (its backward reads its input). */
        int want_shared = variant == FUSED ? 1 | (kind == TFM_ACTIVATION_RELU) << 1 : 0;
        CHECK(shared == want_shared, "kind %d training %d variant %d: shared %d, expected %d", kind, training, variant, shared, want_shared);
    }
    /* The ReLU in place turned its output's gradient into its input's in one buffer. */
    int reused = 0;
    for (int i = 0; i < g->node_count; i++) reused += g->nodes[i].reuses_output_grad;
    CHECK(reused == 0, "kind %d, second reader: %d gradients reused", kind, reused);
    run(&m, g, FUSED, kind, training, &shared);
    reused = 0;
    for (int i = 0; i < g->node_count; i++) reused += g->nodes[i].reuses_output_grad;
    CHECK(reused == (kind == TFM_ACTIVATION_RELU), "kind %d: %d gradients reused", kind, reused);
    free(want);
    tfm_graph_free(g);
    tfm_params_free(&m.params);
}

/* Inference: every in-place function writes over its input (nothing is recorded), with the same values. */
static void test_inference(void) {
    net m;
    net_init(&m);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    int kinds[] = {TFM_ACTIVATION_RELU, TFM_ACTIVATION_GELU, TFM_ACTIVATION_GELU_ERF};
    for (int k = 0; k < 3; k++) {
        float want[N * C];
        tfm_graph_begin(g, 0, 0);
        tfm_tensor *a = tfm_fn_linear(g, &m.x, &m.w1, NULL), *b = tfm_fn_linear(g, &m.x, &m.w2, NULL);
        tfm_tensor *y = tfm_fn_activation(g, tfm_fn_add(g, a, tfm_fn_dropout(g, b, 0.5f)), kinds[k]);
        memcpy(want, y->data, sizeof want);
        tfm_graph_begin(g, 0, 0);
        a = tfm_fn_linear(g, &m.x, &m.w1, NULL);
        b = tfm_fn_linear(g, &m.x, &m.w2, NULL);
        tfm_tensor *s = tfm_fn_add_dropout_in_place(g, a, b, 0.5f);
        tfm_tensor *d = tfm_fn_dropout_in_place(g, s, 0.5f);
        y = tfm_fn_activation_in_place(g, d, kinds[k]);
        CHECK(s->data == b->data && d == s && y->data == b->data, "kind %d: inference did not work in place", kinds[k]);
        CHECK(memcmp(want, y->data, sizeof want) == 0, "kind %d: in-place inference values differ", kinds[k]);
    }
    /* A parameter is never overwritten. */
    tfm_graph_begin(g, 0, 1);
    float saved = m.x.data[0];
    tfm_tensor *out = tfm_fn_dropout_in_place(g, &m.x, 0.5f);
    CHECK(out && out->data != m.x.data && m.x.data[0] == saved, "dropout in place over a parameter");
    out = tfm_fn_add_in_place(g, &m.w1, &m.w2);
    CHECK(out && out->data != m.w2.data, "add in place over a parameter");
    tfm_graph_free(g);
    tfm_params_free(&m.params);
}

/* Backward carves gradients out of dead buffers: with the loss writing the logits' gradient over the
 * logits, the gradients of everything below fit in them once the output layer has run its backward. New
 * memory: only the loss's gradient and that of the output layer's input (needed while the logits' is). */
static void test_gradients_reuse_logits(void) {
    net m;
    net_init(&m);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    int32_t targets[N] = {1, 5, 0, 11, 7, 3};
    for (int pass = 0; pass < 2; pass++) { /* the second pass runs in the block learnt from the first */
        tfm_graph_begin(g, 1, 0);
        tfm_tensor *h = tfm_fn_linear(g, &m.x, &m.w1, NULL);
        h = tfm_fn_activation_in_place(g, tfm_fn_linear(g, h, &m.w2, NULL), TFM_ACTIVATION_RELU);
        tfm_tensor *logits = tfm_fn_linear(g, h, &m.w3, NULL);   /* [N, V]: V > C */
        tfm_tensor *loss = tfm_fn_cross_entropy(g, logits, targets, -100, 0.0f, NULL);
        size_t before = g->block_used + g->overflow_bytes;
        CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
        size_t after = g->block_used + g->overflow_bytes;
        CHECK(after - before == 64 + sizeof(float) * N * C, "pass %d: backward took %zu new arena bytes", pass, after - before);
    }
    tfm_graph_free(g);
    tfm_params_free(&m.params);
}

/* Inference layer by layer while the arena learns its size: tfm_graph_keep releases what a layer spilled
 * into overflow chunks too, so the peak is about one layer, and the next step fits in one block. */
static void test_keep_across_overflow(void) {
    enum { FLOATS = 3 << 20 }; /* 12 MB a tensor: a layer of three crosses the 32 MB overflow chunks */
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    for (int step = 0; step < 2; step++) {
        tfm_graph_begin(g, 0, 0);
        tfm_tensor *x = tfm_graph_tensor(g, 1, (int[]){FLOATS});
        for (size_t i = 0; x && i < FLOATS; i += 4096) x->data[i] = (float)i;
        for (int layer = 0; layer < 4 && x; layer++) {
            tfm_graph_mark mark = tfm_graph_mark_now(g);
            tfm_tensor *h1 = tfm_graph_tensor(g, 1, (int[]){FLOATS}), *h2 = tfm_graph_tensor(g, 1, (int[]){FLOATS});
            tfm_tensor *out = tfm_graph_tensor(g, 1, (int[]){FLOATS});
            if (!h1 || !h2 || !out) { x = NULL; break; }
            for (size_t i = 0; i < FLOATS; i += 4096) h1->data[i] = h2->data[i] = -1.0f, out->data[i] = x->data[i] + 1.0f;
            x = tfm_graph_keep(g, mark, out);
            size_t in_use = g->block_used + g->overflow_bytes;
            /* The step's input and one kept output per layer so far: the three-tensor layers are gone. */
            CHECK(x && in_use <= (size_t)(layer + 2) * (sizeof(float) * FLOATS + 128), "step %d layer %d: %zu bytes in use after keep",
                  step, layer, in_use);
        }
        int right = x != NULL;
        for (size_t i = 0; x && i < FLOATS; i += 4096) right &= x->data[i] == (float)i + 4.0f;
        CHECK(right, "step %d: the kept values survive every layer", step);
        /* At most the four kept tensors below the last layer plus its three (without the release: 13). */
        CHECK(g->peak_bytes <= 7 * (sizeof(float) * FLOATS + 128), "step %d: peak %zu bytes", step, g->peak_bytes);
        if (step == 1) CHECK(!g->overflowed && !g->overflow, "the second step fits in the block sized by the first");
    }
    tfm_graph_free(g);
}

int main(void) {
    int kinds[] = {TFM_ACTIVATION_RELU, TFM_ACTIVATION_GELU, TFM_ACTIVATION_GELU_ERF};
    for (int k = 0; k < 3; k++)
        for (int training = 0; training < 2; training++) test_same_bits(kinds[k], training);
    test_inference();
    test_gradients_reuse_logits();
    test_keep_across_overflow();
    return test_summary();
}
