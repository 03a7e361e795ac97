/* models/seq2seq.c: the encoder-decoder Transformer: parameters with torch.nn.Transformer names, teacher-forced forward, loss. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/seq2seq_internal.h"
#include "ops/linear_packed.h"
#include "ops/positional.h"
#include "tfm/io.h"

/* ---- Parameters ---- */

/* The weights of the general or additive score (tfm_seq2seq_config.attention_score), shaped for one head. */
static tfm_status declare_scores(tfm_params *p, const char *prefix, const tfm_seq2seq_config *c, tfm_seq2seq_attention *a) {
    int head_dim = c->d_model / c->n_heads, A = c->score_width ? c->score_width : head_dim;
    char name[256];
    tfm_status st = TFM_OK;
    if (c->attention_score == TFM_SCORE_GENERAL) {
        snprintf(name, sizeof name, "%s.score_weight", prefix);
        st = tfm_params_declare(p, name, 2, (int[]){head_dim, head_dim}, &a->score_weight, 1);
        a->scores.W = &a->score_weight;
    } else if (c->attention_score == TFM_SCORE_ADDITIVE) {
        snprintf(name, sizeof name, "%s.score_query_weight", prefix);
        st = tfm_params_declare(p, name, 2, (int[]){A, head_dim}, &a->score_query, 1);
        snprintf(name, sizeof name, "%s.score_key_weight", prefix);
        if (!st) st = tfm_params_declare(p, name, 2, (int[]){A, head_dim}, &a->score_key, 1);
        snprintf(name, sizeof name, "%s.score_vector", prefix);
        if (!st) st = tfm_params_declare(p, name, 1, (int[]){A}, &a->score_vector, 0);
        a->scores = (tfm_score_weights){.Wq = &a->score_query, .Wk = &a->score_key, .u = &a->score_vector};
    }
    return st;
}

/* One attention's projections; a self-attention (with_relative) also gets the relative-position tables when the
 * config asks for them. */
static tfm_status declare_attention(tfm_params *p, const char *prefix, const tfm_seq2seq_config *c, int with_relative,
                                    tfm_seq2seq_attention *a) {
    int C = c->d_model;
    char name[256];
    snprintf(name, sizeof name, "%s.in_proj_weight", prefix);
    tfm_status st = tfm_params_declare(p, name, 2, (int[]){3 * C, C}, &a->in_proj_weight, 1);
    snprintf(name, sizeof name, "%s.in_proj_bias", prefix);
    if (!st) st = tfm_params_declare(p, name, 1, (int[]){3 * C}, &a->in_proj_bias, 0);
    snprintf(name, sizeof name, "%s.out_proj", prefix);
    if (!st) st = tfm_linear_declare(&a->out_proj, p, name, C, C, 1, 0);
    if (!st) st = declare_scores(p, prefix, c, a);
    if (st || !with_relative || c->positions != TFM_POSITIONS_RELATIVE) return st;
    int rows = 2 * c->relative_clip + 1, head_dim = C / c->n_heads;
    snprintf(name, sizeof name, "%s.relative_keys", prefix);
    st = tfm_params_declare(p, name, 2, (int[]){rows, head_dim}, &a->relative_keys, 1);
    snprintf(name, sizeof name, "%s.relative_values", prefix);
    return st ? st : tfm_params_declare(p, name, 2, (int[]){rows, head_dim}, &a->relative_values, 1);
}

static tfm_status declare_ffn_and_norm(tfm_params *p, const char *prefix, const tfm_seq2seq_config *c, tfm_linear_layer *linear1,
                                       tfm_linear_layer *linear2, tfm_tensor *prelu, tfm_norm_layer **norms, int n_norms) {
    char name[256];
    snprintf(name, sizeof name, "%s.linear1", prefix);
    tfm_status st = tfm_linear_declare(linear1, p, name, c->d_model, c->d_ff, 1, 0);
    snprintf(name, sizeof name, "%s.linear2", prefix);
    if (!st) st = tfm_linear_declare(linear2, p, name, c->d_ff, c->d_model, 1, 0);
    snprintf(name, sizeof name, "%s.activation.weight", prefix); /* nn.Transformer's name for an nn.PReLU activation */
    if (!st && c->activation == TFM_ACTIVATION_PRELU) st = tfm_params_declare(p, name, 1, (int[]){1}, prelu, 0);
    for (int i = 0; i < n_norms && !st; i++) {
        snprintf(name, sizeof name, "%s.norm%d", prefix, i + 1);
        st = tfm_norm_declare(norms[i], p, name, c->d_model, c->norm, c->layernorm_eps);
    }
    return st;
}

