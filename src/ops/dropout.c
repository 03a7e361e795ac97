/* ops/dropout.c: counter-based inverted dropout, forward and accumulating backward. */
#include "ops/dropout.h"

#include <string.h>

#include "ops/parallel.h"
#include "tfm/random.h"

#define DROPOUT_PARALLEL_MIN 16384

/* The kept elements' multiplier: 1 / (1 - p), or 0 when everything is dropped. */
static float dropout_scale(float p) { return p >= 1.0f ? 0.0f : 1.0f / (1.0f - p); }

void tfm_dropout_forward_reference(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset) {
    float scale = dropout_scale(p);
    for (size_t i = 0; i < n; i++) {
        if (p <= 0.0f) out[i] = inp[i];
        else out[i] = tfm_random_uniform_at(seed, offset + i) >= p ? inp[i] * scale : 0.0f;
    }
}

void tfm_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset) {
    if (p <= 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    float scale = dropout_scale(p);
    #pragma omp parallel for simd schedule(static) if (n >= DROPOUT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = tfm_random_uniform_at(seed, offset + i) >= p ? inp[i] * scale : 0.0f;
}

void tfm_dropout_backward_reference(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset) {
    if (!dinp) return;
    float scale = dropout_scale(p);
    for (size_t i = 0; i < n; i++) {
        if (p <= 0.0f) dinp[i] += dout[i];
        else if (tfm_random_uniform_at(seed, offset + i) >= p) dinp[i] += dout[i] * scale;
    }
}

void tfm_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset) {
    if (!dinp) return;
    if (p <= 0.0f) {
        #pragma omp parallel for simd schedule(static) if (n >= DROPOUT_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    float scale = dropout_scale(p);
    #pragma omp parallel for simd schedule(static) if (n >= DROPOUT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += tfm_random_uniform_at(seed, offset + i) >= p ? dout[i] * scale : 0.0f;
}

void tfm_dropout_add_forward_reference(float *out, const float *a, const float *b, size_t n, float p, uint64_t seed, uint64_t offset) {
    float scale = dropout_scale(p);
    for (size_t i = 0; i < n; i++) {
        float dropped = p <= 0.0f ? b[i] : (tfm_random_uniform_at(seed, offset + i) >= p ? b[i] * scale : 0.0f);
        out[i] = a[i] + dropped;
    }
}

static void dropout_add_range(float *out, const float *a, const float *b, float p, uint64_t seed, uint64_t offset, size_t begin,
                              size_t end) {
    if (p <= 0.0f) {
        #pragma omp simd
        for (size_t i = begin; i < end; i++) out[i] = a[i] + b[i];
        return;
    }
    float scale = dropout_scale(p);
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = a[i] + (tfm_random_uniform_at(seed, offset + i) >= p ? b[i] * scale : 0.0f);
}

void tfm_dropout_add_forward(float *out, const float *a, const float *b, size_t n, float p, uint64_t seed, uint64_t offset) {
    TFM_PARALLEL_RANGES(n, DROPOUT_PARALLEL_MIN, dropout_add_range(out, a, b, p, seed, offset, begin, end));
}
