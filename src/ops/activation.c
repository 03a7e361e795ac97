/* ops/activation.c: the element-wise activations (GELU, ReLU family, tanh, sigmoid, SiLU, ELU, SELU) and PReLU, forward and accumulating backward. */
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

/* The references compute in double: in float, 1 + tanh(u) and 1 - tanh(u)^2 cancel in the tails. */
void tfm_gelu_forward_reference(float *out, const float *inp, size_t n) {
    const double k = 0.7978845608028654, a = 0.044715;
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], u = k * (x + a * x * x * x);
        out[i] = (float)(0.5 * x * (1.0 + tanh(u)));
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
    const double k = 0.7978845608028654, a = 0.044715;
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], u = k * (x + a * x * x * x), t = tanh(u);
        double du = k * (1.0 + 3.0 * a * x * x);
        double grad = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
        dinp[i] += (float)(grad * dout[i]);
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

/* 1 - tanh(x)^2 = sech(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation where tanh is near +-1. */
void tfm_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= ACTIVATION_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float e = tfm_exp_fast(-2.0f * fabsf(inp[i])), d = 1.0f + e;
        dinp[i] += dout[i] * (4.0f * e / (d * d));
    }
}

/* ---------------- sigmoid and SiLU (Swish) ---------------- */

void tfm_sigmoid_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(1.0 / (1.0 + exp(-(double)inp[i])));
}

static inline float sigmoid_fast(float x) { return 1.0f / (1.0f + tfm_exp_fast(-x)); }

static void sigmoid_forward_range(float *restrict out, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = sigmoid_fast(inp[i]);
}

void tfm_sigmoid_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, sigmoid_forward_range(out, inp, begin, end));
}

void tfm_sigmoid_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double s = 1.0 / (1.0 + exp(-(double)inp[i]));
        dinp[i] += (float)((double)dout[i] * s * (1.0 - s));
    }
}

static void sigmoid_backward_range(float *restrict dinp, const float *restrict dout, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float s = sigmoid_fast(inp[i]);
        dinp[i] += dout[i] * s * (1.0f - s);
    }
}

void tfm_sigmoid_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, sigmoid_backward_range(dinp, dout, inp, begin, end));
}

void tfm_silu_forward_reference(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)((double)inp[i] / (1.0 + exp(-(double)inp[i])));
}

static void silu_forward_range(float *restrict out, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = inp[i] * sigmoid_fast(inp[i]);
}

void tfm_silu_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, silu_forward_range(out, inp, begin, end));
}

/* d/dx x s(x) = s (1 + x (1 - s)) */
void tfm_silu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], s = 1.0 / (1.0 + exp(-x));
        dinp[i] += (float)((double)dout[i] * s * (1.0 + x * (1.0 - s)));
    }
}

static void silu_backward_range(float *restrict dinp, const float *restrict dout, const float *restrict inp, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float x = inp[i], s = sigmoid_fast(x);
        /* s underflows to 0 below x = -88, where x (1 - s) is still finite: 0, not NaN */
        dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

void tfm_silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, silu_backward_range(dinp, dout, inp, begin, end));
}

/* ---------------- LeakyReLU, ThresholdedReLU ---------------- */

void tfm_leaky_relu_forward_reference(float *out, const float *inp, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : inp[i] * slope;
}

static void leaky_relu_forward_range(float *restrict out, const float *restrict inp, float slope, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = inp[i] > 0.0f ? inp[i] : inp[i] * slope;
}

void tfm_leaky_relu_forward(float *out, const float *inp, size_t n, float slope) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, leaky_relu_forward_range(out, inp, slope, begin, end));
}

void tfm_leaky_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : dout[i] * slope;
}

static void leaky_relu_backward_range(float *restrict dinp, const float *restrict dout, const float *restrict inp, float slope,
                                      size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : dout[i] * slope;
}

void tfm_leaky_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, leaky_relu_backward_range(dinp, dout, inp, slope, begin, end));
}

/* x <= theta ? 0 : x, the comparison torch.threshold makes (so NaN stays NaN) */
void tfm_thresholded_relu_forward_reference(float *out, const float *inp, size_t n, float theta) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] <= theta ? 0.0f : inp[i];
}

static void thresholded_relu_forward_range(float *restrict out, const float *restrict inp, float theta, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) out[i] = inp[i] <= theta ? 0.0f : inp[i];
}

void tfm_thresholded_relu_forward(float *out, const float *inp, size_t n, float theta) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, thresholded_relu_forward_range(out, inp, theta, begin, end));
}

void tfm_thresholded_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float theta) {
    for (size_t i = 0; i < n; i++)
        if (!(inp[i] <= theta)) dinp[i] += dout[i];
}

static void thresholded_relu_backward_range(float *restrict dinp, const float *restrict dout, const float *restrict inp, float theta,
                                            size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) dinp[i] += inp[i] <= theta ? 0.0f : dout[i];
}

void tfm_thresholded_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float theta) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, thresholded_relu_backward_range(dinp, dout, inp, theta, begin, end));
}

/* ---------------- ELU and SELU ---------------- */

