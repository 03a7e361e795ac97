/* ops/softmax.h: numerically stable softmax and log-softmax over the rows of a matrix, and their backwards. */
#ifndef TFM_OPS_SOFTMAX_H
#define TFM_OPS_SOFTMAX_H

/* out[N, V] = exp(inp - rowmax) / sum(exp(inp - rowmax)). Entries of -inf (masks) give 0; a row
 * that is entirely -inf gives all zeros rather than NaN. out may alias inp. */
void tfm_softmax_forward_reference(float *out, const float *inp, int N, int V);
void tfm_softmax_forward(float *out, const float *inp, int N, int V);

/* dinp[N, V] += out * (dout - sum_v(dout * out)), from the forward's output (no input needed). */
void tfm_softmax_backward_reference(float *dinp, const float *dout, const float *out, int N, int V);
void tfm_softmax_backward(float *dinp, const float *dout, const float *out, int N, int V);

/* out[N, V] = log softmax(inp): inp - rowmax - log(sum(exp(inp - rowmax))); a row entirely -inf gives -inf.
 * Backward from the output: dinp += dout - exp(out) * sum_v(dout). */
void tfm_log_softmax_forward_reference(float *out, const float *inp, int N, int V);
void tfm_log_softmax_forward(float *out, const float *inp, int N, int V);
void tfm_log_softmax_backward_reference(float *dinp, const float *dout, const float *out, int N, int V);
void tfm_log_softmax_backward(float *dinp, const float *dout, const float *out, int N, int V);

#endif
