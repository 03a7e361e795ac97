/* models/bert.c: BERT's and ALBERT's parameters (Hugging Face names), forward on a graph (embeddings, post-LN encoder, pooler, MLM and NSP/SOP heads, classifiers), load and save. */
#include "tfm/bert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tfm/io.h"

/* ---- Parameters ---- */

/* What an ALBERT setting is for a BERT: the embeddings as wide as the hidden states, a block per layer, the classifiers'
 * dropout the hidden one. */
static int embedding_width(const tfm_bert_config *c) { return c->albert ? c->embedding_size : c->d_model; }
static int block_count(const tfm_bert_config *c) { return c->albert ? c->hidden_groups : c->n_layers; }
static float head_dropout(const tfm_bert_config *c) { return c->albert ? c->classifier_dropout : c->dropout; }

/* Hugging Face's names for one block's parts, BERT's and ALBERT's. */
enum { NAME_QUERY, NAME_KEY, NAME_VALUE, NAME_ATTENTION_OUTPUT, NAME_ATTENTION_NORM, NAME_INTERMEDIATE, NAME_OUTPUT, NAME_OUTPUT_NORM };
static const char *const block_names[2][8] = {
    {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
     "intermediate.dense", "output.dense", "output.LayerNorm"},
    {"attention.query", "attention.key", "attention.value", "attention.dense", "attention.LayerNorm", "ffn", "ffn_output",
     "full_layer_layer_norm"}};

static tfm_status declare_layer(tfm_bert_layer *l, tfm_params *p, const char *prefix, const tfm_bert_config *c) {
    const char *const *names = block_names[c->albert != 0];
    char name[320]; /* prefix (< 256) + the longest suffix */
    int C = c->d_model;
    struct { tfm_linear_layer *layer; int which, in, out; } linears[] = {
        {&l->query, NAME_QUERY, C, C}, {&l->key, NAME_KEY, C, C}, {&l->value, NAME_VALUE, C, C},
        {&l->attention_output, NAME_ATTENTION_OUTPUT, C, C}, {&l->intermediate, NAME_INTERMEDIATE, C, c->d_ff},
        {&l->output, NAME_OUTPUT, c->d_ff, C}};
    tfm_status st = TFM_OK;
    for (size_t i = 0; i < sizeof linears / sizeof linears[0] && !st; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, names[linears[i].which]);
        st = tfm_linear_declare(linears[i].layer, p, name, linears[i].in, linears[i].out, 1, 0);
        if (!st && i == 3) { /* HF's order: attention.output.dense, then its LayerNorm */
            snprintf(name, sizeof name, "%s.%s", prefix, names[NAME_ATTENTION_NORM]);
            st = tfm_norm_declare(&l->attention_norm, p, name, C, c->norm, c->layernorm_eps);
        }
    }
    snprintf(name, sizeof name, "%s.%s", prefix, names[NAME_OUTPUT_NORM]);
    return st ? st : tfm_norm_declare(&l->output_norm, p, name, C, c->norm, c->layernorm_eps);
}

/* The prefix of the body's names: none in a bare model, else "bert." / "albert.". */
static const char *body_prefix(const tfm_bert_config *c) { return c->parts == TFM_BERT_BASE ? "" : c->albert ? "albert." : "bert."; }

/* Word, position and segment embeddings [*, E], their LayerNorm, and an ALBERT's projection E -> C. */
static tfm_status declare_embeddings(tfm_bert *m, const char *base) {
    const tfm_bert_config *c = &m->config;
    tfm_params *p = &m->params;
    char name[96];
    int E = embedding_width(c);
    snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", base);
    tfm_status st = tfm_params_declare(p, name, 2, (int[]){c->vocab_size, E}, &m->word_embeddings, 1);
    snprintf(name, sizeof name, "%sembeddings.position_embeddings.weight", base);
    if (!st) st = tfm_params_declare(p, name, 2, (int[]){c->max_positions, E}, &m->position_embeddings, 1);
    snprintf(name, sizeof name, "%sembeddings.token_type_embeddings.weight", base);
    if (!st) st = tfm_params_declare(p, name, 2, (int[]){c->type_vocab_size, E}, &m->token_type_embeddings, 1);
    snprintf(name, sizeof name, "%sembeddings.LayerNorm", base);
    if (!st) st = tfm_layernorm_declare(&m->embedding_norm, p, name, E, c->layernorm_eps);
    snprintf(name, sizeof name, "%sencoder.embedding_hidden_mapping_in", base);
    if (!st && c->albert) st = tfm_linear_declare(&m->embedding_projection, p, name, E, c->d_model, 1, 0);
    return st;
}