/* SELU's constants (Klambauer et al. 2017), as torch spells them */
static const float SELU_ALPHA = 1.6732632423543772848170429916717f;
static const float SELU_SCALE = 1.0507009873554804934193349852946f;

/* e^x - 1 without the cancellation of exp(x) - 1 near 0: Taylor to x^8 for |x| < 1/2 (error < 1.4e-8 relative),
 * the vectorised exp elsewhere. Branch-free, so loops vectorise. */
static inline float expm1_fast(float x) {
    float p = 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    p = p * x * x + x;
    float e = tfm_exp_fast(x) - 1.0f;
    return fabsf(x) < 0.5f ? p : e;
}

/* scale * (x > 0 ? x : alpha (e^x - 1)): ELU is scale 1; SELU its fixed alpha and scale */
static void elu_forward_reference(float *out, const float *inp, size_t n, float alpha, float scale) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? scale * inp[i] : (float)((double)scale * alpha * expm1((double)inp[i]));
}

static void elu_forward_range(float *restrict out, const float *restrict inp, float alpha, float scale, size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float x = inp[i], negative = x < 0.0f ? x : 0.0f; /* the exp only ever sees x <= 0 */
        out[i] = x > 0.0f ? scale * x : scale * alpha * expm1_fast(negative) + (x != x ? x : 0.0f);
    }
}

/* d/dx: scale for x > 0, scale alpha e^x at and below 0 (torch's choice at the kink) */
static void elu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float alpha, float scale) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] * scale : (float)((double)dout[i] * scale * alpha * exp((double)inp[i]));
}

static void elu_backward_range(float *restrict dinp, const float *restrict dout, const float *restrict inp, float alpha, float scale,
                               size_t begin, size_t end) {
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float x = inp[i], negative = x < 0.0f ? x : 0.0f;
        dinp[i] += x > 0.0f ? dout[i] * scale : dout[i] * (scale * alpha * tfm_exp_fast(negative));
    }
}

void tfm_elu_forward_reference(float *out, const float *inp, size_t n, float alpha) { elu_forward_reference(out, inp, n, alpha, 1.0f); }
void tfm_elu_forward(float *out, const float *inp, size_t n, float alpha) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, elu_forward_range(out, inp, alpha, 1.0f, begin, end));
}
void tfm_elu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float alpha) {
    elu_backward_reference(dinp, dout, inp, n, alpha, 1.0f);
}
void tfm_elu_backward(float *dinp, const float *dout, const float *inp, size_t n, float alpha) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, elu_backward_range(dinp, dout, inp, alpha, 1.0f, begin, end));
}
void tfm_selu_forward_reference(float *out, const float *inp, size_t n) { elu_forward_reference(out, inp, n, SELU_ALPHA, SELU_SCALE); }
void tfm_selu_forward(float *out, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, elu_forward_range(out, inp, SELU_ALPHA, SELU_SCALE, begin, end));
}
void tfm_selu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n) {
    elu_backward_reference(dinp, dout, inp, n, SELU_ALPHA, SELU_SCALE);
}
void tfm_selu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    TFM_PARALLEL_RANGES(n, ACTIVATION_PARALLEL_MIN, elu_backward_range(dinp, dout, inp, SELU_ALPHA, SELU_SCALE, begin, end));
}

/* ---------------- PReLU: LeakyReLU with a learned slope per channel ---------------- */

/* inp [rows, C]; weight [C] or [1] (channels 1: one slope for all) */
void tfm_prelu_forward_reference(float *out, const float *inp, const float *weight, size_t rows, int C, int channels) {
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            float x = inp[r * (size_t)C + c], w = weight[channels == 1 ? 0 : c];
            out[r * (size_t)C + c] = x > 0.0f ? x : w * x;
        }
}

void tfm_prelu_forward(float *out, const float *inp, const float *weight, size_t rows, int C, int channels) {
    #pragma omp parallel for schedule(static) if (rows * (size_t)C >= ACTIVATION_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict x = inp + r * (size_t)C;
        float *restrict y = out + r * (size_t)C;
        if (channels == 1) {
            float w = weight[0];
            #pragma omp simd
            for (int c = 0; c < C; c++) y[c] = x[c] > 0.0f ? x[c] : w * x[c];
        } else {
            #pragma omp simd
            for (int c = 0; c < C; c++) y[c] = x[c] > 0.0f ? x[c] : weight[c] * x[c];
        }
    }
}

/* dinp += dout * (x > 0 ? 1 : w); dweight[c] += sum over rows of dout * x where x <= 0 (either may be NULL).
 * The reference sums dweight in double, row by row. */
void tfm_prelu_backward_reference(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, size_t rows,
                                  int C, int channels) {
    double total = 0.0;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (size_t r = 0; r < rows; r++) {
            size_t i = r * (size_t)C + c;
            float x = inp[i], w = weight[channels == 1 ? 0 : c];
            if (dinp) dinp[i] += x > 0.0f ? dout[i] : dout[i] * w;
            if (!(x > 0.0f)) sum += (double)dout[i] * x;
        }
        if (dweight && channels != 1) dweight[c] += (float)sum;
        total += sum;
    }
    if (dweight && channels == 1) dweight[0] += (float)total;
}

