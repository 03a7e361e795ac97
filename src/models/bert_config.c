/* models/bert_config.c: BERT's (and ALBERT's) configuration: defaults, validation, Hugging Face's config.json in and out. */
#include "tfm/bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/activation_names.h"
#include "io/json.h"

#define BERT_MAX_DIM (1 << 24)
#define BERT_MAX_LAYERS 1024 /* as GPT's model.n_layers */

void tfm_bert_config_default(tfm_bert_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 30522;
    c->d_model = 768;
    c->n_layers = 12;
    c->n_heads = 12;
    c->d_ff = 3072;
    c->max_positions = 512;
    c->type_vocab_size = 2;
    c->activation = TFM_ACTIVATION_GELU_ERF;
    c->dropout = 0.1f;
    c->attention_dropout = 0.1f;
    c->layernorm_eps = 1e-12f;
    c->pad_id = 0;
    c->parts = TFM_BERT_BASE;
    c->num_labels = 2;
    c->embedding_size = c->d_model; /* what a BERT has; read only for an ALBERT */
    c->hidden_groups = c->n_layers;
    c->classifier_dropout = c->dropout;
}

void tfm_albert_config_default(tfm_bert_config *c) {
    tfm_bert_config_default(c);
    c->albert = 1;
    c->vocab_size = 30000;
    c->embedding_size = 128;
    c->d_model = 4096;
    c->n_heads = 64;
    c->d_ff = 16384;
    c->hidden_groups = 1;
    c->activation = TFM_ACTIVATION_GELU;
    c->dropout = 0.0f;
    c->attention_dropout = 0.0f;
    c->classifier_dropout = 0.1f;
}

static int probability(float p) { return isfinite(p) && p >= 0.0f && p < 1.0f; }

tfm_status tfm_bert_config_validate(const tfm_bert_config *c) {
    const struct { const char *name; int value, max; } dims[] = {
        {"vocab_size", c->vocab_size, BERT_MAX_DIM}, {"hidden_size", c->d_model, BERT_MAX_DIM},
        {"num_hidden_layers", c->n_layers, BERT_MAX_LAYERS}, {"num_attention_heads", c->n_heads, BERT_MAX_DIM},
        {"intermediate_size", c->d_ff, BERT_MAX_DIM}, {"max_position_embeddings", c->max_positions, BERT_MAX_DIM},
        {"type_vocab_size", c->type_vocab_size, BERT_MAX_DIM}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].value < 1 || dims[i].value > dims[i].max)
            return tfm_error(TFM_ERR_CONFIG, "%s: expected 1 to %d, got %d", dims[i].name, dims[i].max, dims[i].value);
    if (c->d_model % c->n_heads)
        return tfm_error(TFM_ERR_CONFIG, "hidden_size (%d) must be a multiple of num_attention_heads (%d)", c->d_model, c->n_heads);
    if (c->activation == TFM_ACTIVATION_PRELU)
        return tfm_error(TFM_ERR_CONFIG, "hidden_act: \"prelu\" (a learned slope) is for tfm's GPT and encoder-decoder FFN; BERT's takes an "
                         "element-wise activation");
    if (c->activation < 0 || c->activation >= TFM_ACTIVATION_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "hidden_act: expected a TFM_ACTIVATION_* value (0 to %d), got %d", TFM_ACTIVATION_COUNT - 1,
                         c->activation);
    if (!probability(c->dropout)) return tfm_error(TFM_ERR_CONFIG, "hidden_dropout_prob: expected [0, 1), got %g", (double)c->dropout);
    if (!probability(c->attention_dropout))
        return tfm_error(TFM_ERR_CONFIG, "attention_probs_dropout_prob: expected [0, 1), got %g", (double)c->attention_dropout);
    if (c->norm < 0 || c->norm >= TFM_NORM_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "norm: expected a TFM_NORM_* value (0 to %d), got %d", TFM_NORM_COUNT - 1, c->norm);
    if (!(isfinite(c->layernorm_eps) && c->layernorm_eps > 0))
        return tfm_error(TFM_ERR_CONFIG, "layer_norm_eps: expected a positive number, got %g", (double)c->layernorm_eps);
    if (c->pad_id < 0 || c->pad_id >= c->vocab_size)
        return tfm_error(TFM_ERR_CONFIG, "pad_token_id: expected an id in [0, vocab_size = %d), got %d", c->vocab_size, c->pad_id);
    if (c->parts < TFM_BERT_BASE || c->parts > TFM_BERT_TOKEN_CLASSIFICATION)
        return tfm_error(TFM_ERR_CONFIG, "parts: expected one of TFM_BERT_BASE to TFM_BERT_TOKEN_CLASSIFICATION, got %d", c->parts);
    if (c->num_labels < 1 || c->num_labels > TFM_BERT_MAX_LABELS)
        return tfm_error(TFM_ERR_CONFIG, "num_labels: expected 1 to %d, got %d", TFM_BERT_MAX_LABELS, c->num_labels);
    if (!c->albert) return TFM_OK;
    if (c->embedding_size < 1 || c->embedding_size > BERT_MAX_DIM)
        return tfm_error(TFM_ERR_CONFIG, "embedding_size: expected 1 to %d, got %d", BERT_MAX_DIM, c->embedding_size);
    if (c->hidden_groups < 1 || c->hidden_groups > c->n_layers || c->n_layers % c->hidden_groups)
        return tfm_error(TFM_ERR_CONFIG, "num_hidden_groups: expected a divisor of num_hidden_layers (%d), got %d", c->n_layers, c->hidden_groups);
    if (!probability(c->classifier_dropout))
        return tfm_error(TFM_ERR_CONFIG, "classifier_dropout_prob: expected [0, 1), got %g", (double)c->classifier_dropout);
    return TFM_OK;
}

