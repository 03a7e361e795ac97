/* nn/attention_scores.h: the multi-head attention layer's general and additive scores (nn/attention_scores.c). */
#ifndef TFM_NN_ATTENTION_SCORES_H
#define TFM_NN_ATTENTION_SCORES_H

#include "tfm/nn.h"

/* tfm_fn_attention for args->score general or additive: the heads of q, k, v as a batch of single-head
 * tfm_fn_attention_scores, merged back -> [B, Tq, H * hd]. kv_item_rows: rows between k/v batch items (Tk, or a
 * cache's capacity). The caller has checked the shapes. */
tfm_tensor *tfm_attention_with_scores(tfm_graph *g, const tfm_attention_args *args, size_t kv_item_rows);

#endif
