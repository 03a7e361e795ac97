/* tests/test_norms.c: RMSNorm and BatchNorm kernels: fast vs reference, gradients by finite differences, the same bits
 * at 1 and 2 threads, BatchNorm's running statistics (torch's update, unbiased variance), masked rows (the statistics of
 * the unmasked rows alone, padding out 0), evaluation mode, and the graph functions' errors. Whole-model parity with
 * torch (GPT with RMSNorm and with BatchNorm) is in tests/test_gpt_torch.py. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/batchnorm.h"
#include "ops/rmsnorm.h"
#include "test_util.h"
#include "tfm/graph.h"
#include "tfm/nn.h"

#define TOL_FAST 1e-5
#define TOL_FD 1e-2

typedef struct norm_case {
    int batchnorm;
    float *out, *inp, *weight, *bias, *weights; /* weights: the loss's sum(w * out) */
    const uint8_t *mask;
    int N, C;
} norm_case;

static double norm_loss(void *p) {
    norm_case *c = p;
    float *mean = calloc((size_t)c->C, sizeof(float)), *rstd = calloc((size_t)(c->N > c->C ? c->N : c->C), sizeof(float));
    float *rm = calloc((size_t)c->C, sizeof(float)), *rv = calloc((size_t)c->C, sizeof(float));
    if (c->batchnorm)
        tfm_batchnorm_forward_train_reference(c->out, mean, rstd, rm, rv, c->inp, c->weight, c->bias, c->mask, c->N, c->C, 0.1f, 1e-5f);
    else
        tfm_rmsnorm_forward_reference(c->out, rstd, c->inp, c->weight, c->N, c->C, 1e-5f);
    double sum = 0;
    for (size_t i = 0; i < (size_t)c->N * c->C; i++) sum += (double)c->out[i] * c->weights[i];
    free(mean), free(rstd), free(rm), free(rv);
    return sum;
}

static void test_rmsnorm(int N, int C) {
    size_t n = (size_t)N * C;
    float *x = test_random_floats(n, 1, -3.0f, 3.0f), *w = test_random_floats((size_t)C, 2, 0.5f, 1.5f);
    float *dy = test_random_floats(n, 3, -1.0f, 1.0f);
    float *y_ref = calloc(n, sizeof(float)), *y_fast = calloc(n, sizeof(float)), *r_ref = calloc((size_t)N, sizeof(float));
    float *r_fast = calloc((size_t)N, sizeof(float)), *dx_ref = calloc(n, sizeof(float)), *dx_fast = calloc(n, sizeof(float));
    float *dw_ref = calloc((size_t)C, sizeof(float)), *dw_fast = calloc((size_t)C, sizeof(float));
    tfm_rmsnorm_forward_reference(y_ref, r_ref, x, w, N, C, 1e-5f);
    tfm_rmsnorm_forward(y_fast, r_fast, x, w, N, C, 1e-5f);
    tfm_rmsnorm_backward_reference(dx_ref, dw_ref, dy, x, w, r_ref, N, C);
    tfm_rmsnorm_backward(dx_fast, dw_fast, dy, x, w, r_fast, N, C);
    double forward = test_max_rel_diff(y_ref, y_fast, n, 1.0), backward = fmax(test_max_rel_diff(dx_ref, dx_fast, n, 1.0),
                                                                               test_max_rel_diff(dw_ref, dw_fast, (size_t)C, 1.0));
    CHECK(forward < TOL_FAST && backward < TOL_FAST, "rmsnorm [%d, %d]: fast vs reference %g, %g", N, C, forward, backward);
    double fd = -1;
    if (n <= 4096) {
        norm_case ctx = {0, y_ref, x, w, NULL, dy, NULL, N, C};
        fd = fmax(test_fd_max_error(x, n, dx_ref, norm_loss, &ctx, 1e-2f, 32), test_fd_max_error(w, (size_t)C, dw_ref, norm_loss, &ctx, 1e-2f, 16));
        CHECK(fd < TOL_FD, "rmsnorm [%d, %d]: gradients vs finite differences %g", N, C, fd);
    }
    int threads = omp_get_max_threads();
    float *dw_one = calloc((size_t)C, sizeof(float));
    omp_set_num_threads(1);
    tfm_rmsnorm_backward(NULL, dw_one, dy, x, w, r_fast, N, C);
    omp_set_num_threads(threads);
    memset(dw_fast, 0, (size_t)C * sizeof(float));
    tfm_rmsnorm_backward(NULL, dw_fast, dy, x, w, r_fast, N, C);
    CHECK(memcmp(dw_one, dw_fast, (size_t)C * sizeof(float)) == 0, "rmsnorm [%d, %d]: dweight differs between thread counts", N, C);
    printf("rmsnorm   [%5d, %4d] fast-ref fwd %.1e bwd %.1e, fd %.1e\n", N, C, forward, backward, fd);
    free(x), free(w), free(dy), free(y_ref), free(y_fast), free(r_ref), free(r_fast), free(dx_ref), free(dx_fast), free(dw_ref),
        free(dw_fast), free(dw_one);
}

