/* ops/activation.h: element-wise activations (GELU, the ReLU family, tanh, sigmoid, SiLU, ELU, SELU), PReLU, and the vectorisable exp the row kernels share. */
#ifndef TFM_OPS_ACTIVATION_H
#define TFM_OPS_ACTIVATION_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tfm/config.h"

/* exp(x) in float, branch-free so that GCC vectorises loops that call it (libm's expf does not
 * vectorise without -ffast-math). Cody-Waite range reduction x = k*ln2 + r, |r| <= ln2/2, then a
 * degree-7 polynomial for exp(r) (Cephes' expf coefficients); within ~2 ulp of expf on
 * [-87.3, 88.7]. Overflow gives +inf; results below 2^-126 (x < -87.3) are flushed to 0 (no
 * denormals); NaN stays NaN. */
static inline float tfm_exp_fast(float x) {
    const float hi = 88.7228391f, lo = -87.3365447504019f; /* ln(FLT_MAX), ln(2^-126) */
    float xc = x < hi ? x : hi; /* NaN -> hi, so the float->int conversion below is always defined */
    xc = xc > lo ? xc : lo;
    /* k = round(x / ln2) via the 1.5*2^23 trick (exact for |k| < 2^22, no libm call). */
    float kf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    /* Scale by 2^k in two halves so that k = 128 or k = -126 never builds an invalid exponent. */
    int32_t k = (int32_t)kf;
    int32_t k1 = k / 2, k2 = k - k1;
    uint32_t b1 = (uint32_t)(k1 + 127) << 23, b2 = (uint32_t)(k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float result = p * s1 * s2;
    result = x < lo ? 0.0f : result;
    result = x > hi ? INFINITY : result;
    return x != x ? x : result;
}

/* ---- GELU, tanh approximation (GPT-2's "gelu_new", PyTorch approximate="tanh") ----
 * out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). The fast version uses the identical
 * x * sigmoid(2u) form, which avoids 1 + tanh cancelling for large negative x. */
void tfm_gelu_forward_reference(float *out, const float *inp, size_t n); /* out[n], inp[n] */
void tfm_gelu_forward(float *out, const float *inp, size_t n);
/* dinp[n] += dout[n] * gelu'(inp[n]); dinp may not alias dout. */
void tfm_gelu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---- GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default nn.GELU, BERT's "gelu") ----
 * The reference calls libm's erff; the fast version uses a vectorisable erf accurate to 1.5e-7. */
void tfm_gelu_erf_forward_reference(float *out, const float *inp, size_t n);
void tfm_gelu_erf_forward(float *out, const float *inp, size_t n);
void tfm_gelu_erf_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---- ReLU: out = max(x, 0); gradient 0 at x == 0 as in PyTorch ---- */
void tfm_relu_forward_reference(float *out, const float *inp, size_t n);
void tfm_relu_forward(float *out, const float *inp, size_t n);
void tfm_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* The backward pass from ReLU's output (out > 0 exactly where inp > 0, so tfm_relu_backward with `out`
 * as `inp` is exact too) with the gradient in one buffer: grad[n] holds d out on entry and d inp on
 * return, bit for bit what tfm_relu_backward accumulates into zeros. */
/* ---- tanh (BERT's pooler); backward recomputes tanh from the input: dinp += dout * (1 - tanh(x)^2) ---- */
void tfm_tanh_forward_reference(float *out, const float *inp, size_t n);
void tfm_tanh_forward(float *out, const float *inp, size_t n);
void tfm_tanh_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n);

void tfm_relu_backward_in_place_reference(float *grad, const float *out, size_t n);
void tfm_relu_backward_in_place(float *grad, const float *out, size_t n);

/* ---- sigmoid 1 / (1 + e^-x) and SiLU / Swish x sigmoid(x); the references compute in double ---- */
void tfm_sigmoid_forward_reference(float *out, const float *inp, size_t n);
void tfm_sigmoid_forward(float *out, const float *inp, size_t n);
void tfm_sigmoid_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_sigmoid_backward(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_silu_forward_reference(float *out, const float *inp, size_t n);
void tfm_silu_forward(float *out, const float *inp, size_t n);
void tfm_silu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---- LeakyReLU: x > 0 ? x : slope x.  ThresholdedReLU (Keras; torch.threshold(x, theta, 0)): x <= theta ? 0 : x ---- */
void tfm_leaky_relu_forward_reference(float *out, const float *inp, size_t n, float slope);
void tfm_leaky_relu_forward(float *out, const float *inp, size_t n, float slope);
void tfm_leaky_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float slope);
void tfm_leaky_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope);
void tfm_thresholded_relu_forward_reference(float *out, const float *inp, size_t n, float theta);
void tfm_thresholded_relu_forward(float *out, const float *inp, size_t n, float theta);
void tfm_thresholded_relu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float theta);
void tfm_thresholded_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float theta);

/* ---- ELU: x > 0 ? x : alpha (e^x - 1).  SELU: scale * ELU with alpha 1.6732632, scale 1.0507010 (Klambauer et al.) ----
 * The gradient at 0 is the negative side's (alpha, scale * alpha), as torch's. */
void tfm_elu_forward_reference(float *out, const float *inp, size_t n, float alpha);
void tfm_elu_forward(float *out, const float *inp, size_t n, float alpha);
void tfm_elu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n, float alpha);
void tfm_elu_backward(float *dinp, const float *dout, const float *inp, size_t n, float alpha);
void tfm_selu_forward_reference(float *out, const float *inp, size_t n);
void tfm_selu_forward(float *out, const float *inp, size_t n);
void tfm_selu_backward_reference(float *dinp, const float *dout, const float *inp, size_t n);
void tfm_selu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---- PReLU (He et al. 2015): LeakyReLU whose slope is learned, one per channel (the last dimension) or one
 * for all (channels == 1). inp/out [rows, C], weight [channels]; dinp and dweight accumulate and may be NULL. ---- */
void tfm_prelu_forward_reference(float *out, const float *inp, const float *weight, size_t rows, int C, int channels);
void tfm_prelu_forward(float *out, const float *inp, const float *weight, size_t rows, int C, int channels);
void tfm_prelu_backward_reference(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, size_t rows,
                                  int C, int channels);
void tfm_prelu_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, size_t rows, int C,
                        int channels);

/* Dispatch on tfm/config.h's TFM_ACTIVATION_*. `parameter` is LeakyReLU's slope, ELU's alpha or ThresholdedReLU's
 * theta (ignored by the others); tfm_activation_default_parameter gives torch's (Keras' for theta). Forward may run
 * in place (out == inp). */
float tfm_activation_default_parameter(int kind);
void tfm_activation_forward(int kind, float parameter, float *out, const float *inp, size_t n);
void tfm_activation_backward(int kind, float parameter, float *dinp, const float *dout, const float *inp, size_t n);
void tfm_activation_forward_reference(int kind, float parameter, float *out, const float *inp, size_t n);
void tfm_activation_backward_reference(int kind, float parameter, float *dinp, const float *dout, const float *inp, size_t n);

#endif
