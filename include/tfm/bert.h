/* tfm/bert.h: BERT, the encoder-only Transformer (token + position + segment embeddings, post-LN blocks, pooler, MLM and NSP heads), and ALBERT's factorized embeddings and shared layers. */
#ifndef TFM_BERT_H
#define TFM_BERT_H

#include "tfm/config.h"
#include "tfm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which parts exist, and so which names the parameters have (Hugging Face's):
 *   TFM_BERT_BASE         transformers' BertModel: "embeddings.*", "encoder.layer.N.*", "pooler.dense.*"
 *   TFM_BERT_PRETRAINING  BertForPreTraining: the same under "bert.", plus "cls.predictions.*" (the masked-LM
 *                         head, its decoder tied to the word embeddings) and "cls.seq_relationship.*" (next
 *                         sentence prediction on the pooled [CLS])
 *   TFM_BERT_SEQUENCE_CLASSIFICATION  BertForSequenceClassification: "bert.*" and "classifier.*" [num_labels, C] on
 *                         the pooled [CLS] (after dropout); one label per sequence or sentence pair
 *   TFM_BERT_TOKEN_CLASSIFICATION     BertForTokenClassification: "bert.*" without the pooler, and "classifier.*"
 *                         on every hidden state (after dropout); one label per token
 * An ALBERT (model_type "albert", transformers' AlbertModel, AlbertForPreTraining, AlbertFor*Classification) has the
 * same parts under "albert." with ALBERT's names: embeddings of embedding_size E projected to C by
 * "albert.encoder.embedding_hidden_mapping_in", num_hidden_groups blocks "albert.encoder.albert_layer_groups.G.
 * albert_layers.0.*" shared by the num_hidden_layers layers (1 group: every layer the same block), "albert.pooler",
 * "predictions.*" (dense C -> E, LayerNorm, the decoder tied to the E-wide word embeddings) and
 * "sop_classifier.classifier" (sentence-order prediction). Parameters: V E + E C + G (4 C^2 + 2 C d_ff) + ... instead
 * of V C + L (4 C^2 + 2 C d_ff) + ...: fewer by (V (C - E) - E C) + (L - G) per-layer blocks. */
enum { TFM_BERT_BASE = 0, TFM_BERT_PRETRAINING = 1, TFM_BERT_SEQUENCE_CLASSIFICATION = 2, TFM_BERT_TOKEN_CLASSIFICATION = 3 };
#define TFM_BERT_MAX_LABELS 65536

/* config.json is Hugging Face's BertConfig (hidden_size, num_hidden_layers, ...); "architectures" picks the parts. */
typedef struct tfm_bert_config {
    int vocab_size;          /* V (30522 for bert-base-uncased) */
    int d_model;             /* hidden_size, C */
    int n_layers;            /* num_hidden_layers */
    int n_heads;             /* num_attention_heads */
    int d_ff;                /* intermediate_size */
    int max_positions;       /* max_position_embeddings: longer input is refused */
    int type_vocab_size;     /* segments A/B: token_type_ids in [0, type_vocab_size) */
    int activation;          /* TFM_ACTIVATION_GELU_ERF ("gelu", BERT's), _GELU ("gelu_new", tanh form) or _RELU */
    float dropout;           /* hidden_dropout_prob: embeddings and each residual branch */
    float attention_dropout; /* attention_probs_dropout_prob */
    float layernorm_eps;     /* 1e-12 */
    int norm;                /* TFM_NORM_* of the blocks' two norms: LayerNorm (BERT's; the embeddings' and the MLM head's
                              * stay LayerNorm), RMSNorm, or BatchNorm over the real tokens; "norm" in config.json, tfm's */
    int pad_id;              /* pad_token_id */
    int parts;               /* TFM_BERT_* above ("architectures") */
    int num_labels;          /* the classifiers' outputs: the size of id2label (2 when absent, as in transformers) */
    /* ALBERT (model_type "albert"); a BERT has albert 0, embedding_size = d_model and hidden_groups = n_layers */
    int albert;
    int embedding_size;      /* E: the embeddings' width, projected to d_model */
    int hidden_groups;       /* num_hidden_groups: blocks of parameters, layer i uses block i * G / L (divides L) */
    float classifier_dropout; /* classifier_dropout_prob: before the SOP head and the classifiers (BERT: dropout) */
} tfm_bert_config;

void tfm_bert_config_default(tfm_bert_config *c); /* BERT-base: 30522 x 768, 12 layers, 12 heads, 3072, 512 positions */
/* transformers' AlbertConfig defaults (ALBERT-xxlarge: 30000 x 128 -> 4096, 12 layers sharing 1 block, 64 heads, 16384,
 * gelu_new, no dropout but 0.1 before the classifiers); config.json keys left out take these. */
void tfm_albert_config_default(tfm_bert_config *c);
tfm_status tfm_bert_config_validate(const tfm_bert_config *c);
/* Hugging Face's config.json (BertConfig, or AlbertConfig with model_type "albert"); unknown keys, wrong types and
 * unsupported settings (relative positions, a decoder, untied MLM decoder, inner_group_num > 1) are errors naming
 * source and the field. */
tfm_status tfm_bert_config_from_json(const char *json_text, const char *source_name, tfm_bert_config *c);
/* The label names of config.json's id2label ({"0": "admin", ...}, ids 0 to num_labels - 1, each once), or NULL in *names
 * when it has none. Free with tfm_bert_label_names_free(names, count). */
tfm_status tfm_bert_config_read_label_names(const char *json_text, const char *source_name, int count, char ***names);
void tfm_bert_label_names_free(char **names, int count);
/* config.json text (free with tfm_free(s, strlen(s) + 1)); label_names [num_labels] (NULL: "LABEL_0", ...) become
 * id2label and label2id for the classification architectures. */
tfm_status tfm_bert_config_to_json(const tfm_bert_config *c, const char *const *label_names, char **json_text);
/* A training config file {"model": {Hugging Face's BertConfig keys, "model_type": "bert"}, "train": {...}} (see
 * tfm/config.h for "train"); either output may be NULL. Errors name the file and the field. */
struct tfm_train_config;
tfm_status tfm_bert_config_load(const char *path, tfm_bert_config *model, struct tfm_train_config *train);

/* One post-LN block:  x = norm1(x + dropout(output(attention(query x, key x, value x))))
 *                     x = norm2(x + dropout(output_dense(act(intermediate(x))))) */
typedef struct tfm_bert_layer {
    tfm_linear_layer query, key, value;  /* attention.self.{query,key,value}: [C, C] each */
    tfm_linear_layer attention_output;   /* attention.output.dense [C, C] */
    tfm_norm_layer attention_norm;       /* attention.output.LayerNorm (the name whatever config.norm is) */
    tfm_linear_layer intermediate;       /* intermediate.dense [d_ff, C] */
    tfm_linear_layer output;             /* output.dense [C, d_ff] */
    tfm_norm_layer output_norm;          /* output.LayerNorm */
} tfm_bert_layer;

typedef struct tfm_bert {
    tfm_bert_config config;
    tfm_params params;
    tfm_tensor word_embeddings;          /* [V, E], also the MLM decoder's weight (E = C but in an ALBERT) */
    tfm_tensor position_embeddings;      /* [max_positions, E] */
    tfm_tensor token_type_embeddings;    /* [type_vocab_size, E] */
    tfm_layernorm_layer embedding_norm;
    tfm_linear_layer embedding_projection; /* ALBERT: encoder.embedding_hidden_mapping_in [C, E] */
    tfm_bert_layer *layers;              /* [hidden_groups]: layer i of n_layers runs layers[i * G / L] */
    tfm_linear_layer pooler;             /* pooler.dense [C, C], then tanh, on [CLS] */
    /* TFM_BERT_PRETRAINING only */
    tfm_linear_layer mlm_transform;      /* cls.predictions.transform.dense [E, C], then act and: */
    tfm_layernorm_layer mlm_norm;        /* cls.predictions.transform.LayerNorm [E] */
    tfm_tensor mlm_bias;                 /* cls.predictions.bias [V] */
    tfm_linear_layer nsp;                /* cls.seq_relationship [2, C] (ALBERT: sop_classifier.classifier) */
    /* TFM_BERT_SEQUENCE_CLASSIFICATION and _TOKEN_CLASSIFICATION only */
    tfm_linear_layer classifier;         /* classifier [num_labels, C] */
    char **label_names;                  /* [num_labels]: id2label ("LABEL_<i>" unless set), owned */
} tfm_bert;

/* Declare and allocate (zeros, LayerNorm gains 1); tfm_bert_init_weights: BERT's normal(0, 0.02). */
tfm_status tfm_bert_create(tfm_bert **model, const tfm_bert_config *config);
void tfm_bert_init_weights(tfm_bert *model, uint64_t seed);
void tfm_bert_free(tfm_bert *model);
/* A Hugging Face BERT directory: config.json + model.safetensors (a position_ids buffer is ignored). Weights
 * holding NaN or infinity are refused unless options->allow_nonfinite (tfm/io.h; NULL = defaults). */
struct tfm_load_options;
tfm_status tfm_bert_load(tfm_bert **model, const char *dir, const struct tfm_load_options *options);
/* Only the config.json of such a directory (what tfm_bert_load would build). */
tfm_status tfm_bert_config_read(const char *dir, tfm_bert_config *config);
/* config.json + model.safetensors in the same layout, atomically; transformers loads it. */
tfm_status tfm_bert_save(const tfm_bert *model, const char *dir);
/* "5430786 parameters, 4 layers, d_model 256, 4 heads" (an ALBERT: "ALBERT, ..., 4 layers sharing 1 block, embeddings 128
 * -> d_model 256, ...") for progress lines. */
void tfm_bert_describe(const tfm_bert *model, char *buffer, size_t size);
/* Name the classifier's outputs: names[num_labels] are copied. */
tfm_status tfm_bert_set_label_names(tfm_bert *model, const char *const *names, int count);
/* Fine-tuning's start: the embeddings, encoder and (when both have one) pooler of the BERT in `dir`, whatever its
 * heads (BertModel, BertForPreTraining, a classifier), copied into `model`; the model's own heads keep their values.
 * The two configs must agree on every size; a mismatch is an error naming the field. */
tfm_status tfm_bert_load_encoder(tfm_bert *model, const char *dir, const struct tfm_load_options *options);

/* The inputs of one batch: B sequences of T tokens, right-padded. */
typedef struct tfm_bert_batch {
    const int32_t *input_ids;            /* [B, T], in [0, V) */
    const int32_t *token_type_ids;       /* [B, T] in [0, type_vocab_size), or NULL: all segment 0 */
    const int *lengths;                  /* [B]: tokens before the padding (attention_mask = 1 there), or NULL: all T */
    int batch, length;                   /* B, T (T <= max_positions) */
} tfm_bert_batch;

/* The encoder's last hidden states [B, T, C] (transformers' last_hidden_state). Padding keys are masked in
 * the scores; rows at padded positions are computed as transformers computes them. */
tfm_tensor *tfm_bert_encode(tfm_bert *model, tfm_graph *g, const tfm_bert_batch *batch);
/* tanh(pooler(hidden[:, 0])) -> [B, C] (pooler_output) */
tfm_tensor *tfm_bert_pool(tfm_bert *model, tfm_graph *g, tfm_tensor *hidden, int B, int T);
/* The MLM head on rows[count] of hidden [B*T, C] (e.g. the masked positions) -> [count, V] */
tfm_tensor *tfm_bert_mlm_logits(tfm_bert *model, tfm_graph *g, tfm_tensor *hidden, const int32_t *rows, int count);
/* Next-sentence logits from the pooled output [B, C] -> [B, 2] (index 0: B follows A) */
tfm_tensor *tfm_bert_nsp_logits(tfm_bert *model, tfm_graph *g, tfm_tensor *pooled);

/* The classifiers: dropout, then classifier. Sequences: on the pooled output [B, C] -> [B, num_labels]; tokens: on
 * rows[count] of hidden [B*T, C] (e.g. each word's first piece) -> [count, num_labels]. */
tfm_tensor *tfm_bert_sequence_logits(tfm_bert *model, tfm_graph *g, tfm_tensor *pooled);
tfm_tensor *tfm_bert_token_logits(tfm_bert *model, tfm_graph *g, tfm_tensor *hidden, const int32_t *rows, int count);
/* The classification loss (transformers' for either architecture, labels -100 except at `rows`): mean cross-entropy
 * of the labels[count] at rows (token classification; sequences: rows ignored, count = B). -> [1]; *logits (may be
 * NULL) receives [count, num_labels], valid until backward. */
tfm_tensor *tfm_bert_classification_loss(tfm_bert *model, tfm_graph *g, const tfm_bert_batch *batch, const int32_t *rows,
                                         const int32_t *labels, int count, float label_smoothing, tfm_tensor **logits);

/* BERT's pre-training loss on a batch made by tfm_bert_pretraining_batch_fill (tfm/bert_data.h): the mean masked-LM
 * cross-entropy over the batch's prediction rows, plus, when it has pairs, the mean NSP/SOP cross-entropy over its
 * sequences: transformers' BertForPreTraining loss (labels -100 except at the rows). -> [1]. `outputs` (may be NULL)
 * receives the logits (for accuracies; valid until backward) and the two parts' values. */
typedef struct tfm_bert_pretraining_outputs {
    tfm_tensor *mlm_logits;              /* [predictions, V] */
    tfm_tensor *pair_logits;             /* [B, 2], NULL without pairs */
    float mlm_loss, pair_loss;           /* pair_loss 0 without pairs */
} tfm_bert_pretraining_outputs;
tfm_tensor *tfm_bert_pretraining_loss(tfm_bert *model, tfm_graph *g, const tfm_bert_pretraining_batch *batch, float label_smoothing,
                                      tfm_bert_pretraining_outputs *outputs);

/* Means with padding masks, L2 normalised: sentence-transformers' embedding (mean pooling + Normalize) of
 * hidden [B, T, C] -> a plain array out[B, C] (no gradient). */
tfm_status tfm_bert_mean_pool(const tfm_tensor *hidden, const int *lengths, int B, int T, int normalize, float *out);

#ifdef __cplusplus
}
#endif
#endif
