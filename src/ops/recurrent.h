/* ops/recurrent.h: one direction of one recurrent layer (Elman RNN, LSTM, GRU; torch's gate order), forward through
 * time and backpropagation through time, with variable-length sequences. */
#ifndef TFM_OPS_RECURRENT_H
#define TFM_OPS_RECURRENT_H

#include <stddef.h>

#include "tfm/nn.h" /* TFM_RECURRENT_* */

/* Gates per kind: G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n). */
int tfm_recurrent_gates(int kind);

/* What one direction of a layer reads and keeps. x [B, T, I] batch-first; weights as torch: w_ih [G H, I],
 * w_hh [G H, H], b_ih and b_hh [G H] (either may be NULL). lengths [B] (or NULL: all T): sequence b is steps
 * [0, lengths[b]); at other steps its state is carried unchanged, its output is 0 and it takes no gradient.
 * reverse: the direction runs from each sequence's last step to its first. h0, c0 [B, H] (NULL: zeros).
 * The workspace is the caller's (the graph's arena), tfm_recurrent_workspace_floats(...) floats, kept from forward
 * to backward. */
typedef struct tfm_recurrent_shape {
    int kind, B, T, I, H, reverse;
    const int *lengths;
} tfm_recurrent_shape;
size_t tfm_recurrent_workspace_floats(const tfm_recurrent_shape *s);

/* out [B, T, H]; the final states (each sequence's, after its last step in this direction) go to h_n and c_n [B, H]
 * when not NULL (c_n: LSTM only). The reference runs tfm_linear_*_reference, the fast version tfm_linear_* (GEMM);
 * everything else is the same code, so the two differ only by the products' rounding. */
void tfm_recurrent_forward_reference(const tfm_recurrent_shape *s, float *out, float *h_n, float *c_n, float *workspace, const float *x,
                                     const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                                     const float *c0);
void tfm_recurrent_forward(const tfm_recurrent_shape *s, float *out, float *h_n, float *c_n, float *workspace, const float *x,
                           const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0, const float *c0);

/* Backpropagation through time from dout [B, T, H] (and dh_n [B, H], may be NULL): accumulates into dx, dw_ih,
 * dw_hh, db_ih, db_hh (any may be NULL). scratch: tfm_recurrent_scratch_floats(s) floats of the caller's; d_ih
 * [B T, G H] lives in the workspace. */
void tfm_recurrent_backward_reference(const tfm_recurrent_shape *s, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                                      const float *dout, const float *dh_n, float *workspace, float *scratch, const float *x,
                                      const float *w_ih, const float *w_hh);
void tfm_recurrent_backward(const tfm_recurrent_shape *s, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                            const float *dout, const float *dh_n, float *workspace, float *scratch, const float *x, const float *w_ih,
                            const float *w_hh);
size_t tfm_recurrent_scratch_floats(const tfm_recurrent_shape *s);

#endif
