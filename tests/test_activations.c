/* tests/test_activations.c: every activation's fast kernel against its reference, gradients by finite differences,
 * the same bits at 1 and 2 threads, NaN kept, and the graph functions (tfm_fn_activation*, tfm_fn_prelu,
 * tfm_fn_softmax, tfm_fn_log_softmax) wired to them. Values against torch: tests/test_activations_torch.py. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/softmax.h"
#include "test_util.h"
#include "tfm/nn.h"
#include "tfm/tensor.h"

#define TOL_FAST 1e-5 /* fast vs reference, relative with a floor of 1 */
#define TOL_FD 1e-2

/* x ~ N(0, 3^2) away from the kinks at 0 and at `kink` (ThresholdedReLU's theta), where differences do not apply. */
static float *activation_inputs(size_t n, uint64_t seed, float kink) {
    float *x = test_random_floats(n, seed, -9.0f, 9.0f);
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.05f : 0.05f;
        if (fabsf(x[i] - kink) < 0.05f) x[i] = kink + (x[i] < kink ? -0.05f : 0.05f);
    }
    return x;
}

typedef struct pointwise {
    int kind;
    float parameter;
    float *out, *inp, *weights;
    size_t n;
} pointwise;

static double pointwise_loss(void *p) {
    pointwise *c = p;
    tfm_activation_forward_reference(c->kind, c->parameter, c->out, c->inp, c->n);
    double sum = 0;
    for (size_t i = 0; i < c->n; i++) sum += (double)c->out[i] * c->weights[i];
    return sum;
}

static int same_at_one_and_two_threads(int kind, float parameter, const float *inp, const float *dout, size_t n) {
    float *y[2], *dx[2];
    int threads = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        y[t] = calloc(n, sizeof(float));
        dx[t] = calloc(n, sizeof(float));
        tfm_activation_forward(kind, parameter, y[t], inp, n);
        tfm_activation_backward(kind, parameter, dx[t], dout, inp, n);
    }
    omp_set_num_threads(threads);
    int same = memcmp(y[0], y[1], n * sizeof(float)) == 0 && memcmp(dx[0], dx[1], n * sizeof(float)) == 0;
    for (int t = 0; t < 2; t++) free(y[t]), free(dx[t]);
    return same;
}

static void test_pointwise(int kind, float parameter) {
    const char *name = tfm_activation_names[kind];
    size_t sizes[] = {1, 7, 1000, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float kink = kind == TFM_ACTIVATION_THRESHOLDED_RELU ? parameter : 0.0f;
        float *inp = activation_inputs(n, 10 + s, kink), *dout = test_random_floats(n, 20 + s, -1.0f, 1.0f);
        float *y_ref = calloc(n, sizeof(float)), *y_fast = calloc(n, sizeof(float));
        float *dx_ref = calloc(n, sizeof(float)), *dx_fast = calloc(n, sizeof(float));
        tfm_activation_forward_reference(kind, parameter, y_ref, inp, n);
        tfm_activation_forward(kind, parameter, y_fast, inp, n);
        tfm_activation_backward_reference(kind, parameter, dx_ref, dout, inp, n);
        tfm_activation_backward(kind, parameter, dx_fast, dout, inp, n);
        double forward = test_max_rel_diff(y_ref, y_fast, n, 1.0), backward = test_max_rel_diff(dx_ref, dx_fast, n, 1.0);
        CHECK(forward < TOL_FAST, "%s(%g) forward n=%zu: fast vs reference %g", name, (double)parameter, n, forward);
        CHECK(backward < TOL_FAST, "%s(%g) backward n=%zu: fast vs reference %g", name, (double)parameter, n, backward);
        pointwise ctx = {kind, parameter, y_ref, inp, dout, n};
        double fd = test_fd_max_error(inp, n, dx_ref, pointwise_loss, &ctx, 1e-2f, 32);
        CHECK(fd < TOL_FD, "%s(%g) n=%zu: gradient vs finite differences %g", name, (double)parameter, n, fd);
        if (n >= (1 << 20))
            CHECK(same_at_one_and_two_threads(kind, parameter, inp, dout, n), "%s differs between 1 and 2 threads", name);
        printf("%-18s %-6g n=%-8zu fast-ref fwd %.1e bwd %.1e, fd %.1e\n", name, (double)parameter, n, forward, backward, fd);
        free(inp), free(dout), free(y_ref), free(y_fast), free(dx_ref), free(dx_fast);
    }
    /* NaN in, NaN out, both paths; in place (out == inp) too */
    float nan_in[3] = {NAN, 1.0f, -1.0f}, out[3];
    tfm_activation_forward(kind, parameter, out, nan_in, 3);
    CHECK(isnan(out[0]), "%s(NaN) = %g (fast)", name, (double)out[0]);
    tfm_activation_forward_reference(kind, parameter, out, nan_in, 3);
    CHECK(isnan(out[0]), "%s(NaN) = %g (reference)", name, (double)out[0]);
    float in_place[3] = {0.5f, -2.0f, 3.0f}, copy[3];
    tfm_activation_forward_reference(kind, parameter, copy, in_place, 3);
    tfm_activation_forward(kind, parameter, in_place, in_place, 3);
    CHECK(test_max_rel_diff(copy, in_place, 3, 1.0) < TOL_FAST, "%s in place", name);
}

