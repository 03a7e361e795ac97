/* ops/attention_scores.h: single-head attention with a choice of score (dot, scaled dot, Luong's general, Bahdanau's
 * additive), masked softmax over the keys, and the weighted sum of the values; forward and backward. */
#ifndef TFM_OPS_ATTENTION_SCORES_H
#define TFM_OPS_ATTENTION_SCORES_H

#include <stddef.h>

#include "tfm/nn.h" /* TFM_SCORE_* */

/* q [B, Tq, D], k [B, Tk, D], v [B, Tk, Dv] -> context [B, Tq, Dv]; weights (may be NULL) receives the attention
 * weights [B, Tq, Tk]. Scores s[i, j]:
 *   dot:      q_i . k_j                 scaled: q_i . k_j / sqrt(D)
 *   general:  q_i . (W k_j), W [D, D]   (Luong et al. 2015)
 *   additive: u . tanh(Wq q_i + Wk k_j), Wq, Wk [A, D], u [A]   (Bahdanau et al. 2015)
 * key_lengths [B] (or NULL): keys j >= key_lengths[b] are masked; causal: key j > i + (Tk - Tq) is masked (the Tq queries
 * are the last Tq of the Tk positions, as when decoding against a cache). A query with every
 * key masked gets weights 0 and a zero context. The workspace (tfm_attention_scores_workspace_floats) keeps what
 * backward needs. The reference multiplies with plain loops, the fast version with tfm_matmul; the rest is shared. */
typedef struct tfm_attention_scores_shape {
    int kind, B, Tq, Tk, D, Dv, A; /* A: the additive score's width */
    const int *key_lengths;
    int causal;
} tfm_attention_scores_shape;
size_t tfm_attention_scores_workspace_floats(const tfm_attention_scores_shape *s);

typedef struct tfm_attention_scores_params {
    const float *W;          /* general: [D, D] */
    const float *Wq, *Wk, *u; /* additive: [A, D], [A, D], [A] */
} tfm_attention_scores_params;
typedef struct tfm_attention_scores_grads {
    float *dq, *dk, *dv, *dW, *dWq, *dWk, *du; /* accumulated; any may be NULL */
} tfm_attention_scores_grads;

void tfm_attention_scores_forward_reference(const tfm_attention_scores_shape *s, float *context, float *workspace, const float *q,
                                            const float *k, const float *v, const tfm_attention_scores_params *p);
void tfm_attention_scores_forward(const tfm_attention_scores_shape *s, float *context, float *workspace, const float *q, const float *k,
                                  const float *v, const tfm_attention_scores_params *p);
void tfm_attention_scores_backward_reference(const tfm_attention_scores_shape *s, const tfm_attention_scores_grads *g,
                                             const float *dcontext, float *workspace, const float *q, const float *k, const float *v,
                                             const tfm_attention_scores_params *p);
void tfm_attention_scores_backward(const tfm_attention_scores_shape *s, const tfm_attention_scores_grads *g, const float *dcontext,
                                   float *workspace, const float *q, const float *k, const float *v, const tfm_attention_scores_params *p);
/* The attention weights [B, Tq, Tk] the last forward left in the workspace. */
const float *tfm_attention_scores_weights(const tfm_attention_scores_shape *s, const float *workspace);

#endif
