/* tests/test_recurrent.c: the recurrence kernels (RNN tanh/ReLU, LSTM, GRU; both directions, variable lengths): fast
 * against reference, backpropagation through time against finite differences, the same bits at 1 and 2 threads, and
 * the graph function's errors. Against torch.nn.RNN / LSTM / GRU: tests/test_recurrent_torch.py. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/recurrent.h"
#include "test_util.h"

enum { B = 3, T = 5, I = 4, H = 6 };

typedef struct rnn_case {
    tfm_recurrent_shape shape;
    float *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0, *dout, *out, *workspace;
} rnn_case;

static double rnn_loss(void *p) {
    rnn_case *c = p;
    tfm_recurrent_forward_reference(&c->shape, c->out, NULL, NULL, c->workspace, c->x, c->w_ih, c->w_hh, c->b_ih, c->b_hh, c->h0, c->c0);
    double sum = 0;
    for (size_t i = 0; i < (size_t)B * T * H; i++) sum += (double)c->out[i] * c->dout[i];
    return sum;
}

static void test_kind(int kind, int reverse, const int *lengths) {
    int G = tfm_recurrent_gates(kind);
    rnn_case c = {.shape = {.kind = kind, .B = B, .T = T, .I = I, .H = H, .reverse = reverse, .lengths = lengths}};
    c.x = test_random_floats((size_t)B * T * I, 1, -1.0f, 1.0f);
    c.w_ih = test_random_floats((size_t)G * H * I, 2, -0.5f, 0.5f);
    c.w_hh = test_random_floats((size_t)G * H * H, 3, -0.5f, 0.5f);
    c.b_ih = test_random_floats((size_t)G * H, 4, -0.3f, 0.3f);
    c.b_hh = test_random_floats((size_t)G * H, 5, -0.3f, 0.3f);
    c.h0 = test_random_floats((size_t)B * H, 6, -0.5f, 0.5f);
    c.c0 = test_random_floats((size_t)B * H, 7, -0.5f, 0.5f);
    c.dout = test_random_floats((size_t)B * T * H, 8, -1.0f, 1.0f);
    size_t ws = tfm_recurrent_workspace_floats(&c.shape), scratch_size = tfm_recurrent_scratch_floats(&c.shape);
    float *out_fast = calloc((size_t)B * T * H, sizeof(float)), *ws_fast = calloc(ws, sizeof(float)), *scratch = calloc(scratch_size, sizeof(float));
    c.out = calloc((size_t)B * T * H, sizeof(float));
    c.workspace = calloc(ws, sizeof(float));
    tfm_recurrent_forward_reference(&c.shape, c.out, NULL, NULL, c.workspace, c.x, c.w_ih, c.w_hh, c.b_ih, c.b_hh, c.h0, c.c0);
    tfm_recurrent_forward(&c.shape, out_fast, NULL, NULL, ws_fast, c.x, c.w_ih, c.w_hh, c.b_ih, c.b_hh, c.h0, c.c0);
    double forward = test_max_rel_diff(c.out, out_fast, (size_t)B * T * H, 1.0);
    /* gradients: reference and fast from their own forwards */
    size_t sizes[5] = {(size_t)B * T * I, (size_t)G * H * I, (size_t)G * H * H, (size_t)G * H, (size_t)G * H};
    float *grads[2][5];
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 5; q++) grads[k][q] = calloc(sizes[q], sizeof(float));
    tfm_recurrent_backward_reference(&c.shape, grads[0][0], grads[0][1], grads[0][2], grads[0][3], grads[0][4], c.dout, NULL, c.workspace,
                                     scratch, c.x, c.w_ih, c.w_hh);
    tfm_recurrent_backward(&c.shape, grads[1][0], grads[1][1], grads[1][2], grads[1][3], grads[1][4], c.dout, NULL, ws_fast, scratch, c.x,
                           c.w_ih, c.w_hh);
    double backward = 0;
    for (int q = 0; q < 5; q++) backward = fmax(backward, test_max_rel_diff(grads[0][q], grads[1][q], sizes[q], 1.0));
    const char *name = tfm_recurrent_names[kind];
    CHECK(forward < 1e-5 && backward < 1e-5, "%s%s: fast vs reference %g, %g", name, reverse ? " reverse" : "", forward, backward);
    float *inputs[5] = {c.x, c.w_ih, c.w_hh, c.b_ih, c.b_hh};
    double fd = 0;
    float step = kind == TFM_RECURRENT_RNN_RELU ? 1e-3f : 1e-2f; /* ReLU: small steps, or they cross its kink */
    for (int q = 0; q < 5; q++) fd = fmax(fd, test_fd_max_error(inputs[q], sizes[q], grads[0][q], rnn_loss, &c, step, 24));
    CHECK(fd < 1e-2, "%s%s%s: backpropagation through time vs finite differences %g", name, reverse ? " reverse" : "",
          lengths ? " with lengths" : "", fd);
    /* padding: zero output beyond each sequence */
    int zeros = 1;
    for (int b = 0; lengths && b < B; b++)
        for (int t = lengths[b]; t < T; t++)
            for (int j = 0; j < H; j++) zeros &= out_fast[((size_t)b * T + t) * H + j] == 0.0f;
    CHECK(zeros, "%s: outputs beyond a sequence's length must be 0", name);
    printf("%-8s %-7s %-12s fast-ref fwd %.1e bwd %.1e, fd %.1e\n", name, reverse ? "reverse" : "forward", lengths ? "lengths" : "full", forward,
           backward, fd);
    free(c.x), free(c.w_ih), free(c.w_hh), free(c.b_ih), free(c.b_hh), free(c.h0), free(c.c0), free(c.dout), free(c.out), free(c.workspace);
    free(out_fast), free(ws_fast), free(scratch);
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 5; q++) free(grads[k][q]);
}