/* The limits far out, where a careless formula gives NaN or the wrong side. */
static void test_limits(void) {
    const float far[2] = {-200.0f, 200.0f};
    struct { int kind; float low, high; } want[] = {
        {TFM_ACTIVATION_SIGMOID, 0.0f, 1.0f}, {TFM_ACTIVATION_SILU, 0.0f, 200.0f}, {TFM_ACTIVATION_ELU, -1.0f, 200.0f},
        {TFM_ACTIVATION_SELU, -1.7580993408473766f, 210.14019747109869f}, {TFM_ACTIVATION_LEAKY_RELU, -2.0f, 200.0f}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        float out[2], grad[2] = {0, 0}, ones[2] = {1, 1};
        tfm_activation_forward(want[i].kind, tfm_activation_default_parameter(want[i].kind), out, far, 2);
        tfm_activation_backward(want[i].kind, tfm_activation_default_parameter(want[i].kind), grad, ones, far, 2);
        CHECK(fabsf(out[0] - want[i].low) <= 1e-6f * fmaxf(1.0f, fabsf(want[i].low)) &&
                  fabsf(out[1] - want[i].high) <= 1e-6f * fmaxf(1.0f, fabsf(want[i].high)),
              "%s(-200, 200) = %g, %g; expected %g, %g", tfm_activation_names[want[i].kind], (double)out[0], (double)out[1],
              (double)want[i].low, (double)want[i].high);
        CHECK(isfinite(grad[0]) && isfinite(grad[1]), "%s' far out: %g, %g", tfm_activation_names[want[i].kind], (double)grad[0],
              (double)grad[1]);
    }
}

/* ---- PReLU: gradients for x and the slopes ---- */
typedef struct prelu_case {
    float *out, *inp, *weight, *weights;
    size_t rows;
    int C, channels;
} prelu_case;

static double prelu_loss(void *p) {
    prelu_case *c = p;
    tfm_prelu_forward_reference(c->out, c->inp, c->weight, c->rows, c->C, c->channels);
    double sum = 0;
    for (size_t i = 0; i < c->rows * (size_t)c->C; i++) sum += (double)c->out[i] * c->weights[i];
    return sum;
}

