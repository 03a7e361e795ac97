/* models/seq2seq_config.c: the encoder-decoder's configuration: defaults (the paper's base model), validation, JSON. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/positions.h"
#include "models/seq2seq_internal.h"

/* Largest accepted dimension, as for GPT configs: keeps shape products far from overflow. */
#define SEQ2SEQ_MAX_DIM (1 << 24)
#define SEQ2SEQ_MAX_LAYERS 1024 /* per stack; as GPT's model.n_layers */

void tfm_seq2seq_config_default(tfm_seq2seq_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 8000;
    c->max_source_length = 256;
    c->max_target_length = 256;
    c->d_model = 512;
    c->n_encoder_layers = 6;
    c->n_decoder_layers = 6;
    c->n_heads = 8;
    c->d_ff = 2048;
    c->dropout = 0.1f;
    c->attention_dropout = 0.1f;
    c->activation_dropout = 0.0f;
    c->activation = TFM_ACTIVATION_RELU;
    c->pre_layernorm = 0;
    c->positions = TFM_POSITIONS_SINUSOIDAL;
    c->rope_base = 10000.0f;
    c->relative_clip = 16;
    c->norm = TFM_NORM_LAYERNORM;
    c->attention_score = TFM_SCORE_SCALED_DOT;
    c->scale_embeddings = 1;
    c->final_norm = 1;
    c->share_embeddings = 1;
    c->layernorm_eps = 1e-5f;
    c->pad_id = 0;
    c->bos_id = 1;
    c->eos_id = 2;
}

static int dim_ok(int x) { return x >= 1 && x <= SEQ2SEQ_MAX_DIM; }
static int probability_ok(float x) { return isfinite(x) && x >= 0.0f && x < 1.0f; }

