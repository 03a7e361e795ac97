/* tests/test_ops.c: the op-test table: every kernel's fast vs reference values, gradients vs finite differences,
 * fast vs reference backward, determinism across thread counts, op-specific properties, and a timing column. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/residual.h"
#include "ops/softmax.h"
#include "test_util.h"
#include "tfm/random.h"

/* Tolerances: fast vs reference (float reductions in a different order, a polynomial exp), and
 * analytic vs central-difference gradients (float forward, double loss). */
#define TOL_FAST 1e-5
#define TOL_FD 1e-2

/* ---------------- helpers ---------------- */

static float *new_floats(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *copy_floats(const float *x, size_t n) {
    float *y = new_floats(n);
    memcpy(y, x, n * sizeof(float));
    return y;
}
static void fill_normal(float *x, size_t n, uint64_t seed, float mean, float std) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (size_t i = 0; i < n; i++) x[i] = mean + std * tfm_rng_normal(&rng);
}
static double weighted_sum(const float *out, const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * w[i];
    return s;
}
static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* Seconds per call of `stmt`, repeated for at least 50 ms. */
#define TIME_SECONDS(seconds, stmt)                                                                \
    do {                                                                                           \
        int reps_ = 0;                                                                             \
        double t0_ = omp_get_wtime(), elapsed_;                                                    \
        do {                                                                                       \
            stmt;                                                                                  \
            reps_++;                                                                               \
            elapsed_ = omp_get_wtime() - t0_;                                                      \
        } while (elapsed_ < 0.05 && reps_ < 10000);                                                \
        (seconds) = elapsed_ / reps_;                                                              \
    } while (0)

/* The fast version's time at 1 thread (what vectorisation buys) and at the default thread count. */
static double fast_one_thread_s;
#define TIME_FAST(seconds, stmt)                                                                   \
    do {                                                                                           \
        int threads_ = omp_get_max_threads();                                                      \
        omp_set_num_threads(1);                                                                    \
        TIME_SECONDS(fast_one_thread_s, stmt);                                                     \
        omp_set_num_threads(threads_);                                                             \
        TIME_SECONDS(seconds, stmt);                                                               \
    } while (0)

/* One row of the printed table; negative errors / times print as "-". Timings are only indicative
 * (other processes may share the cores); nothing asserts on them. */
static void report(const char *op, const char *shape, double fwd, double bwd, double fd, double ref_s, double fast_s) {
    char f[16] = "-", b[16] = "-", d[16] = "-", t[128] = "";
    if (fwd >= 0) snprintf(f, sizeof f, "%.1e", fwd);
    if (bwd >= 0) snprintf(b, sizeof b, "%.1e", bwd);
    if (fd >= 0) snprintf(d, sizeof d, "%.1e", fd);
    if (ref_s > 0 && fast_s > 0)
        snprintf(t, sizeof t, "ref %8.3f ms  fast(1t) %8.3f ms x%5.1f  fast(%dt) %8.3f ms x%5.1f", ref_s * 1e3,
                 fast_one_thread_s * 1e3, ref_s / fast_one_thread_s, omp_get_max_threads(), fast_s * 1e3, ref_s / fast_s);
    printf("%-16s %-18s fwd %-8s bwd %-8s fd %-8s %s\n", op, shape, f, b, d, t);
}

/* ---------------- embedding ---------------- */

typedef struct embedding_ctx {
    float *out, *table, *w;
    int32_t *ids;
    int N, C;
} embedding_ctx;
static double embedding_loss(void *p) {
    embedding_ctx *c = p;
    tfm_embedding_forward_reference(c->out, c->table, c->ids, c->N, c->C);
    return weighted_sum(c->out, c->w, (size_t)c->N * c->C);
}

static void test_embedding(void) {
    struct { int N, C, V, positional, timed; } shapes[] = {
        {1, 1, 1, 0, 0}, {7, 13, 5, 0, 0}, {64, 48, 10, 0, 0}, {33, 100, 50, 1, 0}, {2048, 768, 256, 0, 1}, {2048, 768, 1024, 1, 1},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s].N, C = shapes[s].C, V = shapes[s].V;
        size_t nout = (size_t)N * C, ntab = (size_t)V * C;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
        if (shapes[s].positional) {
            int T = N < V ? N : V; /* B sequences of T positions (the last one may be cut short) */
            for (int n = 0; n < N; n++) ids[n] = n % T;
            if (N % T == 0) tfm_embedding_fill_positions(ids, N / T, T, 0);
        } else {
            for (int n = 0; n < N; n++) ids[n] = (int32_t)(tfm_random_bits_at(s, n) % (uint64_t)V);
        }
        CHECK(tfm_embedding_check_ids(ids, N, V, "token id") == TFM_OK, "%s", tfm_last_error());
        float *table = new_floats(ntab), *out_ref = new_floats(nout), *out_fast = new_floats(nout);
        float *dout = new_floats(nout), *dtab_ref = new_floats(ntab), *dtab_fast;
        fill_normal(table, ntab, 10 + s, 0, 1);
        fill_normal(dout, nout, 20 + s, 0, 1);
        fill_normal(dtab_ref, ntab, 30 + s, 0, 1); /* non-zero: backward must accumulate */
        dtab_fast = copy_floats(dtab_ref, ntab);
        float *dtab_before = copy_floats(dtab_ref, ntab);

        tfm_embedding_forward_reference(out_ref, table, ids, N, C);
        tfm_embedding_forward(out_fast, table, ids, N, C);
        double fwd = test_max_abs_diff(out_ref, out_fast, nout);
        CHECK(fwd == 0, "embedding forward N=%d C=%d differs by %g", N, C, fwd);
        tfm_embedding_backward_reference(dtab_ref, dout, ids, N, C);
        tfm_embedding_backward(dtab_fast, dout, ids, N, C);
        double bwd = test_max_abs_diff(dtab_ref, dtab_fast, ntab);
        CHECK(same_bits(dtab_ref, dtab_fast, ntab), "embedding backward N=%d C=%d: fast differs from reference by %g", N, C, bwd);

        /* finite differences of sum(out * dout) w.r.t. the table: analytic = dtable - before */
        float *grad = new_floats(ntab);
        for (size_t i = 0; i < ntab; i++) grad[i] = dtab_ref[i] - dtab_before[i];
        embedding_ctx ctx = {out_ref, table, dout, ids, N, C};
        double fd = test_fd_max_error(table, ntab, grad, embedding_loss, &ctx, 1e-2f, 24);
        CHECK(fd < TOL_FD, "embedding gradient N=%d C=%d vs finite differences: %g", N, C, fd);
        tfm_embedding_backward(NULL, dout, ids, N, C); /* NULL gradient: skipped, must not crash */

        double ref_s = 0, fast_s = 0;
        if (shapes[s].timed) {
            /* determinism: the backward at 1 and 2 threads gives identical bits */
            float *one = copy_floats(dtab_before, ntab), *two = copy_floats(dtab_before, ntab);
            int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            tfm_embedding_backward(one, dout, ids, N, C);
            omp_set_num_threads(2);
            tfm_embedding_backward(two, dout, ids, N, C);
            omp_set_num_threads(threads);
            CHECK(same_bits(one, two, ntab), "embedding backward differs between 1 and 2 threads");
            free(one);
            free(two);
            TIME_SECONDS(ref_s, tfm_embedding_backward_reference(dtab_ref, dout, ids, N, C));
            TIME_FAST(fast_s, tfm_embedding_backward(dtab_fast, dout, ids, N, C));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "N%d C%d V%d%s", N, C, V, shapes[s].positional ? " pos" : "");
        report("embedding", shape, fwd, bwd, fd, ref_s, fast_s);
        free(ids); free(table); free(out_ref); free(out_fast); free(dout); free(dtab_ref); free(dtab_fast);
        free(dtab_before); free(grad);
    }
    /* out-of-range ids are reported, naming the position */
    int32_t bad[3] = {0, 7, 2};
    CHECK(tfm_embedding_check_ids(bad, 3, 5, "token id") == TFM_ERR_INVALID_ARGUMENT, "id 7 >= 5 accepted");
    CHECK(strstr(tfm_last_error(), "token id 7 at position 1") != NULL, "message: %s", tfm_last_error());
    bad[1] = -1;
    CHECK(tfm_embedding_check_ids(bad, 3, 5, "token id") == TFM_ERR_INVALID_ARGUMENT, "id -1 accepted");
}