static tfm_status declare_all(tfm_seq2seq *m) {
    const tfm_seq2seq_config *c = &m->config;
    tfm_params *p = &m->params;
    int C = c->d_model, V = c->vocab_size;
    char prefix[128];
    tfm_status st = TFM_OK;
    for (int l = 0; l < c->n_encoder_layers && !st; l++) {
        tfm_seq2seq_encoder_layer *e = &m->encoder_layers[l];
        snprintf(prefix, sizeof prefix, "encoder.layers.%d.self_attn", l);
        st = declare_attention(p, prefix, c, 1, &e->self_attn);
        snprintf(prefix, sizeof prefix, "encoder.layers.%d", l);
        if (!st) st = declare_ffn_and_norm(p, prefix, c, &e->linear1, &e->linear2, &e->prelu, (tfm_norm_layer *[]){&e->norm1, &e->norm2}, 2);
    }
    if (!st && c->final_norm) st = tfm_norm_declare(&m->encoder_norm, p, "encoder.norm", C, c->norm, c->layernorm_eps);
    for (int l = 0; l < c->n_decoder_layers && !st; l++) {
        tfm_seq2seq_decoder_layer *d = &m->decoder_layers[l];
        snprintf(prefix, sizeof prefix, "decoder.layers.%d.self_attn", l);
        st = declare_attention(p, prefix, c, 1, &d->self_attn);
        snprintf(prefix, sizeof prefix, "decoder.layers.%d.multihead_attn", l);
        if (!st) st = declare_attention(p, prefix, c, 0, &d->cross_attn);
        snprintf(prefix, sizeof prefix, "decoder.layers.%d", l);
        if (!st)
            st = declare_ffn_and_norm(p, prefix, c, &d->linear1, &d->linear2, &d->prelu,
                                      (tfm_norm_layer *[]){&d->norm1, &d->norm2, &d->norm3}, 3);
    }
    if (!st && c->final_norm) st = tfm_norm_declare(&m->decoder_norm, p, "decoder.norm", C, c->norm, c->layernorm_eps);
    if (!st && c->share_embeddings) {
        st = tfm_params_declare(p, "embedding.weight", 2, (int[]){V, C}, &m->source_embedding, 1);
    } else if (!st) {
        st = tfm_params_declare(p, "source_embedding.weight", 2, (int[]){V, C}, &m->source_embedding, 1);
        if (!st) st = tfm_params_declare(p, "target_embedding.weight", 2, (int[]){V, C}, &m->target_embedding, 1);
        if (!st) st = tfm_params_declare(p, "output_projection.weight", 2, (int[]){V, C}, &m->output_projection, 1);
    }
    if (!st && c->positions == TFM_POSITIONS_LEARNED) {
        st = tfm_params_declare(p, "source_position_embedding.weight", 2, (int[]){c->max_source_length, C}, &m->source_positions, 1);
        if (!st)
            st = tfm_params_declare(p, "target_position_embedding.weight", 2, (int[]){c->max_target_length, C}, &m->target_positions, 1);
    }
    return st;
}

/* A tensor that shares `rows` rows starting at row `first` of a 2-D (or 1-D when width == 0) parameter. */
static tfm_tensor view_rows(const tfm_tensor *t, int first, int rows, int width) {
    tfm_tensor v = {0};
    size_t row_size = width ? (size_t)width : 1;
    v.data = t->data + (size_t)first * row_size;
    v.grad = t->grad ? t->grad + (size_t)first * row_size : NULL;
    v.ndim = width ? 2 : 1;
    v.shape[0] = rows;
    v.shape[1] = width;
    v.size = (size_t)rows * row_size;
    v.requires_grad = t->requires_grad;
    return v;
}

