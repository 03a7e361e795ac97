/* ops/gemm.c: single-precision GEMM with Goto's blocking and a 12x32 AVX-512 register tile; OpenBLAS without AVX-512. */
#include "ops/gemm.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define GEMM_AVX512 1
#endif

int tfm_gemm_is_fast(void) {
#ifdef GEMM_AVX512
    return 1;
#else
    return 0;
#endif
}

#ifndef GEMM_AVX512
void tfm_gemm(int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}
#else

/* Blocking. The register tile is MR x NR = 12 x 32: 24 zmm accumulators, two zmm of B and one broadcast of
 * A per k. A B micro-panel (KC x NR = 64 KB) streams from L2 while the MR-row micro-panels of the A block
 * (MC x KC = 384 KB) pass over it; the B block (KC x NC = 4 MB) sits in L3. KC 512 measured 5-15% faster
 * than 256 on Zen 5 (fewer passes over C), MC 192 vs 384 about even. */
enum { MR = 12, NR = 32, KC = 512, MC = 192, NC = 2048 };
_Static_assert(MC % MR == 0 && NC % NR == 0, "blocks must hold whole panels (gemm_blocks rounds row blocks up to MR)");

/* Below this many multiply-adds the call runs on the calling thread (a team costs a few microseconds). */
#define GEMM_PARALLEL_MIN (1 << 20)

/* The packing buffers of a calling thread, kept between its calls (a GEMM must not allocate in a training
 * step) and freed when the thread exits. When they cannot be had, the call goes to OpenBLAS. */
typedef struct gemm_buffers {
    float *a;      /* [threads][MC / MR panels][KC][MR]: one A block per team thread */
    int a_threads; /* how many A blocks `a` holds */
    float *b;      /* [NC / NR panels][KC][NR] */
} gemm_buffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static int buffers_key_ok;

static void buffers_free(void *p) {
    gemm_buffers *buffers = p;
    free(buffers->a);
    free(buffers->b);
    free(buffers);
}

static void buffers_key_create(void) { buffers_key_ok = pthread_key_create(&buffers_key, buffers_free) == 0; }

static gemm_buffers *buffers_get(int threads) {
    pthread_once(&buffers_once, buffers_key_create);
    if (!buffers_key_ok) return NULL;
    gemm_buffers *buffers = pthread_getspecific(buffers_key);
    if (!buffers) {
        if (!(buffers = calloc(1, sizeof *buffers))) return NULL;
        if (pthread_setspecific(buffers_key, buffers)) {
            free(buffers);
            return NULL;
        }
    }
    if (buffers->a_threads < threads) {
        free(buffers->a);
        buffers->a = aligned_alloc(64, sizeof(float) * MC * KC * (size_t)threads);
        buffers->a_threads = buffers->a ? threads : 0;
    }
    if (!buffers->b) buffers->b = aligned_alloc(64, sizeof(float) * (size_t)NC * KC);
    return buffers->a && buffers->b ? buffers : NULL;
}

/* One panel of `lanes` <= width rows of op(A) (width MR) or columns of op(B) (width NR) into [kc][width]:
 * dst[k * width + l] = src[k * k_stride + l * lane_stride], lanes past `lanes` zero. Both operands, either
 * transpose, are this one copy with their strides: lane_stride 1 copies runs of contiguous floats, any
 * other is a transpose, read along k. */
static void pack_panel(float *dst, const float *src, size_t k_stride, size_t lane_stride, int lanes, int width, int kc) {
    if (lane_stride == 1) {
        for (int k = 0; k < kc; k++) {
            float *out = dst + (size_t)k * width;
            memcpy(out, src + (size_t)k * k_stride, sizeof(float) * (size_t)lanes);
            for (int l = lanes; l < width; l++) out[l] = 0.0f;
        }
        return;
    }
    for (int l = 0; l < width; l++) {
        const float *lane = src + (size_t)l * lane_stride;
        for (int k = 0; k < kc; k++) dst[(size_t)k * width + l] = l < lanes ? lane[(size_t)k * k_stride] : 0.0f;
    }
}

/* op(A)[i0 + i, k0 + k] for i < mc, k < kc into MR-row panels [kc][MR]. op(A)[i, k] is A[i * lda + k], or
 * A[k * lda + i] with transpose_a. */
static void pack_a(float *dst, const float *A, int lda, int transpose_a, int i0, int mc, int k0, int kc) {
    const size_t k_stride = transpose_a ? (size_t)lda : 1, row_stride = transpose_a ? 1 : (size_t)lda;
    for (int ip = 0; ip < mc; ip += MR)
        pack_panel(dst + (size_t)ip * kc, A + (size_t)(i0 + ip) * row_stride + (size_t)k0 * k_stride, k_stride, row_stride,
                   mc - ip < MR ? mc - ip : MR, MR, kc);
}

/* Column panel p of op(B)[k0 + k, j0 + j] (k < kc, j < nc) into [kc][NR] at dst + p * NR * kc. op(B)[k, j]
 * is B[k * ldb + j], or B[j * ldb + k] with transpose_b (x · Wᵀ with W [N, K]). */
static void pack_b(float *dst, const float *B, int ldb, int transpose_b, int k0, int kc, int j0, int nc, int p) {
    const size_t k_stride = transpose_b ? 1 : (size_t)ldb, column_stride = transpose_b ? (size_t)ldb : 1;
    const int jp = p * NR;
    pack_panel(dst + (size_t)jp * kc, B + (size_t)k0 * k_stride + (size_t)(j0 + jp) * column_stride, k_stride, column_stride,
               nc - jp < NR ? nc - jp : NR, NR, kc);
}