/* ---------------- layernorm ---------------- */

typedef struct layernorm_ctx {
    float *out, *inp, *weight, *bias, *w;
    int N, C;
} layernorm_ctx;
static double layernorm_loss(void *p) {
    layernorm_ctx *c = p;
    tfm_layernorm_forward_reference(c->out, NULL, NULL, c->inp, c->weight, c->bias, c->N, c->C, 1e-5f);
    return weighted_sum(c->out, c->w, (size_t)c->N * c->C);
}

static void test_layernorm(void) {
    struct { int N, C, timed; } shapes[] = {{1, 8, 0}, {3, 13, 0}, {17, 64, 0}, {5, 100, 0}, {1, 1, 0}, {1024, 768, 1}};
    const float eps = 1e-5f;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s].N, C = shapes[s].C;
        size_t n = (size_t)N * C;
        float *inp = new_floats(n), *weight = new_floats(C), *bias = new_floats(C), *dout = new_floats(n);
        float *out_ref = new_floats(n), *out_fast = new_floats(n);
        float *mean_ref = new_floats(N), *rstd_ref = new_floats(N), *mean_fast = new_floats(N), *rstd_fast = new_floats(N);
        fill_normal(inp, n, 100 + s, 3.0f, 1.5f); /* offset mean: the variance must not cancel */
        fill_normal(weight, C, 200 + s, 1.0f, 0.3f);
        fill_normal(bias, C, 300 + s, 0.0f, 0.3f);
        fill_normal(dout, n, 400 + s, 0.0f, 1.0f);
        tfm_layernorm_forward_reference(out_ref, mean_ref, rstd_ref, inp, weight, bias, N, C, eps);
        tfm_layernorm_forward(out_fast, mean_fast, rstd_fast, inp, weight, bias, N, C, eps);
        double fwd = fmax(test_max_rel_diff(out_ref, out_fast, n, 1.0),
                          fmax(test_max_rel_diff(mean_ref, mean_fast, N, 1.0), test_max_rel_diff(rstd_ref, rstd_fast, N, 1.0)));
        CHECK(fwd < TOL_FAST, "layernorm forward N=%d C=%d: fast vs reference %g", N, C, fwd);
        /* the output rows really are normalised: mean ~0, variance ~1 before the affine part */
        if (C > 1) {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += (out_ref[c] - bias[c]) / weight[c];
            m /= C;
            for (int c = 0; c < C; c++) v += pow((out_ref[c] - bias[c]) / weight[c] - m, 2);
            v /= C;
            CHECK(fabs(m) < 1e-4 && fabs(v - 1) < 1e-3, "layernorm row 0: mean %g var %g", m, v);
        }

        /* backward into pre-filled gradients (accumulation) */
        float *dinp_ref = new_floats(n), *dw_ref = new_floats(C), *db_ref = new_floats(C);
        fill_normal(dinp_ref, n, 500 + s, 0, 1);
        fill_normal(dw_ref, C, 600 + s, 0, 1);
        fill_normal(db_ref, C, 700 + s, 0, 1);
        float *dinp0 = copy_floats(dinp_ref, n), *dw0 = copy_floats(dw_ref, C), *db0 = copy_floats(db_ref, C);
        float *dinp_fast = copy_floats(dinp_ref, n), *dw_fast = copy_floats(dw_ref, C), *db_fast = copy_floats(db_ref, C);
        tfm_layernorm_backward_reference(dinp_ref, dw_ref, db_ref, dout, inp, weight, mean_ref, rstd_ref, N, C);
        tfm_layernorm_backward(dinp_fast, dw_fast, db_fast, dout, inp, weight, mean_ref, rstd_ref, N, C);
        double bwd = fmax(test_max_rel_diff(dinp_ref, dinp_fast, n, 1.0),
                          fmax(test_max_rel_diff(dw_ref, dw_fast, C, 1.0), test_max_rel_diff(db_ref, db_fast, C, 1.0)));
        CHECK(bwd < TOL_FAST, "layernorm backward N=%d C=%d: fast vs reference %g", N, C, bwd);
        CHECK(same_bits(dw_ref, dw_fast, C) && same_bits(db_ref, db_fast, C),
              "layernorm dweight/dbias N=%d C=%d: fast should sum in the reference's order", N, C);

        /* finite differences of sum(out * dout) for inp, weight and bias */
        for (size_t i = 0; i < n; i++) dinp0[i] = dinp_ref[i] - dinp0[i];
        for (int c = 0; c < C; c++) { dw0[c] = dw_ref[c] - dw0[c]; db0[c] = db_ref[c] - db0[c]; }
        layernorm_ctx ctx = {out_ref, inp, weight, bias, dout, N, C};
        double fd = 0;
        if (C > 1) fd = test_fd_max_error(inp, n, dinp0, layernorm_loss, &ctx, 1e-2f, 32);
        fd = fmax(fd, test_fd_max_error(weight, C, dw0, layernorm_loss, &ctx, 1e-2f, 16));
        fd = fmax(fd, test_fd_max_error(bias, C, db0, layernorm_loss, &ctx, 1e-2f, 16));
        CHECK(fd < TOL_FD, "layernorm gradients N=%d C=%d vs finite differences: %g", N, C, fd);

        /* NULL gradients are skipped; NULL weight/bias mean identity */
        float *only_dinp = new_floats(n), *only_dinp_ref = new_floats(n);
        tfm_layernorm_forward(out_fast, mean_fast, rstd_fast, inp, NULL, NULL, N, C, eps);
        tfm_layernorm_backward(only_dinp, NULL, NULL, dout, inp, NULL, mean_fast, rstd_fast, N, C);
        tfm_layernorm_backward_reference(only_dinp_ref, NULL, NULL, dout, inp, NULL, mean_fast, rstd_fast, N, C);
        double unweighted = test_max_rel_diff(only_dinp, only_dinp_ref, n, 1.0);
        CHECK(unweighted < TOL_FAST, "layernorm without weight: %g", unweighted);

        double ref_s = 0, fast_s = 0;
        if (shapes[s].timed) {
            float *a = copy_floats(dinp_ref, n), *b = copy_floats(dinp_ref, n);
            float *wa = copy_floats(dw_ref, C), *wb = copy_floats(dw_ref, C), *ba = copy_floats(db_ref, C), *bb = copy_floats(db_ref, C);
            float *oa = new_floats(n), *ob = new_floats(n);
            int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            tfm_layernorm_forward(oa, mean_fast, rstd_fast, inp, weight, bias, N, C, eps);
            tfm_layernorm_backward(a, wa, ba, dout, inp, weight, mean_ref, rstd_ref, N, C);
            omp_set_num_threads(2);
            tfm_layernorm_forward(ob, mean_fast, rstd_fast, inp, weight, bias, N, C, eps);
            tfm_layernorm_backward(b, wb, bb, dout, inp, weight, mean_ref, rstd_ref, N, C);
            omp_set_num_threads(threads);
            CHECK(same_bits(oa, ob, n) && same_bits(a, b, n) && same_bits(wa, wb, C) && same_bits(ba, bb, C),
                  "layernorm differs between 1 and 2 threads");
            free(a); free(b); free(wa); free(wb); free(ba); free(bb); free(oa); free(ob);
            double fr, ff, br, bf;
            TIME_SECONDS(fr, tfm_layernorm_forward_reference(out_ref, mean_ref, rstd_ref, inp, weight, bias, N, C, eps));
            TIME_FAST(ff, tfm_layernorm_forward(out_fast, mean_fast, rstd_fast, inp, weight, bias, N, C, eps));
            double ff1 = fast_one_thread_s;
            TIME_SECONDS(br, tfm_layernorm_backward_reference(dinp_ref, dw_ref, db_ref, dout, inp, weight, mean_ref, rstd_ref, N, C));
            TIME_FAST(bf, tfm_layernorm_backward(dinp_fast, dw_fast, db_fast, dout, inp, weight, mean_ref, rstd_ref, N, C));
            double bf1 = fast_one_thread_s;
            fast_one_thread_s = ff1;
            report("layernorm fwd", "(timing)", -1, -1, -1, fr, ff);
            fast_one_thread_s = bf1;
            report("layernorm bwd", "(timing)", -1, -1, -1, br, bf);
        }
        char shape[64];
        snprintf(shape, sizeof shape, "N%d C%d", N, C);
        report("layernorm", shape, fwd, bwd, fd, ref_s, fast_s);
        free(inp); free(weight); free(bias); free(dout); free(out_ref); free(out_fast); free(mean_ref); free(rstd_ref);
        free(mean_fast); free(rstd_fast); free(dinp_ref); free(dw_ref); free(db_ref); free(dinp0); free(dw0); free(db0);
        free(dinp_fast); free(dw_fast); free(db_fast); free(only_dinp); free(only_dinp_ref);
    }
}