/* ---- config.json ---- */

/* = TFM_BERT_*, for BERT and for ALBERT */
static const char *const architecture_names[2][5] = {
    {"BertModel", "BertForPreTraining", "BertForSequenceClassification", "BertForTokenClassification", NULL},
    {"AlbertModel", "AlbertForPreTraining", "AlbertForSequenceClassification", "AlbertForTokenClassification", NULL}};
static const char *const known_keys[] = {
    "architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "layer_norm_eps", "pad_token_id", "position_embedding_type", "tie_word_embeddings", "is_decoder",
    "add_cross_attention", "id2label", "num_labels", "problem_type", "classifier_dropout",
    "embedding_size", "num_hidden_groups", "inner_group_num", "classifier_dropout_prob", /* ALBERT's */
    "norm", NULL}; /* tfm's: the blocks' norm when not LayerNorm (transformers does not read it) */
/* Keys that do not change the computation (bookkeeping, generation, other heads' settings). */
static const char *const ignored_keys[] = {
    "_name_or_path", "transformers_version", "torch_dtype", "dtype", "initializer_range", "gradient_checkpointing", "use_cache",
    "bos_token_id", "eos_token_id", "sep_token_id", "label2id",
    "output_hidden_states", "output_attentions", "return_dict", "torchscript", "tokenizer_class", "finetuning_task", NULL};

#define STEP(call)                                                                                                         \
    if (s == TFM_OK) s = (call)

/* "architectures": one of architecture_names (ALBERT's for an ALBERT), or absent (a bare BertModel / AlbertModel). */
static tfm_status read_architecture(const cJSON *o, const char *source, int albert, int *parts) {
    const cJSON *arch = tfm_json_field(o, "architectures");
    if (!arch) return TFM_OK;
    const cJSON *first = cJSON_IsArray(arch) && cJSON_GetArraySize(arch) == 1 ? cJSON_GetArrayItem(arch, 0) : NULL;
    const char *const *names = architecture_names[albert];
    for (int i = 0; cJSON_IsString(first) && names[i]; i++)
        if (strcmp(first->valuestring, names[i]) == 0) {
            *parts = i;
            return TFM_OK;
        }
    char got[96];
    tfm_json_describe(arch, got, sizeof got);
    return tfm_error(TFM_ERR_UNSUPPORTED, "%s: architectures: expected [\"%s\"], [\"%s\"], [\"%s\"] or [\"%s\"] (model_type \"%s\"), got %s",
                     source, names[0], names[1], names[2], names[3], albert ? "albert" : "bert", got);
}