static void set_attention_views(tfm_seq2seq_attention *a, int C) {
    a->q_weight = view_rows(&a->in_proj_weight, 0, C, C);
    a->q_bias = view_rows(&a->in_proj_bias, 0, C, 0);
    a->kv_weight = view_rows(&a->in_proj_weight, C, 2 * C, C);
    a->kv_bias = view_rows(&a->in_proj_bias, C, 2 * C, 0);
}

/* Every norm's gain 1 and bias 0, BatchNorm's running mean 0 and variance 1; PReLU's slopes 0.25 (torch's). */
static void reset_norms(tfm_seq2seq *m) {
    int prelu = m->config.activation == TFM_ACTIVATION_PRELU;
    for (int l = 0; l < m->config.n_encoder_layers; l++) {
        tfm_norm_reset(&m->encoder_layers[l].norm1);
        tfm_norm_reset(&m->encoder_layers[l].norm2);
        if (prelu) tfm_init_constant(&m->encoder_layers[l].prelu, 0.25f);
    }
    for (int l = 0; l < m->config.n_decoder_layers; l++) {
        tfm_norm_reset(&m->decoder_layers[l].norm1);
        tfm_norm_reset(&m->decoder_layers[l].norm2);
        tfm_norm_reset(&m->decoder_layers[l].norm3);
        if (prelu) tfm_init_constant(&m->decoder_layers[l].prelu, 0.25f);
    }
    if (m->config.final_norm) {
        tfm_norm_reset(&m->encoder_norm);
        tfm_norm_reset(&m->decoder_norm);
    }
}

static int sinusoid_rows(const tfm_seq2seq_config *c) {
    return c->max_source_length > c->max_target_length ? c->max_source_length : c->max_target_length;
}

tfm_status tfm_seq2seq_create(tfm_seq2seq **out, const tfm_seq2seq_config *config) {
    *out = NULL;
    tfm_status st = tfm_seq2seq_config_validate(config);
    if (st) return st;
    tfm_seq2seq *m = tfm_calloc(1, sizeof *m);
    if (!m) return TFM_ERR_OUT_OF_MEMORY;
    m->config = *config;
    tfm_params_init(&m->params);
    m->encoder_layers = tfm_calloc((size_t)config->n_encoder_layers, sizeof(tfm_seq2seq_encoder_layer));
    m->decoder_layers = tfm_calloc((size_t)config->n_decoder_layers, sizeof(tfm_seq2seq_decoder_layer));
    if (!m->encoder_layers || !m->decoder_layers) { tfm_seq2seq_free(m); return TFM_ERR_OUT_OF_MEMORY; }
    st = declare_all(m);
    if (!st) st = tfm_params_allocate(&m->params);
    if (st) {
        tfm_seq2seq_free(m);
        return tfm_error_prefix(st, "model (vocab_size %d, d_model %d, n_encoder_layers %d, n_decoder_layers %d, d_ff %d): ",
                                config->vocab_size, config->d_model, config->n_encoder_layers, config->n_decoder_layers, config->d_ff);
    }
    int C = config->d_model;
    for (int l = 0; l < config->n_encoder_layers; l++) set_attention_views(&m->encoder_layers[l].self_attn, C);
    for (int l = 0; l < config->n_decoder_layers; l++) {
        set_attention_views(&m->decoder_layers[l].self_attn, C);
        set_attention_views(&m->decoder_layers[l].cross_attn, C);
    }
    if (config->share_embeddings) {
        /* Same slab memory under three roles; gradients of all three uses add up in embedding.weight's grad. */
        m->target_embedding = m->source_embedding;
        m->output_projection = m->source_embedding;
    }
    if (config->positions == TFM_POSITIONS_SINUSOIDAL) {
        int rows = sinusoid_rows(config);
        m->sinusoid_table = tfm_malloc(sizeof(float) * (size_t)rows * C);
        if (!m->sinusoid_table) { tfm_seq2seq_free(m); return TFM_ERR_OUT_OF_MEMORY; }
        tfm_positional_sinusoidal(m->sinusoid_table, rows, C);
        /* Constant tables: no gradient, so the position lookup records nothing on the tape. */
        m->source_positions = (tfm_tensor){.data = m->sinusoid_table, .ndim = 2, .shape = {config->max_source_length, C},
                                           .size = (size_t)config->max_source_length * C};
        m->target_positions = (tfm_tensor){.data = m->sinusoid_table, .ndim = 2, .shape = {config->max_target_length, C},
                                           .size = (size_t)config->max_target_length * C};
    }
    reset_norms(m); /* usable before tfm_seq2seq_init_weights: gains of 1 */
    *out = m;
    return TFM_OK;
}

