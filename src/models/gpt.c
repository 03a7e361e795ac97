/* models/gpt.c: GPT (decoder-only Transformer): parameters with Hugging Face GPT-2 names, forward, loss, KV cache. */
#include "tfm/gpt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/positional.h"
#include "tfm/io.h"

static tfm_status declare_all(tfm_gpt *m) {
    const tfm_gpt_config *c = &m->config;
    tfm_params *p = &m->params;
    int C = c->d_model;
    tfm_status st = tfm_params_declare(p, "transformer.wte.weight", 2, (int[]){c->vocab_size, C}, &m->token_embedding, 1);
    if (!st && c->positions == TFM_POSITIONS_LEARNED) /* the other encodings have no trained table */
        st = tfm_params_declare(p, "transformer.wpe.weight", 2, (int[]){c->context_length, C}, &m->position_embedding, 1);
    char name[128];
    for (int l = 0; l < c->n_layers && !st; l++) {
        tfm_gpt_block *b = &m->blocks[l];
        /* Hugging Face GPT-2 stores its projections as Conv1D, i.e. [in, out] on disk. */
        snprintf(name, sizeof name, "transformer.h.%d.ln_1", l);
        st = tfm_norm_declare(&b->ln_1, p, name, C, c->norm, c->layernorm_eps);
        snprintf(name, sizeof name, "transformer.h.%d.attn.c_attn", l);
        if (!st) st = tfm_linear_declare(&b->attn_qkv, p, name, C, 3 * C, 1, 1);
        snprintf(name, sizeof name, "transformer.h.%d.attn.c_proj", l);
        if (!st) st = tfm_linear_declare(&b->attn_proj, p, name, C, C, 1, 1);
        if (!st && c->positions == TFM_POSITIONS_RELATIVE) {
            int rows = 2 * c->relative_clip + 1, head_dim = C / c->n_heads;
            snprintf(name, sizeof name, "transformer.h.%d.attn.relative_keys", l);
            st = tfm_params_declare(p, name, 2, (int[]){rows, head_dim}, &b->relative_keys, 1);
            snprintf(name, sizeof name, "transformer.h.%d.attn.relative_values", l);
            if (!st) st = tfm_params_declare(p, name, 2, (int[]){rows, head_dim}, &b->relative_values, 1);
        }
        snprintf(name, sizeof name, "transformer.h.%d.ln_2", l);
        if (!st) st = tfm_norm_declare(&b->ln_2, p, name, C, c->norm, c->layernorm_eps);
        snprintf(name, sizeof name, "transformer.h.%d.mlp.c_fc", l);
        if (!st) st = tfm_linear_declare(&b->mlp_fc, p, name, C, c->d_ff, 1, 1);
        snprintf(name, sizeof name, "transformer.h.%d.mlp.c_proj", l);
        if (!st) st = tfm_linear_declare(&b->mlp_proj, p, name, c->d_ff, C, 1, 1);
        snprintf(name, sizeof name, "transformer.h.%d.mlp.prelu.weight", l);
        if (!st && c->activation == TFM_ACTIVATION_PRELU) st = tfm_params_declare(p, name, 1, (int[]){1}, &b->prelu, 0);
    }
    if (!st && c->pre_layernorm) st = tfm_norm_declare(&m->ln_f, p, "transformer.ln_f", C, c->norm, c->layernorm_eps);
    if (!st && !c->tie_embeddings) st = tfm_params_declare(p, "lm_head.weight", 2, (int[]){c->vocab_size, C}, &m->lm_head, 1);
    return st;
}

/* The norms' gains 1, biases 0, BatchNorm's statistics 0 and 1; PReLU's slopes 0.25 (torch's nn.PReLU). */
static void reset_norms(tfm_gpt *m) {
    for (int l = 0; l < m->config.n_layers; l++) {
        tfm_norm_reset(&m->blocks[l].ln_1);
        tfm_norm_reset(&m->blocks[l].ln_2);
        if (m->config.activation == TFM_ACTIVATION_PRELU) tfm_init_constant(&m->blocks[l].prelu, 0.25f);
    }
    if (m->config.pre_layernorm) tfm_norm_reset(&m->ln_f);
}

