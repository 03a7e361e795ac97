/* ops/linear_packed.c: packing linear weights into 16-column panels and the register-blocked FMA kernels (AVX-512: 8x32, AVX2: 6x16) that multiply by them. */
#include "ops/linear_packed.h"

#include <math.h>
#include <string.h>

#include "ops/parallel.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LINEAR_PACKED_AVX512 1 /* 16 floats a register: one panel row per FMA */
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LINEAR_PACKED_AVX2 1
#endif

/* One multiply-add step of every output, the same in the reference and the kernels (so they agree bit for
 * bit): fused where the CPU has FMA, plain otherwise (libm's fmaf without FMA hardware is a slow emulation). */
#ifdef __FMA__
#define MULTIPLY_ADD(a, b, c) fmaf((a), (b), (c))
#else
#define MULTIPLY_ADD(a, b, c) ((a) * (b) + (c))
#endif

enum {
    WIDTH = TFM_LINEAR_PACK_WIDTH,
#ifdef LINEAR_PACKED_AVX512
    ROWS = 8,            /* rows per kernel call: 8 rows x 2 panels = 16 of the 32 AVX-512 registers */
    FULL_PANELS = 2,     /* panels per call for a full block of rows */
#else
    ROWS = 6,            /* rows per kernel call: 6 x 16 accumulators = 12 AVX registers */
    FULL_PANELS = 1,
#endif
    ROW_BLOCK = 240,     /* rows per outer block: 240 x C inputs stay in L2 while every panel passes over them */
};

/* Below this many multiply-adds a call stays on the calling thread (a parallel region costs ~1 us). */
#define LINEAR_PACKED_PARALLEL_MIN ((size_t)1 << 17)

int tfm_linear_packed_is_fast(void) {
#if defined(LINEAR_PACKED_AVX2) || defined(LINEAR_PACKED_AVX512)
    return 1;
#else
    return 0;
#endif
}

int tfm_linear_packable(int out_features, int in_features) {
    return out_features > 0 && in_features > 0 && out_features % WIDTH == 0;
}

void tfm_linear_pack(float *packed, const float *weight, int OC, int C) {
    for (int p = 0; p < OC / WIDTH; p++)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < WIDTH; j++) packed[((size_t)p * C + c) * WIDTH + j] = weight[((size_t)p * WIDTH + j) * C + c];
}

void tfm_linear_unpack(float *weight, const float *packed, int OC, int C) {
    for (int p = 0; p < OC / WIDTH; p++)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < WIDTH; j++) weight[((size_t)p * WIDTH + j) * C + c] = packed[((size_t)p * C + c) * WIDTH + j];
}

void tfm_linear_packed_forward_reference(float *out, const float *inp, const float *packed, const float *bias, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            const float *w = packed + (size_t)(o / WIDTH) * C * WIDTH + o % WIDTH; /* weight[o, c] at w[c * 16] */
            float sum = bias ? bias[o] : 0.0f;
            for (int c = 0; c < C; c++) sum = MULTIPLY_ADD(inp[(size_t)n * C + c], w[(size_t)c * WIDTH], sum);
            out[(size_t)n * OC + o] = sum;
        }
}

#ifdef LINEAR_PACKED_AVX512
/* Rows [row, row + R) x panels [p, p + P), one 16-float zmm register per row and panel: acc = bias, then
 * acc += x[c] * panel[c] for c = 0, 1, ... in that order, whatever R and P are, so an output's bits do not
 * depend on which rows or panels share its call (a sentence's result does not depend on its batch), and
 * equal the AVX2 kernel's and the reference's (each lane is the same fused multiply-add). R x P <= 24 of
 * the 32 registers; few rows take several panels so that at least 8 independent FMA chains hide the FMA
 * latency. R and P are constants at every call site, so the loops unroll into registers. */
