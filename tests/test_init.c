/* tests/test_init.c: every initializer's statistics on large tensors (mean, variance, bounds, orthogonality), its
 * fans, the seed making it reproducible, and its errors. Statistical bounds are 6 standard errors wide: with a
 * fixed seed the result is fixed, and a wrong formula (a factor sqrt(2), fan_in for fan_out) misses by far more. */
#include <math.h>
#include <string.h>

#include "test_util.h"
#include "tfm/nn.h"
#include "tfm/tensor.h"

typedef struct stats {
    double mean, variance, min, max;
} stats;

static stats stats_of(const tfm_tensor *t) {
    double sum = 0, squares = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < t->size; i++) sum += t->data[i], lo = fmin(lo, t->data[i]), hi = fmax(hi, t->data[i]);
    double mean = sum / (double)t->size;
    for (size_t i = 0; i < t->size; i++) squares += (t->data[i] - mean) * (t->data[i] - mean);
    return (stats){mean, squares / (double)(t->size - 1), lo, hi};
}

/* A tensor of `shape` on the heap (tests only). */
static tfm_tensor make(int ndim, const int *shape) {
    tfm_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = ndim;
    t.size = 1;
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d], t.size *= (size_t)shape[d];
    t.data = calloc(t.size, sizeof(float));
    return t;
}

/* Mean and variance within 6 standard errors of the distribution's (kurtosis: 3 normal, 1.8 uniform, 2.36 for the
 * normal truncated at 2 sigma); every value within [low, high]. */
static void check_stats(const char *name, const tfm_tensor *t, double mean, double variance, double kurtosis, double low, double high) {
    stats s = stats_of(t);
    double n = (double)t->size, mean_error = 6.0 * sqrt(variance / n), variance_error = 6.0 * variance * sqrt((kurtosis - 1.0) / n);
    CHECK(fabs(s.mean - mean) <= mean_error, "%s: mean %.6g, expected %.6g +- %.2g", name, s.mean, mean, mean_error);
    CHECK(fabs(s.variance - variance) <= variance_error, "%s: variance %.6g, expected %.6g +- %.2g", name, s.variance, variance,
          variance_error);
    CHECK(s.min >= low && s.max <= high, "%s: values in [%g, %g], expected within [%g, %g]", name, s.min, s.max, low, high);
    printf("%-28s mean %+.5f (want %+.5f)  variance %.6f (want %.6f)  range [%.4f, %.4f]\n", name, s.mean, mean, s.variance, variance,
           s.min, s.max);
}

static void init(tfm_tensor *t, int kind, const tfm_init_options *o, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    CHECK_OK(tfm_init_tensor(t, kind, o, &rng));
}

static void test_distributions(void) {
    tfm_tensor t = make(2, (int[]){1000, 1000});
    tfm_init_options o;
    tfm_init_options_default(&o);
    init(&t, TFM_INIT_NORMAL, NULL, 1);
    check_stats("normal(0, 1)", &t, 0.0, 1.0, 3.0, -6.0, 6.0);
    o.mean = 0.5f, o.std = 2.0f;
    init(&t, TFM_INIT_NORMAL, &o, 2);
    check_stats("normal(0.5, 2)", &t, 0.5, 4.0, 3.0, -12.0, 13.0);
    init(&t, TFM_INIT_TRUNCATED_NORMAL, &o, 3);
    double truncated = 0.87962566103423978 * 0.87962566103423978;
    check_stats("truncated_normal(0.5, 2)", &t, 0.5, 4.0 * truncated, 2.36, -3.5, 4.5);
    o.low = -3.0f, o.high = 1.0f;
    init(&t, TFM_INIT_UNIFORM, &o, 4);
    check_stats("uniform(-3, 1)", &t, -1.0, 16.0 / 12.0, 1.8, -3.0, 1.0);
    o.value = 0.25f;
    init(&t, TFM_INIT_CONSTANT, &o, 5);
    check_stats("constant(0.25)", &t, 0.25, 0.0, 3.0, 0.25, 0.25);
    init(&t, TFM_INIT_ONES, NULL, 5);
    check_stats("ones", &t, 1.0, 0.0, 3.0, 1.0, 1.0);
    init(&t, TFM_INIT_ZEROS, NULL, 5);
    check_stats("zeros", &t, 0.0, 0.0, 3.0, 0.0, 0.0);
    free(t.data);
}