void tfm_seq2seq_init_weights(tfm_seq2seq *m, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    const tfm_seq2seq_config *c = &m->config;
    float embedding_std = 1.0f / sqrtf((float)c->d_model);
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        tfm_tensor *t = e->tensor;
        if (strstr(e->name, "score_vector")) {
            /* the additive score's u: uniform(-1/sqrt(A), 1/sqrt(A)) as torch's Linear(A, 1) */
            float bound = 1.0f / sqrtf((float)e->shape[0]);
            for (size_t k = 0; k < t->size; k++) t->data[k] = bound * (2.0f * tfm_rng_uniform(&rng) - 1.0f);
        } else if (e->ndim == 1) {
            tfm_init_constant(t, 0.0f); /* biases; the norms below */
        } else if (strstr(e->name, "embedding")) {
            /* fairseq: normal(0, d_model^-0.5), so that sqrt(d_model) scaling gives unit variance. */
            tfm_init_normal(t, embedding_std, &rng);
            if (!strstr(e->name, "position")) memset(t->data + (size_t)c->pad_id * c->d_model, 0, sizeof(float) * c->d_model);
        } else {
            /* nn.Transformer._reset_parameters: xavier_uniform_ on every matrix (fan_in = columns, fan_out = rows). */
            float bound = sqrtf(6.0f / (float)(e->shape[0] + e->shape[1]));
            for (size_t k = 0; k < t->size; k++) t->data[k] = bound * (2.0f * tfm_rng_uniform(&rng) - 1.0f);
        }
    }
    reset_norms(m);
}

void tfm_seq2seq_free(tfm_seq2seq *m) {
    if (!m) return;
    tfm_params_free(&m->params);
    tfm_free(m->encoder_layers, sizeof(tfm_seq2seq_encoder_layer) * (size_t)m->config.n_encoder_layers);
    tfm_free(m->decoder_layers, sizeof(tfm_seq2seq_decoder_layer) * (size_t)m->config.n_decoder_layers);
    if (m->packed_output_projection) tfm_free(m->packed_output_projection, sizeof(float) * m->output_projection.size);
    if (m->sinusoid_table) tfm_free(m->sinusoid_table, sizeof(float) * (size_t)sinusoid_rows(&m->config) * m->config.d_model);
    tfm_free(m, sizeof *m);
}

/* ---- Checkpoints ---- */

tfm_status tfm_seq2seq_save(const tfm_seq2seq *m, const char *dir) {
    if (m->inference) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq save %s: the model was prepared for inference (packed weights)", dir);
    char *json = NULL;
    tfm_status st = tfm_seq2seq_config_to_json(&m->config, &json);
    if (st) return st;
    st = tfm_checkpoint_save(dir, &m->params, json, NULL);
    tfm_free(json, strlen(json) + 1);
    return st;
}

tfm_status tfm_seq2seq_load(tfm_seq2seq **out, const char *dir) { return tfm_seq2seq_load_with(out, dir, NULL); }

tfm_status tfm_seq2seq_load_with(tfm_seq2seq **out, const char *dir, const tfm_load_options *options) {
    *out = NULL;
    char *json = NULL;
    tfm_status st = tfm_checkpoint_load_config(dir, &json);
    if (st) return st;
    if (strstr(json, "\"marian\"")) { /* a MarianMTModel directory (Hugging Face); the reader checks model_type itself */
        cJSON *o = cJSON_Parse(json);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "model_type");
        int marian = cJSON_IsString(type) && !strcmp(type->valuestring, "marian");
        cJSON_Delete(o);
        if (marian) {
            st = tfm_seq2seq_load_marian(out, dir, json);
            tfm_free(json, strlen(json) + 1);
            return st;
        }
    }
    char source[1024];
    snprintf(source, sizeof source, "%s/config.json", dir);
    tfm_seq2seq_config config;
    st = tfm_seq2seq_config_from_json(json, source, &config);
    tfm_free(json, strlen(json) + 1);
    if (st) return st;
    tfm_seq2seq *m = NULL;
    st = tfm_seq2seq_create(&m, &config);
    if (!st) st = tfm_checkpoint_load_params_with(dir, &m->params, options);
    if (st) { tfm_seq2seq_free(m); return st; }
    *out = m;
    return TFM_OK;
}

