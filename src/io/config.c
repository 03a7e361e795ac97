/* io/config.c: the GPT model configuration: defaults, validation, its "model" object, and Hugging Face GPT-2 config.json. */
#include "tfm/config.h"

#include "io/activation_names.h"
#include "io/json.h"
#include "io/positions.h"
#include "tfm/io.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest accepted dimension: keeps every shape product far from int and size_t overflow. */
#define TFM_CONFIG_MAX_DIM (1 << 24)
/* Deeper than any published model (GPT-3: 96, Llama 3 405B: 126); far more only makes set-up crawl. */
#define TFM_CONFIG_MAX_LAYERS 1024


const char *const tfm_norm_names[] = {"layernorm", "rmsnorm", "batchnorm", NULL};

/* ---- Defaults ---- */

void tfm_gpt_config_default(tfm_gpt_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 256;
    c->context_length = 128;
    c->d_model = 128;
    c->n_layers = 4;
    c->n_heads = 4;
    c->d_ff = 512;
    c->dropout = c->attention_dropout = c->embedding_dropout = 0.1f;
    c->layernorm_eps = 1e-5f;
    c->pre_layernorm = 1;
    c->norm = TFM_NORM_LAYERNORM;
    c->positions = TFM_POSITIONS_LEARNED;
    c->relative_clip = 16;
    c->rope_base = 10000.0f;
    c->tie_embeddings = 1;
    c->activation = TFM_ACTIVATION_GELU;
}

/* ---- Validation ---- */

static int unit_interval(float x) { return isfinite(x) && x >= 0.0f && x < 1.0f; } /* [0, 1) */

static int positive_dim(int x) { return x >= 1 && x <= TFM_CONFIG_MAX_DIM; }

tfm_status tfm_gpt_config_validate(const tfm_gpt_config *c) {
    if (!positive_dim(c->vocab_size))
        return tfm_error(TFM_ERR_CONFIG, "model.vocab_size: expected 1 to %d, got %d", TFM_CONFIG_MAX_DIM, c->vocab_size);
    if (!positive_dim(c->context_length))
        return tfm_error(TFM_ERR_CONFIG, "model.context_length: expected 1 to %d, got %d", TFM_CONFIG_MAX_DIM,
                         c->context_length);
    if (!positive_dim(c->d_model))
        return tfm_error(TFM_ERR_CONFIG, "model.d_model: expected 1 to %d, got %d", TFM_CONFIG_MAX_DIM, c->d_model);
    if (c->n_layers < 1 || c->n_layers > TFM_CONFIG_MAX_LAYERS)
        return tfm_error(TFM_ERR_CONFIG, "model.n_layers: expected 1 to %d, got %d", TFM_CONFIG_MAX_LAYERS, c->n_layers);
    if (!positive_dim(c->n_heads))
        return tfm_error(TFM_ERR_CONFIG, "model.n_heads: expected 1 to %d, got %d", TFM_CONFIG_MAX_DIM, c->n_heads);
    if (c->d_model % c->n_heads != 0)
        return tfm_error(TFM_ERR_CONFIG, "model.d_model (%d) must be a multiple of model.n_heads (%d)", c->d_model,
                         c->n_heads);
    if (!positive_dim(c->d_ff))
        return tfm_error(TFM_ERR_CONFIG, "model.d_ff (n_inner; 4 x n_embd when absent): expected 1 to %d, got %d", TFM_CONFIG_MAX_DIM, c->d_ff);
    if (!unit_interval(c->dropout))
        return tfm_error(TFM_ERR_CONFIG, "model.dropout: expected a number in [0, 1), got %g", (double)c->dropout);
    if (!unit_interval(c->attention_dropout))
        return tfm_error(TFM_ERR_CONFIG, "model.attention_dropout: expected a number in [0, 1), got %g", (double)c->attention_dropout);
    if (!unit_interval(c->embedding_dropout))
        return tfm_error(TFM_ERR_CONFIG, "model.embedding_dropout: expected a number in [0, 1), got %g", (double)c->embedding_dropout);
    if (!(isfinite(c->layernorm_eps) && c->layernorm_eps > 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "model.layernorm_eps: expected a positive number, got %g",
                         (double)c->layernorm_eps);
    tfm_status st = tfm_positions_validate(c->positions, c->d_model / c->n_heads, c->rope_base, c->relative_clip);
    if (st) return st;
    if (c->norm < 0 || c->norm >= TFM_NORM_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "model.norm: expected a TFM_NORM_* value (0 to %d), got %d", TFM_NORM_COUNT - 1, c->norm);
    if (c->pre_layernorm != 0 && c->pre_layernorm != 1)
        return tfm_error(TFM_ERR_CONFIG, "model.pre_layernorm: expected 0 or 1, got %d", c->pre_layernorm);
    if (c->tie_embeddings != 0 && c->tie_embeddings != 1)
        return tfm_error(TFM_ERR_CONFIG, "model.tie_embeddings: expected 0 or 1, got %d", c->tie_embeddings);
    if (c->activation < 0 || c->activation > TFM_ACTIVATION_PRELU)
        return tfm_error(TFM_ERR_CONFIG, "model.activation: expected a TFM_ACTIVATION_* value (0 to %d), got %d", TFM_ACTIVATION_PRELU,
                         c->activation);
    return TFM_OK;
}

/* ---- Reading tfm-named objects ("model" and "train" sections) ---- */


#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        tfm_status try_status_ = (call);                                                                               \
        if (try_status_ != TFM_OK) return try_status_;                                                                 \
    } while (0)