/* The masked-LM head (dense C -> E, LayerNorm, decoder tied to the word embeddings) and NSP / SOP. */
static tfm_status declare_pretraining_heads(tfm_bert *m) {
    const tfm_bert_config *c = &m->config;
    tfm_params *p = &m->params;
    int albert = c->albert != 0, C = c->d_model, E = embedding_width(c);
    tfm_status st = tfm_params_declare(p, albert ? "predictions.bias" : "cls.predictions.bias", 1, (int[]){c->vocab_size}, &m->mlm_bias, 0);
    if (!st) st = tfm_linear_declare(&m->mlm_transform, p, albert ? "predictions.dense" : "cls.predictions.transform.dense", C, E, 1, 0);
    if (!st) st = tfm_layernorm_declare(&m->mlm_norm, p, albert ? "predictions.LayerNorm" : "cls.predictions.transform.LayerNorm", E, c->layernorm_eps);
    if (!st) st = tfm_linear_declare(&m->nsp, p, albert ? "sop_classifier.classifier" : "cls.seq_relationship", C, 2, 1, 0);
    return st;
}

static tfm_status declare_all(tfm_bert *m) {
    const tfm_bert_config *c = &m->config;
    tfm_params *p = &m->params;
    const char *base = body_prefix(c);
    char name[96];
    int C = c->d_model;
    tfm_status st = declare_embeddings(m, base);
    for (int l = 0; l < block_count(c) && !st; l++) {
        if (c->albert) snprintf(name, sizeof name, "%sencoder.albert_layer_groups.%d.albert_layers.0", base, l);
        else snprintf(name, sizeof name, "%sencoder.layer.%d", base, l);
        st = declare_layer(&m->layers[l], p, name, c);
    }
    snprintf(name, sizeof name, c->albert ? "%spooler" : "%spooler.dense", base);
    if (!st && c->parts != TFM_BERT_TOKEN_CLASSIFICATION) st = tfm_linear_declare(&m->pooler, p, name, C, C, 1, 0);
    if (!st && c->parts >= TFM_BERT_SEQUENCE_CLASSIFICATION) return tfm_linear_declare(&m->classifier, p, "classifier", C, c->num_labels, 1, 0);
    return st || c->parts != TFM_BERT_PRETRAINING ? st : declare_pretraining_heads(m);
}

/* BERT's "...LayerNorm.weight" and ALBERT's "...full_layer_layer_norm.weight": gains, 1 at the start. */
static int is_layernorm_gain(const tfm_param *e) {
    return e->ndim == 1 && (strstr(e->name, "LayerNorm.weight") || strstr(e->name, "layer_norm.weight"));
}

/* The blocks' norms: gains 1, biases 0, BatchNorm's running mean 0 and variance 1. */
static void reset_block_norms(tfm_bert *m) {
    for (int i = 0; i < block_count(&m->config); i++) {
        tfm_norm_reset(&m->layers[i].attention_norm);
        tfm_norm_reset(&m->layers[i].output_norm);
    }
}