/* One slope: dinp row-parallel, then dweight in one pass in row order (so its sum does not depend on the
 * thread count). Per channel: each thread owns whole columns of dweight. */
void tfm_prelu_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, size_t rows, int C,
                        int channels) {
    if (channels == 1) {
        float w = weight[0];
        if (dinp) tfm_leaky_relu_backward(dinp, dout, inp, rows * (size_t)C, w);
        if (!dweight) return;
        double total = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const float *x = inp + r * (size_t)C, *dy = dout + r * (size_t)C;
            float row = 0.0f;
            #pragma omp simd reduction(+ : row)
            for (int c = 0; c < C; c++) row += x[c] > 0.0f ? 0.0f : dy[c] * x[c];
            total += row;
        }
        dweight[0] += (float)total;
        return;
    }
    #pragma omp parallel for schedule(static) if (rows * (size_t)C >= ACTIVATION_PARALLEL_MIN)
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        float w = weight[c];
        for (size_t r = 0; r < rows; r++) {
            size_t i = r * (size_t)C + c;
            float x = inp[i];
            if (dinp) dinp[i] += x > 0.0f ? dout[i] : dout[i] * w;
            sum += x > 0.0f ? 0.0 : (double)dout[i] * x;
        }
        if (dweight) dweight[c] += (float)sum;
    }
}

/* ---------------- dispatch ---------------- */

float tfm_activation_default_parameter(int kind) {
    switch (kind) {
    case TFM_ACTIVATION_LEAKY_RELU: return 0.01f;      /* torch's negative_slope */
    case TFM_ACTIVATION_ELU: return 1.0f;              /* torch's alpha */
    case TFM_ACTIVATION_THRESHOLDED_RELU: return 1.0f; /* Keras' theta */
    default: return 0.0f;
    }
}

void tfm_activation_forward(int kind, float parameter, float *out, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_forward(out, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_forward(out, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_forward(out, inp, n); break;
    case TFM_ACTIVATION_SIGMOID: tfm_sigmoid_forward(out, inp, n); break;
    case TFM_ACTIVATION_SILU: tfm_silu_forward(out, inp, n); break;
    case TFM_ACTIVATION_LEAKY_RELU: tfm_leaky_relu_forward(out, inp, n, parameter); break;
    case TFM_ACTIVATION_ELU: tfm_elu_forward(out, inp, n, parameter); break;
    case TFM_ACTIVATION_SELU: tfm_selu_forward(out, inp, n); break;
    case TFM_ACTIVATION_THRESHOLDED_RELU: tfm_thresholded_relu_forward(out, inp, n, parameter); break;
    default: tfm_gelu_forward(out, inp, n); break;
    }
}

void tfm_activation_backward(int kind, float parameter, float *dinp, const float *dout, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_SIGMOID: tfm_sigmoid_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_SILU: tfm_silu_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_LEAKY_RELU: tfm_leaky_relu_backward(dinp, dout, inp, n, parameter); break;
    case TFM_ACTIVATION_ELU: tfm_elu_backward(dinp, dout, inp, n, parameter); break;
    case TFM_ACTIVATION_SELU: tfm_selu_backward(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_THRESHOLDED_RELU: tfm_thresholded_relu_backward(dinp, dout, inp, n, parameter); break;
    default: tfm_gelu_backward(dinp, dout, inp, n); break;
    }
}

void tfm_activation_forward_reference(int kind, float parameter, float *out, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_SIGMOID: tfm_sigmoid_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_SILU: tfm_silu_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_LEAKY_RELU: tfm_leaky_relu_forward_reference(out, inp, n, parameter); break;
    case TFM_ACTIVATION_ELU: tfm_elu_forward_reference(out, inp, n, parameter); break;
    case TFM_ACTIVATION_SELU: tfm_selu_forward_reference(out, inp, n); break;
    case TFM_ACTIVATION_THRESHOLDED_RELU: tfm_thresholded_relu_forward_reference(out, inp, n, parameter); break;
    default: tfm_gelu_forward_reference(out, inp, n); break;
    }
}

void tfm_activation_backward_reference(int kind, float parameter, float *dinp, const float *dout, const float *inp, size_t n) {
    switch (kind) {
    case TFM_ACTIVATION_RELU: tfm_relu_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_GELU_ERF: tfm_gelu_erf_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_TANH: tfm_tanh_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_SIGMOID: tfm_sigmoid_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_SILU: tfm_silu_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_LEAKY_RELU: tfm_leaky_relu_backward_reference(dinp, dout, inp, n, parameter); break;
    case TFM_ACTIVATION_ELU: tfm_elu_backward_reference(dinp, dout, inp, n, parameter); break;
    case TFM_ACTIVATION_SELU: tfm_selu_backward_reference(dinp, dout, inp, n); break;
    case TFM_ACTIVATION_THRESHOLDED_RELU: tfm_thresholded_relu_backward_reference(dinp, dout, inp, n, parameter); break;
    default: tfm_gelu_backward_reference(dinp, dout, inp, n); break;
    }
}