/* ---------------- activations ---------------- */

typedef void (*unary_forward)(float *out, const float *inp, size_t n);
typedef void (*unary_backward)(float *dinp, const float *dout, const float *inp, size_t n);
typedef struct activation_ctx {
    unary_forward forward;
    float *out, *inp, *w;
    size_t n;
} activation_ctx;
static double activation_loss(void *p) {
    activation_ctx *c = p;
    c->forward(c->out, c->inp, c->n);
    return weighted_sum(c->out, c->w, c->n);
}

static void test_activation(const char *name, unary_forward fwd_ref, unary_forward fwd_fast, unary_backward bwd_ref,
                            unary_backward bwd_fast, double torch_point, double torch_value) {
    size_t sizes[] = {1, 7, 1000, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        int timed = n >= (1 << 20);
        float *inp = new_floats(n), *out_ref = new_floats(n), *out_fast = new_floats(n), *dout = new_floats(n);
        fill_normal(inp, n, 800 + s, 0.0f, 3.0f); /* wide: reaches both tails */
        /* keep FD points away from ReLU's kink */
        for (size_t i = 0; i < n; i++)
            if (fabsf(inp[i]) < 0.05f) inp[i] = inp[i] < 0 ? -0.05f : 0.05f;
        fill_normal(dout, n, 900 + s, 0.0f, 1.0f);
        fwd_ref(out_ref, inp, n);
        fwd_fast(out_fast, inp, n);
        double fwd = test_max_rel_diff(out_ref, out_fast, n, 1.0);
        CHECK(fwd < TOL_FAST, "%s forward n=%zu: fast vs reference %g", name, n, fwd);
        float *dinp_ref = new_floats(n);
        fill_normal(dinp_ref, n, 1000 + s, 0.0f, 1.0f);
        float *dinp_fast = copy_floats(dinp_ref, n), *grad = copy_floats(dinp_ref, n);
        bwd_ref(dinp_ref, dout, inp, n);
        bwd_fast(dinp_fast, dout, inp, n);
        double bwd = test_max_rel_diff(dinp_ref, dinp_fast, n, 1.0);
        CHECK(bwd < TOL_FAST, "%s backward n=%zu: fast vs reference %g", name, n, bwd);
        for (size_t i = 0; i < n; i++) grad[i] = dinp_ref[i] - grad[i];
        activation_ctx ctx = {fwd_ref, out_ref, inp, dout, n};
        double fd = test_fd_max_error(inp, n, grad, activation_loss, &ctx, 1e-2f, 32);
        CHECK(fd < TOL_FD, "%s gradient n=%zu vs finite differences: %g", name, n, fd);
        double ref_s = 0, fast_s = 0;
        if (timed) {
            float *one = new_floats(n), *two = new_floats(n);
            int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            fwd_fast(one, inp, n);
            omp_set_num_threads(2);
            fwd_fast(two, inp, n);
            omp_set_num_threads(threads);
            CHECK(same_bits(one, two, n), "%s differs between 1 and 2 threads", name);
            free(one); free(two);
            TIME_SECONDS(ref_s, fwd_ref(out_ref, inp, n));
            TIME_FAST(fast_s, fwd_fast(out_fast, inp, n));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "n%zu", n);
        report(name, shape, fwd, bwd, fd, ref_s, fast_s);
        free(inp); free(out_ref); free(out_fast); free(dout); free(dinp_ref); free(dinp_fast); free(grad);
    }
    /* extreme and special inputs: no NaN, correct limits, in place works */
    float special[] = {-100.f, -20.f, -10.f, -0.0f, 0.0f, 10.f, 20.f, 100.f, 1e30f, -1e30f};
    size_t ns = sizeof special / sizeof special[0];
    float out[16], outr[16];
    fwd_fast(out, special, ns);
    fwd_ref(outr, special, ns);
    for (size_t i = 0; i < ns; i++) {
        double want = special[i] > 0 ? special[i] : 0.0;
        CHECK(fabs(out[i] - want) <= 1e-6 * fmax(1.0, fabs(want)), "%s(%g) = %g (reference %g)", name, special[i], out[i], outr[i]);
    }
    float grads[16] = {0}, ones[16];
    for (size_t i = 0; i < ns; i++) ones[i] = 1.0f;
    bwd_fast(grads, ones, special, ns);
    for (size_t i = 0; i < ns; i++) {
        double want = special[i] > 0 ? 1.0 : 0.0;
        if (special[i] == 0.0f) want = strcmp(name, "relu") == 0 ? 0.0 : 0.5;
        CHECK(fabs(grads[i] - want) <= 1e-6, "%s'(%g) = %g, expected %g", name, special[i], grads[i], want);
    }
    float inplace[1] = {(float)torch_point};
    fwd_fast(inplace, inplace, 1);
    /* a value produced once by torch (see the call site) */
    CHECK(fabs(inplace[0] - torch_value) <= 1e-6 * fmax(1.0, fabs(torch_value)), "%s(%g) = %.9g, torch gives %.9g", name,
          torch_point, inplace[0], torch_value);
}

/* tanh (BERT's pooler): fast vs reference, backward vs reference and finite differences, the limits +-1,
 * and a value from torch. Its limits differ from the ReLU-like ones test_activation checks. */
