/* ops/linear.h: fully connected layer (PyTorch nn.Linear weight layout) and a strided matrix-multiply helper. */
#ifndef TFM_OPS_LINEAR_H
#define TFM_OPS_LINEAR_H

#include <stddef.h>

/* Every op comes as `_reference` (plain loops, the ground truth the tests use) and a fast version
 * (tfm_gemm of ops/gemm.h, which is tfm's AVX-512 GEMM or OpenBLAS, + OpenMP). None of them allocates
 * (tfm_gemm's packing buffers are allocated once per thread). Results of the fast versions do not depend
 * on the thread count (both GEMMs split the work by output blocks, never along the reduction).
 *
 * Shapes: N rows (e.g. B*T tokens), C input features, OC output features.
 * weight is [OC, C] like torch.nn.Linear, so out = inp · weightᵀ + bias. */

/* out[N,OC] = inp[N,C] · weight[OC,C]ᵀ + bias[OC]; bias may be NULL. out is overwritten. */
void tfm_linear_forward_reference(float *out, const float *inp, const float *weight, const float *bias,
                                  int N, int C, int OC);
void tfm_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int N, int C, int OC);

/* Gradients of the forward above, ACCUMULATED (+=) into dinp[N,C], dweight[OC,C], dbias[OC];
 * any of the three may be NULL to skip it. dout is [N,OC]. */
void tfm_linear_backward_reference(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, int N, int C, int OC);
void tfm_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int N, int C, int OC);

/* General row-major matrix multiply, batched with strides:
 *   for b in [0, batch): c_b = alpha · op(a_b) · op(b_b) + beta · c_b
 * where x_b = x + b * x_batch_stride, op(a_b) is [M,K] (a_b stored [M,K] with row stride lda, or
 * [K,M] when transpose_a), op(b_b) is [K,N] (stored [K,N] with row stride ldb, or [N,K] when
 * transpose_b), and c_b is [M,N] with row stride ldc. beta = 0 overwrites c (even if it held NaN).
 * The fast version runs one GEMM per batch item with all threads when the items are large, and
 * spreads the items over threads (one single-threaded GEMM each) when they are small. */
void tfm_matmul_reference(float *c, const float *a, const float *b, int M, int N, int K,
                          int transpose_a, int transpose_b, int lda, int ldb, int ldc, float alpha, float beta,
                          int batch, size_t a_batch_stride, size_t b_batch_stride, size_t c_batch_stride);
void tfm_matmul(float *c, const float *a, const float *b, int M, int N, int K,
                int transpose_a, int transpose_b, int lda, int ldb, int ldc, float alpha, float beta,
                int batch, size_t a_batch_stride, size_t b_batch_stride, size_t c_batch_stride);

#endif
