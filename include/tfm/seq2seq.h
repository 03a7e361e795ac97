/* tfm/seq2seq.h: the encoder-decoder Transformer of "Attention Is All You Need", parameter-compatible with torch.nn.Transformer. */
#ifndef TFM_SEQ2SEQ_H
#define TFM_SEQ2SEQ_H

#include "tfm/config.h"
#include "tfm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================
 *  Configuration
 * ============================================================================================
 * JSON (config.json beside a checkpoint, or the "model" object of a training config) uses these names:
 *   {"model_type": "seq2seq", "vocab_size": 8000, "max_source_length": 256, "max_target_length": 256,
 *    "d_model": 512, "n_encoder_layers": 6, "n_decoder_layers": 6, "n_heads": 8, "d_ff": 2048,
 *    "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "activation": "relu",
 *    "pre_layernorm": false, "norm": "layernorm", "positions": "sinusoidal", "rope_base": 10000, "relative_clip": 16,
 *    "attention_score": "scaled_dot", "score_width": 0,
 *    "scale_embeddings": true, "share_embeddings": true, "layernorm_eps": 1e-5, "pad_id": 0, "bos_id": 1, "eos_id": 2}
 * Absent fields keep the defaults above (the paper's base model), which tfm_seq2seq_config_default sets. */

typedef struct tfm_seq2seq_config {
    int vocab_size;          /* V: the joint source/target vocabulary */
    int max_source_length;   /* longest source (tokens, EOS included) the model accepts */
    int max_target_length;   /* longest decoder input (BOS + tokens) the model accepts */
    int d_model;             /* C */
    int n_encoder_layers;
    int n_decoder_layers;
    int n_heads;             /* H; d_model % n_heads == 0 */
    int d_ff;                /* FFN inner width */
    float dropout;           /* on embeddings (after adding positions) and every residual branch, train only */
    float attention_dropout; /* on attention weights, train only */
    float activation_dropout;/* after the FFN activation (torch.nn.Transformer uses `dropout` there; the paper none) */
    int activation;          /* TFM_ACTIVATION_RELU (the paper's, default) or TFM_ACTIVATION_GELU (tanh approximation) */
    int pre_layernorm;       /* 0: post-LN, the paper's x = LN(x + f(x)); 1: pre-LN x = x + f(LN(x)) */
    int positions;           /* TFM_POSITIONS_* of tfm/config.h: "sinusoidal" (default), "learned", "rope", "alibi", "relative" */
    float rope_base;         /* rope: 10000 */
    int relative_clip;       /* relative: 16 */
    int norm;                /* TFM_NORM_*: "layernorm" (default), "rmsnorm" or "batchnorm" (padding rows masked) */
    int attention_score;     /* TFM_SCORE_* of every attention: "scaled_dot" (default), "dot", "general" (Luong),
                              * "additive" (Bahdanau); the last two need attention_dropout 0 and no alibi/relative */
    int score_width;         /* additive: A, the width of u . tanh(Wq q + Wk k); 0 = head_dim */
    int scale_embeddings;    /* 1: token embeddings are multiplied by sqrt(d_model) before positions are added */
    int final_norm;          /* 1: a norm after each stack (encoder.norm, decoder.norm: torch.nn.Transformer's, which has
                              * them in post-LN too; default); 0: none (the paper's and Marian's post-LN) */
    int zero_start_embedding;/* 1: the decoder's first input is a zero vector (plus its position) instead of E[bos]:
                              * Marian's start, which CTranslate2 assumes for a MarianMTModel; 0: E[bos] (default) */
    int share_embeddings;    /* 1: one [V, C] table is the source embedding, target embedding and output projection */
    float layernorm_eps;     /* 1e-5 as torch.nn.LayerNorm */
    int pad_id, bos_id, eos_id; /* special ids; bos_id may equal eos_id (fairseq starts decoding with EOS) */
} tfm_seq2seq_config;

void tfm_seq2seq_config_default(tfm_seq2seq_config *c);
/* Ranges and consistency; messages name the field ("model.n_heads: ..."). */
tfm_status tfm_seq2seq_config_validate(const tfm_seq2seq_config *c);
/* JSON text with every field (model_type "seq2seq"); free with tfm_free(text, strlen(text) + 1). */
tfm_status tfm_seq2seq_config_to_json(const tfm_seq2seq_config *c, char **json_text);
/* Read a JSON object (absent fields keep defaults; unknown fields are errors naming source + field; a
 * "model_type" other than "seq2seq" is an error), then validate. */
tfm_status tfm_seq2seq_config_from_json(const char *json_text, const char *source_name, tfm_seq2seq_config *c);
/* A training config file {"model": {"model_type": "seq2seq", ...}, "train": {...}}: the model, and the "train"
 * object over the encoder-decoder's defaults (tfm_train_config_default_task(TFM_TASK_SEQ2SEQ)). */
tfm_status tfm_seq2seq_config_load(const char *path, tfm_seq2seq_config *model, tfm_train_config *train);

/* ============================================================================================
 *  The model
 * ============================================================================================
 * Parameter names are torch.nn.Transformer's state_dict names, so its weights load directly:
 *   encoder.layers.{i}.self_attn.in_proj_weight [3C, C]  (rows: q, k, v; heads contiguous within each)
 *   encoder.layers.{i}.self_attn.in_proj_bias   [3C]
 *   encoder.layers.{i}.self_attn.out_proj.weight [C, C], .bias [C]
 *   encoder.layers.{i}.linear1.weight [F, C], .bias [F];  linear2.weight [C, F], .bias [C]
 *   encoder.layers.{i}.norm1 / norm2 .weight, .bias [C]
 *   encoder.norm.weight, .bias  [C]          final LayerNorm: torch applies it in post-LN too, so tfm does
 *   decoder.layers.{i}.self_attn.*           as above (causal)
 *   decoder.layers.{i}.multihead_attn.*      cross-attention: q from the decoder = rows [0, C) of in_proj_weight,
 *                                            k and v from the encoder output = rows [C, 3C)
 *   decoder.layers.{i}.linear1/linear2/norm1/norm2/norm3
 *   decoder.norm.weight, .bias
 * plus the embeddings and output layer (not part of nn.Transformer), named here:
 *   share_embeddings = 1:  embedding.weight [V, C]  (source = target embedding; logits = x · embedding.weightᵀ)
 *   share_embeddings = 0:  source_embedding.weight, target_embedding.weight, output_projection.weight [V, C]
 *   positions = learned:   source_position_embedding.weight [max_source_length, C],
 *                          target_position_embedding.weight [max_target_length, C]
 *   positions = relative:  {encoder,decoder}.layers.{i}.self_attn.relative_keys / relative_values [2R+1, C / H]
 *   attention_score = general:  every attention's .score_weight [C/H, C/H]; additive: .score_query_weight and
 *                          .score_key_weight [A, C/H], .score_vector [A]
 *   activation = prelu:    {encoder,decoder}.layers.{i}.activation.weight [1] (nn.PReLU's, given to nn.Transformer
 *                          as the activation module)
 *   norm = rmsnorm: the norms have .weight only; batchnorm: also .running_mean, .running_var (buffers; statistics
 *                   over the batch's real tokens, padding rows excluded)
 * The output projection has no bias. Sinusoidal positions are a fixed table (src/ops/positional.h), not parameters;
 * rope and alibi have none.
 *
 * Layers (post-LN, as torch.nn.TransformerEncoderLayer / DecoderLayer with norm_first=False):
 *   encoder:  x = norm1(x + drop(self_attn(x)));  x = norm2(x + drop(ffn(x)))
 *   decoder:  x = norm1(x + drop(self_attn(x, causal)));  x = norm2(x + drop(cross_attn(x, memory)));
 *             x = norm3(x + drop(ffn(x)))
 *   pre-LN:   x = x + drop(f(normK(x))) for each sub-layer
 *   ffn(x) = linear2(activation_drop(activation(linear1(x))))
 * then encoder.norm / decoder.norm (with final_norm), and the embedding input is drop(scale · E[token] + P[position]). */
typedef struct tfm_seq2seq_attention {
    tfm_tensor in_proj_weight;   /* [3C, C] */
    tfm_tensor in_proj_bias;     /* [3C] */
    tfm_linear_layer out_proj;   /* [C, C] + [C] */
    /* Views into in_proj_* for cross-attention (point into the same slab, so gradients land there):
     * q rows [0, C) and k|v rows [C, 3C). */
    tfm_tensor q_weight, q_bias, kv_weight, kv_bias;
    tfm_tensor relative_keys, relative_values; /* positions "relative", self-attention only: [2R+1, C / H] each */
    tfm_tensor score_weight;                   /* attention_score "general": W [hd, hd], shared by the heads */
    tfm_tensor score_query, score_key, score_vector; /* "additive": Wq, Wk [A, hd] and u [A] */
    tfm_score_weights scores;                  /* points at the above */
} tfm_seq2seq_attention;

typedef struct tfm_seq2seq_encoder_layer {
    tfm_seq2seq_attention self_attn;
    tfm_linear_layer linear1, linear2;
    tfm_norm_layer norm1, norm2;
    tfm_tensor prelu;                              /* activation "prelu": activation.weight [1] */
} tfm_seq2seq_encoder_layer;

typedef struct tfm_seq2seq_decoder_layer {
    tfm_seq2seq_attention self_attn, cross_attn;   /* cross_attn is nn.Transformer's "multihead_attn" */
    tfm_linear_layer linear1, linear2;
    tfm_norm_layer norm1, norm2, norm3;
    tfm_tensor prelu;                              /* activation "prelu": activation.weight [1] */
} tfm_seq2seq_decoder_layer;

typedef struct tfm_seq2seq {
    tfm_seq2seq_config config;
    tfm_params params;
    tfm_tensor source_embedding;           /* [V, C]; when shared, "embedding.weight" */
    tfm_tensor target_embedding;           /* [V, C]; when shared, a copy of the view of source_embedding */
    tfm_tensor output_projection;          /* [V, C]; when shared, likewise */
    tfm_tensor source_positions;           /* learned [max_source_length, C], or the fixed sinusoidal table */
    tfm_tensor target_positions;           /* learned [max_target_length, C], or the fixed sinusoidal table */
    float *sinusoid_table;                 /* [max(max_source_length, max_target_length), C] when sinusoidal */
    tfm_seq2seq_encoder_layer *encoder_layers;
    tfm_seq2seq_decoder_layer *decoder_layers;
    tfm_norm_layer encoder_norm, decoder_norm; /* final_norm only */
    int inference;                         /* 1 after tfm_seq2seq_prepare_inference: weights packed, no gradients */
    float *packed_output_projection;       /* [V, C] packed copy of the shared embedding table (inference), or NULL */
} tfm_seq2seq;

/* Declare and allocate the parameters; tfm_seq2seq_init_weights then initialises them as
 * nn.Transformer does (xavier_uniform for every matrix, biases 0, LayerNorm 1/0) with the embedding tables
 * normal(0, d_model^-0.5) and their pad_id row zero (fairseq), all drawn from `seed`. */
tfm_status tfm_seq2seq_create(tfm_seq2seq **model, const tfm_seq2seq_config *config);
void tfm_seq2seq_init_weights(tfm_seq2seq *model, uint64_t seed);
void tfm_seq2seq_free(tfm_seq2seq *model);
/* A checkpoint directory: model.safetensors (the names above) + config.json (tfm_seq2seq_config_to_json), written
 * atomically by tfm_checkpoint_save (a model-only save). Load creates the model from config.json and fills every
 * parameter; errors name the directory and the file (e.g. a GPT checkpoint: "model_type: expected \"seq2seq\""). */
tfm_status tfm_seq2seq_save(const tfm_seq2seq *model, const char *dir);
/* A Hugging Face MarianMTModel directory (config.json with Marian's fields, model.safetensors with its names,
 * generation_config.json with tfm's search rules, and tokenizer_json with a tokenizer_config.json when given), written
 * under a temporary name and renamed; `dir` must not exist. Marian's sinusoids are [sin | cos] halves where tfm's
 * interleave, so the weights are written in that permuted basis (same logits). With zero_start_embedding the
 * vocabulary gets Marian's start token "<pad>" as one more, last id (zero embedding, logit bias -1e9), which is what
 * CTranslate2's converter expects; tfm's own pad, if called "<pad>", is renamed "<unk>". A model Marian cannot hold
 * (pre-LN, final_norm, positions other than sinusoidal, untied embeddings, another norm or score, an activation other
 * than relu/gelu, layernorm_eps other than 1e-5) is refused, naming it. tfm_seq2seq_load reads the export back. */
tfm_status tfm_seq2seq_export_marian(const tfm_seq2seq *model, const char *tokenizer_json, const char *dir);
/* A MarianMTModel directory saved by transformers as tfm's encoder-decoder (tfm_seq2seq_load does this for a config.json
 * with model_type "marian"): its config as post-LN without final norms, its weights into tfm's basis. Refused by
 * name: separate vocabularies or embeddings, encoder and decoder of different widths, a non-zero final_logits_bias,
 * an unknown activation; a missing, misshapen or extra tensor is an error naming it. */
tfm_status tfm_seq2seq_load_marian(tfm_seq2seq **model, const char *dir, const char *config_json);
tfm_status tfm_seq2seq_load(tfm_seq2seq **model, const char *dir);
/* As tfm_seq2seq_load; weights holding NaN or infinity are refused unless options->allow_nonfinite (tfm/io.h). */
struct tfm_load_options;
tfm_status tfm_seq2seq_load_with(tfm_seq2seq **model, const char *dir, const struct tfm_load_options *options);

/* For decoding only: pack every linear weight in place for the inference kernel (ops/linear_packed.h:
 * no per-call weight copy; 1.2-1.4x faster GEMMs at decode-step sizes), pack a copy of a shared output
 * projection, and free the gradient slab. The model then decodes the same (outputs equal to float rounding:
 * one fused multiply-add order instead of OpenBLAS's), but cannot be trained or saved (both fail with an error). tfm_seq2seq_load_inference = load + prepare. */
tfm_status tfm_seq2seq_prepare_inference(tfm_seq2seq *model);
tfm_status tfm_seq2seq_load_inference(tfm_seq2seq **model, const char *dir);

/* ---- Teacher forcing (training and scoring) ----
 * Sequences are right-padded: source [B, S] with source_lengths [B] (each in [1, S]; positions >= length
 * are padding and are masked as keys in encoder self-attention and cross-attention), target input
 * [B, T] (BOS-prefixed) with target_lengths [B] (each in [1, T], or NULL for all T; padded positions are
 * masked as keys in decoder self-attention, on top of the causal mask, as torch's tgt_key_padding_mask).
 * Ids must be in [0, V) (pad included); errors return NULL with a message naming the position. */

/* -> memory [B, S, C] (after encoder.norm) */
tfm_tensor *tfm_seq2seq_encode(tfm_seq2seq *model, tfm_graph *g, const int32_t *source, const int *source_lengths, int B,
                               int S);
/* memory [B, S, C] from tfm_seq2seq_encode -> logits [B, T, V] */
tfm_tensor *tfm_seq2seq_decode(tfm_seq2seq *model, tfm_graph *g, tfm_tensor *memory, const int *source_lengths,
                               const int32_t *target, const int *target_lengths, int B, int S, int T);
/* encode + decode */
tfm_tensor *tfm_seq2seq_forward(tfm_seq2seq *model, tfm_graph *g, const int32_t *source, const int *source_lengths,
                                const int32_t *target, const int *target_lengths, int B, int S, int T);
/* Label-smoothed cross-entropy (PyTorch's definition) of the logits for target_input against target_output
 * [B, T] (the next tokens; positions whose id is pad_id do not count), mean over counted tokens -> [1].
 * *counted (may be NULL) receives the number of counted tokens. */
tfm_tensor *tfm_seq2seq_loss(tfm_seq2seq *model, tfm_graph *g, const int32_t *source, const int *source_lengths,
                             const int32_t *target_input, const int32_t *target_output, const int *target_lengths,
                             int B, int S, int T, float label_smoothing, int *counted);

/* ---- Incremental decoding ----
 * The cache keeps, for up to batch_capacity rows (sentences, or sentences x beams), every decoder layer's
 * self-attention keys and values of the positions decoded so far and the cross-attention keys|values of the
 * encoder output (computed once per batch of sentences by tfm_seq2seq_cache_start). A decoding step then costs
 * one position per row. Rows advance in lockstep: row r of every call is the same hypothesis until
 * tfm_seq2seq_cache_select reorders, repeats or drops rows (beam search, or dropping finished sentences).
 * Rows reach their storage through two indexes, so that select copies almost nothing: cross_item[r] names the
 * sentence whose encoder keys row r reads (a sentence's beams share one copy), self_slot[r] the slot holding
 * row r's own keys (a surviving hypothesis keeps its slot; only a hypothesis continued by several beams is
 * copied, once per extra beam). Nothing is allocated after tfm_seq2seq_cache_create. */
typedef struct tfm_seq2seq_cache {
    int batch_capacity, source_capacity, target_capacity;
    int layers, channels;
    int batch;               /* rows in the cache now */
    int source_length;       /* S of the current batch of sentences */
    int sentences;           /* sentences given to tfm_seq2seq_cache_start */
    int length;              /* decoder positions filled */
    int *source_lengths;     /* [batch_capacity]: row r's source length */
    int *cross_item;         /* [batch_capacity]: row r reads sentence cross_item[r]'s cross keys|values */
    int *self_slot;          /* [batch_capacity]: row r's self-attention keys/values live in slot self_slot[r] */
    float *self_keys, *self_values;      /* [L, batch_capacity slots, target_capacity, C] */
    float *cross_kv;                     /* [L, sentences, S, 2C] (S = the current source_length) */
    int *scratch;                        /* [3 * batch_capacity]: select's bookkeeping */
} tfm_seq2seq_cache;

tfm_status tfm_seq2seq_cache_create(tfm_seq2seq_cache *cache, const tfm_seq2seq *model, int batch_capacity,
                                    int source_capacity);
void tfm_seq2seq_cache_free(tfm_seq2seq_cache *cache);
/* Start decoding a batch: memory [B, S, C] from tfm_seq2seq_encode (on any graph), B <= batch_capacity,
 * S <= source_capacity. Projects the cross-attention keys/values of every layer (using g's arena for the
 * products) and empties the self-attention cache. */
tfm_status tfm_seq2seq_cache_start(tfm_seq2seq *model, tfm_graph *g, tfm_seq2seq_cache *cache, const tfm_tensor *memory,
                                   const int *source_lengths, int B, int S);
/* Decoder tokens [cache->batch, T] at positions cache->length ..; appends their keys/values to the cache.
 * -> logits [B, T, V] (or [B, 1, V] for the last position only, when last_only). For inference: g must not
 * be recording. */
tfm_tensor *tfm_seq2seq_decode_step(tfm_seq2seq *model, tfm_graph *g, tfm_seq2seq_cache *cache, const int32_t *tokens, int T,
                                    int last_only);
/* Keep sentences rows[0 .. count) in this order (a row may repeat, e.g. beam search's parents): new item i
 * is old item rows[i]. count <= batch_capacity. */
tfm_status tfm_seq2seq_cache_select(tfm_seq2seq_cache *cache, const int *rows, int count);

/* ---- Greedy decoding ----
 * For each sentence b, decode from BOS until EOS or max_length_a * source_lengths[b] + max_length_b tokens
 * (EOS included; never more than max_target_length), choosing the arg-max token with pad_id (and bos_id
 * when it differs from eos_id) excluded. output [B, max_output] receives the tokens without BOS and EOS,
 * output_lengths [B] their counts (tokens beyond max_output are dropped). use_cache = 0 recomputes the whole
 * decoder for every step (for tests); both give the same tokens, and a sentence's tokens do not depend on the
 * other sentences of the batch. */
typedef struct tfm_seq2seq_greedy_args {
    const int32_t *source;
    const int *source_lengths;
    int batch, source_length;
    float max_length_a;     /* 0 and */
    int max_length_b;       /* 200: fairseq's defaults */
    int use_cache;
    int32_t *output;        /* [batch, max_output] */
    int *output_lengths;    /* [batch] */
    int max_output;
} tfm_seq2seq_greedy_args;
tfm_status tfm_seq2seq_greedy(tfm_seq2seq *model, const tfm_seq2seq_greedy_args *args);

#ifdef __cplusplus
}
#endif
#endif
