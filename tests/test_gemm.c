/* tests/test_gemm.c: tfm_gemm against the plain-loop matmul reference (transposes, edges, alpha/beta, K blocks), thread-count determinism, speed vs OpenBLAS. */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "tfm/base.h"
#include "ops/gemm.h"
#include "ops/linear.h"
#include "test_util.h"
#include "tfm/base.h"
#include "tfm/random.h"

/* op(A) [M,K], op(B) [K,N] stored with padded row strides, C [M,N] with stride N + 3 and garbage in the padding,
 * which must survive. Compared with tfm_matmul_reference relative to sqrt(K) (the size of a sum of K products
 * of numbers in [-1, 1]); then the same call on 1 and 2 threads must agree bit for bit. */
static void test_shape(int M, int N, int K, int transpose_a, int transpose_b, float alpha, float beta) {
    int lda = (transpose_a ? M : K) + 1, ldb = (transpose_b ? K : N) + 2, ldc = N + 3;
    size_t a_size = (size_t)(transpose_a ? K : M) * lda, b_size = (size_t)(transpose_b ? N : K) * ldb, c_size = (size_t)M * ldc;
    float *A = test_random_floats(a_size, 1, -1.0f, 1.0f), *B = test_random_floats(b_size, 2, -1.0f, 1.0f), *C0 = test_random_floats(c_size, 3, -1.0f, 1.0f);
    float *expected = tfm_malloc(sizeof(float) * c_size), *got[2];
    memcpy(expected, C0, sizeof(float) * c_size);
    if (beta == 0.0f)
        for (int i = 0; i < M; i++) expected[(size_t)i * ldc] = C0[(size_t)i * ldc] = NAN; /* beta 0 must not read C */
    tfm_matmul_reference(expected, A, B, M, N, K, transpose_a, transpose_b, lda, ldb, ldc, alpha, beta, 1, 0, 0, 0);
    for (int run = 0; run < 2; run++) {
        got[run] = tfm_malloc(sizeof(float) * c_size);
        memcpy(got[run], C0, sizeof(float) * c_size);
        tfm_threads_set(run + 1);
        tfm_gemm(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, got[run], ldc);
    }
    tfm_threads_set(0);
    double worst = 0.0;
    int padding_ok = 1;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) worst = fmax(worst, fabs((double)got[0][(size_t)i * ldc + j] - expected[(size_t)i * ldc + j]));
        for (int j = N; j < ldc; j++) padding_ok &= memcmp(&got[0][(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)) == 0;
    }
    double tolerance = 1e-6 * sqrt((double)K + 1.0) * (fabs(alpha) + 1.0) + 1e-6;
    CHECK(worst <= tolerance, "gemm M=%d N=%d K=%d ta=%d tb=%d alpha=%g beta=%g: %g from the reference (tolerance %g)", M, N, K, transpose_a,
          transpose_b, (double)alpha, (double)beta, worst, tolerance);
    CHECK(padding_ok, "gemm M=%d N=%d K=%d: wrote outside the N columns of C", M, N, K);
    CHECK(memcmp(got[0], got[1], sizeof(float) * c_size) == 0, "gemm M=%d N=%d K=%d ta=%d tb=%d: 1 and 2 threads differ", M, N, K,
          transpose_a, transpose_b);
    tfm_free(A, sizeof(float) * a_size);
    tfm_free(B, sizeof(float) * b_size);
    tfm_free(C0, sizeof(float) * c_size);
    tfm_free(expected, sizeof(float) * c_size);
    for (int run = 0; run < 2; run++) tfm_free(got[run], sizeof(float) * c_size);
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Printed, not asserted: tfm_gemm vs OpenBLAS on the training step's shapes (best of 5). */
static void report_speed(const char *what, int M, int N, int K, int transpose_a, int transpose_b) {
    float *A = test_random_floats((size_t)M * K, 4, -1.0f, 1.0f), *B = test_random_floats((size_t)K * N, 5, -1.0f, 1.0f), *C = test_random_floats((size_t)M * N, 6, -1.0f, 1.0f);
    int lda = transpose_a ? M : K, ldb = transpose_b ? K : N;
    double best[2] = {1e30, 1e30};
    for (int rep = 0; rep < 6; rep++)
        for (int which = 0; which < 2; which++) {
            double t0 = seconds_now();
            if (which)
                tfm_gemm(transpose_a, transpose_b, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, N);
            else
                cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                            A, lda, B, ldb, 1.0f, C, N);
            double t = seconds_now() - t0;
            if (rep > 0 && t < best[which]) best[which] = t;
        }
    double gflop = 2e-9 * M * N * K;
    printf("gemm %-22s M=%-5d N=%-5d K=%-5d (%d threads): OpenBLAS %6.1f GFLOP/s, tfm_gemm %6.1f GFLOP/s, %.2fx%s\n", what, M, N, K,
           tfm_threads_get(), gflop / best[0], gflop / best[1], best[0] / best[1], tfm_gemm_is_fast() ? "" : " (tfm_gemm is OpenBLAS here)");
    tfm_free(A, sizeof(float) * M * K);
    tfm_free(B, sizeof(float) * K * N);
    tfm_free(C, sizeof(float) * M * N);
}

int main(void) {
    const int shapes[][3] = {{1, 1, 1}, {1, 33, 7}, {13, 1, 5}, {12, 32, 256}, {13, 33, 257}, {25, 70, 300}, {100, 64, 513}, {390, 40, 17},
                             {777, 96, 64}, {50, 2100, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                test_shape(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, 1.0f, 0.0f);
                test_shape(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, 0.5f, 1.0f);
            }
    test_shape(20, 40, 600, 0, 1, -2.0f, 0.25f);
    test_shape(6, 5, 0, 0, 0, 1.0f, 0.5f); /* K = 0: C = beta C */
    /* One training step of the translation model (d_model 256, d_ff 1024, vocab 8000, ~2600 tokens). */
    report_speed("forward x.W^T", 2600, 768, 256, 0, 1);
    report_speed("forward x.W^T (logits)", 2600, 8000, 256, 0, 1);
    report_speed("backward dY.W", 2600, 256, 1024, 0, 0);
    report_speed("backward dY^T.X", 1024, 256, 2600, 1, 0);
    report_speed("backward dY.W (logits)", 2600, 256, 8000, 0, 0);
    return test_summary();
}