tfm_status tfm_bert_create(tfm_bert **out, const tfm_bert_config *config) {
    *out = NULL;
    tfm_status st = tfm_bert_config_validate(config);
    if (st) return st;
    tfm_bert *m = tfm_calloc(1, sizeof *m);
    if (!m) return TFM_ERR_OUT_OF_MEMORY;
    m->config = *config;
    tfm_params_init(&m->params);
    m->layers = tfm_calloc((size_t)block_count(config), sizeof(tfm_bert_layer));
    st = m->layers ? declare_all(m) : TFM_ERR_OUT_OF_MEMORY;
    if (!st && config->parts >= TFM_BERT_SEQUENCE_CLASSIFICATION) st = tfm_bert_set_label_names(m, NULL, config->num_labels);
    if (!st) st = tfm_params_allocate(&m->params);
    if (st) {
        tfm_bert_free(m);
        return tfm_error_prefix(st, "BERT (vocab_size %d, hidden_size %d, num_hidden_layers %d, intermediate_size %d): ",
                                config->vocab_size, config->d_model, config->n_layers, config->d_ff);
    }
    for (int i = 0; i < m->params.count; i++) { /* LayerNorm gains 1 */
        tfm_param *e = &m->params.entries[i];
        if (is_layernorm_gain(e)) tfm_init_constant(e->tensor, 1.0f);
    }
    reset_block_norms(m);
    *out = m;
    return TFM_OK;
}

void tfm_bert_init_weights(tfm_bert *m, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        if (e->ndim == 2) tfm_init_normal(e->tensor, 0.02f, &rng); /* BERT's initializer_range */
        else tfm_init_constant(e->tensor, is_layernorm_gain(e) ? 1.0f : 0.0f);
    }
    reset_block_norms(m);
}

void tfm_bert_free(tfm_bert *m) {
    if (!m) return;
    tfm_params_free(&m->params);
    tfm_bert_label_names_free(m->label_names, m->config.num_labels);
    tfm_free(m->layers, sizeof(tfm_bert_layer) * (size_t)block_count(&m->config));
    tfm_free(m, sizeof *m);
}

tfm_status tfm_bert_set_label_names(tfm_bert *m, const char *const *names, int count) {
    if (m->config.parts < TFM_BERT_SEQUENCE_CLASSIFICATION || count != m->config.num_labels)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: %d label names for a model with %d labels%s", count, m->config.num_labels,
                         m->config.parts < TFM_BERT_SEQUENCE_CLASSIFICATION ? " and no classifier" : "");
    char **copy = tfm_calloc((size_t)count, sizeof(char *));
    for (int i = 0; copy && i < count; i++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "LABEL_%d", i);
        if (!(copy[i] = tfm_strdup(names ? names[i] : fallback))) {
            tfm_bert_label_names_free(copy, count);
            copy = NULL;
        }
    }
    if (!copy) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for %d label names", count);
    tfm_bert_label_names_free(m->label_names, m->config.num_labels);
    m->label_names = copy;
    return TFM_OK;
}

void tfm_bert_describe(const tfm_bert *m, char *buffer, size_t size) {
    const tfm_bert_config *c = &m->config;
    size_t n = tfm_params_count_values(&m->params);
    if (c->albert)
        snprintf(buffer, size, "ALBERT, %zu parameters, %d layers sharing %d block%s, embeddings %d -> d_model %d, %d heads", n, c->n_layers,
                 c->hidden_groups, c->hidden_groups == 1 ? "" : "s", c->embedding_size, c->d_model, c->n_heads);
    else
        snprintf(buffer, size, "%zu parameters, %d layers, d_model %d, %d heads", n, c->n_layers, c->d_model, c->n_heads);
}

/* ---- Load and save ---- */

static tfm_status read_config(const char *dir, tfm_bert_config *config, char ***label_names) {
    char *json = NULL;
    tfm_status st = tfm_checkpoint_load_config(dir, &json);
    if (st) return st;
    char source[1024];
    snprintf(source, sizeof source, "%s/config.json", dir);
    st = tfm_bert_config_from_json(json, source, config);
    if (!st && label_names && config->parts >= TFM_BERT_SEQUENCE_CLASSIFICATION)
        st = tfm_bert_config_read_label_names(json, source, config->num_labels, label_names);
    tfm_free(json, strlen(json) + 1);
    return st;
}

tfm_status tfm_bert_config_read(const char *dir, tfm_bert_config *config) { return read_config(dir, config, NULL); }