tfm_status tfm_gpt_create(tfm_gpt **out, const tfm_gpt_config *config) {
    *out = NULL;
    tfm_status st = tfm_gpt_config_validate(config);
    if (st) return st;
    tfm_gpt *m = tfm_calloc(1, sizeof *m);
    if (!m) return TFM_ERR_OUT_OF_MEMORY;
    m->config = *config;
    tfm_params_init(&m->params);
    m->blocks = tfm_calloc((size_t)config->n_layers, sizeof(tfm_gpt_block));
    if (!m->blocks) { tfm_gpt_free(m); return TFM_ERR_OUT_OF_MEMORY; }
    st = declare_all(m);
    if (!st) st = tfm_params_allocate(&m->params);
    if (st) {
        tfm_gpt_free(m);
        return tfm_error_prefix(st, "model (vocab_size %d, d_model %d, n_layers %d, d_ff %d, context_length %d): ", config->vocab_size,
                                config->d_model, config->n_layers, config->d_ff, config->context_length);
    }
    if (config->positions == TFM_POSITIONS_SINUSOIDAL) {
        /* a constant table: no gradient, so the position lookup records nothing on the tape */
        size_t floats = (size_t)config->context_length * config->d_model;
        m->sinusoid_table = tfm_malloc(sizeof(float) * floats);
        if (!m->sinusoid_table) { tfm_gpt_free(m); return TFM_ERR_OUT_OF_MEMORY; }
        tfm_positional_sinusoidal(m->sinusoid_table, config->context_length, config->d_model);
        m->position_embedding = (tfm_tensor){.data = m->sinusoid_table, .ndim = 2, .shape = {config->context_length, config->d_model},
                                             .size = floats};
    }
    reset_norms(m); /* sensible values even before tfm_gpt_init_weights: gains of 1, BatchNorm's variance 1 */
    *out = m;
    return TFM_OK;
}

void tfm_gpt_init_weights(tfm_gpt *m, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    float residual_std = 0.02f / sqrtf(2.0f * (float)m->config.n_layers);
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        if (e->ndim == 1) {
            tfm_init_constant(e->tensor, 0.0f); /* biases; the norms' gains and statistics below */
        } else {
            int residual = strstr(e->name, "c_proj.weight") != NULL;
            tfm_init_normal(e->tensor, residual ? residual_std : 0.02f, &rng);
        }
    }
    reset_norms(m);
}

void tfm_gpt_free(tfm_gpt *m) {
    if (!m) return;
    tfm_params_free(&m->params);
    tfm_free(m->blocks, sizeof(tfm_gpt_block) * (size_t)m->config.n_layers);
    if (m->sinusoid_table) tfm_free(m->sinusoid_table, sizeof(float) * (size_t)m->config.context_length * m->config.d_model);
    tfm_free(m, sizeof *m);
}

tfm_status tfm_gpt_cache_create(tfm_gpt_cache *cache, const tfm_gpt *m, int batch) {
    memset(cache, 0, sizeof *cache);
    if (batch < 1) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "KV cache batch must be >= 1, got %d", batch);
    cache->batch = batch;
    cache->capacity = m->config.context_length;
    cache->layers = m->config.n_layers;
    cache->channels = m->config.d_model;
    size_t n = (size_t)cache->layers * batch * cache->capacity * cache->channels;
    cache->keys = tfm_malloc(sizeof(float) * n);
    cache->values = tfm_malloc(sizeof(float) * n);
    if (!cache->keys || !cache->values) { tfm_gpt_cache_free(cache); return TFM_ERR_OUT_OF_MEMORY; }
    return TFM_OK;
}

void tfm_gpt_cache_free(tfm_gpt_cache *cache) {
    size_t n = (size_t)cache->layers * cache->batch * cache->capacity * cache->channels;
    tfm_free(cache->keys, sizeof(float) * n);
    tfm_free(cache->values, sizeof(float) * n);
    memset(cache, 0, sizeof *cache);
}

/* The attention's share of the position encoding: ALiBi's biases or the layer's relative tables. */
static tfm_attention_args *with_positions(tfm_gpt *m, int layer, tfm_attention_args *a) {
    a->alibi = m->config.positions == TFM_POSITIONS_ALIBI;
    if (m->config.positions == TFM_POSITIONS_RELATIVE) {
        a->relative_keys = &m->blocks[layer].relative_keys;
        a->relative_values = &m->blocks[layer].relative_values;
        a->relative_clip = m->config.relative_clip;
    }
    return a;
}

/* Self-attention of one block over qkv [B, T, 3C]; with a cache, keys/values are appended to it first
 * and the new queries attend to every cached position. -> [B, T, C] */