/* ---- Inference ---- */

/* Pack one linear weight in place (ops/linear_packed.h) when its output count allows; scratch holds
 * at least its size. Weights it cannot pack stay on the GEMM path. */
static void pack_in_place(tfm_tensor *weight, float *scratch) {
    if (!tfm_linear_packable(weight->shape[0], weight->shape[1]) || weight->packed) return;
    memcpy(scratch, weight->data, sizeof(float) * weight->size);
    tfm_linear_pack(weight->data, scratch, weight->shape[0], weight->shape[1]);
    weight->packed = 1;
}

static void pack_attention(tfm_seq2seq_attention *a, float *scratch) {
    pack_in_place(&a->in_proj_weight, scratch);
    /* The query and key|value views are whole-row blocks at multiples of 16 rows (C is), so their
     * packed data is the matching block of the packed whole. */
    a->q_weight.packed = a->kv_weight.packed = a->in_proj_weight.packed;
    pack_in_place(&a->out_proj.weight, scratch);
}

/* Every linear weight packed (in place; the shared output projection as a copy). */
static tfm_status pack_linear_weights(tfm_seq2seq *m) {
    const tfm_seq2seq_config *c = &m->config;
    size_t largest = 0; /* the largest matrix: the scratch every in-place pack copies through */
    for (int i = 0; i < m->params.count; i++)
        if (m->params.entries[i].ndim == 2 && m->params.entries[i].size > largest) largest = m->params.entries[i].size;
    float *scratch = tfm_malloc(sizeof(float) * largest);
    if (!scratch) return TFM_ERR_OUT_OF_MEMORY;
    if (c->share_embeddings && tfm_linear_packable(c->vocab_size, c->d_model)) {
        /* The output projection is the embedding table, which lookups read row by row: pack a copy. */
        m->packed_output_projection = tfm_malloc(sizeof(float) * m->output_projection.size);
        if (!m->packed_output_projection) { tfm_free(scratch, sizeof(float) * largest); return TFM_ERR_OUT_OF_MEMORY; }
        tfm_linear_pack(m->packed_output_projection, m->source_embedding.data, c->vocab_size, c->d_model);
        m->output_projection.data = m->packed_output_projection;
        m->output_projection.packed = 1;
    } else if (!c->share_embeddings) {
        pack_in_place(&m->output_projection, scratch);
    }
    for (int l = 0; l < c->n_encoder_layers; l++) {
        tfm_seq2seq_encoder_layer *e = &m->encoder_layers[l];
        pack_attention(&e->self_attn, scratch);
        pack_in_place(&e->linear1.weight, scratch);
        pack_in_place(&e->linear2.weight, scratch);
    }
    for (int l = 0; l < c->n_decoder_layers; l++) {
        tfm_seq2seq_decoder_layer *d = &m->decoder_layers[l];
        pack_attention(&d->self_attn, scratch);
        pack_attention(&d->cross_attn, scratch);
        pack_in_place(&d->linear1.weight, scratch);
        pack_in_place(&d->linear2.weight, scratch);
    }
    tfm_free(scratch, sizeof(float) * largest);
    return TFM_OK;
}

tfm_status tfm_seq2seq_prepare_inference(tfm_seq2seq *m) {
    if (m->inference) return TFM_OK;
    /* Without the AVX2+FMA kernel in this build, OpenBLAS is faster on the weights as they are. */
    tfm_status st = tfm_linear_packed_is_fast() ? pack_linear_weights(m) : TFM_OK;
    if (st) return st;
    tfm_params_free_gradients(&m->params);
    m->inference = 1;
    return TFM_OK;
}

tfm_status tfm_seq2seq_load_inference(tfm_seq2seq **out, const char *dir) {
    tfm_status st = tfm_seq2seq_load(out, dir);
    if (st) return st;
    if ((st = tfm_seq2seq_prepare_inference(*out))) {
        tfm_seq2seq_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- Input checks ---- */

tfm_status tfm_seq2seq_check_ids(const tfm_seq2seq *m, const int32_t *ids, int B, int T, const char *what) {
    int V = m->config.vocab_size;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= V)
                return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s id %d at [%d, %d] is outside the vocabulary [0, %d)", what, id, b, t, V);
        }
    return TFM_OK;
}