/* Weights [out 512, in 1024, k 2]: fan_in 2048, fan_out 1024. */
static void test_fan_based(void) {
    tfm_tensor t = make(3, (int[]){512, 1024, 2});
    double fan_in, fan_out;
    tfm_init_fans(&t, &fan_in, &fan_out);
    CHECK(fan_in == 2048 && fan_out == 1024, "fans %g, %g; expected 2048, 1024", fan_in, fan_out);
    double sum = fan_in + fan_out, truncated = 0.87962566103423978;
    tfm_init_options o;
    tfm_init_options_default(&o);
    init(&t, TFM_INIT_GLOROT_NORMAL, NULL, 10);
    check_stats("glorot_normal", &t, 0.0, 2.0 / sum, 3.0, -INFINITY, INFINITY);
    double limit = sqrt(6.0 / sum);
    init(&t, TFM_INIT_GLOROT_UNIFORM, NULL, 11);
    check_stats("glorot_uniform", &t, 0.0, limit * limit / 3.0, 1.8, -limit, limit);
    init(&t, TFM_INIT_HE_NORMAL, NULL, 12);
    check_stats("he_normal (fan in)", &t, 0.0, 2.0 / fan_in, 3.0, -INFINITY, INFINITY);
    o.mode = TFM_FAN_OUT;
    init(&t, TFM_INIT_HE_NORMAL, &o, 13);
    check_stats("he_normal (fan out)", &t, 0.0, 2.0 / fan_out, 3.0, -INFINITY, INFINITY);
    limit = sqrt(6.0 / fan_in);
    init(&t, TFM_INIT_HE_UNIFORM, NULL, 14);
    check_stats("he_uniform", &t, 0.0, 2.0 / fan_in, 1.8, -limit, limit);
    double std = sqrt(1.0 / fan_in);
    init(&t, TFM_INIT_LECUN_NORMAL, NULL, 15);
    check_stats("lecun_normal", &t, 0.0, 1.0 / fan_in, 2.36, -2.0 * std / truncated, 2.0 * std / truncated);
    limit = sqrt(3.0 / fan_in);
    init(&t, TFM_INIT_LECUN_UNIFORM, NULL, 16);
    check_stats("lecun_uniform", &t, 0.0, 1.0 / fan_in, 1.8, -limit, limit);
    /* variance scaling: scale 2 over each fan and distribution */
    const double fans[3] = {fan_in, fan_out, 0.5 * sum};
    const char *names[3][3] = {{"vs(2, in, truncated)", "vs(2, in, normal)", "vs(2, in, uniform)"},
                               {"vs(2, out, truncated)", "vs(2, out, normal)", "vs(2, out, uniform)"},
                               {"vs(2, avg, truncated)", "vs(2, avg, normal)", "vs(2, avg, uniform)"}};
    const double kurtosis[3] = {2.36, 3.0, 1.8};
    o.scale = 2.0f;
    for (int mode = 0; mode < 3; mode++)
        for (int d = 0; d < 3; d++) {
            o.mode = mode, o.distribution = d;
            init(&t, TFM_INIT_VARIANCE_SCALING, &o, 20 + (uint64_t)(3 * mode + d));
            double variance = 2.0 / fans[mode], bound = d == 2 ? sqrt(3.0 * variance) : d == 0 ? 2.0 * sqrt(variance) / truncated : INFINITY;
            check_stats(names[mode][d], &t, 0.0, variance, kurtosis[d], -bound, bound);
        }
    free(t.data);
}

