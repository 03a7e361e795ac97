/* train/clip.c: global L2 norm (fixed chunking, double sums), clipping scale, and the non-finite scan. */
#include "train/clip.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Fixed partition of the array for the norm: the chunk boundaries depend on n only. */
#define CLIP_CHUNKS 64
#define CLIP_PARALLEL_MIN (1 << 15)

double tfm_clip_global_norm_reference(const float *x, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    return sqrt(sum);
}

double tfm_clip_global_norm(const float *x, size_t n) {
    double partial[CLIP_CHUNKS];
    #pragma omp parallel for schedule(static) if (n >= CLIP_PARALLEL_MIN)
    for (int chunk = 0; chunk < CLIP_CHUNKS; chunk++) {
        size_t start = n / CLIP_CHUNKS * chunk + (n % CLIP_CHUNKS < (size_t)chunk ? n % CLIP_CHUNKS : (size_t)chunk);
        size_t size = n / CLIP_CHUNKS + ((size_t)chunk < n % CLIP_CHUNKS);
        const float *p = x + start;
        double sum = 0.0;
        #pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < size; i++) sum += (double)p[i] * p[i];
        partial[chunk] = sum;
    }
    double total = 0.0;
    for (int chunk = 0; chunk < CLIP_CHUNKS; chunk++) total += partial[chunk];
    return sqrt(total);
}

float tfm_clip_coefficient(double norm, float max_norm) {
    float coefficient = max_norm / ((float)norm + 1e-6f);
    return coefficient < 1.0f ? coefficient : 1.0f; /* NaN -> 1 (no scaling) */
}

void tfm_clip_scale(float *x, size_t n, double norm, float max_norm) {
    float coefficient = tfm_clip_coefficient(norm, max_norm);
    if (!isfinite(norm) || !(coefficient < 1.0f)) return;
    #pragma omp parallel for simd schedule(static) if (n >= CLIP_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= coefficient;
}

double tfm_clip_grad_norm(float *x, size_t n, float max_norm) {
    double norm = tfm_clip_global_norm(x, n);
    tfm_clip_scale(x, n, norm, max_norm);
    return norm;
}

int tfm_clip_has_nonfinite_reference(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 1;
    return 0;
}

int tfm_clip_has_nonfinite(const float *x, size_t n) {
    int found = 0;
    /* All-ones exponent bits mean inf or NaN; an integer OR-reduction is order-free. */
    #pragma omp parallel for simd schedule(static) reduction(| : found) if (n >= CLIP_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        found |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return found;
}
