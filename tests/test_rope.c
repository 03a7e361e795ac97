/* tests/test_rope.c: rotary position embedding: fast vs reference, the rotation's norm kept per pair, the inverse
 * (backward) undoing it, position 0 the identity, tfm_fn_rope's gradient by finite differences and its errors. GPT with
 * rotary positions against transformers' Llama rotary code path: tests/test_gpt_torch.py (v97_rope). */
#include <math.h>
#include <string.h>

#include "ops/rope.h"
#include "test_util.h"
#include "tfm/nn.h"

enum { B = 2, T = 7, HD = 8, W = 40, COLUMNS = 32 }; /* 4 heads rotated, 8 columns passed through */

typedef struct rope_case {
    tfm_graph *g;
    tfm_tensor *x;
    float *w;
} rope_case;

static double rope_loss(void *p) {
    rope_case *c = p;
    float *out = calloc((size_t)B * T * W, sizeof(float));
    tfm_rope_reference(out, c->x->data, B, T, W, COLUMNS, HD, 3, 10000.0f, 0);
    double sum = 0;
    for (size_t i = 0; i < (size_t)B * T * W; i++) sum += (double)out[i] * c->w[i];
    free(out);
    return sum;
}

int main(void) {
    size_t n = (size_t)B * T * W;
    float *x = test_random_floats(n, 1, -1, 1), *ref = calloc(n, sizeof(float)), *fast = calloc(n, sizeof(float));
    float *back = calloc(n, sizeof(float)), *table = calloc(tfm_rope_table_floats(T, HD), sizeof(float));
    tfm_rope_reference(ref, x, B, T, W, COLUMNS, HD, 3, 10000.0f, 0);
    tfm_rope(fast, x, B, T, W, COLUMNS, HD, 3, 10000.0f, 0, table);
    CHECK(test_max_rel_diff(ref, fast, n, 1.0) < 1e-6, "rope: fast vs reference %g", test_max_rel_diff(ref, fast, n, 1.0));
    tfm_rope(back, fast, B, T, W, COLUMNS, HD, 3, 10000.0f, 1, table);
    CHECK(test_max_rel_diff(back, x, n, 1.0) < 1e-6, "rope: the inverse does not undo it (%g)", test_max_rel_diff(back, x, n, 1.0));
    double norm_error = 0, pass_through = 0;
    for (size_t r = 0; r < (size_t)B * T; r++) {
        for (int h = 0; h < COLUMNS; h += HD)
            for (int i = 0; i < HD / 2; i++) {
                size_t a = r * W + h + i, b = a + HD / 2;
                norm_error = fmax(norm_error, fabs(hypot(x[a], x[b]) - hypot(fast[a], fast[b])));
            }
        for (int c = COLUMNS; c < W; c++) pass_through = fmax(pass_through, fabs(x[r * W + c] - fast[r * W + c]));
    }
    CHECK(norm_error < 1e-6 && pass_through == 0, "rope: pair norms change by %g, pass-through columns by %g", norm_error, pass_through);
    /* position 0 is the identity; position 1, pair 0 turns by exactly 1 radian */
    tfm_rope_reference(ref, x, 1, 2, W, COLUMNS, HD, 0, 10000.0f, 0);
    CHECK(memcmp(ref, x, W * sizeof(float)) == 0, "rope at position 0 must be the identity");
    double want = x[W] * cos(1.0) - x[W + HD / 2] * sin(1.0);
    CHECK(fabs(ref[W] - want) < 1e-6, "rope position 1, pair 0: %g, want %g", (double)ref[W], want);
    /* the graph function: gradient by finite differences, and its errors */
    tfm_params p;
    tfm_tensor xt;
    tfm_params_init(&p);
    CHECK_OK(tfm_params_declare(&p, "x", 3, (int[]){B, T, W}, &xt, 0));
    CHECK_OK(tfm_params_allocate(&p));
    memcpy(xt.data, x, n * sizeof(float));
    rope_case c = {NULL, &xt, test_random_floats(n, 2, -1, 1)};
    CHECK_OK(tfm_graph_create(&c.g, 0));
    tfm_graph_begin(c.g, 1, 0);
    tfm_params_zero_grad(&p);
    tfm_tensor *loss = tfm_fn_weighted_sum(c.g, tfm_fn_rope(c.g, &xt, COLUMNS, HD, 3, 10000.0f), c.w);
    CHECK(loss && tfm_graph_backward(c.g, loss, 1.0f) == TFM_OK, "%s", tfm_last_error());
    double fd = test_fd_max_error(xt.data, n, xt.grad, rope_loss, &c, 1e-2f, 40);
    CHECK(fd < 1e-3, "rope: gradient vs finite differences %g", fd);
    tfm_graph_begin(c.g, 1, 0);
    CHECK(!tfm_fn_rope(c.g, &xt, 30, HD, 0, 10000.0f) && strstr(tfm_last_error(), "whole heads"), "rope with a partial head: %s",
          tfm_last_error());
    printf("rope: fast-ref and inverse within 1e-6, fd %.1e\n", fd);
    tfm_graph_free(c.g);
    tfm_params_free(&p);
    free(x), free(ref), free(fast), free(back), free(table), free(c.w);
    return test_summary();
}