tfm_status tfm_seq2seq_check_lengths(const int *lengths, int B, int T, const char *what) {
    if (!lengths) return TFM_OK;
    for (int b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s length %d of sentence %d is outside [1, %d]", what, lengths[b], b, T);
    return TFM_OK;
}

static tfm_status check_shapes(const tfm_seq2seq *m, int B, int S, int T) {
    const tfm_seq2seq_config *c = &m->config;
    if (B < 1 || S < 1 || T < 1)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq: empty batch (B=%d, S=%d, T=%d)", B, S, T);
    if (S > c->max_source_length)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "source of %d tokens is longer than the model's max_source_length %d", S,
                         c->max_source_length);
    if (T > c->max_target_length)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "target of %d tokens is longer than the model's max_target_length %d", T,
                         c->max_target_length);
    return TFM_OK;
}

/* ---- Forward ---- */

tfm_tensor *tfm_seq2seq_embed(tfm_seq2seq *m, tfm_graph *g, tfm_tensor *table, tfm_tensor *positions, const int32_t *ids, int B,
                              int T, int start, int zero_start) {
    const tfm_seq2seq_config *c = &m->config;
    int32_t *position_ids = tfm_graph_alloc(g, sizeof(int32_t) * (size_t)B * T);
    if (!position_ids) return NULL;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) position_ids[(size_t)b * T + t] = start + t;
    /* Each step writes over the last one's output: one [B, T, C] buffer besides the positions'. */
    tfm_tensor *x = tfm_fn_embedding(g, table, ids, 2, (int[]){B, T});
    if (zero_start && start == 0) x = tfm_seq2seq_fn_zero_first_in_place(g, x, T);
    if (c->scale_embeddings) x = tfm_seq2seq_fn_scale_in_place(g, x, sqrtf((float)c->d_model));
    if (c->positions == TFM_POSITIONS_SINUSOIDAL || c->positions == TFM_POSITIONS_LEARNED) /* the others act in the attention */
        x = tfm_fn_add_in_place(g, tfm_fn_embedding(g, positions, position_ids, 2, (int[]){B, T}), x);
    return tfm_fn_dropout_in_place(g, x, c->dropout);
}

/* linear2(activation_dropout(activation(linear1(x)))) */
tfm_tensor *tfm_seq2seq_feed_forward(tfm_seq2seq *m, tfm_graph *g, tfm_linear_layer *linear1, tfm_linear_layer *linear2,
                                     tfm_tensor *prelu, tfm_tensor *x) {
    const tfm_seq2seq_config *c = &m->config;
    tfm_tensor *h = tfm_linear_forward_graph(g, linear1, x);   /* [.., d_ff]: ReLU writes over it */
    h = tfm_fn_ffn_activation(g, h, c->activation, prelu);
    h = tfm_fn_dropout_in_place(g, h, c->activation_dropout);
    return tfm_linear_forward_graph(g, linear2, h);
}

tfm_tensor *tfm_seq2seq_self_qkv(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_attention *a, tfm_tensor *x, int start) {
    const tfm_seq2seq_config *c = &m->config;
    tfm_tensor *qkv = tfm_fn_linear(g, x, &a->in_proj_weight, &a->in_proj_bias);   /* [B, T, 3C] */
    if (qkv && c->positions == TFM_POSITIONS_ROPE) qkv = tfm_fn_rope(g, qkv, 2 * c->d_model, c->d_model / c->n_heads, start, c->rope_base);
    return qkv;
}

tfm_attention_args *tfm_seq2seq_attention_options(tfm_seq2seq *m, tfm_seq2seq_attention *a, tfm_attention_args *args, int self) {
    args->score = m->config.attention_score;
    args->score_weights = &a->scores;
    if (!self) return args; /* cross-attention: no positions */
    args->alibi = m->config.positions == TFM_POSITIONS_ALIBI;
    if (m->config.positions == TFM_POSITIONS_RELATIVE) {
        args->relative_keys = &a->relative_keys;
        args->relative_values = &a->relative_values;
        args->relative_clip = m->config.relative_clip;
    }
    return args;
}

