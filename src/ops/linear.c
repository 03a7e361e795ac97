/* ops/linear.c: nn.Linear forward/backward and strided batched matmul, as plain loops and as GEMM calls (ops/gemm.h). */
#include "ops/linear.h"

#include <cblas.h>

#include "ops/gemm.h"

#define LINEAR_PARALLEL_MIN (1 << 14) /* N * OC below this fills the bias on the calling thread */

/* ---------------------------------------------------------------- reference (plain loops) */

void tfm_linear_forward_reference(float *out, const float *inp, const float *weight, const float *bias,
                                  int N, int C, int OC) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;   /* [C] */
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C; /* [C] */
            double sum = bias ? bias[o] : 0.0;  /* double: the reference should be the accurate one */
            for (int i = 0; i < C; i++) sum += (double)x[i] * w[i];
            out[(size_t)n * OC + o] = (float)sum;
        }
    }
}

void tfm_linear_backward_reference(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, int N, int C, int OC) {
    if (dinp) {
        /* dinp[n,i] += sum_o dout[n,o] * weight[o,i] */
        for (int n = 0; n < N; n++)
            for (int i = 0; i < C; i++) {
                double sum = 0.0;
                for (int o = 0; o < OC; o++) sum += (double)dout[(size_t)n * OC + o] * weight[(size_t)o * C + i];
                dinp[(size_t)n * C + i] += (float)sum;
            }
    }
    if (dweight) {
        /* dweight[o,i] += sum_n dout[n,o] * inp[n,i] */
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < C; i++) {
                double sum = 0.0;
                for (int n = 0; n < N; n++) sum += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * C + i];
                dweight[(size_t)o * C + i] += (float)sum;
            }
    }
    if (dbias) {
        for (int o = 0; o < OC; o++) {
            double sum = 0.0;
            for (int n = 0; n < N; n++) sum += dout[(size_t)n * OC + o];
            dbias[o] += (float)sum;
        }
    }
}

void tfm_matmul_reference(float *c, const float *a, const float *b, int M, int N, int K,
                          int transpose_a, int transpose_b, int lda, int ldb, int ldc, float alpha, float beta,
                          int batch, size_t a_batch_stride, size_t b_batch_stride, size_t c_batch_stride) {
    for (int p = 0; p < batch; p++) {
        const float *ap = a + (size_t)p * a_batch_stride;
        const float *bp = b + (size_t)p * b_batch_stride;
        float *cp = c + (size_t)p * c_batch_stride;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0.0;
                for (int k = 0; k < K; k++) {
                    float av = transpose_a ? ap[(size_t)k * lda + i] : ap[(size_t)i * lda + k];
                    float bv = transpose_b ? bp[(size_t)j * ldb + k] : bp[(size_t)k * ldb + j];
                    sum += (double)av * bv;
                }
                float *cv = &cp[(size_t)i * ldc + j];
                /* beta == 0 must not read c: it may be uninitialised (BLAS semantics). */
                *cv = (float)(alpha * sum + (beta == 0.0f ? 0.0 : (double)beta * *cv));
            }
    }
}

/* ---------------------------------------------------------------- fast (OpenBLAS + OpenMP) */

void tfm_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    float beta = 0.0f;
    if (bias && N == 1) { /* a decode step: no parallel region for one row */
        for (int o = 0; o < OC; o++) out[o] = bias[o];
        beta = 1.0f;
    } else if (bias) {
        /* Pre-fill with the bias and let the GEMM accumulate on top: one pass over out instead of two. */
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= LINEAR_PARALLEL_MIN)
        for (int n = 0; n < N; n++) {
            float *row = out + (size_t)n * OC; /* [OC] */
            for (int o = 0; o < OC; o++) row[o] = bias[o];
        }
        beta = 1.0f;
    }
    if (C <= 0) {
        if (!bias)
            for (size_t i = 0; i < (size_t)N * OC; i++) out[i] = 0.0f;
        return;
    }
    /* One row (a decode step): a matrix-vector product reads the weights in place, where GEMM would
     * first pack (copy) all of them for a single row. out[OC] (+)= weight[OC,C] · inp[C] */
    if (N == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OC, C, 1.0f, weight, C, inp, 1, beta, out, 1);
        return;
    }
    /* out[N,OC] (+)= inp[N,C] · weight[OC,C]ᵀ */
    tfm_gemm(0, 1, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void tfm_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (C > 0) {
        /* dinp[N,C] += dout[N,OC] · weight[OC,C] */
        if (dinp) tfm_gemm(0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
        /* dweight[OC,C] += dout[N,OC]ᵀ · inp[N,C] */
        if (dweight) tfm_gemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    }
    if (dbias) {
        /* Column sums of dout[N,OC]. Each thread owns a block of 64 columns and walks all rows in
         * order, so the sum order (and the result) is the same for any thread count. */
        enum { BLOCK = 64 };
        int blocks = (OC + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            int o0 = blk * BLOCK, o1 = o0 + BLOCK < OC ? o0 + BLOCK : OC;
            float sum[BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *row = dout + (size_t)n * OC;
                for (int o = o0; o < o1; o++) sum[o - o0] += row[o];
            }
            for (int o = o0; o < o1; o++) dbias[o] += sum[o - o0];
        }
    }
}

void tfm_matmul(float *c, const float *a, const float *b, int M, int N, int K,
                int transpose_a, int transpose_b, int lda, int ldb, int ldc, float alpha, float beta,
                int batch, size_t a_batch_stride, size_t b_batch_stride, size_t c_batch_stride) {
    if (batch <= 0 || M <= 0 || N <= 0) return;
    enum CBLAS_TRANSPOSE ta = transpose_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = transpose_b ? CblasTrans : CblasNoTrans;
    if (K <= 0) {
        /* Nothing to multiply: c = beta · c (BLAS would do the same, but some builds reject K = 0). */
        for (int p = 0; p < batch; p++)
            for (int i = 0; i < M; i++) {
                float *row = c + (size_t)p * c_batch_stride + (size_t)i * ldc;
                for (int j = 0; j < N; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
            }
        return;
    }
    /* Small items (below ~2 MFLOP each) gain little from a multi-threaded GEMM: give each thread
     * whole items instead. Inside a parallel region the OpenMP build of OpenBLAS runs single-threaded. */
    double flops = 2.0 * M * N * K;
    if (batch > 1 && flops < 2e6) {
#pragma omp parallel for schedule(static)
        for (int p = 0; p < batch; p++)
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a + (size_t)p * a_batch_stride, lda,
                        b + (size_t)p * b_batch_stride, ldb, beta, c + (size_t)p * c_batch_stride, ldc);
    } else {
        for (int p = 0; p < batch; p++)
            tfm_gemm(transpose_a, transpose_b, M, N, K, alpha, a + (size_t)p * a_batch_stride, lda, b + (size_t)p * b_batch_stride, ldb,
                     beta, c + (size_t)p * c_batch_stride, ldc);
    }
}
