/* tests/test_linear.c: nn.Linear, packed inference linear and strided matmul: fast vs reference, finite-difference gradients, accumulation, thread-count determinism. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tfm/base.h"
#include "ops/linear.h"
#include "ops/linear_packed.h"
#include "test_util.h"
#include "tfm/base.h"
#include "tfm/random.h"

/* max|a-b| relative to the largest |a|: the error measure for sums whose terms cancel (a fixed
 * floor would judge near-zero outputs by the wrong scale). */
static double scaled_diff(const float *a, const float *b, size_t n) {
    double scale = 1e-30;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    return test_max_abs_diff(a, b, n) / scale;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* loss = sum(out * weights), in double, with the reference forward. */
static double linear_loss(const float *inp, const float *weight, const float *bias, const float *loss_weights,
                          float *out, int N, int C, int OC) {
    tfm_linear_forward_reference(out, inp, weight, bias, N, C, OC);
    double loss = 0.0;
    for (size_t i = 0; i < (size_t)N * OC; i++) loss += (double)out[i] * loss_weights[i];
    return loss;
}

/* Central differences of the loss against every element of `param` vs the analytic gradient. */
static double gradient_error(float *param, const float *analytic, size_t n, const float *inp, const float *weight,
                             const float *bias, const float *loss_weights, float *out, int N, int C, int OC) {
    const float eps = 1e-2f;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float saved = param[i];
        param[i] = saved + eps;
        double up = linear_loss(inp, weight, bias, loss_weights, out, N, C, OC);
        param[i] = saved - eps;
        double down = linear_loss(inp, weight, bias, loss_weights, out, N, C, OC);
        param[i] = saved;
        double numeric = (up - down) / (2.0 * eps);
        double err = fabs(numeric - analytic[i]) / fmax(1.0, fabs(numeric));
        if (!(err <= worst)) worst = err;
    }
    return worst;
}