static void test_prelu(int channels) {
    size_t rows = 1500;
    int C = 48;
    size_t n = rows * (size_t)C;
    float *inp = activation_inputs(n, 31, 0.0f), *dout = test_random_floats(n, 32, -1.0f, 1.0f);
    float *weight = test_random_floats((size_t)channels, 33, -0.5f, 0.5f);
    float *y_ref = calloc(n, sizeof(float)), *y_fast = calloc(n, sizeof(float)), *dx_ref = calloc(n, sizeof(float));
    float *dx_fast = calloc(n, sizeof(float)), *dw_ref = calloc((size_t)channels, sizeof(float)), *dw_fast = calloc((size_t)channels, sizeof(float));
    tfm_prelu_forward_reference(y_ref, inp, weight, rows, C, channels);
    tfm_prelu_forward(y_fast, inp, weight, rows, C, channels);
    tfm_prelu_backward_reference(dx_ref, dw_ref, dout, inp, weight, rows, C, channels);
    tfm_prelu_backward(dx_fast, dw_fast, dout, inp, weight, rows, C, channels);
    CHECK(memcmp(y_ref, y_fast, n * sizeof(float)) == 0, "prelu(%d slopes) forward: fast differs from reference", channels);
    CHECK(memcmp(dx_ref, dx_fast, n * sizeof(float)) == 0, "prelu(%d slopes) dx: fast differs from reference", channels);
    double dw = test_max_rel_diff(dw_ref, dw_fast, (size_t)channels, 1.0);
    CHECK(dw < TOL_FAST, "prelu(%d slopes) dw: fast vs reference %g", channels, dw);
    prelu_case ctx = {y_ref, inp, weight, dout, rows, C, channels};
    double fd = fmax(test_fd_max_error(inp, n, dx_ref, prelu_loss, &ctx, 1e-2f, 32),
                     test_fd_max_error(weight, (size_t)channels, dw_ref, prelu_loss, &ctx, 1e-2f, 16));
    CHECK(fd < TOL_FD, "prelu(%d slopes) gradients vs finite differences %g", channels, fd);
    /* the slopes' sums do not depend on the thread count */
    float one[64] = {0}, two[64] = {0};
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    tfm_prelu_backward(NULL, one, dout, inp, weight, rows, C, channels);
    omp_set_num_threads(2);
    tfm_prelu_backward(NULL, two, dout, inp, weight, rows, C, channels);
    omp_set_num_threads(threads);
    CHECK(memcmp(one, two, (size_t)channels * sizeof(float)) == 0, "prelu(%d slopes) dw differs between 1 and 2 threads", channels);
    printf("%-18s %-6d n=%-8zu fast-ref dw %.1e, fd %.1e\n", "prelu", channels, n, dw, fd);
    free(inp), free(dout), free(weight), free(y_ref), free(y_fast), free(dx_ref), free(dx_fast), free(dw_ref), free(dw_fast);
}

/* ---- log-softmax ---- */
typedef struct rows_case {
    float *out, *inp, *weights;
    int N, V;
} rows_case;

static double log_softmax_loss(void *p) {
    rows_case *c = p;
    tfm_log_softmax_forward_reference(c->out, c->inp, c->N, c->V);
    double sum = 0;
    for (size_t i = 0; i < (size_t)c->N * c->V; i++) sum += (double)c->out[i] * c->weights[i];
    return sum;
}

