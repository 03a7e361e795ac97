/* tests/test_util.h: the tiny assertion kit every C test uses (prints "N passed, N failed" at the end). */
#ifndef TFM_TEST_UTIL_H
#define TFM_TEST_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/base.h"
#include "tfm/random.h"

static int test_passed = 0, test_failed = 0;

/* n floats uniform in [lo, hi) from a counter-based stream (the same values on every run and thread count);
 * free with tfm_free(x, sizeof(float) * n). */
static inline float *test_random_floats(size_t n, uint64_t seed, float lo, float hi) {
    float *x = tfm_malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; x && i < n; i++) x[i] = lo + (hi - lo) * tfm_random_uniform_at(seed, i);
    return x;
}

/* A copy of x[0, n) (freed like test_random_floats'). */
static inline float *test_copy_floats(const float *x, size_t n) {
    float *y = tfm_malloc(sizeof(float) * (n ? n : 1));
    if (y && n) memcpy(y, x, sizeof(float) * n);
    return y;
}

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (cond) {                                                                               \
            test_passed++;                                                                        \
        } else {                                                                                  \
            test_failed++;                                                                        \
            fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
        }                                                                                         \
    } while (0)

#define CHECK_OK(call)                                                                            \
    do {                                                                                          \
        tfm_status check_ok_status_ = (call);                                                     \
        CHECK(check_ok_status_ == TFM_OK, "%s", tfm_last_error());                                \
    } while (0)

/* Largest |a-b| over n floats. */
static inline double test_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* Largest |a-b| / max(|a|,|b|, floor) over n floats: relative error that ignores values near zero. */
static inline double test_max_rel_diff(const float *a, const float *b, size_t n, double floor) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double s = fmax(fmax(fabs(a[i]), fabs(b[i])), floor);
        double d = fabs((double)a[i] - (double)b[i]) / s;
        if (!(d <= m)) m = d;
    }
    return m;
}

/* The scalar loss a finite-difference check perturbs: recomputes the op's reference forward. */
typedef double (*test_loss_fn)(void *ctx);

/* Largest |fd - analytic| / max(|fd|, |analytic|, 1e-2 * max|analytic|) over up to `samples`
 * entries of x (all of them when x is small). Central differences with the float-rounded step. */
static inline double test_fd_max_error(float *x, size_t n, const float *analytic, test_loss_fn loss, void *ctx, float h, int samples) {
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(analytic[i]));
    double floor = fmax(1e-2 * scale, 1e-6);
    size_t count = n <= (size_t)samples ? n : (size_t)samples;
    for (size_t k = 0; k < count; k++) {
        size_t i = n <= (size_t)samples ? k : (size_t)(tfm_random_bits_at(991, k) % n);
        float orig = x[i];
        x[i] = orig + h;
        double up_step = (double)x[i] - orig;
        double up = loss(ctx);
        x[i] = orig - h;
        double down_step = (double)orig - x[i];
        double down = loss(ctx);
        x[i] = orig;
        double fd = (up - down) / (up_step + down_step);
        double err = fabs(fd - analytic[i]) / fmax(fmax(fabs(fd), fabs(analytic[i])), floor);
        if (!(err <= worst)) worst = err;
    }
    loss(ctx); /* leave the op's outputs as they are for the unperturbed input */
    return worst;
}

/* EXPECT_ERROR(call, status, "substring", ...): the call must fail with `status` and leave a message
 * in tfm_last_error() that contains every given substring. */
static inline void test_expect_error_at(int line, tfm_status got, tfm_status want, ...) {
    const char *message = tfm_last_error();
    CHECK(got == want, "line %d: status %s, want %s (message: %s)", line, tfm_status_name(got), tfm_status_name(want), message);
    va_list args;
    va_start(args, want);
    for (const char *s = va_arg(args, const char *); s; s = va_arg(args, const char *))
        CHECK(strstr(message, s) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, message, s);
    va_end(args);
}
#define EXPECT_ERROR(call, want, ...) test_expect_error_at(__LINE__, (call), (want), __VA_ARGS__, (const char *)NULL)

/* ---- Allocation failures: an allocator whose n-th allocation from now returns NULL ---- */
static long test_alloc_countdown = -1; /* allocations left before the failure; -1: never fail */
static long test_alloc_made = 0;       /* allocations made while installed */
static inline void *test_failing_alloc(void *user, void *pointer, size_t old_size, size_t size) {
    (void)user;
    if (size == 0) {
        free(pointer);
        return NULL;
    }
    if (test_alloc_countdown == 0) return NULL;
    if (test_alloc_countdown > 0) test_alloc_countdown--;
    test_alloc_made++;
    void *fresh = aligned_alloc(64, (size + 63) & ~(size_t)63); /* 64-byte aligned, as tfm's allocator contract asks */
    if (!fresh) return NULL;
    if (pointer) {
        memcpy(fresh, pointer, old_size < size ? old_size : size);
        free(pointer);
    }
    return fresh;
}

/* Run attempt(context) with its 0th, 1st, 2nd ... allocation failing, until it succeeds: every failure must be
 * a status with a message (a crash or leak fails the test under ASan), and `want` when `want` is nonzero.
 * attempt frees whatever it made before returning (the same allocator stays installed meanwhile). Returns the
 * number of allocations of the successful attempt. */
static inline long test_each_allocation_failure(const char *name, tfm_status (*attempt)(void *), void *context, tfm_status want) {
    long allocations = -1;
    for (long n = 0; allocations < 0 && n < 20000; n++) { /* more: an attempt that grows with each failure */
        test_alloc_countdown = n;
        test_alloc_made = 0;
        tfm_error_clear();
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status st = attempt(context);
        tfm_set_allocator(NULL, NULL);
        if (st == TFM_OK) {
            allocations = test_alloc_made;
        } else if ((want && st != want) || tfm_last_error()[0] == '\0') {
            test_failed++;
            printf("FAILED %s: allocation %ld failing gave %s: \"%s\"\n", name, n, tfm_status_name(st), tfm_last_error());
        } else {
            test_passed++;
        }
    }
    test_alloc_countdown = -1;
    return allocations;
}

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