static tfm_tensor *self_attention(tfm_gpt *m, tfm_graph *g, int layer, tfm_tensor *qkv, int B, int T, tfm_gpt_cache *cache) {
    const tfm_gpt_config *c = &m->config;
    int C = c->d_model, H = c->n_heads;
    if (!qkv) return NULL;
    /* rotary positions: the queries' and keys' heads (columns [0, 2C)) turned by their positions, before the keys are cached */
    if (c->positions == TFM_POSITIONS_ROPE) qkv = tfm_fn_rope(g, qkv, 2 * C, C / H, cache ? cache->length : 0, c->rope_base);
    if (!qkv) return NULL;
    if (!cache) {
        tfm_attention_args a = {.q = qkv, .k = qkv, .v = qkv, .q_column = 0, .k_column = C, .v_column = 2 * C, .batch = B,
                                .query_length = T, .key_length = T, .heads = H, .head_dim = C / H, .causal = 1,
                                .dropout_p = c->attention_dropout};
        return tfm_fn_attention(g, with_positions(m, layer, &a));
    }
    /* Inference with a cache [B, capacity, C] per layer: append this step's keys and values at
     * positions start .. start+T-1, then the new queries attend to all start+T cached positions. */
    int start = cache->length, Tk = start + T;
    size_t layer_base = (size_t)layer * cache->batch * cache->capacity * C;
    float *keys = cache->keys + layer_base, *values = cache->values + layer_base;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = qkv->data + ((size_t)b * T + t) * 3 * C;
            size_t at = ((size_t)b * cache->capacity + start + t) * C;
            memcpy(keys + at, row + C, sizeof(float) * C);
            memcpy(values + at, row + 2 * C, sizeof(float) * C);
        }
    size_t cache_floats = (size_t)cache->batch * cache->capacity * C;
    tfm_tensor k = {.data = keys, .ndim = 2, .shape = {cache->batch * cache->capacity, C}, .size = cache_floats};
    tfm_tensor v = {.data = values, .ndim = 2, .shape = {cache->batch * cache->capacity, C}, .size = cache_floats};
    tfm_attention_args a = {.q = qkv, .k = &k, .v = &v, .q_column = 0, .k_column = 0, .v_column = 0, .batch = B,
                            .query_length = T, .key_length = Tk, .heads = H, .head_dim = C / H, .causal = 1,
                            .kv_batch_stride = (size_t)cache->capacity * C};
    return tfm_fn_attention(g, with_positions(m, layer, &a));
}