static tfm_status read_model_section(const cJSON *o, const tfm_json_context *ctx, tfm_gpt_config *c) {
    static const char *const keys[] = {"vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_ff",
                                       "dropout", "attention_dropout", "embedding_dropout", "layernorm_eps", "pre_layernorm", "norm", "positions", "rope_base", "relative_clip", "tie_embeddings", "activation",
                                       NULL};
    TRY(tfm_json_check_keys(o, ctx, keys, NULL));
    TRY(tfm_json_read_int32(o, "vocab_size", ctx, 1, TFM_CONFIG_MAX_DIM, &c->vocab_size));
    TRY(tfm_json_read_int32(o, "context_length", ctx, 1, TFM_CONFIG_MAX_DIM, &c->context_length));
    TRY(tfm_json_read_int32(o, "d_model", ctx, 1, TFM_CONFIG_MAX_DIM, &c->d_model));
    TRY(tfm_json_read_int32(o, "n_layers", ctx, 1, TFM_CONFIG_MAX_DIM, &c->n_layers));
    TRY(tfm_json_read_int32(o, "n_heads", ctx, 1, TFM_CONFIG_MAX_DIM, &c->n_heads));
    TRY(tfm_json_read_int32(o, "d_ff", ctx, 1, TFM_CONFIG_MAX_DIM, &c->d_ff));
    /* "dropout" sets all three rates; the other two keys set their own */
    TRY(tfm_json_read_float(o, "dropout", ctx, 0, 1, 1, 0, &c->dropout));
    if (tfm_json_field(o, "dropout")) c->attention_dropout = c->embedding_dropout = c->dropout;
    TRY(tfm_json_read_float(o, "attention_dropout", ctx, 0, 1, 1, 0, &c->attention_dropout));
    TRY(tfm_json_read_float(o, "embedding_dropout", ctx, 0, 1, 1, 0, &c->embedding_dropout));
    TRY(tfm_json_read_float(o, "layernorm_eps", ctx, 0, 0, INFINITY, 0, &c->layernorm_eps));
    TRY(tfm_json_read_bool(o, "pre_layernorm", ctx, &c->pre_layernorm));
    TRY(tfm_json_read_choice(o, "norm", ctx, tfm_norm_names, &c->norm));
    TRY(tfm_json_read_choice(o, "positions", ctx, tfm_position_names, &c->positions));
    TRY(tfm_json_read_float(o, "rope_base", ctx, 1, 0, INFINITY, 0, &c->rope_base));
    TRY(tfm_json_read_int32(o, "relative_clip", ctx, 1, 65536, &c->relative_clip));
    TRY(tfm_json_read_bool(o, "tie_embeddings", ctx, &c->tie_embeddings));
    TRY(tfm_json_read_choice(o, "activation", ctx, tfm_ffn_activation_names, &c->activation));
    return TFM_OK;
}