tfm_status tfm_bert_load(tfm_bert **model, const char *dir, const tfm_load_options *options) {
    *model = NULL;
    tfm_bert_config config;
    char **names = NULL;
    tfm_status st = read_config(dir, &config, &names);
    if (!st) st = tfm_bert_create(model, &config);
    if (!st && names) st = tfm_bert_set_label_names(*model, (const char *const *)names, config.num_labels);
    tfm_bert_label_names_free(names, config.num_labels);
    if (!st && (st = tfm_checkpoint_load_params_with(dir, &(*model)->params, options)) != TFM_OK) {
        tfm_bert_free(*model);
        *model = NULL;
    }
    return st;
}

tfm_status tfm_bert_save(const tfm_bert *model, const char *dir) {
    char *json = NULL;
    tfm_status st = tfm_bert_config_to_json(&model->config, (const char *const *)model->label_names, &json);
    if (st) return st;
    st = tfm_checkpoint_save(dir, &model->params, json, NULL);
    tfm_free(json, strlen(json) + 1);
    return st;
}

/* A parameter's name without the "bert." / "albert." of the architectures with heads: the same tensor in every
 * architecture. */
static const char *body_name(const tfm_bert_config *c, const char *name) {
    const char *prefix = body_prefix(c);
    size_t n = strlen(prefix);
    return n && strncmp(name, prefix, n) == 0 ? name + n : name;
}

static tfm_status check_same_body(const tfm_bert_config *a, const tfm_bert_config *b, const char *dir) {
    const struct { const char *name; int ours, theirs; } sizes[] = {
        {"vocab_size", a->vocab_size, b->vocab_size}, {"hidden_size", a->d_model, b->d_model},
        {"num_hidden_layers", a->n_layers, b->n_layers}, {"num_attention_heads", a->n_heads, b->n_heads},
        {"intermediate_size", a->d_ff, b->d_ff}, {"max_position_embeddings", a->max_positions, b->max_positions},
        {"type_vocab_size", a->type_vocab_size, b->type_vocab_size}, {"embedding_size", embedding_width(a), embedding_width(b)},
        {"num_hidden_groups", block_count(a), block_count(b)}, {"ALBERT (model_type \"albert\")", a->albert != 0, b->albert != 0}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].ours != sizes[i].theirs)
            return tfm_error(TFM_ERR_CONFIG, "%s/config.json: %s is %d, but the model being initialised from it has %d", dir, sizes[i].name,
                             sizes[i].theirs, sizes[i].ours);
    return TFM_OK;
}

tfm_status tfm_bert_load_encoder(tfm_bert *m, const char *dir, const tfm_load_options *options) {
    tfm_bert *source = NULL;
    tfm_status st = tfm_bert_load(&source, dir, options);
    if (!st) st = check_same_body(&m->config, &source->config, dir);
    for (int i = 0; !st && i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        const char *name = body_name(&m->config, e->name);
        if (name == e->name && m->config.parts != TFM_BERT_BASE) continue; /* a head of ours */
        for (int j = 0; j < source->params.count; j++) {
            const tfm_param *f = &source->params.entries[j];
            const char *theirs = body_name(&source->config, f->name);
            if (strcmp(theirs, name) == 0 && f->size == e->size && (f->name != theirs || source->config.parts == TFM_BERT_BASE)) {
                memcpy(e->tensor->data, f->tensor->data, sizeof(float) * e->size);
                break;
            }
        }
    }
    tfm_bert_free(source);
    return st;
}

/* ---- Forward ---- */