tfm_tensor *tfm_gpt_forward(tfm_gpt *m, tfm_graph *g, const int32_t *tokens, int B, int T, tfm_gpt_cache *cache, int last_only) {
    const tfm_gpt_config *c = &m->config;
    int C = c->d_model, V = c->vocab_size;
    int start = cache ? cache->length : 0;
    if (B < 1 || T < 1) { tfm_error(TFM_ERR_INVALID_ARGUMENT, "GPT forward: empty batch (B=%d, T=%d)", B, T); return NULL; }
    if (start + T > c->context_length) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "sequence of %d tokens is longer than the model's context length %d", start + T, c->context_length);
        return NULL;
    }
    if (cache && (cache->batch != B || tfm_graph_recording(g))) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "GPT forward: a KV cache is for inference with its own batch size (%d)", cache->batch);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= V) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "token id %d at position %zu is outside the vocabulary [0, %d)", tokens[i], i, V);
            return NULL;
        }
    /* positions [B, T]: start, start+1, ... */
    int32_t *positions = tfm_graph_alloc(g, sizeof(int32_t) * (size_t)B * T);
    if (!positions) return NULL;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) positions[b * T + t] = start + t;

    /* Residual sums and ReLU write over the tensor they consume (the _in_place functions): no buffer for
     * what backward does not need. */
    tfm_tensor *x = tfm_fn_embedding(g, &m->token_embedding, tokens, 2, (int[]){B, T});
    if (c->positions == TFM_POSITIONS_LEARNED || c->positions == TFM_POSITIONS_SINUSOIDAL)
        x = tfm_fn_add_in_place(g, x, tfm_fn_embedding(g, &m->position_embedding, positions, 2, (int[]){B, T}));
    x = tfm_fn_dropout_in_place(g, x, c->embedding_dropout);
    for (int l = 0; l < c->n_layers; l++) {
        tfm_gpt_block *b = &m->blocks[l];
        tfm_graph_mark layer_start = tfm_graph_mark_now(g); /* inference: the layer's intermediates die with it */
        if (c->pre_layernorm) {
            tfm_tensor *h = tfm_linear_forward_graph(g, &b->attn_qkv, tfm_norm_forward_graph(g, &b->ln_1, x));
            h = tfm_linear_forward_graph(g, &b->attn_proj, self_attention(m, g, l, h, B, T, cache));
            x = tfm_fn_add_dropout_in_place(g, x, h, c->dropout);
            h = tfm_linear_forward_graph(g, &b->mlp_fc, tfm_norm_forward_graph(g, &b->ln_2, x));
            h = tfm_fn_ffn_activation(g, h, c->activation, &b->prelu);
            h = tfm_linear_forward_graph(g, &b->mlp_proj, h);
            x = tfm_fn_add_dropout_in_place(g, x, h, c->dropout);
        } else {
            tfm_tensor *h = tfm_linear_forward_graph(g, &b->attn_qkv, x);
            h = tfm_linear_forward_graph(g, &b->attn_proj, self_attention(m, g, l, h, B, T, cache));
            x = tfm_norm_forward_graph(g, &b->ln_1, tfm_fn_add_dropout_in_place(g, x, h, c->dropout));
            h = tfm_linear_forward_graph(g, &b->mlp_fc, x);
            h = tfm_fn_ffn_activation(g, h, c->activation, &b->prelu);
            h = tfm_linear_forward_graph(g, &b->mlp_proj, h);
            x = tfm_norm_forward_graph(g, &b->ln_2, tfm_fn_add_dropout_in_place(g, x, h, c->dropout));
        }
        x = tfm_graph_keep(g, layer_start, x);
    }
    if (!x) return NULL;
    if (cache) cache->length += T;
    if (last_only && T > 1) {
        /* Only the last position's logits are needed for generation: [B, T, C] -> [B, 1, C]. Not differentiable. */
        tfm_tensor *last = tfm_graph_tensor(g, 3, (int[]){B, 1, C});
        if (!last) return NULL;
        for (int b = 0; b < B; b++) memcpy(last->data + (size_t)b * C, x->data + ((size_t)b * T + T - 1) * C, sizeof(float) * C);
        x = last;
    }
    if (c->pre_layernorm) x = tfm_norm_forward_graph(g, &m->ln_f, x);
    return tfm_fn_linear(g, x, c->tie_embeddings ? &m->token_embedding : &m->lm_head, NULL);
}

tfm_tensor *tfm_gpt_loss(tfm_gpt *m, tfm_graph *g, const int32_t *tokens, const int32_t *targets, int B, int T, float label_smoothing) {
    int V = m->config.vocab_size;
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (targets[i] != TFM_IGNORE_INDEX && (targets[i] < 0 || targets[i] >= V)) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "target id %d at position %zu is outside the vocabulary [0, %d)", targets[i], i, V);
            return NULL;
        }
    tfm_tensor *logits = tfm_gpt_forward(m, g, tokens, B, T, NULL, 0);
    return tfm_fn_cross_entropy(g, logits, targets, TFM_IGNORE_INDEX, label_smoothing, NULL);
}

/* ---- Checkpoint directories ---- */

tfm_status tfm_gpt_save(const tfm_gpt *model, const char *dir) {
    char *json = NULL;
    tfm_status st = tfm_gpt_config_to_json(&model->config, &json);
    if (st) return st;
    st = tfm_checkpoint_save(dir, &model->params, json, NULL);
    tfm_free(json, strlen(json) + 1);
    return st;
}

tfm_status tfm_gpt_load(tfm_gpt **model, const char *dir) { return tfm_gpt_load_with(model, dir, NULL); }

tfm_status tfm_gpt_load_with(tfm_gpt **model, const char *dir, const tfm_load_options *options) {
    *model = NULL;
    char *config_json = NULL;
    tfm_status st = tfm_checkpoint_load_config(dir, &config_json);
    if (st) return st;
    char source[1024];
    snprintf(source, sizeof source, "%s/config.json", dir);
    tfm_gpt_config config;
    st = tfm_gpt_config_from_json(config_json, source, &config);
    tfm_free(config_json, strlen(config_json) + 1);
    if (st) return st;
    if ((st = tfm_gpt_create(model, &config)) != TFM_OK) return tfm_error_prefix(st, "%s: ", source);
    if ((st = tfm_checkpoint_load_params_with(dir, &(*model)->params, options)) != TFM_OK) {
        tfm_gpt_free(*model);
        *model = NULL;
    }
    return st;
}
