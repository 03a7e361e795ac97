/* ops/gemm.h: tfm's own single-precision GEMM for the training shapes, an AVX-512 kernel where the CPU has one. */
#ifndef TFM_OPS_GEMM_H
#define TFM_OPS_GEMM_H

/* Why: OpenBLAS picks its kernels at run time by CPU model, and the builds Debian ships (0.3.21) do not know
 * AMD's Zen 4/5 as AVX-512 machines: they run the AVX2 (Haswell) kernels, half the width these CPUs compute
 * at. Training spends ~80% of its time in the GEMMs of its linear layers, so a 12x32 AVX-512 kernel of our
 * own (Goto's blocking: B packed in KC x NC blocks, A in MC x KC blocks, a register tile of C) is most of
 * the training speed on such machines. Where the build has no AVX-512 (tfm_gemm_is_fast() is 0) tfm_gemm
 * calls OpenBLAS.
 *
 *   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C[M,N]       (row-major)
 *
 * op(A) is A stored [M,K] with row stride lda, or, with transpose_a, A stored [K,M]; op(B) likewise
 * [K,N] or, with transpose_b, [N,K]. beta = 0 overwrites C without reading it (C may hold NaN).
 * Every C element is summed over k = 0, 1, ..., K-1 in the same order whatever the thread count, so
 * results do not depend on it. The reference is tfm_matmul_reference (ops/linear.h) with batch 1.
 * Any thread may call it: each calling thread packs into buffers of its own (allocated on its first call and
 * kept); a call from inside a parallel region runs on that thread alone. */
int tfm_gemm_is_fast(void);
void tfm_gemm(int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

#endif
