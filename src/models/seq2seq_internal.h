/* models/seq2seq_internal.h: library-internal pieces shared by the seq2seq source files (config object reader, scale op). */
#ifndef TFM_MODELS_SEQ2SEQ_INTERNAL_H
#define TFM_MODELS_SEQ2SEQ_INTERNAL_H

#include "io/json.h"
#include "tfm/seq2seq.h"

/* Read the fields of a JSON object into *c (absent fields keep their values; unknown keys and a model_type
 * other than "seq2seq" are errors naming ctx->source and the field). Does not validate cross-field rules:
 * call tfm_seq2seq_config_validate afterwards. For the training-config reader's "model" section. */
tfm_status tfm_seq2seq_config_read_object(const cJSON *object, const tfm_json_context *ctx, tfm_seq2seq_config *c);

/* out = scale * x, differentiable (dx += scale * dout). x itself when scale == 1. Nothing may read x
 * afterwards: out is written over it when the graph allows (tfm_graph_tensor_like). */
tfm_tensor *tfm_seq2seq_fn_scale_in_place(tfm_graph *g, tfm_tensor *x, float scale);
/* x [B, T, C] with every sequence's first row zeroed (the decoder's zero start), differentiable; in place as above. */
tfm_tensor *tfm_seq2seq_fn_zero_first_in_place(tfm_graph *g, tfm_tensor *x, int T);

/* ---- Building blocks shared by the teacher-forced forward (seq2seq.c) and incremental decoding (seq2seq_decode.c) ---- */
/* Every id in [0, V): else TFM_ERR_INVALID_ARGUMENT naming `what` and [b, t]. */
tfm_status tfm_seq2seq_check_ids(const tfm_seq2seq *m, const int32_t *ids, int B, int T, const char *what);
/* Every length in [1, T] (NULL passes). */
tfm_status tfm_seq2seq_check_lengths(const int *lengths, int B, int T, const char *what);
/* dropout(scale * table[ids] + positions[start + t]) for ids [B, T] -> [B, T, C]; zero_start: position 0's token
 * vector is zero instead (the decoder's with config.zero_start_embedding) */
tfm_tensor *tfm_seq2seq_embed(tfm_seq2seq *m, tfm_graph *g, tfm_tensor *table, tfm_tensor *positions, const int32_t *ids, int B,
                              int T, int start, int zero_start);
/* linear2(activation_dropout(activation(linear1(x)))); prelu: the layer's slope when the activation is "prelu" */
tfm_tensor *tfm_seq2seq_feed_forward(tfm_seq2seq *m, tfm_graph *g, tfm_linear_layer *linear1, tfm_linear_layer *linear2,
                                     tfm_tensor *prelu, tfm_tensor *x);
/* out_proj(attention(q_proj(x), kv)) with kv [items, S, 2C] = the k|v projection of the encoder output; -> [B, T, C].
 * kv_index [B] (or NULL: item b) names the kv item query row b reads (beams sharing their sentence's). */
tfm_tensor *tfm_seq2seq_cross_attention(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_attention *a, tfm_tensor *x, tfm_tensor *kv,
                                        const int *source_lengths, const int *kv_index, int B, int T, int S);
/* A residual sub-layer is  out = sublayer_output(x, f(sublayer_input(x))):
 * post-LN: input x, output norm(x + drop(branch)); pre-LN: input norm(x), output x + drop(branch).
 * The branch must not be read afterwards: x + drop(branch) is written over it.
 * rows ([B*T] flags or NULL): BatchNorm's statistics over the rows flagged 1 only (padding excluded). */
tfm_tensor *tfm_seq2seq_sublayer_input(tfm_seq2seq *m, tfm_graph *g, tfm_norm_layer *norm, tfm_tensor *x, const uint8_t *rows);
tfm_tensor *tfm_seq2seq_sublayer_output(tfm_seq2seq *m, tfm_graph *g, tfm_norm_layer *norm, tfm_tensor *x, tfm_tensor *branch,
                                        const uint8_t *rows);
/* A self-attention's fused projection x [B, T, C] -> qkv [B, T, 3C], queries and keys rotated when positions are "rope"
 * (x's first position is position `start`). */
tfm_tensor *tfm_seq2seq_self_qkv(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_attention *a, tfm_tensor *x, int start);
/* The config's choices for attention a set on args: the score (and a's weights for it) and, for a self-attention, the
 * position encoding's share (ALiBi, or a's relative tables). Returns args. */
tfm_attention_args *tfm_seq2seq_attention_options(tfm_seq2seq *m, tfm_seq2seq_attention *a, tfm_attention_args *args, int self);

#endif
