/* ops/embedding.h: table lookup (token or position embeddings) and its deterministic scatter-add backward. */
#ifndef TFM_OPS_EMBEDDING_H
#define TFM_OPS_EMBEDDING_H

#include <stdint.h>

#include "tfm/base.h"

/* out[N, C] = table[ids[n], :]. The caller has checked 0 <= ids[n] < rows(table)
 * (tfm_embedding_check_ids). Positional embeddings use the same kernel with ids = positions
 * (tfm_embedding_fill_positions). */
void tfm_embedding_forward_reference(float *out, const float *table, const int32_t *ids, int N, int C);
void tfm_embedding_forward(float *out, const float *table, const int32_t *ids, int N, int C);

/* dtable[ids[n], :] += dout[n, :] (dout [N, C]). Rows hit by several n are summed in increasing n,
 * in both versions, so the fast result is bit-identical to the reference at any thread count:
 * the fast version gives each thread a block of channels instead of a block of rows. */
void tfm_embedding_backward_reference(float *dtable, const float *dout, const int32_t *ids, int N, int C);
void tfm_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C);

/* ids[B*T] = start, start+1, ..., start+T-1 for each of the B sequences. */
void tfm_embedding_fill_positions(int32_t *ids, int B, int T, int start);

/* TFM_OK if every ids[n] is in [0, rows); otherwise TFM_ERR_INVALID_ARGUMENT naming the first bad
 * index, e.g. "token id 300 at position 17 is outside the vocabulary [0, 256)". `what` names the ids. */
tfm_status tfm_embedding_check_ids(const int32_t *ids, int N, int rows, const char *what);

#endif