static tfm_status check_batch(const tfm_bert *m, const tfm_bert_batch *b) {
    const tfm_bert_config *c = &m->config;
    int B = b->batch, T = b->length;
    if (B < 1 || T < 1 || !b->input_ids) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: empty batch (%d x %d)", B, T);
    if (T > c->max_positions)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: %d tokens, more than max_position_embeddings = %d", T, c->max_positions);
    for (size_t i = 0; i < (size_t)B * T; i++) {
        if (b->input_ids[i] < 0 || b->input_ids[i] >= c->vocab_size)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: input_ids[%zu][%zu] = %d is outside the vocabulary [0, %d)", i / T, i % T,
                             b->input_ids[i], c->vocab_size);
        if (b->token_type_ids && (b->token_type_ids[i] < 0 || b->token_type_ids[i] >= c->type_vocab_size))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: token_type_ids[%zu][%zu] = %d is outside [0, type_vocab_size = %d)",
                             i / T, i % T, b->token_type_ids[i], c->type_vocab_size);
    }
    for (int i = 0; b->lengths && i < B; i++)
        if (b->lengths[i] < 1 || b->lengths[i] > T)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: sequence %d has length %d, expected 1 to %d", i, b->lengths[i], T);
    return TFM_OK;
}

/* LayerNorm(word[ids] + position[t] + token_type[types]) with dropout -> [B, T, C]. The id arrays the
 * embeddings' backward reads live in the graph's arena. */
static tfm_tensor *embed(tfm_bert *m, tfm_graph *g, const tfm_bert_batch *b) {
    int B = b->batch, T = b->length, N = B * T;
    int32_t *positions = tfm_graph_alloc(g, sizeof(int32_t) * (size_t)N);
    int32_t *types = b->token_type_ids ? (int32_t *)b->token_type_ids : tfm_graph_alloc_zero(g, sizeof(int32_t) * (size_t)N);
    if (!positions || !types) return NULL;
    for (int i = 0; i < N; i++) positions[i] = i % T;
    int shape[2] = {B, T};
    tfm_tensor *x = tfm_fn_embedding(g, &m->word_embeddings, b->input_ids, 2, shape);
    x = tfm_fn_add_in_place(g, tfm_fn_embedding(g, &m->token_type_embeddings, types, 2, shape), x);
    x = tfm_fn_add_in_place(g, tfm_fn_embedding(g, &m->position_embeddings, positions, 2, shape), x);
    x = tfm_layernorm_forward_graph(g, &m->embedding_norm, x);
    x = tfm_fn_dropout_in_place(g, x, m->config.dropout);
    return m->config.albert ? tfm_linear_forward_graph(g, &m->embedding_projection, x) : x; /* [B, T, E] -> [B, T, C] */
}

/* Bidirectional self-attention with padded keys masked, then the output projection. -> [B, T, C] */
static tfm_tensor *attention(tfm_bert *m, tfm_graph *g, tfm_bert_layer *l, tfm_tensor *x, const tfm_bert_batch *b) {
    const tfm_bert_config *c = &m->config;
    tfm_tensor *q = tfm_linear_forward_graph(g, &l->query, x), *k = tfm_linear_forward_graph(g, &l->key, x);
    tfm_tensor *v = tfm_linear_forward_graph(g, &l->value, x);
    tfm_attention_args args = {.q = q, .k = k, .v = v, .batch = b->batch, .query_length = b->length, .key_length = b->length,
                               .heads = c->n_heads, .head_dim = c->d_model / c->n_heads, .key_lengths = b->lengths,
                               .dropout_p = c->attention_dropout};
    return tfm_linear_forward_graph(g, &l->attention_output, tfm_fn_attention(g, &args));
}

/* norm(x + dropout(branch)), written over the branch; rows: BatchNorm's real tokens (or NULL) */
static tfm_tensor *residual(tfm_bert *m, tfm_graph *g, tfm_norm_layer *norm, tfm_tensor *x, tfm_tensor *branch, const uint8_t *rows) {
    return tfm_norm_forward_masked(g, norm, tfm_fn_add_dropout_in_place(g, x, branch, m->config.dropout), rows);
}