static void test_tanh(void) {
    size_t n = 4099;
    float *inp = new_floats(n), *out_ref = new_floats(n), *out_fast = new_floats(n), *dout = new_floats(n);
    fill_normal(inp, n, 77, 0.0f, 3.0f);
    fill_normal(dout, n, 78, 0.0f, 1.0f);
    tfm_tanh_forward_reference(out_ref, inp, n);
    tfm_tanh_forward(out_fast, inp, n);
    double fwd = test_max_abs_diff(out_ref, out_fast, n);
    CHECK(fwd < 3e-7, "tanh forward: fast vs reference %g", fwd);
    float *dinp_ref = new_floats(n), *dinp_fast = new_floats(n), *grad = new_floats(n);
    memset(dinp_ref, 0, sizeof(float) * n);
    memset(dinp_fast, 0, sizeof(float) * n);
    tfm_tanh_backward_reference(dinp_ref, dout, inp, n);
    tfm_tanh_backward(dinp_fast, dout, inp, n);
    double bwd = test_max_abs_diff(dinp_ref, dinp_fast, n);
    CHECK(bwd < 1e-6, "tanh backward: fast vs reference %g", bwd);
    memcpy(grad, dinp_ref, sizeof(float) * n);
    activation_ctx ctx = {tfm_tanh_forward_reference, out_ref, inp, dout, n};
    double fd = test_fd_max_error(inp, n, grad, activation_loss, &ctx, 1e-2f, 32);
    CHECK(fd < TOL_FD, "tanh gradient vs finite differences: %g", fd);
    float special[] = {-100.f, -20.f, 0.0f, 20.f, 100.f, 1e30f, -1e30f, 0.5f}, out[8];
    tfm_tanh_forward(out, special, 8);
    CHECK(out[0] == -1.0f && out[1] == -1.0f && out[2] == 0.0f && out[3] == 1.0f && out[4] == 1.0f && out[5] == 1.0f && out[6] == -1.0f,
          "tanh limits: %g %g %g %g %g %g %g", out[0], out[1], out[2], out[3], out[4], out[5], out[6]);
    CHECK(fabs(out[7] - 0.46211715726000974) <= 2e-7, "tanh(0.5) = %.9g, torch gives 0.462117157", out[7]); /* torch.tanh(0.5) */
    free(inp); free(out_ref); free(out_fast); free(dout); free(dinp_ref); free(dinp_fast); free(grad);
}

/* ReLU's backward from its output, in one buffer: the bits of tfm_relu_backward accumulating into zeros
 * (which reads the input), including a -0 incoming gradient and outputs of exactly 0. */
/* NaN in, NaN out, for every activation and both paths (a comparison-based clamp such as x > 0 ? x : 0
 * used to turn NaN into 0 and hide a broken model), as torch does; ReLU keeps +inf and sends -inf to 0 (GELU of
 * -inf is NaN, as in torch: -inf * 0). */
static void test_activations_keep_nan(void) {
    const unary_forward forwards[] = {tfm_gelu_forward_reference, tfm_gelu_forward, tfm_gelu_erf_forward_reference,
                                      tfm_gelu_erf_forward, tfm_tanh_forward_reference, tfm_tanh_forward,
                                      tfm_relu_forward_reference, tfm_relu_forward};
    const char *names[] = {"gelu reference", "gelu", "gelu_erf reference", "gelu_erf", "tanh reference", "tanh", "relu reference", "relu"};
    for (int f = 0; f < 8; f++) {
        float in[20], out[20];
        for (int i = 0; i < 20; i++) in[i] = i == 3 || i == 17 ? NAN : 0.25f * (float)(i - 10);
        in[5] = INFINITY;
        in[6] = -INFINITY;
        forwards[f](out, in, 20);
        CHECK(isnan(out[3]) && isnan(out[17]), "%s: NaN in gives %g and %g", names[f], (double)out[3], (double)out[17]);
        if (f >= 6) CHECK(out[5] == INFINITY && out[6] == 0.0f, "%s: +inf -> %g, -inf -> %g", names[f], (double)out[5], (double)out[6]);
    }
}

static void test_relu_backward_in_place(void) {
    size_t sizes[] = {1, 1001, 1 << 20};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        float *inp = new_floats(n), *out = new_floats(n), *dout = new_floats(n), *want = new_floats(n);
        fill_normal(inp, n, 3000 + s, 0.0f, 1.0f);
        fill_normal(dout, n, 3100 + s, 0.0f, 1.0f);
        if (n > 8) { inp[3] = 0.0f; inp[4] = -0.0f; dout[5] = -0.0f; inp[5] = 1.0f; dout[6] = -0.0f; inp[6] = -1.0f; }
        tfm_relu_forward(out, inp, n);
        tfm_relu_backward_reference(want, dout, inp, n); /* want was zeroed */
        float *from_output = new_floats(n), *ref = copy_floats(dout, n), *fast = copy_floats(dout, n);
        tfm_relu_backward(from_output, dout, out, n);
        tfm_relu_backward_in_place_reference(ref, out, n);
        tfm_relu_backward_in_place(fast, out, n);
        CHECK(same_bits(from_output, want, n), "relu backward from the output differs from the input's, n=%zu", n);
        CHECK(same_bits(ref, want, n), "relu in-place backward (reference) differs from accumulating into zeros, n=%zu", n);
        CHECK(same_bits(fast, want, n), "relu in-place backward (fast) differs from the reference, n=%zu", n);
        double ref_s = 0, fast_s = 0;
        if (n >= (1 << 20)) {
            float *one = copy_floats(dout, n), *two = copy_floats(dout, n);
            int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            tfm_relu_backward_in_place(one, out, n);
            omp_set_num_threads(2);
            tfm_relu_backward_in_place(two, out, n);
            omp_set_num_threads(threads);
            CHECK(same_bits(one, two, n), "relu in-place backward differs between 1 and 2 threads");
            free(one); free(two);
            TIME_SECONDS(ref_s, tfm_relu_backward_in_place_reference(ref, out, n));
            TIME_FAST(fast_s, tfm_relu_backward_in_place(fast, out, n));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "n%zu", n);
        report("relu bwd inpl", shape, -1, 0, -1, ref_s, fast_s);
        free(inp); free(out); free(dout); free(want); free(from_output); free(ref); free(fast);
    }
}

static void test_exp_fast(void) {
    /* against libm expf over [-100, 100] and specials: within a few ulp */
    double worst = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 5e-4f;
        float a = tfm_exp_fast(x), b = expf(x);
        double rel = fabs((double)a - b) / fmax(fabs((double)b), 1e-37);
        if (b > 1.2e-38f && isfinite(b) && !(rel <= worst)) worst = rel;
    }
    CHECK(worst < 4e-7, "exp_fast relative error %g on [-100, 100]", worst);
    CHECK(tfm_exp_fast(-INFINITY) == 0.0f, "exp(-inf) = %g", tfm_exp_fast(-INFINITY));
    CHECK(isinf(tfm_exp_fast(INFINITY)), "exp(inf) = %g", tfm_exp_fast(INFINITY));
    CHECK(isinf(tfm_exp_fast(100.0f)), "exp(100) = %g", tfm_exp_fast(100.0f));
    CHECK(isnan(tfm_exp_fast(NAN)), "exp(nan) = %g", tfm_exp_fast(NAN));
    CHECK(isinf(tfm_exp_fast(88.75f)) && isfinite(tfm_exp_fast(88.72f)), "overflow threshold");
    CHECK(tfm_exp_fast(0.0f) == 1.0f, "exp(0) = %.9g", tfm_exp_fast(0.0f));
    CHECK(tfm_exp_fast(-120.0f) == 0.0f, "exp(-120) = %g", tfm_exp_fast(-120.0f));
    report("exp_fast", "[-100,100]", worst, -1, -1, 0, 0);
}