tfm_status tfm_seq2seq_config_validate(const tfm_seq2seq_config *c) {
    const struct { const char *name; int value; } dims[] = {
        {"vocab_size", c->vocab_size}, {"max_source_length", c->max_source_length},
        {"max_target_length", c->max_target_length}, {"d_model", c->d_model},
        {"n_encoder_layers", c->n_encoder_layers}, {"n_decoder_layers", c->n_decoder_layers},
        {"n_heads", c->n_heads}, {"d_ff", c->d_ff}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (!dim_ok(dims[i].value))
            return tfm_error(TFM_ERR_CONFIG, "model.%s: expected 1 to %d, got %d", dims[i].name, SEQ2SEQ_MAX_DIM, dims[i].value);
    if (c->n_encoder_layers > SEQ2SEQ_MAX_LAYERS || c->n_decoder_layers > SEQ2SEQ_MAX_LAYERS)
        return tfm_error(TFM_ERR_CONFIG, "model.%s: expected 1 to %d, got %d",
                         c->n_encoder_layers > SEQ2SEQ_MAX_LAYERS ? "n_encoder_layers" : "n_decoder_layers", SEQ2SEQ_MAX_LAYERS,
                         c->n_encoder_layers > SEQ2SEQ_MAX_LAYERS ? c->n_encoder_layers : c->n_decoder_layers);
    if (c->d_model % c->n_heads != 0)
        return tfm_error(TFM_ERR_CONFIG, "model.d_model (%d) must be a multiple of model.n_heads (%d)", c->d_model, c->n_heads);
    const struct { const char *name; float value; } probabilities[] = {
        {"dropout", c->dropout}, {"attention_dropout", c->attention_dropout}, {"activation_dropout", c->activation_dropout}};
    for (size_t i = 0; i < sizeof probabilities / sizeof probabilities[0]; i++)
        if (!probability_ok(probabilities[i].value))
            return tfm_error(TFM_ERR_CONFIG, "model.%s: expected a number in [0, 1), got %g", probabilities[i].name,
                             (double)probabilities[i].value);
    if (c->activation < 0 || c->activation > TFM_ACTIVATION_PRELU)
        return tfm_error(TFM_ERR_CONFIG, "model.activation: expected a TFM_ACTIVATION_* value (0 to %d), got %d", TFM_ACTIVATION_PRELU,
                         c->activation);
    tfm_status st = tfm_positions_validate(c->positions, c->d_model / c->n_heads, c->rope_base, c->relative_clip);
    if (st) return st;
    if (c->norm < 0 || c->norm >= TFM_NORM_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "model.norm: expected a TFM_NORM_* value (0 to %d), got %d", TFM_NORM_COUNT - 1, c->norm);
    if (c->attention_score < 0 || c->attention_score >= TFM_SCORE_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "model.attention_score: expected a TFM_SCORE_* value (0 to %d), got %d", TFM_SCORE_COUNT - 1,
                         c->attention_score);
    if (c->score_width < 0 || c->score_width > SEQ2SEQ_MAX_DIM)
        return tfm_error(TFM_ERR_CONFIG, "model.score_width: expected 0 (the head size) to %d, got %d", SEQ2SEQ_MAX_DIM, c->score_width);
    if (c->attention_score == TFM_SCORE_GENERAL || c->attention_score == TFM_SCORE_ADDITIVE) {
        const char *score = tfm_score_names[c->attention_score];
        if (c->attention_dropout != 0.0f)
            return tfm_error(TFM_ERR_CONFIG, "model.attention_dropout: the \"%s\" score has no dropout on the attention weights; set it to 0 "
                             "(got %g)", score, (double)c->attention_dropout);
        if (c->positions == TFM_POSITIONS_ALIBI || c->positions == TFM_POSITIONS_RELATIVE)
            return tfm_error(TFM_ERR_CONFIG, "model.positions: \"%s\" acts on dot-product scores; the \"%s\" score takes sinusoidal, "
                             "learned or rope", tfm_position_names[c->positions], score);
    }
    const struct { const char *name; int value; } flags[] = {
        {"pre_layernorm", c->pre_layernorm}, {"scale_embeddings", c->scale_embeddings}, {"share_embeddings", c->share_embeddings},
        {"final_norm", c->final_norm}, {"zero_start_embedding", c->zero_start_embedding}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].value != 0 && flags[i].value != 1)
            return tfm_error(TFM_ERR_CONFIG, "model.%s: expected 0 or 1, got %d", flags[i].name, flags[i].value);
    if (!(isfinite(c->layernorm_eps) && c->layernorm_eps > 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "model.layernorm_eps: expected a positive number, got %g", (double)c->layernorm_eps);
    const struct { const char *name; int value; } ids[] = {{"pad_id", c->pad_id}, {"bos_id", c->bos_id}, {"eos_id", c->eos_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].value < 0 || ids[i].value >= c->vocab_size)
            return tfm_error(TFM_ERR_CONFIG, "model.%s: expected an id in [0, vocab_size = %d), got %d", ids[i].name,
                             c->vocab_size, ids[i].value);
    /* pad_id may be the decoder's start (bos_id), as in Marian: the start is never a target, padding targets are */
    if (c->pad_id == c->eos_id)
        return tfm_error(TFM_ERR_CONFIG, "model.pad_id (%d) must differ from eos_id (%d): padding targets are ignored by the loss, EOS is one",
                         c->pad_id, c->eos_id);
    return TFM_OK;
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        tfm_status try_status_ = (call);                                                                               \
        if (try_status_ != TFM_OK) return try_status_;                                                                 \
    } while (0)

static tfm_status read_int(const cJSON *o, const char *key, const tfm_json_context *ctx, long long min, long long max, int *value) {
    long long v = *value;
    TRY(tfm_json_read_int(o, key, ctx, min, max, &v));
    *value = (int)v;
    return TFM_OK;
}

tfm_status tfm_seq2seq_config_read_object(const cJSON *o, const tfm_json_context *ctx, tfm_seq2seq_config *c) {
    static const char *const keys[] = {
        "model_type", "vocab_size", "max_source_length", "max_target_length", "d_model", "n_encoder_layers",
        "n_decoder_layers", "n_heads", "d_ff", "dropout", "attention_dropout", "activation_dropout", "activation",
        "pre_layernorm", "norm", "positions", "rope_base", "relative_clip", "attention_score", "score_width", "scale_embeddings", "share_embeddings", "final_norm", "zero_start_embedding", "layernorm_eps", "pad_id", "bos_id",
        "eos_id", NULL};
    if (!cJSON_IsObject(o)) {
        char got[64];
        tfm_json_describe(o, got, sizeof got);
        return tfm_error(TFM_ERR_CONFIG, "%s: %s: expected an object, got %s", ctx->source,
                         ctx->section ? ctx->section : "the top level", got);
    }
    const cJSON *type = tfm_json_field(o, "model_type");
    if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "seq2seq") == 0)) {
        char got[64];
        tfm_json_describe(type, got, sizeof got);
        return tfm_error(TFM_ERR_CONFIG, "%s: %s%smodel_type: expected \"seq2seq\", got %s (not an encoder-decoder config)",
                         ctx->source, ctx->section ? ctx->section : "", ctx->section ? "." : "", got);
    }
    /* after the model_type check, so a GPT or BERT config is reported as such rather than by its first key */
    TRY(tfm_json_check_keys(o, ctx, keys, NULL));
    TRY(read_int(o, "vocab_size", ctx, 1, SEQ2SEQ_MAX_DIM, &c->vocab_size));
    TRY(read_int(o, "max_source_length", ctx, 1, SEQ2SEQ_MAX_DIM, &c->max_source_length));
    TRY(read_int(o, "max_target_length", ctx, 1, SEQ2SEQ_MAX_DIM, &c->max_target_length));
    TRY(read_int(o, "d_model", ctx, 1, SEQ2SEQ_MAX_DIM, &c->d_model));
    TRY(read_int(o, "n_encoder_layers", ctx, 1, SEQ2SEQ_MAX_DIM, &c->n_encoder_layers));
    TRY(read_int(o, "n_decoder_layers", ctx, 1, SEQ2SEQ_MAX_DIM, &c->n_decoder_layers));
    TRY(read_int(o, "n_heads", ctx, 1, SEQ2SEQ_MAX_DIM, &c->n_heads));
    TRY(read_int(o, "d_ff", ctx, 1, SEQ2SEQ_MAX_DIM, &c->d_ff));
    TRY(tfm_json_read_float(o, "dropout", ctx, 0, 1, 1, 0, &c->dropout));
    TRY(tfm_json_read_float(o, "attention_dropout", ctx, 0, 1, 1, 0, &c->attention_dropout));
    TRY(tfm_json_read_float(o, "activation_dropout", ctx, 0, 1, 1, 0, &c->activation_dropout));
    TRY(tfm_json_read_choice(o, "activation", ctx, tfm_ffn_activation_names, &c->activation));
    TRY(tfm_json_read_bool(o, "pre_layernorm", ctx, &c->pre_layernorm));
    TRY(tfm_json_read_choice(o, "norm", ctx, tfm_norm_names, &c->norm));
    TRY(tfm_json_read_choice(o, "positions", ctx, tfm_position_names, &c->positions));
    TRY(tfm_json_read_float(o, "rope_base", ctx, 1, 0, INFINITY, 0, &c->rope_base));
    TRY(read_int(o, "relative_clip", ctx, 1, 65536, &c->relative_clip));
    TRY(tfm_json_read_choice(o, "attention_score", ctx, tfm_score_names, &c->attention_score));
    TRY(read_int(o, "score_width", ctx, 0, SEQ2SEQ_MAX_DIM, &c->score_width));
    TRY(tfm_json_read_bool(o, "scale_embeddings", ctx, &c->scale_embeddings));
    TRY(tfm_json_read_bool(o, "final_norm", ctx, &c->final_norm));
    TRY(tfm_json_read_bool(o, "zero_start_embedding", ctx, &c->zero_start_embedding));
    TRY(tfm_json_read_bool(o, "share_embeddings", ctx, &c->share_embeddings));
    TRY(tfm_json_read_float(o, "layernorm_eps", ctx, 0, 0, INFINITY, 0, &c->layernorm_eps));
    TRY(read_int(o, "pad_id", ctx, 0, SEQ2SEQ_MAX_DIM, &c->pad_id));
    TRY(read_int(o, "bos_id", ctx, 0, SEQ2SEQ_MAX_DIM, &c->bos_id));
    TRY(read_int(o, "eos_id", ctx, 0, SEQ2SEQ_MAX_DIM, &c->eos_id));
    return TFM_OK;
}