/* The register tile: acc[MR x NR] = sum over k < kc of op(A)[i][k] * b[k][j] (k in order), then
 * C = alpha · acc + beta · C on the first K block (first != 0; beta 0 does not read C) or C += alpha · acc
 * on the later ones. Only the rows < mr and columns < nr of the tile exist in C. op(A) comes packed
 * ([kc][MR], ROW_STRIDE 0) or, when A is stored [M, K], straight from its rows (ROW_STRIDE = lda: rows
 * past mr repeat the last one and are not stored): no packing, which for N = 256 would cost ~15%. */
static inline __attribute__((always_inline)) void kernel_tile_body(int kc, const float *a, size_t row_stride, const float *b, float *C,
                                                                   int ldc, int mr, int nr, float alpha, float beta, int first) {
    __m512 acc[MR][2];
    const float *rows[MR];
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        rows[i] = a + (size_t)(i < mr ? i : mr - 1) * row_stride;
    }
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            const __m512 x = _mm512_set1_ps(row_stride ? rows[i][k] : a[i]);
            acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
        }
        if (!row_stride) a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1u);
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        for (int h = 0; h < 2; h++) {
            const __mmask16 m = h ? m1 : m0;
            if (!m) continue;
            __m512 v = _mm512_mul_ps(va, acc[i][h]);
            if (!first) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c + 16 * h), v);
            else if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c + 16 * h), v);
            _mm512_mask_storeu_ps(c + 16 * h, m, v);
        }
    }
}

static void kernel_tile_packed(int kc, const float *a, const float *b, float *C, int ldc, int mr, int nr, float alpha, float beta, int first) {
    kernel_tile_body(kc, a, 0, b, C, ldc, mr, nr, alpha, beta, first);
}

static void kernel_tile_rows(int kc, const float *a, size_t lda, const float *b, float *C, int ldc, int mr, int nr, float alpha, float beta,
                             int first) {
    kernel_tile_body(kc, a, lda, b, C, ldc, mr, nr, alpha, beta, first);
}

/* The whole product, on the threads of the enclosing parallel region (or on the caller alone). The threads
 * pack each B block together, then each takes whole row blocks of A (packing them into a buffer of its own)
 * and computes their tiles: two barriers per B block. Row blocks are sized so that every thread gets the
 * same number; every tile is computed the same way whichever thread takes it. */
static void gemm_blocks(int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc, float *pa, float *pb) {
    /* A stored [M, K] is read in place when N is small: packing (a transpose) would cost as much as a sizeable
     * part of the few column panels that reuse it. */
    const int pack = transpose_a || N > 1024;
    const int threads = omp_get_num_threads();
    int row_blocks = (M + MC - 1) / MC;
    row_blocks = (row_blocks + threads - 1) / threads * threads;
    const int mc_max = ((M + row_blocks - 1) / row_blocks + MR - 1) / MR * MR; /* <= MC */
    row_blocks = (M + mc_max - 1) / mc_max;
    float *my_pa = pa + (size_t)omp_get_thread_num() * MC * KC;
    for (int j0 = 0; j0 < N; j0 += NC) {
        const int nc = N - j0 < NC ? N - j0 : NC, b_panels = (nc + NR - 1) / NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC, first = k0 == 0;
            const float block_beta = first ? beta : 1.0f;
#pragma omp for schedule(static)
            for (int p = 0; p < b_panels; p++) pack_b(pb, B, ldb, transpose_b, k0, kc, j0, nc, p);
#pragma omp for schedule(static)
            for (int block = 0; block < row_blocks; block++) {
                const int i0 = block * mc_max, mc = M - i0 < mc_max ? M - i0 : mc_max, a_panels = (mc + MR - 1) / MR;
                if (pack) pack_a(my_pa, A, lda, transpose_a, i0, mc, k0, kc);
                /* Column panel by column panel: the B micro-panel is reused by every row panel of the block. */
                for (int jp = 0; jp < b_panels; jp++) {
                    const int nr = nc - jp * NR < NR ? nc - jp * NR : NR;
                    const float *b = pb + (size_t)jp * NR * kc;
                    for (int ip = 0; ip < a_panels; ip++) {
                        const int mr = mc - ip * MR < MR ? mc - ip * MR : MR;
                        float *c = C + (size_t)(i0 + ip * MR) * ldc + j0 + jp * NR;
                        if (pack)
                            kernel_tile_packed(kc, my_pa + (size_t)ip * MR * kc, b, c, ldc, mr, nr, alpha, block_beta, first);
                        else
                            kernel_tile_rows(kc, A + (size_t)(i0 + ip * MR) * lda + k0, (size_t)lda, b, c, ldc, mr, nr, alpha, block_beta,
                                             first);
                    }
                }
            }
        }
    }
}

void tfm_gemm(int transpose_a, int transpose_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const int parallel = (double)M * N * K >= GEMM_PARALLEL_MIN && !omp_in_parallel();
    const int threads = parallel ? omp_get_max_threads() : 1;
    gemm_buffers *buffers = K > 0 ? buffers_get(threads) : NULL;
    if (!buffers) { /* nothing to multiply (C = beta C), or no buffers: OpenBLAS */
        cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                    A, lda, B, ldb, beta, C, ldc);
        return;
    }
    float *pa = buffers->a, *pb = buffers->b; /* the caller's buffers, shared by the team */
#pragma omp parallel num_threads(threads) if (parallel)
    gemm_blocks(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, pa, pb);
}
#endif