/* Q Q^T = gain^2 I over the fewer of rows and columns. */
static void check_orthogonal(int ndim, const int *shape, float gain) {
    tfm_tensor t = make(ndim, shape);
    tfm_init_options o;
    tfm_init_options_default(&o);
    o.scale = gain;
    init(&t, TFM_INIT_ORTHOGONAL, &o, 30);
    size_t rows = (size_t)shape[0], cols = t.size / rows, k = rows < cols ? rows : cols;
    double worst = 0;
    for (size_t a = 0; a < k; a++)
        for (size_t b = a; b < k; b++) {
            double dot = 0;
            for (size_t i = 0; i < (rows < cols ? cols : rows); i++)
                dot += rows < cols ? (double)t.data[a * cols + i] * t.data[b * cols + i] : (double)t.data[i * cols + a] * t.data[i * cols + b];
            worst = fmax(worst, fabs(dot - (a == b ? (double)gain * gain : 0.0)));
        }
    CHECK(worst < 1e-5 * gain * gain, "orthogonal %zu x %zu (gain %g): largest deviation from gain^2 I %g", rows, cols, (double)gain, worst);
    printf("orthogonal %4zu x %-4zu gain %.1f  max |Q Q^T - gain^2 I| %.2e\n", rows, cols, (double)gain, worst);
    free(t.data);
}

static void test_orthogonal_and_identity(void) {
    check_orthogonal(2, (int[]){256, 512}, 1.0f);
    check_orthogonal(2, (int[]){512, 256}, 2.0f);
    check_orthogonal(3, (int[]){16, 8, 8}, 1.0f); /* flattened to [16, 64] as torch does */
    tfm_tensor t = make(2, (int[]){3, 5});
    tfm_init_options o;
    tfm_init_options_default(&o);
    o.scale = 0.5f;
    init(&t, TFM_INIT_IDENTITY, &o, 0);
    int ok = 1;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 5; c++) ok &= t.data[r * 5 + c] == (r == c ? 0.5f : 0.0f);
    CHECK(ok, "identity [3, 5] with gain 0.5");
    free(t.data);
}

static void test_seed_and_errors(void) {
    tfm_tensor a = make(2, (int[]){64, 64}), b = make(2, (int[]){64, 64});
    for (int kind = 0; kind < TFM_INIT_COUNT; kind++) {
        init(&a, kind, NULL, 77);
        init(&b, kind, NULL, 77);
        CHECK(memcmp(a.data, b.data, a.size * sizeof(float)) == 0, "%s: the same seed gave different values", tfm_init_names[kind]);
        if (kind >= TFM_INIT_NORMAL && kind <= TFM_INIT_ORTHOGONAL) {
            init(&b, kind, NULL, 78);
            CHECK(memcmp(a.data, b.data, a.size * sizeof(float)) != 0, "%s: another seed gave the same values", tfm_init_names[kind]);
        }
    }
    tfm_tensor v = make(1, (int[]){10}), cube = make(3, (int[]){2, 2, 2});
    tfm_rng rng;
    tfm_rng_init(&rng, 1);
    EXPECT_ERROR(tfm_init_tensor(&v, TFM_INIT_GLOROT_UNIFORM, NULL, &rng), TFM_ERR_INVALID_ARGUMENT,
                 "glorot_uniform: needs a tensor of 2 or more dimensions, got 1");
    EXPECT_ERROR(tfm_init_tensor(&cube, TFM_INIT_IDENTITY, NULL, &rng), TFM_ERR_INVALID_ARGUMENT, "identity: needs a matrix");
    EXPECT_ERROR(tfm_init_tensor(&a, TFM_INIT_COUNT, NULL, &rng), TFM_ERR_INVALID_ARGUMENT, "init: unknown kind");
    tfm_init_options o;
    tfm_init_options_default(&o);
    o.low = 2.0f, o.high = 1.0f;
    EXPECT_ERROR(tfm_init_tensor(&a, TFM_INIT_UNIFORM, &o, &rng), TFM_ERR_INVALID_ARGUMENT, "uniform: [2, 1); expected low <= high");
    tfm_init_options_default(&o);
    o.std = -1.0f;
    EXPECT_ERROR(tfm_init_tensor(&a, TFM_INIT_NORMAL, &o, &rng), TFM_ERR_INVALID_ARGUMENT, "normal: std -1");
    CHECK_OK(tfm_init_tensor(&v, TFM_INIT_LECUN_NORMAL, NULL, &rng)); /* a vector's fan is its length, as Keras */
    free(a.data), free(b.data), free(v.data), free(cube.data);
}

int main(void) {
    test_distributions();
    test_fan_based();
    test_orthogonal_and_identity();
    test_seed_and_errors();
    return test_summary();
}