static void test_linear_shape(int N, int C, int OC, int with_bias) {
    uint64_t seed = (uint64_t)N * 1000003u + C * 1009u + OC;
    size_t nin = (size_t)N * C, nw = (size_t)OC * C, nout = (size_t)N * OC;
    float *inp = test_random_floats(nin, seed + 1, -1, 1), *weight = test_random_floats(nw, seed + 2, -1, 1);
    float *bias = with_bias ? test_random_floats(OC, seed + 3, -1, 1) : NULL;
    float *out_ref = test_random_floats(nout, seed + 4, 0, 1), *out_fast = test_random_floats(nout, seed + 5, 0, 1);
    tfm_linear_forward_reference(out_ref, inp, weight, bias, N, C, OC);
    tfm_linear_forward(out_fast, inp, weight, bias, N, C, OC);
    double d = scaled_diff(out_ref, out_fast, nout);
    CHECK(d < 1e-5, "forward N=%d C=%d OC=%d bias=%d: fast vs reference rel diff %g", N, C, OC, with_bias, d);

    /* Backward: gradients start from non-zero values to check they accumulate. */
    float *dout = test_random_floats(nout, seed + 6, -1, 1);
    float *dinp0 = test_random_floats(nin, seed + 7, -1, 1), *dw0 = test_random_floats(nw, seed + 8, -1, 1);
    float *db0 = test_random_floats(OC, seed + 9, -1, 1);
    float *dinp_ref = test_copy_floats(dinp0, nin), *dw_ref = test_copy_floats(dw0, nw), *db_ref = test_copy_floats(db0, OC);
    float *dinp_fast = test_copy_floats(dinp0, nin), *dw_fast = test_copy_floats(dw0, nw), *db_fast = test_copy_floats(db0, OC);
    tfm_linear_backward_reference(dinp_ref, dw_ref, with_bias ? db_ref : NULL, dout, inp, weight, N, C, OC);
    tfm_linear_backward(dinp_fast, dw_fast, with_bias ? db_fast : NULL, dout, inp, weight, N, C, OC);
    d = scaled_diff(dinp_ref, dinp_fast, nin);
    CHECK(d < 1e-5, "backward dinp N=%d C=%d OC=%d: rel diff %g", N, C, OC, d);
    d = scaled_diff(dw_ref, dw_fast, nw);
    CHECK(d < 1e-5, "backward dweight N=%d C=%d OC=%d: rel diff %g", N, C, OC, d);
    if (with_bias) {
        d = scaled_diff(db_ref, db_fast, OC);
        CHECK(d < 1e-5, "backward dbias N=%d C=%d OC=%d: rel diff %g", N, C, OC, d);
    } else {
        CHECK(memcmp(db_fast, db0, sizeof(float) * OC) == 0, "NULL dbias must be left alone");
    }

    /* NULL gradients are skipped; the others are still computed. */
    float *dw_only = test_copy_floats(dw0, nw);
    tfm_linear_backward(NULL, dw_only, NULL, dout, inp, weight, N, C, OC);
    d = scaled_diff(dw_ref, dw_only, nw);
    CHECK(d < 1e-5, "backward with only dweight: rel diff %g", d);

    /* Finite differences of the reference backward (small shapes only: each element costs two forwards). */
    if ((size_t)N * C * OC <= 4000) {
        float *lw = test_random_floats(nout, seed + 10, -1, 1);
        float *gi = tfm_calloc(nin, sizeof(float)), *gw = tfm_calloc(nw, sizeof(float));
        float *gb = tfm_calloc(OC, sizeof(float));
        tfm_linear_backward_reference(gi, gw, with_bias ? gb : NULL, lw, inp, weight, N, C, OC);
        float *scratch_out = tfm_malloc(sizeof(float) * nout);
        double e = gradient_error(inp, gi, nin, inp, weight, bias, lw, scratch_out, N, C, OC);
        CHECK(e < 1e-3, "finite differences dinp N=%d C=%d OC=%d: %g", N, C, OC, e);
        e = gradient_error(weight, gw, nw, inp, weight, bias, lw, scratch_out, N, C, OC);
        CHECK(e < 1e-3, "finite differences dweight N=%d C=%d OC=%d: %g", N, C, OC, e);
        if (with_bias) {
            e = gradient_error(bias, gb, OC, inp, weight, bias, lw, scratch_out, N, C, OC);
            CHECK(e < 1e-3, "finite differences dbias N=%d C=%d OC=%d: %g", N, C, OC, e);
        }
        tfm_free(lw, sizeof(float) * nout);
        tfm_free(gi, sizeof(float) * nin);
        tfm_free(gw, sizeof(float) * nw);
        tfm_free(gb, sizeof(float) * OC);
        tfm_free(scratch_out, sizeof(float) * nout);
    }

    tfm_free(inp, sizeof(float) * nin);
    tfm_free(weight, sizeof(float) * nw);
    tfm_free(bias, sizeof(float) * OC);
    tfm_free(out_ref, sizeof(float) * nout);
    tfm_free(out_fast, sizeof(float) * nout);
    tfm_free(dout, sizeof(float) * nout);
    tfm_free(dinp0, sizeof(float) * nin);
    tfm_free(dw0, sizeof(float) * nw);
    tfm_free(db0, sizeof(float) * OC);
    tfm_free(dinp_ref, sizeof(float) * nin);
    tfm_free(dw_ref, sizeof(float) * nw);
    tfm_free(db_ref, sizeof(float) * OC);
    tfm_free(dinp_fast, sizeof(float) * nin);
    tfm_free(dw_fast, sizeof(float) * nw);
    tfm_free(db_fast, sizeof(float) * OC);
    tfm_free(dw_only, sizeof(float) * nw);
}