/* ---------------- dropout ---------------- */

typedef struct dropout_ctx {
    float *out, *inp, *w, p;
    size_t n;
} dropout_ctx;
static double dropout_loss(void *q) {
    dropout_ctx *c = q;
    tfm_dropout_forward_reference(c->out, c->inp, c->n, c->p, 42, 1000);
    return weighted_sum(c->out, c->w, c->n);
}

static void test_dropout(void) {
    float ps[] = {0.0f, 0.1f, 0.5f};
    size_t sizes[] = {1, 1001, 1 << 20};
    for (size_t pi = 0; pi < 3; pi++)
        for (size_t s = 0; s < 3; s++) {
            float p = ps[pi];
            size_t n = sizes[s];
            float *inp = new_floats(n), *out_ref = new_floats(n), *out_fast = new_floats(n), *dout = new_floats(n);
            fill_normal(inp, n, 1100 + s, 0, 1);
            fill_normal(dout, n, 1200 + s, 0, 1);
            tfm_dropout_forward_reference(out_ref, inp, n, p, 42, 1000);
            tfm_dropout_forward(out_fast, inp, n, p, 42, 1000);
            CHECK(same_bits(out_ref, out_fast, n), "dropout p=%g n=%zu: fast forward differs", p, n);
            if (p == 0.0f) CHECK(same_bits(out_fast, inp, n), "dropout p=0 is not an exact copy");
            float *dinp_ref = new_floats(n);
            fill_normal(dinp_ref, n, 1300 + s, 0, 1);
            float *dinp_fast = copy_floats(dinp_ref, n), *grad = copy_floats(dinp_ref, n);
            tfm_dropout_backward_reference(dinp_ref, dout, n, p, 42, 1000);
            tfm_dropout_backward(dinp_fast, dout, n, p, 42, 1000);
            CHECK(same_bits(dinp_ref, dinp_fast, n), "dropout p=%g n=%zu: fast backward differs", p, n);
            for (size_t i = 0; i < n; i++) grad[i] = dinp_ref[i] - grad[i];
            dropout_ctx ctx = {out_ref, inp, dout, p, n};
            double fd = test_fd_max_error(inp, n, grad, dropout_loss, &ctx, 1e-2f, 32);
            CHECK(fd < TOL_FD, "dropout p=%g gradient vs finite differences: %g", p, fd);
            /* the backward uses the forward's mask: kept where out != 0, scaled by 1/(1-p) */
            size_t kept = 0, mismatched = 0;
            for (size_t i = 0; i < n; i++) {
                int keep = out_fast[i] != 0.0f;
                kept += keep;
                double want = keep ? (double)inp[i] / (1.0 - p) : 0.0;
                if (fabs(out_fast[i] - want) > 1e-6 * fabs(want)) mismatched++;
                if (keep != (grad[i] != 0.0f)) mismatched++;
            }
            CHECK(mismatched == 0, "dropout p=%g: %zu elements disagree between mask, scale and backward", p, mismatched);
            double ref_s = 0, fast_s = 0;
            if (n >= (1 << 20)) {
                double frac = (double)kept / n, sigma = sqrt(p * (1.0 - p) / n);
                CHECK(fabs(frac - (1.0 - p)) <= 6 * sigma + 1e-9, "dropout p=%g keeps %.5f of elements", p, frac);
                /* a sub-range with offset + k reproduces the slice of the big call (counter-based mask) */
                float *part = new_floats(1000);
                tfm_dropout_forward(part, inp + 5000, 1000, p, 42, 1000 + 5000);
                CHECK(same_bits(part, out_fast + 5000, 1000), "dropout p=%g: sub-range mask differs", p);
                /* another seed gives another mask */
                tfm_dropout_forward(part, inp, 1000, p, 43, 1000);
                if (p > 0) CHECK(!same_bits(part, out_fast, 1000), "dropout p=%g: seed does not change the mask", p);
                free(part);
                float *one = new_floats(n), *two = new_floats(n);
                int threads = omp_get_max_threads();
                omp_set_num_threads(1);
                tfm_dropout_forward(one, inp, n, p, 7, 0);
                omp_set_num_threads(2);
                tfm_dropout_forward(two, inp, n, p, 7, 0);
                omp_set_num_threads(threads);
                CHECK(same_bits(one, two, n), "dropout differs between 1 and 2 threads");
                /* in place */
                memcpy(one, inp, n * sizeof(float));
                tfm_dropout_forward(one, one, n, p, 42, 1000);
                CHECK(same_bits(one, out_ref, n), "dropout in place differs");
                free(one); free(two);
                TIME_SECONDS(ref_s, tfm_dropout_forward_reference(out_ref, inp, n, p, 42, 1000));
                TIME_FAST(fast_s, tfm_dropout_forward(out_fast, inp, n, p, 42, 1000));
            }
            char shape[64];
            snprintf(shape, sizeof shape, "n%zu p%.1f", n, p);
            report("dropout", shape, 0, 0, fd, ref_s, fast_s);
            free(inp); free(out_ref); free(out_fast); free(dout); free(dinp_ref); free(dinp_fast); free(grad);
        }
    /* p = 1 drops everything, without dividing by zero */
    float x[3] = {1, 2, 3}, y[3], g[3] = {0, 0, 0};
    tfm_dropout_forward(y, x, 3, 1.0f, 1, 0);
    tfm_dropout_backward(g, x, 3, 1.0f, 1, 0);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && g[0] == 0 && g[2] == 0, "dropout p=1: %g %g %g", y[0], y[1], y[2]);
}

/* ---------------- softmax ---------------- */

typedef struct softmax_ctx {
    float *out, *inp, *w;
    int N, V;
} softmax_ctx;
static double softmax_loss(void *p) {
    softmax_ctx *c = p;
    tfm_softmax_forward_reference(c->out, c->inp, c->N, c->V);
    return weighted_sum(c->out, c->w, (size_t)c->N * c->V);
}