tfm_tensor *tfm_bert_encode(tfm_bert *m, tfm_graph *g, const tfm_bert_batch *b) {
    if (check_batch(m, b)) return NULL;
    tfm_tensor *x = embed(m, g, b);
    const uint8_t *rows = tfm_norm_real_rows(g, m->config.norm, b->lengths, b->batch, b->length);
    int L = m->config.n_layers, G = block_count(&m->config);
    for (int i = 0; i < L; i++) {
        tfm_bert_layer *l = &m->layers[(long)i * G / L]; /* ALBERT: the layers of a group share its block */
        tfm_graph_mark layer_start = tfm_graph_mark_now(g); /* inference: the layer's intermediates die with it */
        x = residual(m, g, &l->attention_norm, x, attention(m, g, l, x, b), rows);
        tfm_tensor *h = tfm_linear_forward_graph(g, &l->intermediate, x);
        h = tfm_linear_forward_graph(g, &l->output, tfm_fn_activation_in_place(g, h, m->config.activation));
        x = residual(m, g, &l->output_norm, x, h, rows);
        x = tfm_graph_keep(g, layer_start, x);
    }
    return x;
}

tfm_tensor *tfm_bert_pool(tfm_bert *m, tfm_graph *g, tfm_tensor *hidden, int B, int T) {
    if (m->config.parts == TFM_BERT_TOKEN_CLASSIFICATION) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: a BertForTokenClassification model has no pooler");
        return NULL;
    }
    int32_t *first = tfm_graph_alloc(g, sizeof(int32_t) * (size_t)B);
    if (!hidden || !first) return NULL;
    for (int b = 0; b < B; b++) first[b] = b * T; /* [CLS] */
    tfm_tensor *cls = tfm_fn_gather_rows(g, hidden, first, B);
    return tfm_fn_activation_in_place(g, tfm_linear_forward_graph(g, &m->pooler, cls), TFM_ACTIVATION_TANH);
}

static int has_heads(const tfm_bert *m, const char *what) {
    if (m->config.parts == TFM_BERT_PRETRAINING) return 1;
    tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: the %s head needs a BertForPreTraining model; this one is a BertModel", what);
    return 0;
}

tfm_tensor *tfm_bert_mlm_logits(tfm_bert *m, tfm_graph *g, tfm_tensor *hidden, const int32_t *rows, int count) {
    if (!hidden || !has_heads(m, "masked-LM")) return NULL;
    tfm_tensor *h = tfm_linear_forward_graph(g, &m->mlm_transform, tfm_fn_gather_rows(g, hidden, rows, count));
    h = tfm_layernorm_forward_graph(g, &m->mlm_norm, tfm_fn_activation_in_place(g, h, m->config.activation));
    return tfm_fn_linear(g, h, &m->word_embeddings, &m->mlm_bias); /* the decoder is the word embeddings */
}

tfm_tensor *tfm_bert_nsp_logits(tfm_bert *m, tfm_graph *g, tfm_tensor *pooled) {
    if (!pooled || !has_heads(m, "next-sentence")) return NULL;
    if (m->config.albert) pooled = tfm_fn_dropout(g, pooled, head_dropout(&m->config)); /* ALBERT's SOP head has dropout */
    return tfm_linear_forward_graph(g, &m->nsp, pooled);
}

static int has_classifier(const tfm_bert *m, int parts, const char *what) {
    if (m->config.parts == parts) return 1;
    tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT: the %s classifier needs a %s model", what,
              parts == TFM_BERT_SEQUENCE_CLASSIFICATION ? "BertForSequenceClassification" : "BertForTokenClassification");
    return 0;
}

tfm_tensor *tfm_bert_sequence_logits(tfm_bert *m, tfm_graph *g, tfm_tensor *pooled) {
    if (!pooled || !has_classifier(m, TFM_BERT_SEQUENCE_CLASSIFICATION, "sequence")) return NULL;
    return tfm_linear_forward_graph(g, &m->classifier, tfm_fn_dropout(g, pooled, head_dropout(&m->config)));
}

tfm_tensor *tfm_bert_token_logits(tfm_bert *m, tfm_graph *g, tfm_tensor *hidden, const int32_t *rows, int count) {
    if (!hidden || !has_classifier(m, TFM_BERT_TOKEN_CLASSIFICATION, "token")) return NULL;
    tfm_tensor *h = tfm_fn_gather_rows(g, hidden, rows, count);
    return tfm_linear_forward_graph(g, &m->classifier, tfm_fn_dropout_in_place(g, h, head_dropout(&m->config)));
}

