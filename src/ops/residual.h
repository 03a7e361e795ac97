/* ops/residual.h: element-wise add (residual connections) and the small vector helpers around it. */
#ifndef TFM_OPS_RESIDUAL_H
#define TFM_OPS_RESIDUAL_H

#include <stddef.h>

/* out[n] = a[n] + b[n]; out may alias a or b. */
void tfm_residual_forward_reference(float *out, const float *a, const float *b, size_t n);
void tfm_residual_forward(float *out, const float *a, const float *b, size_t n);
/* da[n] += dout[n], db[n] += dout[n]; either may be NULL (skipped). */
void tfm_residual_backward_reference(float *da, float *db, const float *dout, size_t n);
void tfm_residual_backward(float *da, float *db, const float *dout, size_t n);

/* dst[n] += alpha * src[n] (gradient accumulation, scaled adds). */
void tfm_residual_add_scaled(float *dst, const float *src, float alpha, size_t n);
/* dst[n] *= alpha. */
void tfm_residual_scale(float *dst, float alpha, size_t n);
/* dst[n] = src[n] (parallel for large n); dst and src must not overlap unless dst == src. */
void tfm_residual_copy(float *dst, const float *src, size_t n);

#endif