/* model_type "bert" or "albert" (-1 after the error). */
static int read_model_type(const cJSON *o, const char *source) {
    const cJSON *type = tfm_json_field(o, "model_type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "bert") == 0) return 0;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "albert") == 0) return 1;
    char got[64];
    tfm_json_describe(type, got, sizeof got);
    tfm_error(TFM_ERR_CONFIG, "%s: model_type: expected \"bert\" or \"albert\", got %s", source, type ? got : "nothing");
    return -1;
}

/* ALBERT's keys: factorized embeddings, shared blocks, the classifiers' dropout; a BERT has none of them. */
static tfm_status read_albert_part(const cJSON *o, const tfm_json_context *ctx, tfm_bert_config *c) {
    static const char *const keys[] = {"embedding_size", "num_hidden_groups", "inner_group_num", "classifier_dropout_prob"};
    for (int i = 0; !c->albert && i < 4; i++)
        if (tfm_json_field(o, keys[i]))
            return tfm_error(TFM_ERR_CONFIG, "%s: %s: an ALBERT setting; use \"model_type\": \"albert\" for an ALBERT", ctx->source, keys[i]);
    if (!c->albert) return TFM_OK;
    int inner = 1;
    tfm_status s = tfm_json_read_int32(o, "embedding_size", ctx, 1, BERT_MAX_DIM, &c->embedding_size);
    STEP(tfm_json_read_int32(o, "num_hidden_groups", ctx, 1, BERT_MAX_LAYERS, &c->hidden_groups));
    STEP(tfm_json_read_int32(o, "inner_group_num", ctx, 1, BERT_MAX_LAYERS, &inner));
    if (s == TFM_OK && inner != 1)
        s = tfm_error(TFM_ERR_UNSUPPORTED, "%s: inner_group_num: tfm's ALBERT has one layer per group (1), got %d", ctx->source, inner);
    STEP(tfm_json_read_float(o, "classifier_dropout_prob", ctx, 0, 1, 1, 0, &c->classifier_dropout));
    return s;
}

/* A setting tfm does not implement is accepted only at the value that means "as tfm computes". */
static tfm_status expect_bool(const cJSON *o, const char *key, const tfm_json_context *ctx, int required) {
    int v = required;
    tfm_status s = tfm_json_read_bool(o, key, ctx, &v);
    if (!s && v != required)
        s = tfm_error(TFM_ERR_UNSUPPORTED, "%s: %s: tfm's BERT supports only %s", ctx->source, key, required ? "true" : "false");
    return s;
}

/* num_labels: the size of id2label, or the "num_labels" key; both given, they must agree. problem_type: single-label only;
 * classifier_dropout: null only (the classifier's dropout is hidden_dropout_prob). */
static tfm_status read_label_count(const cJSON *o, const tfm_json_context *ctx, int *count) {
    const cJSON *names = tfm_json_field(o, "id2label"), *problem = tfm_json_field(o, "problem_type");
    const cJSON *dropout = tfm_json_field(o, "classifier_dropout");
    if (names && !(cJSON_IsObject(names) && cJSON_GetArraySize(names) >= 1 && cJSON_GetArraySize(names) <= TFM_BERT_MAX_LABELS))
        return tfm_error(TFM_ERR_CONFIG, "%s: id2label: expected an object of 1 to %d labels {\"0\": name, ...}", ctx->source, TFM_BERT_MAX_LABELS);
    if (names) *count = cJSON_GetArraySize(names);
    int given = names ? *count : -1;
    tfm_status s = tfm_json_read_int32(o, "num_labels", ctx, 1, TFM_BERT_MAX_LABELS, count);
    if (!s && names && *count != given)
        s = tfm_error(TFM_ERR_CONFIG, "%s: num_labels (%d) disagrees with id2label's %d labels", ctx->source, *count, given);
    if (!s && problem && !cJSON_IsNull(problem) && !(cJSON_IsString(problem) && strcmp(problem->valuestring, "single_label_classification") == 0))
        s = tfm_error(TFM_ERR_UNSUPPORTED, "%s: problem_type: tfm's BERT classifiers are single-label (softmax); expected "
                                           "\"single_label_classification\" or null", ctx->source);
    if (!s && dropout && !cJSON_IsNull(dropout))
        s = tfm_error(TFM_ERR_UNSUPPORTED, "%s: classifier_dropout: expected null (the classifier's dropout is hidden_dropout_prob)", ctx->source);
    return s;
}

void tfm_bert_label_names_free(char **names, int count) {
    if (!names) return;
    for (int i = 0; i < count; i++)
        if (names[i]) tfm_free(names[i], strlen(names[i]) + 1);
    tfm_free(names, sizeof(char *) * (size_t)count);
}

tfm_status tfm_bert_config_read_label_names(const char *json_text, const char *source_name, int count, char ***out) {
    const char *source = source_name ? source_name : "<config>";
    *out = NULL;
    cJSON *o = NULL;
    tfm_status s = tfm_json_parse(json_text, strlen(json_text), source, &o);
    if (s) return s;
    const cJSON *map = tfm_json_field(o, "id2label");
    char **names = map && cJSON_GetArraySize(map) == count ? tfm_calloc((size_t)count, sizeof(char *)) : NULL;
    if (map && !names) s = cJSON_GetArraySize(map) == count ? TFM_ERR_OUT_OF_MEMORY
                                                             : tfm_error(TFM_ERR_CONFIG, "%s: id2label: expected %d labels", source, count);
    for (const cJSON *item = map ? map->child : NULL; item && !s; item = item->next) {
        char *end = NULL;
        long id = strtol(item->string, &end, 10);
        if (!item->string[0] || *end || id < 0 || id >= count || names[id] || !cJSON_IsString(item))
            s = tfm_error(TFM_ERR_CONFIG, "%s: id2label: \"%s\": expected the ids 0 to %d, each once, each with a name", source,
                          item->string, count - 1);
        else if (!(names[id] = tfm_strdup(item->valuestring)))
            s = TFM_ERR_OUT_OF_MEMORY;
    }
    cJSON_Delete(o);
    if (s) tfm_bert_label_names_free(names, count);
    else *out = names;
    return s;
}

tfm_status tfm_bert_config_from_json(const char *json_text, const char *source_name, tfm_bert_config *out) {
    const char *source = source_name ? source_name : "<config>";
    cJSON *o = NULL;
    tfm_status s = tfm_json_parse(json_text, strlen(json_text), source, &o);
    if (s) return s;
    tfm_bert_config c;
    tfm_json_context ctx = {source, NULL};
    s = tfm_json_expect_object(o, source, "the top level");
    STEP(tfm_json_check_keys(o, &ctx, known_keys, ignored_keys));
    int albert = s == TFM_OK ? read_model_type(o, source) : 0;
    if (albert < 0) s = TFM_ERR_CONFIG;
    if (albert == 1) tfm_albert_config_default(&c);
    else tfm_bert_config_default(&c);
    STEP(read_architecture(o, source, c.albert, &c.parts));
    STEP(tfm_json_read_int32(o, "vocab_size", &ctx, 1, BERT_MAX_DIM, &c.vocab_size));
    STEP(tfm_json_read_int32(o, "hidden_size", &ctx, 1, BERT_MAX_DIM, &c.d_model));
    STEP(tfm_json_read_int32(o, "num_hidden_layers", &ctx, 1, BERT_MAX_LAYERS, &c.n_layers));
    STEP(tfm_json_read_int32(o, "num_attention_heads", &ctx, 1, BERT_MAX_DIM, &c.n_heads));
    STEP(tfm_json_read_int32(o, "intermediate_size", &ctx, 1, BERT_MAX_DIM, &c.d_ff));
    STEP(tfm_json_read_int32(o, "max_position_embeddings", &ctx, 1, BERT_MAX_DIM, &c.max_positions));
    STEP(tfm_json_read_int32(o, "type_vocab_size", &ctx, 1, BERT_MAX_DIM, &c.type_vocab_size));
    STEP(tfm_json_read_int32(o, "pad_token_id", &ctx, 0, BERT_MAX_DIM, &c.pad_id));
    int act = TFM_ACTIVATION_GELU_ERF; /* transformers' default, "gelu" */
    STEP(tfm_json_read_choice(o, "hidden_act", &ctx, tfm_hf_activation_names, &act));
    c.activation = tfm_hf_activation_kind(act);
    STEP(tfm_json_read_float(o, "hidden_dropout_prob", &ctx, 0, 1, 1, 0, &c.dropout));
    STEP(tfm_json_read_float(o, "attention_probs_dropout_prob", &ctx, 0, 1, 1, 0, &c.attention_dropout));
    STEP(tfm_json_read_float(o, "layer_norm_eps", &ctx, 0, 0, INFINITY, 0, &c.layernorm_eps));
    STEP(tfm_json_read_choice(o, "norm", &ctx, tfm_norm_names, &c.norm));
    const cJSON *positions = tfm_json_field(o, "position_embedding_type");
    if (s == TFM_OK && positions && !(cJSON_IsString(positions) && strcmp(positions->valuestring, "absolute") == 0))
        s = tfm_error(TFM_ERR_UNSUPPORTED, "%s: position_embedding_type: tfm's BERT has learned absolute positions only", source);
    STEP(expect_bool(o, "tie_word_embeddings", &ctx, 1));
    STEP(expect_bool(o, "is_decoder", &ctx, 0));
    STEP(expect_bool(o, "add_cross_attention", &ctx, 0));
    STEP(read_label_count(o, &ctx, &c.num_labels));
    STEP(read_albert_part(o, &ctx, &c));
    cJSON_Delete(o);
    if (s) return s;
    if ((s = tfm_bert_config_validate(&c)) != TFM_OK) return tfm_error_prefix(s, "%s: ", source);
    *out = c;
    return TFM_OK;
}

static int add_labels(cJSON *o, const tfm_bert_config *c, const char *const *names) {
    cJSON *id2label = cJSON_AddObjectToObject(o, "id2label"), *label2id = cJSON_AddObjectToObject(o, "label2id");
    int ok = id2label && label2id;
    for (int i = 0; i < c->num_labels && ok; i++) {
        char id[16], fallback[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(fallback, sizeof fallback, "LABEL_%d", i);
        const char *name = names && names[i] ? names[i] : fallback;
        ok = cJSON_AddStringToObject(id2label, id, name) && cJSON_AddNumberToObject(label2id, name, i);
    }
    return ok;
}

tfm_status tfm_bert_config_to_json(const tfm_bert_config *c, const char *const *label_names, char **json_text) {
    *json_text = NULL;
    tfm_status s = tfm_bert_config_validate(c);
    if (s) return s;
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_CreateArray();
    int ok = o && arch && cJSON_AddItemToArray(arch, cJSON_CreateString(architecture_names[c->albert != 0][c->parts]));
    ok = ok && cJSON_AddItemToObject(o, "architectures", arch);
    if (!ok) cJSON_Delete(arch);
    const char *act = tfm_hf_activation_name(c->activation);
    ok = ok && cJSON_AddStringToObject(o, "model_type", c->albert ? "albert" : "bert") && cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size) &&
         cJSON_AddNumberToObject(o, "hidden_size", c->d_model) && cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers) &&
         cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads) &&
         cJSON_AddNumberToObject(o, "intermediate_size", c->d_ff) && cJSON_AddStringToObject(o, "hidden_act", act) &&
         cJSON_AddNumberToObject(o, "hidden_dropout_prob", tfm_json_float_value(c->dropout)) &&
         cJSON_AddNumberToObject(o, "attention_probs_dropout_prob", tfm_json_float_value(c->attention_dropout)) &&
         cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_positions) &&
         cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab_size) &&
         cJSON_AddNumberToObject(o, "layer_norm_eps", tfm_json_float_value(c->layernorm_eps)) &&
         cJSON_AddNumberToObject(o, "pad_token_id", c->pad_id) && cJSON_AddStringToObject(o, "position_embedding_type", "absolute") &&
         cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    if (c->albert)
        ok = ok && cJSON_AddNumberToObject(o, "embedding_size", c->embedding_size) && cJSON_AddNumberToObject(o, "num_hidden_groups", c->hidden_groups) &&
             cJSON_AddNumberToObject(o, "inner_group_num", 1) &&
             cJSON_AddNumberToObject(o, "classifier_dropout_prob", tfm_json_float_value(c->classifier_dropout));
    if (c->norm != TFM_NORM_LAYERNORM) ok = ok && cJSON_AddStringToObject(o, "norm", tfm_norm_names[c->norm]);
    if (c->parts >= TFM_BERT_SEQUENCE_CLASSIFICATION) ok = ok && add_labels(o, c, label_names);
    s = ok ? tfm_json_print(o, 1, json_text) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building BERT's config.json");
    cJSON_Delete(o);
    return s;
}
