/* ops/activation.c: GELU (tanh approximation and exact erf) and ReLU, forward and accumulating backward. */
#include "ops/activation.h"

#include <math.h>

#include "ops/parallel.h"
#include "tfm/config.h"

/* Below this many elements the OpenMP fork/join costs more than the work. */
#define ACTIVATION_PARALLEL_MIN 32768

static const float GELU_K = 0.7978845608028654f; /* sqrt(2 / pi) */
static const float GELU_A = 0.044715f;
static const float INV_SQRT2 = 0.7071067811865476f;
static const float INV_SQRT_2PI = 0.3989422804014327f;

/* ---------------- GELU (tanh) ---------------- */

void tfm_gelu_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

static void gelu_forward_range(float *restrict out, const float *restrict inp, size_t begin, size_t end) {
    /* 0.5 (1 + tanh u) == sigmoid(2u) == 1 / (1 + exp(-2u)) */
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        out[i] = x / (1.0f + tfm_exp_fast(-2.0f * u));
    }
}

void tfm_gelu_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, gelu_forward_range(out, inp, begin, end));
}

void tfm_gelu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float t = tanhf(u);
        float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        dinp[i] += grad * dout[i];
    }
}

void tfm_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    /* With s = sigmoid(2u): 0.5 (1 + t) = s and 0.5 x (1 - t^2) = 2 x s (1 - s). */
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float s = 1.0f / (1.0f + tfm_exp_fast(-2.0f * u));
        /* s (1 - s) underflows long before |x| = 20; clamping keeps x^2 finite so that huge |x|
         * gives 0 * finite rather than 0 * inf = NaN. */
        float xc = x > 20.0f ? 20.0f : (x < -20.0f ? -20.0f : x);
        float du = GELU_K * (1.0f + 3.0f * GELU_A * xc * xc);
        float grad = s + 2.0f * xc * s * (1.0f - s) * du;
        dinp[i] += grad * dout[i];
    }
}

/* ---------------- GELU (erf) ---------------- */

void tfm_gelu_erf_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    }
}

/* 1 + erf(z), branch-free so that loops vectorise (libm's erff does not). Abramowitz & Stegun
 * 7.1.26 on |z|: erfc(|z|) ~ t (a1 + t (a2 + ... + t a5)) exp(-z^2), t = 1 / (1 + p |z|), absolute
 * error <= 1.5e-7. For z < 0 this is erfc(|z|) itself, so 1 + erf never cancels. */
static inline float one_plus_erf_fast(float z) {
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float erfc_abs = poly * tfm_exp_fast(-(a * a));
    return z >= 0.0f ? 2.0f - erfc_abs : erfc_abs;
}

static void gelu_erf_forward_range(float *restrict out, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * one_plus_erf_fast(x * INV_SQRT2);
    }
}

void tfm_gelu_erf_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, gelu_erf_forward_range(out, inp, begin, end));
}

void tfm_gelu_erf_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float grad = 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] += grad * dout[i];
    }
}

void tfm_gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float grad = 0.5f * one_plus_erf_fast(x * INV_SQRT2) + x * INV_SQRT_2PI * tfm_exp_fast(-0.5f * x * x);
        dinp[i] += grad * dout[i];
    }
}

/* ---------------- ReLU ---------------- */

void tfm_relu_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] <= 0.0f ? 0.0f : inp[i]; /* NaN stays NaN (as torch.relu) */
}

static void relu_forward_range(float *restrict out, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = inp[i] <= 0.0f ? 0.0f : inp[i]; /* NaN stays NaN (as torch.relu) */
}

void tfm_relu_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, relu_forward_range(out, inp, begin, end));
}

void tfm_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(inp[i] <= 0.0f)) dinp[i] += dout[i];
}

void tfm_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] <= 0.0f ? 0.0f : dout[i];
}

/* 0.0f + d, not d: the sum into a zeroed buffer turns -0 into +0, and these must match it bit for bit. */
void tfm_relu_backward_in_place_reference(float *grad, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) grad[i] = out[i] <= 0.0f ? 0.0f : 0.0f + grad[i];
}

void tfm_relu_backward_in_place(float *grad, const float *out, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) grad[i] = out[i] <= 0.0f ? 0.0f : 0.0f + grad[i];
}

/* ---------------- tanh ---------------- */

void tfm_tanh_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)tanh((double)inp[i]);
}

/* 1 - 2 / (e^(2x) + 1) with the vectorised exp: within ~1e-7 absolute of tanh, exactly +-1 far out, NaN kept. */
static inline float tanh_fast(float x) { return 1.0f - 2.0f / (tfm_exp_fast(2.0f * x) + 1.0f); }

void tfm_tanh_forward(float *out, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = tanh_fast(inp[i]);
}

void tfm_tanh_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double t = tanh((double)inp[i]);
        dinp[i] += (float)((double)dout[i] * (1.0 - t * t));
    }
}

void tfm_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float t = tanh_fast(inp[i]);
        dinp[i] += dout[i] * (1.0f - t * t);
    }
}

/* ---------------- dispatch ---------------- */

void tfm_activation_forward(int kind, float *out, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_forward(out, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_forward(out, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_forward(out, inp, n); break;
    default: tfm_gelu_forward(out, inp, n); break;
    }
}

void tfm_activation_backward(int kind, float *dinp, const float *dout, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_backward(dinp, dout, inp, n); break;
    default: tfm_gelu_backward(dinp, dout, inp, n); break;
    }
}