/* A gradient check that must fail: a deliberately wrong analytic gradient is caught. */
static void test_gradient_check_catches_errors(void) {
    int N = 3, C = 4, OC = 2;
    float *inp = test_random_floats(N * C, 71, -1, 1), *weight = test_random_floats(OC * C, 72, -1, 1);
    float *lw = test_random_floats(N * OC, 73, -1, 1), *out = tfm_malloc(sizeof(float) * N * OC);
    float *gw = tfm_calloc(OC * C, sizeof(float));
    tfm_linear_backward_reference(NULL, gw, NULL, lw, inp, weight, N, C, OC);
    gw[5] += 0.01f;
    double e = gradient_error(weight, gw, OC * C, inp, weight, NULL, lw, out, N, C, OC);
    CHECK(e > 5e-3, "a gradient off by 0.01 must be detected (error %g)", e);
    tfm_free(inp, sizeof(float) * N * C);
    tfm_free(weight, sizeof(float) * OC * C);
    tfm_free(lw, sizeof(float) * N * OC);
    tfm_free(out, sizeof(float) * N * OC);
    tfm_free(gw, sizeof(float) * OC * C);
}

static void test_matmul(int M, int N, int K, int ta, int tb, int batch, float alpha, float beta) {
    /* Padded leading dimensions, so strides are exercised. */
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    size_t arows = ta ? K : M, brows = tb ? N : K;
    size_t as = arows * lda + 5, bs = brows * ldb + 7, cs = (size_t)M * ldc + 1;
    float *a = test_random_floats(as * batch, 81 + M, -1, 1), *b = test_random_floats(bs * batch, 82 + N, -1, 1);
    float *c_ref = test_random_floats(cs * batch, 83 + K, -1, 1);
    if (beta == 0.0f)
        for (size_t i = 0; i < cs * batch; i++) c_ref[i] = NAN; /* beta = 0 must not read c */
    float *c_fast = test_copy_floats(c_ref, cs * batch);
    tfm_matmul_reference(c_ref, a, b, M, N, K, ta, tb, lda, ldb, ldc, alpha, beta, batch, as, bs, cs);
    tfm_matmul(c_fast, a, b, M, N, K, ta, tb, lda, ldb, ldc, alpha, beta, batch, as, bs, cs);
    /* Compare only the [M, N] blocks: padding stays NaN/untouched in both. */
    double worst = 0.0;
    int untouched = 1;
    for (int p = 0; p < batch; p++)
        for (int i = 0; i < M; i++) {
            const float *r = c_ref + p * cs + (size_t)i * ldc, *f = c_fast + p * cs + (size_t)i * ldc;
            double d = scaled_diff(r, f, N);
            if (!(d <= worst)) worst = d;
            for (int j = N; j < ldc && p * cs + (size_t)i * ldc + j < cs * batch; j++)
                if (memcmp(&r[j], &f[j], sizeof(float)) != 0) untouched = 0;
        }
    CHECK(worst < 1e-5, "matmul M=%d N=%d K=%d ta=%d tb=%d batch=%d beta=%g: rel diff %g", M, N, K, ta, tb, batch,
          (double)beta, worst);
    CHECK(untouched, "matmul must not write outside the [M, N] blocks");
    tfm_free(a, sizeof(float) * as * batch);
    tfm_free(b, sizeof(float) * bs * batch);
    tfm_free(c_ref, sizeof(float) * cs * batch);
    tfm_free(c_fast, sizeof(float) * cs * batch);
}

/* The fast kernels give bit-identical results run after run, and results within rounding with 1 and 2
 * threads. Not bit-identical across thread counts: that is up to OpenBLAS, and some of its kernels
 * (Haswell's, selected by OPENBLAS_CORETYPE=Haswell on an AMD Zen machine) split the work so that
 * sums round differently. tfm's own kernels are checked bit for bit across thread counts in test_ops. */
