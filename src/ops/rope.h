/* ops/rope.h: rotary position embedding (Su et al., RoFormer), in transformers' Llama layout (rotate_half pairs). */
#ifndef TFM_OPS_ROPE_H
#define TFM_OPS_ROPE_H

#include <stddef.h>

/* Rows x [B, T, width]; the first `columns` of each row are heads of head_dim (queries then keys, say), and each head
 * is rotated by its row's position p = offset + t: for i < head_dim / 2, with theta = p * base^(-2 i / head_dim),
 *   y[i] = x[i] cos theta - x[i + head_dim / 2] sin theta,  y[i + head_dim / 2] = x[i + head_dim / 2] cos theta + x[i] sin theta
 * (transformers' apply_rotary_pos_emb with rotate_half). Columns from `columns` on are copied. out may be x.
 * inverse = 1 rotates by -theta: the backward (a rotation's transpose is its inverse). The reference computes each
 * angle in double; the fast version takes cos/sin from a table of the positions it needs and runs rows in parallel. */
void tfm_rope_reference(float *out, const float *x, int B, int T, int width, int columns, int head_dim, int offset, float base,
                        int inverse);
void tfm_rope(float *out, const float *x, int B, int T, int width, int columns, int head_dim, int offset, float base, int inverse,
              float *table);
/* Floats the fast version's table needs: T * head_dim (cos and sin for each position and pair). */
size_t tfm_rope_table_floats(int T, int head_dim);

#endif