/* Self-attention without a cache over x [B, T, C]: one [3C, C] projection, heads read in place. -> [B, T, C] */
static tfm_tensor *self_attention(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_attention *a, tfm_tensor *x, int B, int T, int causal,
                                  const int *lengths) {
    const tfm_seq2seq_config *c = &m->config;
    int C = c->d_model;
    tfm_tensor *qkv = tfm_seq2seq_self_qkv(m, g, a, x, 0);   /* [B, T, 3C] */
    tfm_attention_args args = {.q = qkv, .k = qkv, .v = qkv, .q_column = 0, .k_column = C, .v_column = 2 * C, .batch = B,
                               .query_length = T, .key_length = T, .heads = c->n_heads, .head_dim = C / c->n_heads,
                               .causal = causal, .key_lengths = lengths, .dropout_p = c->attention_dropout};
    return tfm_linear_forward_graph(g, &a->out_proj, tfm_fn_attention(g, tfm_seq2seq_attention_options(m, a, &args, 1)));
}

/* Cross-attention of decoder states x [B, T, C] to key|value rows kv [B, S, 2C] (already projected). -> [B, T, C] */
tfm_tensor *tfm_seq2seq_cross_attention(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_attention *a, tfm_tensor *x, tfm_tensor *kv,
                                        const int *source_lengths, const int *kv_index, int B, int T, int S) {
    const tfm_seq2seq_config *c = &m->config;
    int C = c->d_model;
    tfm_tensor *q = tfm_fn_linear(g, x, &a->q_weight, &a->q_bias);   /* [B, T, C] */
    tfm_attention_args args = {.q = q, .k = kv, .v = kv, .q_column = 0, .k_column = 0, .v_column = C, .batch = B,
                               .query_length = T, .key_length = S, .heads = c->n_heads, .head_dim = C / c->n_heads,
                               .causal = 0, .key_lengths = source_lengths, .dropout_p = c->attention_dropout,
                               .kv_index = kv_index};
    return tfm_linear_forward_graph(g, &a->out_proj, tfm_fn_attention(g, tfm_seq2seq_attention_options(m, a, &args, 0)));
}

/* One residual sub-layer around f, whose input is x (post-LN) or norm(x) (pre-LN): the caller computes
 * f(input_of(x)) and passes the branch; this adds the residual and applies the norm where it belongs. */
tfm_tensor *tfm_seq2seq_sublayer_input(tfm_seq2seq *m, tfm_graph *g, tfm_norm_layer *norm, tfm_tensor *x, const uint8_t *rows) {
    return m->config.pre_layernorm ? tfm_norm_forward_masked(g, norm, x, rows) : x;
}

tfm_tensor *tfm_seq2seq_sublayer_output(tfm_seq2seq *m, tfm_graph *g, tfm_norm_layer *norm, tfm_tensor *x, tfm_tensor *branch,
                                        const uint8_t *rows) {
    tfm_tensor *sum = tfm_fn_add_dropout_in_place(g, x, branch, m->config.dropout);   /* over the branch */
    return m->config.pre_layernorm ? sum : tfm_norm_forward_masked(g, norm, sum, rows);
}

tfm_tensor *tfm_seq2seq_encode(tfm_seq2seq *m, tfm_graph *g, const int32_t *source, const int *source_lengths, int B, int S) {
    if (check_shapes(m, B, S, 1) || tfm_seq2seq_check_ids(m, source, B, S, "source") ||
        tfm_seq2seq_check_lengths(source_lengths, B, S, "source"))
        return NULL;
    tfm_tensor *x = tfm_seq2seq_embed(m, g, &m->source_embedding, &m->source_positions, source, B, S, 0, 0);
    const uint8_t *rows = tfm_norm_real_rows(g, m->config.norm, source_lengths, B, S);
    for (int l = 0; l < m->config.n_encoder_layers; l++) {
        tfm_seq2seq_encoder_layer *e = &m->encoder_layers[l];
        tfm_graph_mark layer_start = tfm_graph_mark_now(g); /* inference: the layer's intermediates die with it */
        tfm_tensor *h = self_attention(m, g, &e->self_attn, tfm_seq2seq_sublayer_input(m, g, &e->norm1, x, rows), B, S, 0, source_lengths);
        x = tfm_seq2seq_sublayer_output(m, g, &e->norm1, x, h, rows);
        h = tfm_seq2seq_feed_forward(m, g, &e->linear1, &e->linear2, &e->prelu, tfm_seq2seq_sublayer_input(m, g, &e->norm2, x, rows));
        x = tfm_seq2seq_sublayer_output(m, g, &e->norm2, x, h, rows);
        x = tfm_graph_keep(g, layer_start, x);
    }
    return m->config.final_norm ? tfm_norm_forward_masked(g, &m->encoder_norm, x, rows) : x;
}