static void test_softmax(void) {
    struct { int N, V, timed; } shapes[] = {{1, 1, 0}, {3, 7, 0}, {16, 100, 0}, {5, 1000, 0}, {256, 4096, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s].N, V = shapes[s].V;
        size_t n = (size_t)N * V;
        float *inp = new_floats(n), *out_ref = new_floats(n), *out_fast = new_floats(n), *dout = new_floats(n);
        fill_normal(inp, n, 1400 + s, 5.0f, 3.0f);
        fill_normal(dout, n, 1500 + s, 0, 1);
        tfm_softmax_forward_reference(out_ref, inp, N, V);
        tfm_softmax_forward(out_fast, inp, N, V);
        double fwd = test_max_rel_diff(out_ref, out_fast, n, 1e-3);
        CHECK(fwd < TOL_FAST, "softmax forward N=%d V=%d: %g", N, V, fwd);
        double rowsum = 0;
        for (int v = 0; v < V; v++) rowsum += out_fast[v];
        CHECK(fabs(rowsum - 1) < 1e-5, "softmax row sums to %.8f", rowsum);
        float *dinp_ref = new_floats(n);
        fill_normal(dinp_ref, n, 1600 + s, 0, 1);
        float *dinp_fast = copy_floats(dinp_ref, n), *grad = copy_floats(dinp_ref, n);
        tfm_softmax_backward_reference(dinp_ref, dout, out_ref, N, V);
        tfm_softmax_backward(dinp_fast, dout, out_ref, N, V);
        double bwd = test_max_rel_diff(dinp_ref, dinp_fast, n, 1.0);
        CHECK(bwd < TOL_FAST, "softmax backward N=%d V=%d: %g", N, V, bwd);
        for (size_t i = 0; i < n; i++) grad[i] = dinp_ref[i] - grad[i];
        softmax_ctx ctx = {out_ref, inp, dout, N, V};
        double fd = test_fd_max_error(inp, n, grad, softmax_loss, &ctx, 1e-2f, 32);
        CHECK(fd < TOL_FD, "softmax gradient N=%d V=%d vs finite differences: %g", N, V, fd);
        double ref_s = 0, fast_s = 0;
        if (shapes[s].timed) {
            float *one = new_floats(n), *two = new_floats(n);
            int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            tfm_softmax_forward(one, inp, N, V);
            omp_set_num_threads(2);
            tfm_softmax_forward(two, inp, N, V);
            omp_set_num_threads(threads);
            CHECK(same_bits(one, two, n), "softmax differs between 1 and 2 threads");
            free(one); free(two);
            TIME_SECONDS(ref_s, tfm_softmax_forward_reference(out_ref, inp, N, V));
            TIME_FAST(fast_s, tfm_softmax_forward(out_fast, inp, N, V));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "N%d V%d", N, V);
        report("softmax", shape, fwd, bwd, fd, ref_s, fast_s);
        free(inp); free(out_ref); free(out_fast); free(dout); free(dinp_ref); free(dinp_fast); free(grad);
    }
    /* masks: -inf entries get exactly 0, a fully masked row gives zeros (not NaN); large logits do not overflow */
    float x[8] = {1.0f, -INFINITY, 2.0f, -INFINITY, -INFINITY, -INFINITY, 1000.0f, 999.0f}, y[8], r[8];
    tfm_softmax_forward(y, x, 4, 2);
    tfm_softmax_forward_reference(r, x, 4, 2);
    CHECK(y[1] == 0.0f && fabsf(y[0] - 1.0f) < 1e-7f, "masked softmax: %g %g", y[0], y[1]);
    CHECK(y[2] == 1.0f && y[3] == 0.0f, "masked softmax: %g %g", y[2], y[3]);
    CHECK(y[4] == 0.0f && y[5] == 0.0f && r[4] == 0.0f, "fully masked row: %g %g", y[4], y[5]);
    CHECK(fabs(y[6] - 0.7310585786) < 1e-6 && fabs(y[7] - 0.2689414214) < 1e-6, "large logits: %g %g", y[6], y[7]);
    /* in place */
    tfm_softmax_forward(x, x, 4, 2);
    CHECK(same_bits(x, y, 8), "softmax in place differs");
}

/* ---------------- residual + dropout ---------------- */

typedef struct dropout_add_ctx {
    float *out, *a, *b, *w, p;
    size_t n;
} dropout_add_ctx;
static double dropout_add_loss(void *q) {
    dropout_add_ctx *c = q;
    tfm_dropout_add_forward_reference(c->out, c->a, c->b, c->n, c->p, 42, 1000);
    return weighted_sum(c->out, c->w, c->n);
}

/* a + dropout(b) in one pass: the bits of the two ops it replaces, in place over a or b too; its
 * gradient (residual + dropout backward) against finite differences. */
static void test_dropout_add(void) {
    float ps[] = {0.0f, 0.1f, 0.5f};
    size_t sizes[] = {1, 1001, 1 << 20};
    for (size_t pi = 0; pi < 3; pi++)
        for (size_t s = 0; s < 3; s++) {
            float p = ps[pi];
            size_t n = sizes[s];
            float *a = new_floats(n), *b = new_floats(n), *dropped = new_floats(n), *want = new_floats(n);
            float *ref = new_floats(n), *fast = new_floats(n);
            fill_normal(a, n, 3200 + s, 0, 1);
            fill_normal(b, n, 3300 + s, 0, 1);
            tfm_dropout_forward(dropped, b, n, p, 42, 1000);
            tfm_residual_forward(want, a, dropped, n);
            tfm_dropout_add_forward_reference(ref, a, b, n, p, 42, 1000);
            tfm_dropout_add_forward(fast, a, b, n, p, 42, 1000);
            CHECK(same_bits(ref, want, n), "dropout_add p=%g n=%zu: reference differs from dropout then add", p, n);
            CHECK(same_bits(fast, want, n), "dropout_add p=%g n=%zu: fast differs from the reference", p, n);
            float *over_a = copy_floats(a, n), *over_b = copy_floats(b, n);
            tfm_dropout_add_forward(over_a, over_a, b, n, p, 42, 1000);
            tfm_dropout_add_forward(over_b, a, over_b, n, p, 42, 1000);
            CHECK(same_bits(over_a, want, n) && same_bits(over_b, want, n), "dropout_add p=%g n=%zu: in place differs", p, n);
            /* the gradient its graph op uses: da += dout, db += dropout backward */
            float *dout = new_floats(n), *da = new_floats(n), *db = new_floats(n);
            fill_normal(dout, n, 3400 + s, 0, 1);
            tfm_residual_backward(da, NULL, dout, n);
            tfm_dropout_backward(db, dout, n, p, 42, 1000);
            dropout_add_ctx ctx = {ref, a, b, dout, p, n};
            double fd = fmax(test_fd_max_error(a, n, da, dropout_add_loss, &ctx, 1e-2f, 32),
                             test_fd_max_error(b, n, db, dropout_add_loss, &ctx, 1e-2f, 32));
            CHECK(fd < TOL_FD, "dropout_add p=%g gradient vs finite differences: %g", p, fd);
            double ref_s = 0, fast_s = 0;
            if (n >= (1 << 20)) {
                float *one = new_floats(n), *two = new_floats(n);
                int threads = omp_get_max_threads();
                omp_set_num_threads(1);
                tfm_dropout_add_forward(one, a, b, n, p, 42, 1000);
                omp_set_num_threads(2);
                tfm_dropout_add_forward(two, a, b, n, p, 42, 1000);
                omp_set_num_threads(threads);
                CHECK(same_bits(one, two, n), "dropout_add p=%g differs between 1 and 2 threads", p);
                free(one); free(two);
                TIME_SECONDS(ref_s, tfm_dropout_add_forward_reference(ref, a, b, n, p, 42, 1000));
                TIME_FAST(fast_s, tfm_dropout_add_forward(fast, a, b, n, p, 42, 1000));
            }
            char shape[64];
            snprintf(shape, sizeof shape, "p%.1f n%zu", p, n);
            report("dropout_add", shape, 0, -1, fd, ref_s, fast_s);
            free(a); free(b); free(dropped); free(want); free(ref); free(fast); free(over_a); free(over_b);
            free(dout); free(da); free(db);
        }
}

/* ---------------- residual ---------------- */