static void test_thread_determinism(void) {
    int N = 300, C = 200, OC = 130;
    float *inp = test_random_floats((size_t)N * C, 91, -1, 1), *weight = test_random_floats((size_t)OC * C, 92, -1, 1);
    float *bias = test_random_floats(OC, 93, -1, 1), *dout = test_random_floats((size_t)N * OC, 94, -1, 1);
    float *out[3], *dinp[3], *dw[3], *db[3];
    for (int run = 0; run < 3; run++) { /* threads: 1, 2, 2 */
        int threads = run == 0 ? 1 : 2;
        tfm_threads_set(threads);
        CHECK(tfm_threads_get() == threads, "tfm_threads_get() = %d after tfm_threads_set(%d)", tfm_threads_get(), threads);
        out[run] = tfm_malloc(sizeof(float) * N * OC);
        dinp[run] = tfm_calloc((size_t)N * C, sizeof(float));
        dw[run] = tfm_calloc((size_t)OC * C, sizeof(float));
        db[run] = tfm_calloc(OC, sizeof(float));
        tfm_linear_forward(out[run], inp, weight, bias, N, C, OC);
        tfm_linear_backward(dinp[run], dw[run], db[run], dout, inp, weight, N, C, OC);
    }
    tfm_threads_set(0);
    CHECK(memcmp(out[1], out[2], sizeof(float) * N * OC) == 0, "forward differs between two runs");
    CHECK(memcmp(dinp[1], dinp[2], sizeof(float) * N * C) == 0, "dinp differs between two runs");
    CHECK(memcmp(dw[1], dw[2], sizeof(float) * OC * C) == 0, "dweight differs between two runs");
    CHECK(memcmp(db[1], db[2], sizeof(float) * OC) == 0, "dbias differs between two runs");
    double across = fmax(fmax(test_max_rel_diff(out[0], out[1], (size_t)N * OC, 1.0), test_max_rel_diff(dinp[0], dinp[1], (size_t)N * C, 1.0)),
                         fmax(test_max_rel_diff(dw[0], dw[1], (size_t)OC * C, 1.0), test_max_rel_diff(db[0], db[1], OC, 1.0)));
    CHECK(across < 1e-5, "1 vs 2 threads differ by %g (more than rounding)", across);
    for (int run = 0; run < 3; run++) {
        tfm_free(out[run], sizeof(float) * N * OC);
        tfm_free(dinp[run], sizeof(float) * N * C);
        tfm_free(dw[run], sizeof(float) * OC * C);
        tfm_free(db[run], sizeof(float) * OC);
    }
    tfm_free(inp, sizeof(float) * N * C);
    tfm_free(weight, sizeof(float) * OC * C);
    tfm_free(bias, sizeof(float) * OC);
    tfm_free(dout, sizeof(float) * N * OC);
}

/* Printed, not asserted: fast vs reference forward+backward for a GPT-ish projection. */
static void report_speed(int N, int C, int OC) {
    float *inp = test_random_floats((size_t)N * C, 1, -1, 1), *weight = test_random_floats((size_t)OC * C, 2, -1, 1);
    float *bias = test_random_floats(OC, 3, -1, 1), *dout = test_random_floats((size_t)N * OC, 4, -1, 1);
    float *out = tfm_malloc(sizeof(float) * N * OC), *dinp = tfm_calloc((size_t)N * C, sizeof(float));
    float *dw = tfm_calloc((size_t)OC * C, sizeof(float)), *db = tfm_calloc(OC, sizeof(float));
    double t0 = seconds_now();
    tfm_linear_forward_reference(out, inp, weight, bias, N, C, OC);
    tfm_linear_backward_reference(dinp, dw, db, dout, inp, weight, N, C, OC);
    double t_ref = seconds_now() - t0;
    tfm_linear_forward(out, inp, weight, bias, N, C, OC); /* warm up */
    double t_fast = 1e30; /* best of 5: the machine may be shared */
    for (int r = 0; r < 5; r++) {
        t0 = seconds_now();
        tfm_linear_forward(out, inp, weight, bias, N, C, OC);
        tfm_linear_backward(dinp, dw, db, dout, inp, weight, N, C, OC);
        t_fast = fmin(t_fast, seconds_now() - t0);
    }
    double gflop = 6.0 * N * C * OC / 1e9;
    printf("linear N=%d C=%d OC=%d forward+backward (%d threads): reference %.1f ms, fast %.2f ms (%.1f GFLOP/s), %.0fx\n",
           N, C, OC, tfm_threads_get(), 1e3 * t_ref, 1e3 * t_fast, gflop / t_fast, t_ref / t_fast);
    tfm_free(inp, sizeof(float) * N * C);
    tfm_free(weight, sizeof(float) * OC * C);
    tfm_free(bias, sizeof(float) * OC);
    tfm_free(dout, sizeof(float) * N * OC);
    tfm_free(out, sizeof(float) * N * OC);
    tfm_free(dinp, sizeof(float) * N * C);
    tfm_free(dw, sizeof(float) * OC * C);
    tfm_free(db, sizeof(float) * OC);
}