/* The "model" object of a tfm training-config file (absent: the defaults stay); used by io/train_config.c. */
tfm_status tfm_gpt_config_read_object(const cJSON *o, const char *path, void *out) {
    if (!o) return TFM_OK;
    tfm_json_context ctx = {path, "model"};
    return read_model_section(o, &ctx, out);
}

/* ---- Hugging Face GPT-2 config.json ---- */

/* Adds a number, treating a float as its shortest decimal so the file reads "0.1", not "0.10000000149". */
static int add_float(cJSON *o, const char *key, float x) { return cJSON_AddNumberToObject(o, key, tfm_json_float_value(x)) != NULL; }
static int add_int(cJSON *o, const char *key, double x) { return cJSON_AddNumberToObject(o, key, x) != NULL; }

tfm_status tfm_gpt_config_to_json(const tfm_gpt_config *c, char **json_text) {
    *json_text = NULL;
    TRY(tfm_gpt_config_validate(c));
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    cJSON *extras = cJSON_CreateObject();
    int ok = o && arch && extras;
    if (ok) {
        ok = cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
        ok = ok && cJSON_AddItemToObject(o, "architectures", arch);
        if (!ok) cJSON_Delete(arch);
        arch = NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "model_type", "gpt2");
    ok = ok && add_int(o, "vocab_size", c->vocab_size) && add_int(o, "n_positions", c->context_length) &&
         add_int(o, "n_ctx", c->context_length) && add_int(o, "n_embd", c->d_model) &&
         add_int(o, "n_layer", c->n_layers) && add_int(o, "n_head", c->n_heads) && add_int(o, "n_inner", c->d_ff);
    ok = ok && cJSON_AddStringToObject(o, "activation_function", tfm_hf_activation_name(c->activation));
    ok = ok && add_float(o, "resid_pdrop", c->dropout) && add_float(o, "embd_pdrop", c->embedding_dropout) &&
         add_float(o, "attn_pdrop", c->attention_dropout) && add_float(o, "layer_norm_epsilon", c->layernorm_eps);
    ok = ok && cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_embeddings);
    ok = ok && cJSON_AddStringToObject(o, "torch_dtype", "float32");
    if (ok && extras) {
        ok = cJSON_AddBoolToObject(extras, "pre_layernorm", c->pre_layernorm) &&
             cJSON_AddBoolToObject(extras, "tie_embeddings", c->tie_embeddings) &&
             cJSON_AddStringToObject(extras, "norm", tfm_norm_names[c->norm]) &&
             cJSON_AddStringToObject(extras, "positions", tfm_position_names[c->positions]) && add_float(extras, "rope_base", c->rope_base) &&
             add_int(extras, "relative_clip", c->relative_clip);
        ok = ok && cJSON_AddItemToObject(o, "tfm", extras);
        if (!ok) cJSON_Delete(extras);
        extras = NULL;
    }
    tfm_status s = ok ? tfm_json_print(o, 1, json_text) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building config.json");
    cJSON_Delete(o);
    cJSON_Delete(arch);
    cJSON_Delete(extras);
    return s;
}

/* Keys Hugging Face writes into GPT-2 configs that do not change what tfm computes. */
static const char *const hf_ignored_keys[] = {
    "_name_or_path", "transformers_version", "torch_dtype", "dtype", "initializer_range", "bos_token_id", "eos_token_id",
    "pad_token_id", "sep_token_id", "decoder_start_token_id", "use_cache", "summary_type", "summary_use_proj",
    "summary_activation", "summary_proj_to_labels", "summary_first_dropout", "task_specific_params", "output_past",
    "id2label", "label2id", "return_dict", "output_hidden_states", "output_attentions", "torchscript", "problem_type",
    "tokenizer_class", "prefix", "max_length", "reorder_and_upcast_attn", "n_special", "predict_special_tokens",
    "gradient_checkpointing", "num_labels", "finetuning_task", NULL};