static void test_residual(void) {
    size_t sizes[] = {1, 1003, 1 << 22};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        float *a = new_floats(n), *b = new_floats(n), *out_ref = new_floats(n), *out_fast = new_floats(n), *dout = new_floats(n);
        fill_normal(a, n, 1700 + s, 0, 1);
        fill_normal(b, n, 1800 + s, 0, 1);
        fill_normal(dout, n, 1900 + s, 0, 1);
        tfm_residual_forward_reference(out_ref, a, b, n);
        tfm_residual_forward(out_fast, a, b, n);
        CHECK(same_bits(out_ref, out_fast, n), "residual forward n=%zu differs", n);
        CHECK(out_ref[0] == a[0] + b[0], "residual value");
        float *da_ref = copy_floats(a, n), *db_ref = copy_floats(b, n), *da_fast = copy_floats(a, n), *db_fast = copy_floats(b, n);
        tfm_residual_backward_reference(da_ref, db_ref, dout, n);
        tfm_residual_backward(da_fast, db_fast, dout, n);
        CHECK(same_bits(da_ref, da_fast, n) && same_bits(db_ref, db_fast, n), "residual backward n=%zu differs", n);
        CHECK(da_ref[n - 1] == a[n - 1] + dout[n - 1], "residual backward accumulates");
        tfm_residual_backward(NULL, db_fast, dout, n); /* NULL skipped */
        CHECK(db_fast[0] == db_ref[0] + dout[0], "residual backward with NULL da");
        /* scaled add / scale / copy */
        float *acc = copy_floats(a, n);
        tfm_residual_add_scaled(acc, b, 0.5f, n);
        CHECK(acc[n / 2] == a[n / 2] + 0.5f * b[n / 2], "add_scaled");
        tfm_residual_scale(acc, 2.0f, n);
        CHECK(acc[0] == 2.0f * (a[0] + 0.5f * b[0]), "scale");
        tfm_residual_copy(acc, b, n);
        CHECK(same_bits(acc, b, n), "copy");
        double ref_s = 0, fast_s = 0;
        if (n >= (1 << 22)) {
            TIME_SECONDS(ref_s, tfm_residual_forward_reference(out_ref, a, b, n));
            TIME_FAST(fast_s, tfm_residual_forward(out_fast, a, b, n));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "n%zu", n);
        report("residual", shape, 0, 0, -1, ref_s, fast_s);
        free(a); free(b); free(out_ref); free(out_fast); free(dout); free(da_ref); free(db_ref); free(da_fast); free(db_fast);
        free(acc);
    }
}

/* ---------------- cross-entropy ---------------- */

/* PyTorch's definition, directly, in double: per row (1-eps)*(-logp[t]) + eps*mean_c(-logp[c]),
 * averaged over rows whose target is not ignore_index. */
static double cross_entropy_oracle(const float *logits, const int32_t *targets, int N, int V, int ignore_index, double eps,
                                   double *row_losses, int *count) {
    double total = 0;
    int counted = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        if (row_losses) row_losses[n] = 0;
        if (targets[n] == ignore_index) continue;
        double m = -INFINITY, sum = 0, neg_logp_sum = 0;
        for (int v = 0; v < V; v++) m = fmax(m, x[v]);
        for (int v = 0; v < V; v++) sum += exp(x[v] - m);
        double lse = m + log(sum);
        for (int v = 0; v < V; v++) neg_logp_sum += lse - x[v];
        double loss = (1 - eps) * (lse - x[targets[n]]) + eps * neg_logp_sum / V;
        if (row_losses) row_losses[n] = loss;
        total += loss;
        counted++;
    }
    *count = counted;
    return counted ? total / counted : 0;
}

typedef struct cross_entropy_ctx {
    float *logits;
    int32_t *targets;
    int N, V, ignore_index;
    double eps;
} cross_entropy_ctx;
static double cross_entropy_loss(void *p) {
    cross_entropy_ctx *c = p;
    int count;
    return cross_entropy_oracle(c->logits, c->targets, c->N, c->V, c->ignore_index, c->eps, NULL, &count);
}