static void test_log_softmax(void) {
    int shapes[][2] = {{1, 1}, {3, 7}, {9, 50}, {64, 1000}, {512, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], V = shapes[s][1];
        size_t n = (size_t)N * V;
        float *inp = test_random_floats(n, 40 + s, -8.0f, 8.0f), *dout = test_random_floats(n, 50 + s, -1.0f, 1.0f);
        if (N > 1)
            for (int v = 0; v < V; v++) inp[v] = -INFINITY; /* a fully masked row */
        float *y_ref = calloc(n, sizeof(float)), *y_fast = calloc(n, sizeof(float));
        float *dx_ref = calloc(n, sizeof(float)), *dx_fast = calloc(n, sizeof(float));
        tfm_log_softmax_forward_reference(y_ref, inp, N, V);
        tfm_log_softmax_forward(y_fast, inp, N, V);
        tfm_log_softmax_backward_reference(dx_ref, dout, y_ref, N, V);
        tfm_log_softmax_backward(dx_fast, dout, y_fast, N, V);
        int masked_ok = 1;
        for (int v = 0; N > 1 && v < V; v++) masked_ok &= y_fast[v] == -INFINITY && y_ref[v] == -INFINITY;
        CHECK(masked_ok, "log_softmax of a fully masked row: expected -inf");
        if (N > 1) {
            for (int v = 0; v < V; v++) y_ref[v] = y_fast[v] = 0.0f; /* compare the finite rows */
        }
        double forward = test_max_rel_diff(y_ref, y_fast, n, 1.0), backward = test_max_rel_diff(dx_ref, dx_fast, n, 1.0);
        CHECK(forward < TOL_FAST, "log_softmax [%d, %d] forward: fast vs reference %g", N, V, forward);
        CHECK(backward < TOL_FAST, "log_softmax [%d, %d] backward: fast vs reference %g", N, V, backward);
        double fd = 0;
        if (N > 1 && n <= 1000) { /* larger rows: float rounding of the summed loss swamps the differences */
            rows_case ctx = {y_ref, inp + V, dout + V, N - 1, V}; /* the finite rows */
            tfm_log_softmax_forward_reference(y_ref + V, inp + V, N - 1, V);
            fd = test_fd_max_error(inp + V, n - (size_t)V, dx_ref + V, log_softmax_loss, &ctx, 1e-2f, 32);
            CHECK(fd < TOL_FD, "log_softmax [%d, %d] gradient vs finite differences %g", N, V, fd);
        }
        printf("%-18s [%d, %d] fast-ref fwd %.1e bwd %.1e, fd %.1e\n", "log_softmax", N, V, forward, backward, fd);
        free(inp), free(dout), free(y_ref), free(y_fast), free(dx_ref), free(dx_fast);
    }
}

/* ---- The graph functions: loss = sum(w * f(x)) through tfm_fn_*, its gradient against finite differences ---- */
enum { GRAPH_POINTWISE, GRAPH_PRELU, GRAPH_SOFTMAX, GRAPH_LOG_SOFTMAX };
#define GRAPH_ROWS 5
#define GRAPH_C 6

typedef struct graph_case {
    tfm_graph *graph;
    tfm_params params;
    tfm_tensor x, slopes, weights;
    int op, kind;
    float parameter;
} graph_case;

/* Each row's sum(w * f(x)) as a graph: f, then a linear layer onto one output. */
static tfm_tensor *graph_forward(graph_case *c, int recording) {
    tfm_graph_begin(c->graph, recording, 0);
    tfm_tensor *y = c->op == GRAPH_PRELU         ? tfm_fn_prelu(c->graph, &c->x, &c->slopes)
                    : c->op == GRAPH_SOFTMAX     ? tfm_fn_softmax(c->graph, &c->x)
                    : c->op == GRAPH_LOG_SOFTMAX ? tfm_fn_log_softmax(c->graph, &c->x)
                                                 : tfm_fn_activation_with_parameter(c->graph, &c->x, c->kind, c->parameter);
    return tfm_fn_linear(c->graph, y, &c->weights, NULL); /* [R, C] -> [R, 1]: each row's sum of w * f(x) */
}

static double graph_loss(void *p) {
    graph_case *c = p;
    tfm_tensor *per_row = graph_forward(c, 0);
    double sum = 0;
    for (int r = 0; r < GRAPH_ROWS; r++) sum += per_row->data[r];
    return sum;
}

