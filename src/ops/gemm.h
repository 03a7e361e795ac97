/* ops/gemm.h: tfm's own single-precision GEMM for the training shapes, an AVX-512 kernel where the CPU has one. */
#ifndef TFM_OPS_GEMM_H
#define TFM_OPS_GEMM_H

/* Why: training spends ~80% of its time in the GEMMs of its linear layers, and which kernels OpenBLAS runs is
 * a process-wide choice outside tfm's control: by CPU detection, or by the environment (OPENBLAS_CORETYPE;
 * a machine tfm was measured on once set it to Haswell, holding OpenBLAS and PyTorch to AVX2 kernels at about
 * half their AVX-512 speed). This GEMM of our own (Goto's blocking: B packed in KC x NC blocks, A in MC x KC
 * blocks, a 12 x 32 register tile of C) does not depend on that, reads A in place when N is small, and sums
 * every output in a fixed order. Measured on the 2-core AMD Zen 5 machine with OPENBLAS_CORETYPE unset
 * (bench/sgemm_peak, 2 threads): tfm_gemm 333 GFLOPS, OpenBLAS's AVX-512 sgemm 416. Where the build has no
 * AVX-512 (tfm_gemm_is_fast() is 0) tfm_gemm calls OpenBLAS.
 *
 *   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C[M,N]       (row-major)
 *
 * op(A) is A stored [M,K] with row stride lda, or, with transpose_a, A stored [K,M]; op(B) likewise
 * [K,N] or, with transpose_b, [N,K]. beta = 0 overwrites C without reading it (C may hold NaN).
 * Every C element is summed over k = 0, 1, ..., K-1 in the same order whatever the thread count, so
 * results do not depend on it. The reference is tfm_matmul_reference (ops/linear.h) with batch 1.
 * Any thread may call it: each calling thread packs into buffers of its own (~4.5 MB, allocated on its first
 * call, kept until the thread exits); a call from inside a parallel region runs on that thread alone. */
int tfm_gemm_is_fast(void);
void tfm_gemm(int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

#endif