static inline __attribute__((always_inline)) void kernel_block(float *out, const float *inp, const float *packed, const float *bias,
                                                               int row, int p, int C, int OC, const int R, const int P) {
    __m512 acc[ROWS][8];
    const float *x[ROWS];
    for (int i = 0; i < R; i++) x[i] = inp + (size_t)(row + i) * C;
    for (int q = 0; q < P; q++) {
        __m512 b = bias ? _mm512_loadu_ps(bias + (size_t)(p + q) * WIDTH) : _mm512_setzero_ps();
        for (int i = 0; i < R; i++) acc[i][q] = b;
    }
    const float *panel = packed + (size_t)p * C * WIDTH; /* [P panels][C][16] */
    for (int c = 0; c < C; c++) {
        __m512 w[8];
        for (int q = 0; q < P; q++) w[q] = _mm512_loadu_ps(panel + ((size_t)q * C + c) * WIDTH);
        for (int i = 0; i < R; i++) {
            const __m512 v = _mm512_set1_ps(x[i][c]);
            for (int q = 0; q < P; q++) acc[i][q] = _mm512_fmadd_ps(v, w[q], acc[i][q]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int q = 0; q < P; q++) _mm512_storeu_ps(out + (size_t)(row + i) * OC + (size_t)(p + q) * WIDTH, acc[i][q]);
}

/* Rows [row, row + rows), rows <= 8, panels [begin, end). */
static void kernel_rows(float *out, const float *inp, const float *packed, const float *bias, int row, int rows, size_t begin,
                        size_t end, int C, int OC) {
    const int P = rows == 1 ? 8 : rows == 2 ? 4 : rows <= 4 ? 3 : 2; /* panels per call */
    size_t p = begin;
    for (; p + (size_t)P <= end; p += (size_t)P) switch (rows) {
        case 1: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 1, 8); break;
        case 2: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 2, 4); break;
        case 3: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 3, 3); break;
        case 4: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 4, 3); break;
        case 5: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 5, 2); break;
        case 6: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 6, 2); break;
        case 7: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 7, 2); break;
        default: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 8, 2); break;
        }
    for (; p < end; p++) switch (rows) { /* the last panels, one at a time */
        case 1: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 1, 1); break;
        case 2: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 2, 1); break;
        case 3: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 3, 1); break;
        case 4: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 4, 1); break;
        case 5: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 5, 1); break;
        case 6: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 6, 1); break;
        case 7: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 7, 1); break;
        default: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 8, 1); break;
        }
}
#elif defined(LINEAR_PACKED_AVX2)
/* Rows [row, row + R) x panels [p, p + P): acc = bias, then acc += x[c] * panel[c] for c = 0, 1, ... in that
 * order, whatever R and P are: an output's bits do not depend on which rows or panels share its call (so a
 * sentence's result does not depend on its batch). R x P x 2 accumulators, at most 12 AVX registers; few rows
 * take several panels so that enough independent FMA chains hide the FMA latency. R and P are constants
 * at every call site, so the loops below unroll into registers. */