/* The packed inference linear: pack/unpack round trip, the reference on packed weights against the plain
 * linear reference, the fast kernel against both (row counts around the 6-row and 240-row blocks), the
 * same bits with 1 and 2 threads, and the speed against OpenBLAS for decode-step shapes. */
static void test_linear_packed(int N, int C, int OC, int with_bias) {
    float *inp = test_random_floats((size_t)N * C, 51, -1, 1), *weight = test_random_floats((size_t)OC * C, 52, -1, 1);
    float *bias = with_bias ? test_random_floats(OC, 53, -1, 1) : NULL;
    float *packed = tfm_malloc(sizeof(float) * OC * C), *back = tfm_malloc(sizeof(float) * OC * C);
    float *expected = tfm_malloc(sizeof(float) * N * OC), *reference = tfm_malloc(sizeof(float) * N * OC);
    float *fast[2] = {tfm_malloc(sizeof(float) * N * OC), tfm_malloc(sizeof(float) * N * OC)};
    CHECK(tfm_linear_packable(OC, C), "OC=%d C=%d should be packable", OC, C);
    tfm_linear_pack(packed, weight, OC, C);
    tfm_linear_unpack(back, packed, OC, C);
    CHECK(memcmp(back, weight, sizeof(float) * OC * C) == 0, "pack then unpack changes the weight (OC=%d C=%d)", OC, C);
    CHECK(OC <= 16 || memcmp(packed, weight, sizeof(float) * OC * C) != 0, "packing left the layout unchanged (OC=%d C=%d)", OC, C);
    tfm_linear_forward_reference(expected, inp, weight, bias, N, C, OC);
    tfm_linear_packed_forward_reference(reference, inp, packed, bias, N, C, OC);
    for (int run = 0; run < 2; run++) {
        tfm_threads_set(run + 1);
        for (size_t i = 0; i < (size_t)N * OC; i++) fast[run][i] = NAN; /* every output must be written */
        tfm_linear_packed_forward(fast[run], inp, packed, bias, N, C, OC);
    }
    tfm_threads_set(0);
    double ref_err = scaled_diff(expected, reference, (size_t)N * OC), fast_err = scaled_diff(expected, fast[0], (size_t)N * OC);
    CHECK(ref_err < 1e-6, "packed reference N=%d C=%d OC=%d bias=%d: %g from the linear reference", N, C, OC, with_bias, ref_err);
    CHECK(fast_err < 1e-5, "packed fast N=%d C=%d OC=%d bias=%d: %g from the linear reference", N, C, OC, with_bias, fast_err);
    CHECK(memcmp(fast[0], reference, sizeof(float) * N * OC) == 0, "packed fast N=%d C=%d OC=%d bias=%d: not bit-equal to its reference", N, C, OC, with_bias);
    /* Row 0 alone gives the same bits as row 0 among N rows (a sentence does not depend on its batch). */
    tfm_linear_packed_forward(back, inp, packed, bias, 1, C, OC);
    CHECK(memcmp(back, fast[0], sizeof(float) * OC) == 0, "packed fast N=%d C=%d OC=%d: row 0 alone differs from row 0 of the batch", N, C, OC);
    CHECK(memcmp(fast[0], fast[1], sizeof(float) * N * OC) == 0, "packed fast N=%d C=%d OC=%d: 1 and 2 threads differ", N, C, OC);
    tfm_free(inp, sizeof(float) * N * C);
    tfm_free(weight, sizeof(float) * OC * C);
    if (bias) tfm_free(bias, sizeof(float) * OC);
    tfm_free(packed, sizeof(float) * OC * C);
    tfm_free(back, sizeof(float) * OC * C);
    tfm_free(expected, sizeof(float) * N * OC);
    tfm_free(reference, sizeof(float) * N * OC);
    tfm_free(fast[0], sizeof(float) * N * OC);
    tfm_free(fast[1], sizeof(float) * N * OC);
}