static void test_batchnorm(int N, int C, int masked) {
    size_t n = (size_t)N * C;
    float *x = test_random_floats(n, 11, -2.0f, 4.0f), *w = test_random_floats((size_t)C, 12, 0.5f, 1.5f);
    float *b = test_random_floats((size_t)C, 13, -0.5f, 0.5f), *dy = test_random_floats(n, 14, -1.0f, 1.0f);
    uint8_t *mask = NULL;
    if (masked) {
        mask = calloc((size_t)N, 1);
        for (int r = 0; r < N; r++) mask[r] = r % 3 != 1; /* a third of the rows are padding */
    }
    float *y[2], *mean[2], *rstd[2], *rm[2], *rv[2], *dx[2], *dw[2], *db[2];
    for (int k = 0; k < 2; k++) {
        y[k] = calloc(n, sizeof(float)), dx[k] = calloc(n, sizeof(float));
        mean[k] = calloc((size_t)C, sizeof(float)), rstd[k] = calloc((size_t)C, sizeof(float)), dw[k] = calloc((size_t)C, sizeof(float));
        db[k] = calloc((size_t)C, sizeof(float)), rm[k] = calloc((size_t)C, sizeof(float)), rv[k] = calloc((size_t)C, sizeof(float));
        for (int c = 0; c < C; c++) rm[k][c] = 0.5f, rv[k][c] = 2.0f;
    }
    tfm_batchnorm_forward_train_reference(y[0], mean[0], rstd[0], rm[0], rv[0], x, w, b, mask, N, C, 0.1f, 1e-5f);
    tfm_batchnorm_forward_train(y[1], mean[1], rstd[1], rm[1], rv[1], x, w, b, mask, N, C, 0.1f, 1e-5f);
    tfm_batchnorm_backward_train_reference(dx[0], dw[0], db[0], dy, x, w, mean[0], rstd[0], mask, N, C);
    tfm_batchnorm_backward_train(dx[1], dw[1], db[1], dy, x, w, mean[1], rstd[1], mask, N, C);
    int same = memcmp(y[0], y[1], n * sizeof(float)) == 0 && memcmp(dx[0], dx[1], n * sizeof(float)) == 0 &&
               memcmp(dw[0], dw[1], (size_t)C * sizeof(float)) == 0 && memcmp(rv[0], rv[1], (size_t)C * sizeof(float)) == 0;
    CHECK(same, "batchnorm [%d, %d]%s: the blocked version differs from the reference", N, C, masked ? " masked" : "");
    /* the statistics by hand for channel 0: counted rows only, running stats moved by 0.1, variance unbiased */
    double sum = 0, squares = 0;
    int count = 0, zeros = 1;
    for (int r = 0; r < N; r++) {
        if (mask && !mask[r]) {
            zeros &= y[1][(size_t)r * C] == 0.0f;
            continue;
        }
        sum += x[(size_t)r * C], count++;
    }
    double m = sum / count;
    for (int r = 0; r < N; r++)
        if (!mask || mask[r]) squares += (x[(size_t)r * C] - m) * (x[(size_t)r * C] - m);
    CHECK(fabs(mean[0][0] - m) < 1e-6 && fabs(rstd[0][0] - 1.0 / sqrt(squares / count + 1e-5)) < 1e-5 * rstd[0][0],
          "batchnorm statistics: mean %g (want %g)", (double)mean[0][0], m);
    CHECK(fabs(rm[0][0] - (0.9 * 0.5 + 0.1 * m)) < 1e-6 && fabs(rv[0][0] - (0.9 * 2.0 + 0.1 * squares / (count - 1))) < 1e-5,
          "batchnorm running statistics: %g, %g", (double)rm[0][0], (double)rv[0][0]);
    CHECK(zeros, "batchnorm: masked rows must output 0");
    double fd = -1;
    if (n <= 4096) {
        norm_case ctx = {1, y[0], x, w, b, dy, mask, N, C};
        fd = fmax(test_fd_max_error(x, n, dx[0], norm_loss, &ctx, 1e-2f, 32), test_fd_max_error(w, (size_t)C, dw[0], norm_loss, &ctx, 1e-2f, 16));
        fd = fmax(fd, test_fd_max_error(b, (size_t)C, db[0], norm_loss, &ctx, 1e-2f, 16));
        CHECK(fd < TOL_FD, "batchnorm [%d, %d]%s: gradients vs finite differences %g", N, C, masked ? " masked" : "", fd);
    }
    /* evaluation: the running statistics; its backward against the formula dx = dy w / sqrt(var + eps) */
    float *y_eval = calloc(n, sizeof(float)), *dx_eval = calloc(n, sizeof(float));
    tfm_batchnorm_forward_eval(y_eval, x, w, b, rm[1], rv[1], N, C, 1e-5f);
    tfm_batchnorm_backward_eval(dx_eval, NULL, NULL, dy, x, w, rm[1], rv[1], N, C, 1e-5f);
    double want = (x[C + 1] - rm[1][1]) / sqrt(rv[1][1] + 1e-5) * w[1] + b[1], want_dx = dy[C + 1] * w[1] / sqrt(rv[1][1] + 1e-5);
    CHECK(fabs(y_eval[C + 1] - want) < 1e-5 && fabs(dx_eval[C + 1] - want_dx) < 1e-5, "batchnorm evaluation: %g (want %g), dx %g (want %g)",
          (double)y_eval[C + 1], want, (double)dx_eval[C + 1], want_dx);
    printf("batchnorm [%5d, %4d]%s blocked == reference, fd %.1e\n", N, C, masked ? " masked" : "       ", fd);
    for (int k = 0; k < 2; k++) free(y[k]), free(mean[k]), free(rstd[k]), free(rm[k]), free(rv[k]), free(dx[k]), free(dw[k]), free(db[k]);
    free(x), free(w), free(b), free(dy), free(mask), free(y_eval), free(dx_eval);
}