static inline __attribute__((always_inline)) void kernel_block(float *out, const float *inp, const float *packed, const float *bias,
                                                               int row, int p, int C, int OC, const int R, const int P) {
    __m256 acc[ROWS][6][2];
    const float *x[ROWS];
    for (int i = 0; i < R; i++) x[i] = inp + (size_t)(row + i) * C;
    for (int q = 0; q < P; q++)
        for (int h = 0; h < 2; h++) {
            __m256 b = bias ? _mm256_loadu_ps(bias + (size_t)(p + q) * WIDTH + 8 * h) : _mm256_setzero_ps();
            for (int i = 0; i < R; i++) acc[i][q][h] = b;
        }
    const float *panel = packed + (size_t)p * C * WIDTH; /* [P panels][C][16] */
    for (int c = 0; c < C; c++) {
        __m256 w[6][2];
        for (int q = 0; q < P; q++)
            for (int h = 0; h < 2; h++) w[q][h] = _mm256_loadu_ps(panel + ((size_t)q * C + c) * WIDTH + 8 * h);
        for (int i = 0; i < R; i++) {
            const __m256 v = _mm256_broadcast_ss(x[i] + c);
            for (int q = 0; q < P; q++)
                for (int h = 0; h < 2; h++) acc[i][q][h] = _mm256_fmadd_ps(v, w[q][h], acc[i][q][h]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int q = 0; q < P; q++)
            for (int h = 0; h < 2; h++) _mm256_storeu_ps(out + (size_t)(row + i) * OC + (size_t)(p + q) * WIDTH + 8 * h, acc[i][q][h]);
}

/* Rows [row, row + rows), rows <= 6, panels [begin, end). */
static void kernel_rows(float *out, const float *inp, const float *packed, const float *bias, int row, int rows, size_t begin,
                        size_t end, int C, int OC) {
    const int P = rows == 1 ? 6 : rows == 2 ? 3 : rows == 3 ? 2 : 1; /* panels per call */
    size_t p = begin;
    for (; p + (size_t)P <= end; p += (size_t)P) switch (rows) {
        case 1: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 1, 6); break;
        case 2: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 2, 3); break;
        case 3: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 3, 2); break;
        case 4: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 4, 1); break;
        case 5: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 5, 1); break;
        default: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 6, 1); break;
        }
    for (; p < end; p++) switch (rows) { /* the last panels, one at a time */
        case 1: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 1, 1); break;
        case 2: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 2, 1); break;
        default: kernel_block(out, inp, packed, bias, row, (int)p, C, OC, 3, 1); break;
        }
}
#else
/* Portable: the same order of operations (acc = bias, then c = 0, 1, ...); the compiler vectorises the
 * 16-wide inner loop. */
static void kernel_rows(float *out, const float *inp, const float *packed, const float *bias, int row, int rows, size_t begin,
                        size_t end, int C, int OC) {
    for (size_t p = begin; p < end; p++) {
        const float *panel = packed + p * (size_t)C * WIDTH;
        float acc[ROWS][WIDTH];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < WIDTH; j++) acc[i][j] = bias ? bias[p * WIDTH + j] : 0.0f;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < rows; i++) {
                const float v = inp[(size_t)(row + i) * C + c];
                #pragma omp simd
                for (int j = 0; j < WIDTH; j++) acc[i][j] = MULTIPLY_ADD(v, panel[(size_t)c * WIDTH + j], acc[i][j]);
            }
        for (int i = 0; i < rows; i++) memcpy(out + (size_t)(row + i) * OC + p * WIDTH, acc[i], sizeof(float) * WIDTH);
    }
}
#endif

/* Panels [begin, end) for every row: blocks of 240 rows, each passed over by every panel (pair) ROWS rows at a time. */
static void packed_range(float *out, const float *inp, const float *packed, const float *bias, int N, int C, int OC, size_t begin,
                         size_t end) {
    for (int block = 0; block < N; block += ROW_BLOCK) {
        int block_end = block + ROW_BLOCK < N ? block + ROW_BLOCK : N;
        int full_end = block + (block_end - block) / ROWS * ROWS;
        for (size_t p = begin; p < end; p += FULL_PANELS) {
            size_t p_end = p + FULL_PANELS < end ? p + FULL_PANELS : end;
            for (int row = block; row < full_end; row += ROWS) kernel_rows(out, inp, packed, bias, row, ROWS, p, p_end, C, OC);
        }
        if (full_end < block_end) kernel_rows(out, inp, packed, bias, full_end, block_end - full_end, begin, end, C, OC);
    }
}

void tfm_linear_packed_forward(float *out, const float *inp, const float *packed, const float *bias, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    size_t panels = (size_t)OC / WIDTH, work = (size_t)N * C * OC;
    TFM_PARALLEL_RANGES(panels, work < LINEAR_PACKED_PARALLEL_MIN ? panels + 1 : 2,
                        packed_range(out, inp, packed, bias, N, C, OC, begin, end));
}
