/* tests/test_losses.c: every loss kernel's gradient against finite differences of its value, the fast kernels against
 * the reference (gradients bit for bit, values to rounding), and the fast value the same at 1 and 2 threads.
 * Values and gradients against torch: tests/test_losses_torch.py. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/loss.h"
#include "test_util.h"
#include "tfm/nn.h"

#define ROWS 7
#define C 5
#define DELTA 0.7f

/* Inputs each loss accepts: probabilities, -1/1 labels, one-hot rows, log-probabilities, rates. */
static void make_inputs(int kind, float *pred, float *target, size_t rows, int columns, uint64_t seed) {
    size_t n = rows * (size_t)columns;
    float *a = test_random_floats(n, seed, -2.0f, 2.0f), *b = test_random_floats(n, seed + 1, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++) {
        float u = 0.5f + 0.23f * a[i], v = 0.5f + 0.24f * b[i]; /* in (0.02, 0.98) */
        pred[i] = a[i];
        target[i] = b[i];
        switch (kind) {
        case TFM_LOSS_BINARY_CROSS_ENTROPY: pred[i] = u, target[i] = v; break;
        case TFM_LOSS_BINARY_CROSS_ENTROPY_WITH_LOGITS: target[i] = v; break;
        case TFM_LOSS_POISSON: pred[i] = 0.2f + 2.0f * u, target[i] = floorf(4.0f * v); break;
        case TFM_LOSS_HINGE:
        case TFM_LOSS_SQUARED_HINGE: target[i] = b[i] < 0 ? -1.0f : 1.0f; break;
        case TFM_LOSS_MSLE: pred[i] = 3.0f * u, target[i] = 3.0f * v; break;
        case TFM_LOSS_KL_DIVERGENCE:
        case TFM_LOSS_CATEGORICAL_CROSS_ENTROPY: target[i] = v / (float)columns; break;
        case TFM_LOSS_CATEGORICAL_HINGE: target[i] = (int)(i % (size_t)columns) == (int)((i / (size_t)columns) % (size_t)columns); break;
        default: break;
        }
    }
    free(a), free(b);
}

typedef struct loss_case {
    int kind;
    float *pred, *target;
} loss_case;

static double loss_value(void *p) {
    loss_case *c = p;
    return tfm_loss_forward_reference(c->kind, c->pred, c->target, ROWS, C, DELTA);
}

/* Finite differences need smooth ground: move predictions off the kinks (|p - t| at 0 or delta, margins at 0). */
static void avoid_kinks(int kind, float *pred, const float *target, size_t n) {
    int kinked = kind == TFM_LOSS_MAE || kind == TFM_LOSS_MAPE || kind == TFM_LOSS_HUBER || kind == TFM_LOSS_SMOOTH_L1;
    for (size_t i = 0; i < n; i++) {
        float d = pred[i] - target[i], margin = 1.0f - target[i] * pred[i];
        if (kinked && (fabsf(d) < 0.05f || fabsf(fabsf(d) - DELTA) < 0.05f)) pred[i] += 0.13f;
        if ((kind == TFM_LOSS_HINGE || kind == TFM_LOSS_SQUARED_HINGE) && fabsf(margin) < 0.05f) pred[i] += 0.13f * target[i];
    }
}

static void test_kind(int kind) {
    const char *name = tfm_loss_names[kind];
    float pred[ROWS * C], target[ROWS * C], grad[ROWS * C] = {0};
    make_inputs(kind, pred, target, ROWS, C, 40 + (uint64_t)kind);
    avoid_kinks(kind, pred, target, ROWS * C);
    tfm_loss_backward_reference(kind, grad, pred, target, ROWS, C, DELTA, 1.0f);
    loss_case ctx = {kind, pred, target};
    double fd = test_fd_max_error(pred, ROWS * C, grad, loss_value, &ctx, 1e-3f, ROWS * C);
    CHECK(fd < 1e-2, "%s: gradient vs finite differences %g", name, fd);
    /* the fast kernels on enough data for several blocks, at 1 and 2 threads */
    size_t rows = 20000;
    size_t n = rows * C;
    float *big_pred = calloc(n, sizeof(float)), *big_target = calloc(n, sizeof(float));
    float *g_ref = calloc(n, sizeof(float)), *g_fast = calloc(n, sizeof(float));
    make_inputs(kind, big_pred, big_target, rows, C, 90 + (uint64_t)kind);
    double ref = tfm_loss_forward_reference(kind, big_pred, big_target, rows, C, DELTA);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    double one = tfm_loss_forward(kind, big_pred, big_target, rows, C, DELTA);
    omp_set_num_threads(2);
    double two = tfm_loss_forward(kind, big_pred, big_target, rows, C, DELTA);
    omp_set_num_threads(threads);
    tfm_loss_backward_reference(kind, g_ref, big_pred, big_target, rows, C, DELTA, 0.25f);
    tfm_loss_backward(kind, g_fast, big_pred, big_target, rows, C, DELTA, 0.25f);
    CHECK(one == two, "%s: the fast value differs between 1 and 2 threads (%.17g, %.17g)", name, one, two);
    CHECK(fabs(one - ref) <= 1e-12 * fmax(fabs(ref), 1.0), "%s: fast value %.17g, reference %.17g", name, one, ref);
    CHECK(memcmp(g_ref, g_fast, n * sizeof(float)) == 0, "%s: the fast gradient differs from the reference", name);
    printf("%-34s fd %.1e, fast-ref value %.1e\n", name, fd, fabs(one - ref) / fmax(fabs(ref), 1.0));
    free(big_pred), free(big_target), free(g_ref), free(g_fast);
}

static void test_nll(void) {
    float logp[6] = {-0.1f, -2.0f, -3.0f, -1.5f, -0.5f, -1.2f}, grad[6] = {0};
    int32_t targets[2] = {2, -100};
    int count = 0;
    double sum = tfm_nll_forward(logp, targets, 2, 3, -100, &count);
    tfm_nll_backward(grad, targets, 2, 3, -100, 0.5f);
    CHECK(count == 1 && sum == 3.0 && grad[2] == -0.5f && grad[3] == 0.0f, "nll: sum %g over %d rows, grad %g", sum, count, (double)grad[2]);
}

int main(void) {
    for (int kind = 0; kind < TFM_LOSS_COUNT; kind++) test_kind(kind);
    test_nll();
    return test_summary();
}