/* tfm_fn_batchnorm takes training or evaluation from the graph; bad shapes and one-row training are refused. */
static void test_graph_errors(void) {
    tfm_graph *g = NULL;
    tfm_params p;
    tfm_tensor x, w, short_w;
    tfm_norm_layer bn;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_params_init(&p);
    CHECK_OK(tfm_params_declare(&p, "x", 2, (int[]){1, 4}, &x, 0));
    CHECK_OK(tfm_params_declare(&p, "w", 1, (int[]){4}, &w, 0));
    CHECK_OK(tfm_params_declare(&p, "short", 1, (int[]){3}, &short_w, 0));
    CHECK_OK(tfm_norm_declare(&bn, &p, "bn", 4, TFM_NORM_BATCHNORM, 1e-5f));
    CHECK_OK(tfm_params_allocate(&p));
    tfm_norm_reset(&bn);
    CHECK(p.entries[p.count - 1].buffer && !bn.running_var.requires_grad && bn.running_var.data[0] == 1.0f, "running_var: a buffer of ones");
    tfm_graph_begin(g, 1, 1);
    CHECK(!tfm_norm_forward_graph(g, &bn, &x) && strstr(tfm_last_error(), "at least 2 rows"), "one-row training: %s", tfm_last_error());
    tfm_graph_begin(g, 0, 0);
    CHECK(tfm_norm_forward_graph(g, &bn, &x) != NULL, "one row in evaluation: %s", tfm_last_error());
    CHECK(!tfm_fn_rmsnorm(g, &x, &short_w, 1e-5f) && strstr(tfm_last_error(), "weight has 3 entries, the input 4 features"), "rmsnorm shape: %s",
          tfm_last_error());
    tfm_params_free(&p);
    tfm_graph_free(g);
}

int main(void) {
    test_rmsnorm(7, 5);
    test_rmsnorm(64, 48);
    test_rmsnorm(4096, 768);
    test_batchnorm(9, 5, 0);
    test_batchnorm(30, 70, 1);
    test_batchnorm(4096, 768, 0);
    test_batchnorm(4096, 768, 1);
    test_graph_errors();
    return test_summary();
}