tfm_tensor *tfm_bert_classification_loss(tfm_bert *m, tfm_graph *g, const tfm_bert_batch *b, const int32_t *rows, const int32_t *labels,
                                         int count, float label_smoothing, tfm_tensor **logits_out) {
    int tokens = m->config.parts == TFM_BERT_TOKEN_CLASSIFICATION;
    if (count < 1 || (!tokens && count != b->batch) || (tokens && !rows)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT classification loss: %d labels for a batch of %d %s", count, b->batch,
                  tokens ? "(and rows must be given)" : "sequences");
        return NULL;
    }
    for (int i = 0; i < count; i++)
        if (labels[i] < 0 || labels[i] >= m->config.num_labels) {
            tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT classification loss: label %d is %d, expected 0 to %d", i, labels[i], m->config.num_labels - 1);
            return NULL;
        }
    tfm_tensor *hidden = tfm_bert_encode(m, g, b);
    tfm_tensor *logits = tokens ? tfm_bert_token_logits(m, g, hidden, rows, count)
                                : tfm_bert_sequence_logits(m, g, hidden ? tfm_bert_pool(m, g, hidden, b->batch, b->length) : NULL);
    if (logits_out) *logits_out = logits;
    return logits ? tfm_fn_cross_entropy(g, logits, labels, -1, label_smoothing, NULL) : NULL;
}

tfm_tensor *tfm_bert_pretraining_loss(tfm_bert *m, tfm_graph *g, const tfm_bert_pretraining_batch *b, float label_smoothing,
                                      tfm_bert_pretraining_outputs *outputs) {
    tfm_bert_pretraining_outputs o = {.mlm_loss = NAN};
    if (b->predictions < 1) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT pre-training loss: the batch has no masked-LM predictions");
        return NULL;
    }
    tfm_bert_batch batch = {b->input_ids, b->token_type_ids, b->lengths, b->batch, b->length};
    tfm_tensor *hidden = tfm_bert_encode(m, g, &batch);
    o.mlm_logits = tfm_bert_mlm_logits(m, g, hidden, b->rows, b->predictions);
    tfm_tensor *loss = o.mlm_logits ? tfm_fn_cross_entropy(g, o.mlm_logits, b->labels, -1, label_smoothing, NULL) : NULL;
    if (loss) o.mlm_loss = loss->data[0];
    if (loss && b->has_pairs) {
        o.pair_logits = tfm_bert_nsp_logits(m, g, tfm_bert_pool(m, g, hidden, b->batch, b->length));
        tfm_tensor *pair = o.pair_logits ? tfm_fn_cross_entropy(g, o.pair_logits, b->pair_labels, -1, 0.0f, NULL) : NULL;
        if (pair) o.pair_loss = pair->data[0];
        loss = pair ? tfm_fn_add(g, loss, pair) : NULL;
    }
    if (outputs) *outputs = o;
    return loss;
}

tfm_status tfm_bert_mean_pool(const tfm_tensor *hidden, const int *lengths, int B, int T, int normalize, float *out) {
    if (!hidden || hidden->ndim != 3 || hidden->shape[0] != B || hidden->shape[1] != T)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT mean pooling: expected hidden states [%d, %d, C]", B, T);
    int C = hidden->shape[2];
    for (int b = 0; b < B; b++) {
        int n = lengths ? lengths[b] : T;
        float *o = out + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            double sum = 0;
            for (int t = 0; t < n; t++) sum += hidden->data[((size_t)b * T + t) * C + c];
            o[c] = (float)(sum / (n > 0 ? n : 1));
        }
        if (!normalize) continue;
        double norm = 0;
        for (int c = 0; c < C; c++) norm += (double)o[c] * o[c];
        norm = sqrt(norm);
        for (int c = 0; c < C; c++) o[c] = (float)(o[c] / (norm > 1e-12 ? norm : 1e-12)); /* torch's F.normalize eps */
    }
    return TFM_OK;
}