static void test_graph_function(int op, int kind, float parameter, const char *name) {
    graph_case c = {.op = op, .kind = kind, .parameter = parameter};
    CHECK_OK(tfm_graph_create(&c.graph, 0));
    tfm_params_init(&c.params);
    CHECK_OK(tfm_params_declare(&c.params, "x", 2, (int[]){GRAPH_ROWS, GRAPH_C}, &c.x, 0));
    CHECK_OK(tfm_params_declare(&c.params, "slopes", 1, (int[]){GRAPH_C}, &c.slopes, 0));
    CHECK_OK(tfm_params_declare(&c.params, "weights", 2, (int[]){1, GRAPH_C}, &c.weights, 0));
    CHECK_OK(tfm_params_allocate(&c.params));
    float *init = test_random_floats(c.params.total, 60 + (uint64_t)op * 16 + (uint64_t)kind, -3.0f, 3.0f);
    memcpy(c.params.data, init, c.params.total * sizeof(float));
    for (size_t i = 0; i < c.x.size; i++)
        if (fabsf(c.x.data[i]) < 0.05f || fabsf(c.x.data[i] - parameter) < 0.05f) c.x.data[i] += 0.2f;
    {
        /* the loss is the sum of the rows: backpropagate each row (a scalar) in turn and add the gradients */
        float *grad = calloc(c.params.total, sizeof(float));
        for (int r = 0; r < GRAPH_ROWS; r++) {
            tfm_params_zero_grad(&c.params);
            tfm_tensor *per_row = graph_forward(&c, 1);
            int32_t *row = tfm_graph_alloc(c.graph, sizeof(int32_t));
            if (!per_row || !row) {
                CHECK(0, "%s on the graph: %s", name, tfm_last_error());
                break;
            }
            *row = r;
            CHECK_OK(tfm_graph_backward(c.graph, tfm_fn_gather_rows(c.graph, per_row, row, 1), 1.0f));
            for (size_t i = 0; i < c.params.total; i++) grad[i] += c.params.grad[i];
        }
        size_t slopes_at = (size_t)(c.slopes.data - c.params.data);
        double fd = test_fd_max_error(c.x.data, c.x.size, grad, graph_loss, &c, 1e-2f, 30);
        if (op == GRAPH_PRELU) fd = fmax(fd, test_fd_max_error(c.slopes.data, c.slopes.size, grad + slopes_at, graph_loss, &c, 1e-2f, 6));
        CHECK(fd < TOL_FD, "%s on the graph: gradient vs finite differences %g", name, fd);
        free(grad);
    }
    free(init);
    tfm_params_free(&c.params);
    tfm_graph_free(c.graph);
}

static void test_graph_functions(void) {
    for (int kind = 0; kind < TFM_ACTIVATION_COUNT; kind++)
        test_graph_function(GRAPH_POINTWISE, kind, kind == TFM_ACTIVATION_LEAKY_RELU ? 0.3f : tfm_activation_default_parameter(kind),
                            tfm_activation_names[kind]);
    test_graph_function(GRAPH_PRELU, 0, 0.0f, "prelu");
    test_graph_function(GRAPH_SOFTMAX, 0, 0.0f, "softmax");
    test_graph_function(GRAPH_LOG_SOFTMAX, 0, 0.0f, "log_softmax");
    /* bad arguments: a clear error and NULL, never a crash */
    tfm_graph *g = NULL;
    tfm_params p;
    tfm_tensor x, w;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_params_init(&p);
    CHECK_OK(tfm_params_declare(&p, "x", 2, (int[]){2, 4}, &x, 0));
    CHECK_OK(tfm_params_declare(&p, "w", 1, (int[]){3}, &w, 0));
    CHECK_OK(tfm_params_allocate(&p));
    tfm_graph_begin(g, 1, 0);
    CHECK(!tfm_fn_activation(g, &x, TFM_ACTIVATION_COUNT) && strstr(tfm_last_error(), "unknown kind"), "unknown kind: %s", tfm_last_error());
    CHECK(!tfm_fn_activation_with_parameter(g, &x, TFM_ACTIVATION_ELU, -1.0f) && strstr(tfm_last_error(), "elu: parameter -1"),
          "negative ELU alpha: %s", tfm_last_error());
    CHECK(!tfm_fn_prelu(g, &x, &w) && strstr(tfm_last_error(), "expected 1 or one per channel (4)"), "prelu shape: %s", tfm_last_error());
    tfm_params_free(&p);
    tfm_graph_free(g);
}

int main(void) {
    for (int kind = TFM_ACTIVATION_SIGMOID; kind < TFM_ACTIVATION_COUNT; kind++)
        test_pointwise(kind, tfm_activation_default_parameter(kind));
    test_pointwise(TFM_ACTIVATION_LEAKY_RELU, 0.2f);
    test_pointwise(TFM_ACTIVATION_ELU, 0.5f);
    test_pointwise(TFM_ACTIVATION_THRESHOLDED_RELU, 0.3f);
    test_limits();
    test_prelu(1);
    test_prelu(48);
    test_log_softmax();
    test_graph_functions();
    return test_summary();
}