/* Printed, not asserted: packed kernel vs OpenBLAS (tfm_linear_forward) on one decode step's shapes. */
static void report_packed_speed(int N, int C, int OC) {
    float *inp = test_random_floats((size_t)N * C, 1, -1, 1), *weight = test_random_floats((size_t)OC * C, 2, -1, 1);
    float *bias = test_random_floats(OC, 3, -1, 1), *packed = tfm_malloc(sizeof(float) * OC * C), *out = tfm_malloc(sizeof(float) * N * OC);
    tfm_linear_pack(packed, weight, OC, C);
    double best[2] = {1e30, 1e30};
    int repeats = (int)(2e8 / ((double)N * C * OC)) + 1;
    for (int r = 0; r < 6; r++)
        for (int which = 0; which < 2; which++) {
            double t0 = seconds_now();
            for (int k = 0; k < repeats; k++) {
                if (which) tfm_linear_packed_forward(out, inp, packed, bias, N, C, OC);
                else tfm_linear_forward(out, inp, weight, bias, N, C, OC);
            }
            best[which] = fmin(best[which], (seconds_now() - t0) / repeats);
        }
    double gflop = 2.0 * N * C * OC / 1e9;
    printf("linear forward N=%d C=%d OC=%d (%d threads): OpenBLAS %.1f GFLOP/s, packed %.1f GFLOP/s, %.2fx\n", N, C, OC,
           tfm_threads_get(), gflop / best[0], gflop / best[1], best[0] / best[1]);
    tfm_free(inp, sizeof(float) * N * C);
    tfm_free(weight, sizeof(float) * OC * C);
    tfm_free(bias, sizeof(float) * OC);
    tfm_free(packed, sizeof(float) * OC * C);
    tfm_free(out, sizeof(float) * N * OC);
}

int main(void) {
    const int shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 3, 1}, {7, 13, 5}, {10, 16, 24}, {33, 65, 17}, {64, 128, 384}, {257, 96, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) test_linear_shape(shapes[s][0], shapes[s][1], shapes[s][2], with_bias);
    test_gradient_check_catches_errors();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_matmul(5, 7, 3, ta, tb, 1, 1.0f, 0.0f);
            test_matmul(17, 9, 33, ta, tb, 4, 0.5f, 1.0f);
            test_matmul(130, 150, 140, ta, tb, 3, -1.0f, 0.25f); /* big items: the multi-threaded path */
        }
    test_matmul(4, 4, 0, 0, 0, 2, 1.0f, 0.5f); /* K = 0: c = beta c */
    test_thread_determinism();
    const int packed_shapes[][3] = {{1, 1, 16}, {1, 7, 32}, {5, 3, 16}, {6, 13, 48}, {7, 64, 64}, {13, 100, 160}, {32, 256, 768},
                                    {241, 33, 32}, {500, 40, 96}};
    for (size_t s = 0; s < sizeof packed_shapes / sizeof packed_shapes[0]; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) test_linear_packed(packed_shapes[s][0], packed_shapes[s][1], packed_shapes[s][2], with_bias);
    CHECK(!tfm_linear_packable(20, 8) && !tfm_linear_packable(0, 8) && tfm_linear_packable(8000, 256), "packable: multiples of 16 only");
    report_speed(128, 768, 2304);
    report_packed_speed(32, 256, 8000);
    report_packed_speed(32, 256, 1024);
    report_packed_speed(1, 256, 768);
    return test_summary();
}