/* A key that changes the computation in a way tfm does not implement: accepted only with its default. */
static tfm_status check_unsupported_bool(const cJSON *o, const char *key, int required, const tfm_json_context *ctx) {
    int v = required;
    TRY(tfm_json_read_bool(o, key, ctx, &v));
    if (v != required)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: %s: tfm supports only %s, got %s", ctx->source, key,
                         required ? "true" : "false", v ? "true" : "false");
    return TFM_OK;
}

tfm_status tfm_gpt_config_from_json(const char *json_text, const char *source_name, tfm_gpt_config *out) {
    const char *source = source_name ? source_name : "<config>";
    cJSON *o = NULL;
    TRY(tfm_json_parse(json_text, strlen(json_text), source, &o));
    tfm_gpt_config c;
    tfm_gpt_config_default(&c);
    tfm_json_context ctx = {source, NULL}, extra_ctx = {source, "tfm"};
    static const char *const keys[] = {"architectures", "model_type", "vocab_size", "n_positions", "n_ctx", "n_embd",
                                       "n_layer", "n_head", "n_inner", "activation_function", "resid_pdrop",
                                       "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "tie_word_embeddings",
                                       "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "add_cross_attention",
                                       "tfm", NULL};
    static const char *const extra_keys[] = {"pre_layernorm", "tie_embeddings", "norm", "positions", "rope_base", "relative_clip", NULL};
    tfm_status s = tfm_json_expect_object(o, source, "the top level");
#define STEP(call)                                                                                                     \
    if (s == TFM_OK) s = (call)
    /* Which model first: another architecture's config would otherwise fail on its first unknown key. */
    const cJSON *type = tfm_json_field(o, "model_type"), *arch = tfm_json_field(o, "architectures");
    STEP(tfm_json_require(o, "model_type", &ctx, "\"gpt2\""));
    if (s == TFM_OK && !(cJSON_IsString(type) && strcmp(type->valuestring, "gpt2") == 0)) {
        char got[64];
        tfm_json_describe(type, got, sizeof got);
        const cJSON *first = cJSON_IsArray(arch) ? arch->child : NULL;
        int known = cJSON_IsString(type) && (!strcmp(type->valuestring, "bert") || !strcmp(type->valuestring, "albert") ||
                                             !strcmp(type->valuestring, "seq2seq"));
        s = tfm_error(TFM_ERR_CONFIG, "%s: model_type: expected \"gpt2\", got %s%s%s%s", source, got,
                      known || !cJSON_IsString(first) ? "" : " (", known || !cJSON_IsString(first) ? "" : first->valuestring,
                      known ? " (not a GPT-2 style config)" : cJSON_IsString(first) ? "): not an architecture tfm implements (it runs gpt2, bert and seq2seq models)"
                                                                                     : ": not an architecture tfm implements (it runs gpt2, bert and seq2seq models)");
    }
    STEP(tfm_json_check_keys(o, &ctx, keys, hf_ignored_keys));
    if (s == TFM_OK && arch) {
        int good = cJSON_IsArray(arch);
        for (const cJSON *a = good ? arch->child : NULL; a; a = a->next) good = good && cJSON_IsString(a);
        if (!good) {
            char got[64];
            tfm_json_describe(arch, got, sizeof got);
            s = tfm_error(TFM_ERR_CONFIG, "%s: architectures: expected an array of strings, got %s", source, got);
        }
    }
    STEP(tfm_json_require(o, "vocab_size", &ctx, "a positive integer"));
    STEP(tfm_json_require(o, "n_positions", &ctx, "a positive integer"));
    STEP(tfm_json_require(o, "n_embd", &ctx, "a positive integer"));
    STEP(tfm_json_require(o, "n_layer", &ctx, "a positive integer"));
    STEP(tfm_json_require(o, "n_head", &ctx, "a positive integer"));
    STEP(tfm_json_read_int32(o, "vocab_size", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.vocab_size));
    STEP(tfm_json_read_int32(o, "n_positions", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.context_length));
    int n_ctx = c.context_length;
    STEP(tfm_json_read_int32(o, "n_ctx", &ctx, 1, TFM_CONFIG_MAX_DIM, &n_ctx));
    if (s == TFM_OK && n_ctx != c.context_length)
        s = tfm_error(TFM_ERR_CONFIG, "%s: n_ctx (%d) differs from n_positions (%d)", source, n_ctx, c.context_length);
    STEP(tfm_json_read_int32(o, "n_embd", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.d_model));
    STEP(tfm_json_read_int32(o, "n_layer", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.n_layers));
    STEP(tfm_json_read_int32(o, "n_head", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.n_heads));
    /* n_inner: null (or absent) means 4 * n_embd, as in transformers. */
    c.d_ff = 4 * c.d_model;
    const cJSON *inner = tfm_json_field(o, "n_inner");
    if (s == TFM_OK && inner && !cJSON_IsNull(inner)) s = tfm_json_read_int32(o, "n_inner", &ctx, 1, TFM_CONFIG_MAX_DIM, &c.d_ff);
    int activation = 0;
    STEP(tfm_json_read_choice(o, "activation_function", &ctx, tfm_hf_activation_names, &activation));
    c.activation = tfm_hf_activation_kind(activation);
    /* transformers defaults each rate to 0.1 */
    c.dropout = c.embedding_dropout = c.attention_dropout = 0.1f;
    STEP(tfm_json_read_float(o, "resid_pdrop", &ctx, 0, 1, 1, 0, &c.dropout));
    STEP(tfm_json_read_float(o, "embd_pdrop", &ctx, 0, 1, 1, 0, &c.embedding_dropout));
    STEP(tfm_json_read_float(o, "attn_pdrop", &ctx, 0, 1, 1, 0, &c.attention_dropout));
    STEP(tfm_json_read_float(o, "layer_norm_epsilon", &ctx, 0, 0, INFINITY, 0, &c.layernorm_eps));
    STEP(check_unsupported_bool(o, "scale_attn_weights", 1, &ctx));
    STEP(check_unsupported_bool(o, "scale_attn_by_inverse_layer_idx", 0, &ctx));
    STEP(check_unsupported_bool(o, "add_cross_attention", 0, &ctx));
    int tie_hf = 1;
    STEP(tfm_json_read_bool(o, "tie_word_embeddings", &ctx, &tie_hf));
    c.tie_embeddings = tie_hf;
    const cJSON *extras = tfm_json_field(o, "tfm");
    if (s == TFM_OK && extras) {
        s = tfm_json_expect_object(extras, source, "tfm");
        STEP(tfm_json_check_keys(extras, &extra_ctx, extra_keys, NULL));
        STEP(tfm_json_read_bool(extras, "pre_layernorm", &extra_ctx, &c.pre_layernorm));
        STEP(tfm_json_read_choice(extras, "norm", &extra_ctx, tfm_norm_names, &c.norm));
        STEP(tfm_json_read_choice(extras, "positions", &extra_ctx, tfm_position_names, &c.positions));
        STEP(tfm_json_read_float(extras, "rope_base", &extra_ctx, 1, 0, INFINITY, 0, &c.rope_base));
        STEP(tfm_json_read_int32(extras, "relative_clip", &extra_ctx, 1, 65536, &c.relative_clip));
        int tie = tie_hf;
        STEP(tfm_json_read_bool(extras, "tie_embeddings", &extra_ctx, &tie));
        if (s == TFM_OK && tfm_json_field(o, "tie_word_embeddings") && tie != tie_hf)
            s = tfm_error(TFM_ERR_CONFIG, "%s: tfm.tie_embeddings (%s) contradicts tie_word_embeddings (%s)", source,
                          tie ? "true" : "false", tie_hf ? "true" : "false");
        c.tie_embeddings = tie;
    }
#undef STEP
    cJSON_Delete(o);
    if (s != TFM_OK) return s;
    s = tfm_gpt_config_validate(&c);
    if (s != TFM_OK) return tfm_error_prefix(s, "%s: ", source);
    *out = c;
    return TFM_OK;
}
