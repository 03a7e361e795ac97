/* ops/embedding.c: embedding lookup forward and channel-parallel (deterministic) scatter-add backward. */
#include "ops/embedding.h"

#include <omp.h>
#include <string.h>

#include "ops/parallel.h"

/* Channel blocks handed to threads in the backward are multiples of 16 floats (one 64-byte cache
 * line), so when C is a multiple of 16 no two threads write the same line of dtable. */
#define EMBEDDING_CHANNEL_ALIGN 16
#define EMBEDDING_PARALLEL_MIN (1 << 15) /* N * C below this runs single-threaded */

void tfm_embedding_forward_reference(float *out, const float *table, const int32_t *ids, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = table[(size_t)ids[n] * C + c];
}

static void embedding_forward_rows(float *out, const float *table, const int32_t *ids, int C, size_t begin, size_t end) {
    for (size_t n = begin; n < end; n++) memcpy(out + n * C, table + (size_t)ids[n] * C, (size_t)C * sizeof(float));
}

void tfm_embedding_forward(float *out, const float *table, const int32_t *ids, int N, int C) {
    if (N <= 0) return;
    TFM_PARALLEL_RANGES((size_t)N, EMBEDDING_PARALLEL_MIN / (C > 0 ? C : 1), embedding_forward_rows(out, table, ids, C, begin, end));
}

void tfm_embedding_backward_reference(float *dtable, const float *dout, const int32_t *ids, int N, int C) {
    if (!dtable) return;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) dtable[(size_t)ids[n] * C + c] += dout[(size_t)n * C + c];
}

void tfm_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C) {
    if (!dtable) return;
    int threads = (size_t)N * C >= EMBEDDING_PARALLEL_MIN ? omp_get_max_threads() : 1;
    /* Split the C channels into `threads` cache-line-aligned blocks; each thread walks all N rows
     * in order for its own block. Same additions in the same order as the reference. */
    int block = (C + threads - 1) / threads;
    block = (block + EMBEDDING_CHANNEL_ALIGN - 1) / EMBEDDING_CHANNEL_ALIGN * EMBEDDING_CHANNEL_ALIGN;
    int blocks = (C + block - 1) / block;
    #pragma omp parallel for schedule(static) num_threads(threads) if (blocks > 1)
    for (int b = 0; b < blocks; b++) {
        int c0 = b * block, c1 = c0 + block < C ? c0 + block : C;
        for (int n = 0; n < N; n++) {
            float *restrict row = dtable + (size_t)ids[n] * C;
            const float *restrict grad = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) row[c] += grad[c];
        }
    }
}

void tfm_embedding_fill_positions(int32_t *ids, int B, int T, int start) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) ids[(size_t)b * T + t] = start + t;
}

tfm_status tfm_embedding_check_ids(const int32_t *ids, int N, int rows, const char *what) {
    for (int n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= rows)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s %d at position %d is outside [0, %d)",
                             what ? what : "id", (int)ids[n], n, rows);
    return TFM_OK;
}