static void test_cross_entropy(void) {
    struct { int N, V, timed; } shapes[] = {{1, 1, 0}, {4, 5, 0}, {16, 37, 0}, {9, 300, 0}, {64, 50257, 1}};
    const int ignore_index = -100;
    float smoothing[] = {0.0f, 0.1f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int e = 0; e < 2; e++) {
            int N = shapes[s].N, V = shapes[s].V;
            float eps = smoothing[e];
            size_t n = (size_t)N * V;
            float *logits = new_floats(n), *losses_ref = new_floats(N), *losses_fast = new_floats(N);
            float *lse_ref = new_floats(N), *lse_fast = new_floats(N);
            int32_t *targets = malloc(sizeof(int32_t) * (size_t)N);
            fill_normal(logits, n, 2000 + s, 0.0f, 4.0f);
            for (int i = 0; i < N; i++) targets[i] = (int32_t)(tfm_random_bits_at(2100 + s, i) % (uint64_t)V);
            if (N > 3) targets[1] = targets[N - 1] = ignore_index; /* ignored rows, including the last */
            int count_ref = -1, count_fast = -1, count_oracle;
            double *row_oracle = malloc(sizeof(double) * (size_t)N);
            double oracle = cross_entropy_oracle(logits, targets, N, V, ignore_index, eps, row_oracle, &count_oracle);
            float mean_ref = tfm_cross_entropy_forward_reference(losses_ref, lse_ref, logits, targets, N, V, ignore_index, eps, &count_ref);
            float mean_fast = tfm_cross_entropy_forward(losses_fast, lse_fast, logits, targets, N, V, ignore_index, eps, &count_fast);
            CHECK(count_ref == count_oracle && count_fast == count_oracle, "cross-entropy counts %d %d, expected %d", count_ref,
                  count_fast, count_oracle);
            double worst_row = 0;
            for (int i = 0; i < N; i++) worst_row = fmax(worst_row, fabs(losses_ref[i] - row_oracle[i]) / fmax(1.0, fabs(row_oracle[i])));
            CHECK(worst_row < 1e-6 && fabs(mean_ref - oracle) < 1e-6 * fmax(1, oracle),
                  "cross-entropy reference vs direct formula: row %g, mean %.9g vs %.9g", worst_row, mean_ref, oracle);
            double fwd = fmax(test_max_rel_diff(losses_ref, losses_fast, N, 1.0), test_max_rel_diff(lse_ref, lse_fast, N, 1.0));
            fwd = fmax(fwd, fabs(mean_ref - mean_fast) / fmax(1.0, fabs(mean_ref)));
            CHECK(fwd < TOL_FAST, "cross-entropy forward N=%d V=%d eps=%g: fast vs reference %g", N, V, eps, fwd);
            if (N > 3) CHECK(losses_fast[1] == 0.0f && losses_ref[N - 1] == 0.0f, "ignored rows have loss 0");

            /* backward of the mean: scale = 1 / count; accumulates into pre-filled dlogits */
            float *dl_ref = new_floats(n);
            fill_normal(dl_ref, n, 2200 + s, 0, 1);
            float *dl_fast = copy_floats(dl_ref, n), *grad = copy_floats(dl_ref, n);
            float scale = count_ref ? 1.0f / (float)count_ref : 0.0f;
            tfm_cross_entropy_backward_reference(dl_ref, logits, lse_ref, targets, N, V, ignore_index, eps, scale);
            tfm_cross_entropy_backward(dl_fast, logits, lse_fast, targets, N, V, ignore_index, eps, scale);
            double bwd = test_max_rel_diff(dl_ref, dl_fast, n, 1.0);
            CHECK(bwd < TOL_FAST, "cross-entropy backward N=%d V=%d eps=%g: fast vs reference %g", N, V, eps, bwd);
            for (size_t i = 0; i < n; i++) grad[i] = dl_ref[i] - grad[i];
            if (N > 3) {
                int untouched = 1;
                for (int v = 0; v < V; v++) untouched &= grad[(size_t)V + v] == 0.0f;
                CHECK(untouched, "cross-entropy backward touched an ignored row");
            }
            /* in place: the gradient written over the logits equals the gradient added to zeros */
            float *zeros_grad = new_floats(n), *in_ref = copy_floats(logits, n), *in_fast = copy_floats(logits, n);
            memset(zeros_grad, 0, sizeof(float) * n);
            tfm_cross_entropy_backward_reference(zeros_grad, logits, lse_ref, targets, N, V, ignore_index, eps, scale);
            tfm_cross_entropy_backward_in_place_reference(in_ref, lse_ref, targets, N, V, ignore_index, eps, scale);
            tfm_cross_entropy_backward_in_place(in_fast, lse_fast, targets, N, V, ignore_index, eps, scale);
            double in_place = fmax(test_max_rel_diff(zeros_grad, in_ref, n, 1.0), test_max_rel_diff(in_ref, in_fast, n, 1.0));
            CHECK(in_place < TOL_FAST, "cross-entropy in-place backward N=%d V=%d eps=%g: %g", N, V, eps, in_place);
            if (N > 3) CHECK(in_fast[V] == 0.0f && in_ref[(size_t)(N - 1) * V] == 0.0f, "in place: ignored rows become 0");
            free(zeros_grad); free(in_ref); free(in_fast);
            cross_entropy_ctx ctx = {logits, targets, N, V, ignore_index, eps};
            double fd = n <= 100000 ? test_fd_max_error(logits, n, grad, cross_entropy_loss, &ctx, 1e-2f, 32) : -1;
            CHECK(fd < TOL_FD, "cross-entropy gradient N=%d V=%d eps=%g vs finite differences: %g", N, V, eps, fd);
            double ref_s = 0, fast_s = 0;
            if (shapes[s].timed) {
                float *one = new_floats(N), *two = new_floats(N);
                float *g1 = new_floats(n), *g2 = new_floats(n);
                int threads = omp_get_max_threads();
                omp_set_num_threads(1);
                float m1 = tfm_cross_entropy_forward(one, lse_fast, logits, targets, N, V, ignore_index, eps, NULL);
                tfm_cross_entropy_backward(g1, logits, lse_fast, targets, N, V, ignore_index, eps, scale);
                omp_set_num_threads(2);
                float m2 = tfm_cross_entropy_forward(two, lse_fast, logits, targets, N, V, ignore_index, eps, NULL);
                tfm_cross_entropy_backward(g2, logits, lse_fast, targets, N, V, ignore_index, eps, scale);
                omp_set_num_threads(threads);
                CHECK(m1 == m2 && same_bits(one, two, N) && same_bits(g1, g2, n), "cross-entropy differs between 1 and 2 threads");
                free(one); free(two); free(g1); free(g2);
                double fr, ff, br, bf;
                TIME_SECONDS(fr, tfm_cross_entropy_forward_reference(losses_ref, lse_ref, logits, targets, N, V, ignore_index, eps, NULL));
                TIME_FAST(ff, tfm_cross_entropy_forward(losses_fast, lse_fast, logits, targets, N, V, ignore_index, eps, NULL));
                double ff1 = fast_one_thread_s;
                TIME_SECONDS(br, tfm_cross_entropy_backward_reference(dl_ref, logits, lse_ref, targets, N, V, ignore_index, eps, scale));
                TIME_FAST(bf, tfm_cross_entropy_backward(dl_fast, logits, lse_fast, targets, N, V, ignore_index, eps, scale));
                double bf1 = fast_one_thread_s;
                fast_one_thread_s = ff1;
                report("cross_ent fwd", "(timing)", -1, -1, -1, fr, ff);
                fast_one_thread_s = bf1;
                report("cross_ent bwd", "(timing)", -1, -1, -1, br, bf);
            }
            char shape[64];
            snprintf(shape, sizeof shape, "N%d V%d e%.1f", N, V, eps);
            report("cross_entropy", shape, fwd, bwd, fd, ref_s, fast_s);
            free(logits); free(losses_ref); free(losses_fast); free(lse_ref); free(lse_fast); free(targets); free(row_oracle);
            free(dl_ref); free(dl_fast); free(grad);
        }

    /* Known values, produced once with /usr/bin/python3 + torch 1.13:
     *   x = torch.tensor([[1., 2., 3.], [0.5, -1., 2.], [3., 3., 3.]]); t = torch.tensor([2, 0, -100])
     *   F.cross_entropy(x, t, ignore_index=-100)                      -> 1.0744586
     *   F.cross_entropy(x, t, ignore_index=-100, label_smoothing=0.2) -> 1.17445862 */
    float x[9] = {1, 2, 3, 0.5f, -1, 2, 3, 3, 3}, losses[3], lse[3];
    int32_t t[3] = {2, 0, -100};
    int count;
    float plain = tfm_cross_entropy_forward(losses, lse, x, t, 3, 3, -100, 0.0f, &count);
    float smooth = tfm_cross_entropy_forward(losses, lse, x, t, 3, 3, -100, 0.2f, &count);
    CHECK(fabsf(plain - 1.0744586f) < 2e-6f && count == 2, "torch value: %.7f (count %d)", plain, count);
    CHECK(fabsf(smooth - 1.17445862f) < 2e-6f, "torch value with smoothing: %.7f", smooth);
    /* all rows ignored: 0 and count 0 */
    int32_t none[3] = {-100, -100, -100};
    CHECK(tfm_cross_entropy_forward(losses, lse, x, none, 3, 3, -100, 0.0f, &count) == 0.0f && count == 0, "all ignored");
    /* out-of-range targets: no out-of-bounds read (ASan), NaN loss, backward skips the row */
    int32_t bad[3] = {-7, 1, 3};
    float mean = tfm_cross_entropy_forward(losses, lse, x, bad, 3, 3, -100, 0.0f, &count);
    CHECK(isnan(mean) && isnan(losses[0]) && isnan(losses[2]) && isfinite(losses[1]) && count == 3, "bad targets: %g", mean);
    float g[9] = {0};
    tfm_cross_entropy_backward(g, x, lse, bad, 3, 3, -100, 0.0f, 1.0f);
    CHECK(g[0] == 0 && g[8] == 0 && g[3] != 0, "bad-target rows must be skipped by the backward");
}

/* ---------------- the table ---------------- */

int main(void) {
    printf("%-16s %-18s %-12s %-12s %-11s %s\n", "op", "shape", "fast-ref", "bwd f-r", "fd err", "timing (fast at OMP threads)");
    /* Known activation values, produced once with /usr/bin/python3 + torch 1.13:
     *   F.gelu(torch.tensor(-1.3), approximate='tanh') -> -0.126071021
     *   F.gelu(torch.tensor(0.7))                       ->  0.530625463
     *   F.relu(torch.tensor(2.5))                       ->  2.5 */
    test_exp_fast();
    test_activation("gelu", tfm_gelu_forward_reference, tfm_gelu_forward, tfm_gelu_backward_reference, tfm_gelu_backward, -1.3,
                    -0.126071021);
    test_activation("gelu_erf", tfm_gelu_erf_forward_reference, tfm_gelu_erf_forward, tfm_gelu_erf_backward_reference,
                    tfm_gelu_erf_backward, 0.7, 0.530625463);
    test_activation("relu", tfm_relu_forward_reference, tfm_relu_forward, tfm_relu_backward_reference, tfm_relu_backward, 2.5, 2.5);
    test_relu_backward_in_place();
    test_tanh();
    test_activations_keep_nan();
    test_embedding();
    test_layernorm();
    test_dropout();
    test_dropout_add();
    test_softmax();
    test_residual();
    test_cross_entropy();
    return test_summary();
}
