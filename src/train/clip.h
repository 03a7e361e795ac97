/* train/clip.h: deterministic global gradient norm, clipping as torch.nn.utils.clip_grad_norm_, non-finite check. */
#ifndef TFM_TRAIN_CLIP_H
#define TFM_TRAIN_CLIP_H

#include <stddef.h>

/* sqrt(sum x[i]^2) accumulated in double. The fast version splits x[n] into a fixed number of
 * chunks (independent of the thread count), sums each in double and combines the chunk sums in
 * order, so its result is the same at any thread count. Non-finite input gives inf or NaN. */
double tfm_clip_global_norm_reference(const float *x, size_t n);
double tfm_clip_global_norm(const float *x, size_t n);

/* torch's clip coefficient: min(1, max_norm / (norm + 1e-6)), formed in float like PyTorch's. */
float tfm_clip_coefficient(double norm, float max_norm);

/* Clip x[n] given its global norm: x *= tfm_clip_coefficient(norm, max_norm) when that is < 1;
 * a non-finite norm leaves x untouched. */
void tfm_clip_scale(float *x, size_t n, double norm, float max_norm);

/* clip_grad_norm_ on one contiguous array (the gradient slab): computes the global norm, scales
 * x in place when the coefficient is < 1, and returns the norm before clipping. A non-finite norm
 * leaves x untouched: check tfm_clip_has_nonfinite (or the returned norm) first. */
double tfm_clip_grad_norm(float *x, size_t n, float max_norm);

/* 1 if any x[i] is NaN or +-inf, else 0. */
int tfm_clip_has_nonfinite_reference(const float *x, size_t n);
int tfm_clip_has_nonfinite(const float *x, size_t n);

#endif