/* A larger LSTM (H 128: the fast version's packed per-step products): its bits do not depend on the thread count, and
 * it equals the reference. */
static void test_threads(void) {
    tfm_recurrent_shape s = {.kind = TFM_RECURRENT_LSTM, .B = 16, .T = 20, .I = 64, .H = 128};
    size_t ws = tfm_recurrent_workspace_floats(&s), n_out = (size_t)16 * 20 * 128;
    float *x = test_random_floats((size_t)16 * 20 * 64, 1, -1, 1), *w_ih = test_random_floats((size_t)512 * 64, 2, -0.1f, 0.1f);
    float *w_hh = test_random_floats((size_t)512 * 128, 3, -0.1f, 0.1f), *dout = test_random_floats(n_out, 4, -1, 1);
    float *out[2], *dw[2], *work = calloc(ws, sizeof(float)), *scratch = calloc(tfm_recurrent_scratch_floats(&s), sizeof(float));
    int threads = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        out[k] = calloc(n_out, sizeof(float)), dw[k] = calloc((size_t)512 * 128, sizeof(float));
        tfm_recurrent_forward(&s, out[k], NULL, NULL, work, x, w_ih, w_hh, NULL, NULL, NULL, NULL);
        tfm_recurrent_backward(&s, NULL, NULL, dw[k], NULL, NULL, dout, NULL, work, scratch, x, w_ih, w_hh);
    }
    omp_set_num_threads(threads);
    float *out_ref = calloc(n_out, sizeof(float)), *dw_ref = calloc((size_t)512 * 128, sizeof(float));
    tfm_recurrent_forward_reference(&s, out_ref, NULL, NULL, work, x, w_ih, w_hh, NULL, NULL, NULL, NULL);
    tfm_recurrent_backward_reference(&s, NULL, NULL, dw_ref, NULL, NULL, dout, NULL, work, scratch, x, w_ih, w_hh);
    double forward = test_max_rel_diff(out_ref, out[0], n_out, 1.0), backward = test_max_rel_diff(dw_ref, dw[0], (size_t)512 * 128, 1.0);
    CHECK(forward < 1e-5 && backward < 1e-4, "lstm H128: fast (packed) vs reference %g, %g", forward, backward);
    printf("lstm H128 packed fast-ref fwd %.1e bwd %.1e\n", forward, backward);
    free(out_ref), free(dw_ref);
    CHECK(memcmp(out[0], out[1], n_out * sizeof(float)) == 0 && memcmp(dw[0], dw[1], (size_t)512 * 128 * sizeof(float)) == 0,
          "lstm: results differ between 1 and 2 threads");
    for (int k = 0; k < 2; k++) free(out[k]), free(dw[k]);
    free(x), free(w_ih), free(w_hh), free(dout), free(work), free(scratch);
}

static void test_errors(void) {
    tfm_graph *g = NULL;
    tfm_params p;
    tfm_tensor x, w_ih, w_hh;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_params_init(&p);
    CHECK_OK(tfm_params_declare(&p, "x", 3, (int[]){2, 3, 4}, &x, 0));
    CHECK_OK(tfm_params_declare(&p, "w_ih", 2, (int[]){12, 4}, &w_ih, 1));
    CHECK_OK(tfm_params_declare(&p, "w_hh", 2, (int[]){12, 3}, &w_hh, 1));
    CHECK_OK(tfm_params_allocate(&p));
    tfm_graph_begin(g, 1, 1);
    int bad[2] = {3, 0};
    CHECK(!tfm_fn_recurrent(g, TFM_RECURRENT_LSTM, &x, &w_ih, &w_hh, NULL, NULL, bad, 0, NULL, NULL, NULL, NULL) &&
              strstr(tfm_last_error(), "lengths[1] = 0; expected 1 to T = 3"),
          "bad length: %s", tfm_last_error());
    CHECK(!tfm_fn_recurrent(g, TFM_RECURRENT_GRU, &x, &w_ih, &w_hh, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL) &&
              strstr(tfm_last_error(), "gru: expected x [B, T, I], w_ih [9, I]"),
          "GRU with LSTM-sized weights: %s", tfm_last_error());
    CHECK(tfm_fn_recurrent(g, TFM_RECURRENT_LSTM, &x, &w_ih, &w_hh, NULL, NULL, NULL, 1, NULL, NULL, NULL, NULL) != NULL, "lstm: %s",
          tfm_last_error());
    tfm_params_free(&p);
    tfm_graph_free(g);
}

int main(void) {
    static const int lengths[B] = {5, 2, 4};
    for (int kind = TFM_RECURRENT_RNN_TANH; kind <= TFM_RECURRENT_GRU; kind++)
        for (int reverse = 0; reverse < 2; reverse++) {
            test_kind(kind, reverse, NULL);
            test_kind(kind, reverse, lengths);
        }
    test_threads();
    test_errors();
    return test_summary();
}
