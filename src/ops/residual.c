/* ops/residual.c: residual add forward/backward and scaled-add / scale / copy helpers. */
#include "ops/residual.h"

#include <string.h>

#include "ops/parallel.h"

#define RESIDUAL_PARALLEL_MIN (1 << 16)

void tfm_residual_forward_reference(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void residual_forward_range(float *out, const float *a, const float *b, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = a[i] + b[i];
}

void tfm_residual_forward(float *out, const float *a, const float *b, size_t n) {
    TFM_PARALLEL_RANGES(n, RESIDUAL_PARALLEL_MIN, residual_forward_range(out, a, b, begin, end));
}

void tfm_residual_backward_reference(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

void tfm_residual_backward(float *da, float *db, const float *dout, size_t n) {
    if (da) tfm_residual_add_scaled(da, dout, 1.0f, n);
    if (db) tfm_residual_add_scaled(db, dout, 1.0f, n);
}

void tfm_residual_add_scaled(float *dst, const float *src, float alpha, size_t n) {
    if (alpha == 1.0f) {
        /* exact: no multiply, so dst += src matches the reference bit for bit */
        #pragma omp parallel for simd schedule(static) if (n >= RESIDUAL_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) dst[i] += src[i];
    } else {
        #pragma omp parallel for simd schedule(static) if (n >= RESIDUAL_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) dst[i] += alpha * src[i];
    }
}

void tfm_residual_scale(float *dst, float alpha, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= RESIDUAL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dst[i] *= alpha;
}

void tfm_residual_copy(float *dst, const float *src, size_t n) {
    if (dst == src) return;
    if (n < RESIDUAL_PARALLEL_MIN) {
        memmove(dst, src, n * sizeof(float));
        return;
    }
    /* large copies: each thread copies its own contiguous slice (the caller's buffers do not overlap) */
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (size_t chunk = 0; chunk < 64; chunk++) {
            size_t start = n * chunk / 64, end = n * (chunk + 1) / 64;
            memcpy(dst + start, src + start, (end - start) * sizeof(float));
        }
    }
}
