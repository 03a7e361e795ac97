/* ops/linear_packed.h: inference linear layers on weights packed once into 16-column panels, so no call re-packs them. */
#ifndef TFM_OPS_LINEAR_PACKED_H
#define TFM_OPS_LINEAR_PACKED_H

#include <stddef.h>

/* Why: a GEMM library copies ("packs") the weight into its kernel's panel layout on every call. In a
 * decode step the weight is large ([8000, 256] for the output projection) and the rows are few (one per
 * sentence or beam), so that copy costs about a sixth of the step, and small GEMMs lose more to it.
 * A model loaded for inference packs each linear weight once, in place; out = inp · weightᵀ + bias then
 * runs a register-blocked kernel (AVX-512: 8 rows x 2 panels; AVX2: 6 rows x 16 outputs) straight over the packed panels.
 *
 * Layout: weight [OC, C] (torch.nn.Linear) becomes [OC / 16 panels][C][16]: panel p holds outputs
 * 16p .. 16p+15, and for each input feature c their 16 weights side by side:
 *   packed[(p * C + c) * 16 + j] = weight[(16p + j) * C + c]
 * Same size as the weight, so packing works in place; OC must be a multiple of 16. A block of whole
 * rows [r0, r1) of the weight, with r0 and r1 multiples of 16, stays a contiguous packed block
 * (offset r0 * C), so row views such as a fused projection's query part remain valid. */
#define TFM_LINEAR_PACK_WIDTH 16

/* 1 when this build has an AVX-512 or AVX2+FMA kernel. The portable one (any other CPU) is correct but slower than
 * OpenBLAS, which picks its kernels at run time: models pack their weights only when this says 1. */
int tfm_linear_packed_is_fast(void);
/* 1 when weight [out_features, in_features] can be packed (out_features a positive multiple of 16). */
int tfm_linear_packable(int out_features, int in_features);
/* packed[OC*C] from weight[OC,C]; packed and weight must not overlap. */
void tfm_linear_pack(float *packed, const float *weight, int OC, int C);
/* weight[OC,C] from packed[OC*C]. */
void tfm_linear_unpack(float *weight, const float *packed, int OC, int C);

/* out[N,OC] = inp[N,C] · weightᵀ + bias[OC] with the weight packed; bias may be NULL. out is
 * overwritten. Every output is computed the same way, acc = bias then acc = inp[c] * weight[c] + acc (fused where the CPU has FMA)
 * for c = 0, 1, ..., so the fast version equals the reference bit for bit, whatever the thread count
 * and whichever other rows share the call. */
void tfm_linear_packed_forward_reference(float *out, const float *inp, const float *packed, const float *bias, int N, int C, int OC);
void tfm_linear_packed_forward(float *out, const float *inp, const float *packed, const float *bias, int N, int C, int OC);

#endif