tfm_tensor *tfm_seq2seq_decode(tfm_seq2seq *m, tfm_graph *g, tfm_tensor *memory, const int *source_lengths, const int32_t *target,
                               const int *target_lengths, int B, int S, int T) {
    if (!memory) return NULL;
    int C = m->config.d_model;
    if (check_shapes(m, B, S, T) || tfm_seq2seq_check_ids(m, target, B, T, "target") ||
        tfm_seq2seq_check_lengths(source_lengths, B, S, "source") || tfm_seq2seq_check_lengths(target_lengths, B, T, "target"))
        return NULL;
    if (memory->size != (size_t)B * S * C) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq decode: memory has %zu values, expected B*S*C = %d*%d*%d", memory->size, B, S, C);
        return NULL;
    }
    tfm_tensor *x = tfm_seq2seq_embed(m, g, &m->target_embedding, &m->target_positions, target, B, T, 0, m->config.zero_start_embedding);
    const uint8_t *rows = tfm_norm_real_rows(g, m->config.norm, target_lengths, B, T);
    for (int l = 0; l < m->config.n_decoder_layers; l++) {
        tfm_seq2seq_decoder_layer *d = &m->decoder_layers[l];
        tfm_graph_mark layer_start = tfm_graph_mark_now(g);
        tfm_tensor *h = self_attention(m, g, &d->self_attn, tfm_seq2seq_sublayer_input(m, g, &d->norm1, x, rows), B, T, 1, target_lengths);
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm1, x, h, rows);
        tfm_tensor *kv = tfm_fn_linear(g, memory, &d->cross_attn.kv_weight, &d->cross_attn.kv_bias);   /* [B, S, 2C] */
        h = tfm_seq2seq_cross_attention(m, g, &d->cross_attn, tfm_seq2seq_sublayer_input(m, g, &d->norm2, x, rows), kv, source_lengths, NULL, B, T,
                                        S);
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm2, x, h, rows);
        h = tfm_seq2seq_feed_forward(m, g, &d->linear1, &d->linear2, &d->prelu, tfm_seq2seq_sublayer_input(m, g, &d->norm3, x, rows));
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm3, x, h, rows);
        x = tfm_graph_keep(g, layer_start, x);
    }
    if (m->config.final_norm) x = tfm_norm_forward_masked(g, &m->decoder_norm, x, rows);
    return tfm_fn_linear(g, x, &m->output_projection, NULL);
}

tfm_tensor *tfm_seq2seq_forward(tfm_seq2seq *m, tfm_graph *g, const int32_t *source, const int *source_lengths, const int32_t *target,
                                const int *target_lengths, int B, int S, int T) {
    tfm_tensor *memory = tfm_seq2seq_encode(m, g, source, source_lengths, B, S);
    return tfm_seq2seq_decode(m, g, memory, source_lengths, target, target_lengths, B, S, T);
}

tfm_tensor *tfm_seq2seq_loss(tfm_seq2seq *m, tfm_graph *g, const int32_t *source, const int *source_lengths,
                             const int32_t *target_input, const int32_t *target_output, const int *target_lengths, int B, int S,
                             int T, float label_smoothing, int *counted) {
    if (B < 1 || T < 1 || tfm_seq2seq_check_ids(m, target_output, B, T, "target output")) return NULL;
    tfm_tensor *logits = tfm_seq2seq_forward(m, g, source, source_lengths, target_input, target_lengths, B, S, T);
    return tfm_fn_cross_entropy(g, logits, target_output, m->config.pad_id, label_smoothing, counted);
}