tfm_status tfm_seq2seq_config_from_json(const char *json_text, const char *source_name, tfm_seq2seq_config *out) {
    const char *source = source_name ? source_name : "<config>";
    cJSON *root = NULL;
    TRY(tfm_json_parse(json_text, strlen(json_text), source, &root));
    tfm_seq2seq_config c;
    tfm_seq2seq_config_default(&c);
    tfm_json_context ctx = {source, NULL};
    tfm_status s = tfm_seq2seq_config_read_object(root, &ctx, &c);
    cJSON_Delete(root);
    if (s != TFM_OK) return s;
    s = tfm_seq2seq_config_validate(&c);
    if (s != TFM_OK) return tfm_error_prefix(s, "%s: ", source);
    *out = c;
    return TFM_OK;
}

static int add_int(cJSON *o, const char *key, int x) { return cJSON_AddNumberToObject(o, key, x) != NULL; }
static int add_float(cJSON *o, const char *key, float x) { return cJSON_AddNumberToObject(o, key, tfm_json_float_value(x)) != NULL; }
static int add_bool(cJSON *o, const char *key, int x) { return cJSON_AddBoolToObject(o, key, x) != NULL; }

tfm_status tfm_seq2seq_config_to_json(const tfm_seq2seq_config *c, char **json_text) {
    *json_text = NULL;
    TRY(tfm_seq2seq_config_validate(c));
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "model_type", "seq2seq");
    ok = ok && add_int(o, "vocab_size", c->vocab_size) && add_int(o, "max_source_length", c->max_source_length) &&
         add_int(o, "max_target_length", c->max_target_length) && add_int(o, "d_model", c->d_model) &&
         add_int(o, "n_encoder_layers", c->n_encoder_layers) && add_int(o, "n_decoder_layers", c->n_decoder_layers) &&
         add_int(o, "n_heads", c->n_heads) && add_int(o, "d_ff", c->d_ff);
    ok = ok && add_float(o, "dropout", c->dropout) && add_float(o, "attention_dropout", c->attention_dropout) &&
         add_float(o, "activation_dropout", c->activation_dropout);
    ok = ok && cJSON_AddStringToObject(o, "activation", tfm_ffn_activation_names[c->activation]);
    ok = ok && add_bool(o, "pre_layernorm", c->pre_layernorm);
    ok = ok && cJSON_AddStringToObject(o, "norm", tfm_norm_names[c->norm]);
    ok = ok && cJSON_AddStringToObject(o, "positions", tfm_position_names[c->positions]);
    ok = ok && add_float(o, "rope_base", c->rope_base) && add_int(o, "relative_clip", c->relative_clip);
    ok = ok && cJSON_AddStringToObject(o, "attention_score", tfm_score_names[c->attention_score]) &&
         add_int(o, "score_width", c->score_width);
    ok = ok && add_bool(o, "scale_embeddings", c->scale_embeddings) && add_bool(o, "share_embeddings", c->share_embeddings) &&
         add_bool(o, "final_norm", c->final_norm) && add_bool(o, "zero_start_embedding", c->zero_start_embedding);
    ok = ok && add_float(o, "layernorm_eps", c->layernorm_eps);
    ok = ok && add_int(o, "pad_id", c->pad_id) && add_int(o, "bos_id", c->bos_id) && add_int(o, "eos_id", c->eos_id);
    tfm_status s = ok ? tfm_json_print(o, 1, json_text) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building the seq2seq config JSON");
    cJSON_Delete(o);
    return s;
}
