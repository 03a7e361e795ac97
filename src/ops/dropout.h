/* ops/dropout.h: inverted dropout whose mask is recomputed from a counter-based generator (never stored). */
#ifndef TFM_OPS_DROPOUT_H
#define TFM_OPS_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

/* Element i is kept iff tfm_random_uniform_at(seed, offset + i) >= p; kept elements are scaled by
 * 1 / (1 - p). p <= 0 is an exact copy; p >= 1 zeroes everything. out[n] may alias inp[n].
 * `offset` is the first counter of a range the caller reserved (tfm_rng_reserve(rng, n)). */
void tfm_dropout_forward_reference(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset);
void tfm_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset);

/* dinp[n] += dout[n] * mask[i] / (1 - p), with the same (seed, offset) as the forward. */
void tfm_dropout_backward_reference(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset);
void tfm_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset);

/* out[n] = a[n] + dropout(b)[n]: a residual connection around a dropped-out branch without storing
 * dropout(b); the bits of tfm_dropout_forward then tfm_residual_forward. out may alias a or b. Its
 * backward is da += dout (tfm_residual_add_scaled) and tfm_dropout_backward for db. */
void tfm_dropout_add_forward_reference(float *out, const float *a, const float *b, size_t n, float p, uint64_t seed, uint64_t offset);
void tfm_dropout_add_forward(float *out, const float *a, const float *b, size_t n, float p, uint64_t seed, uint64_t offset);

#endif
