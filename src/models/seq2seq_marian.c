/* models/seq2seq_marian.c: the encoder-decoder as a Hugging Face MarianMTModel directory (config.json, model.safetensors). */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"

/* Marian's sinusoidal table puts the sines in the first half of the width and the cosines in the second; tfm's (the
 * paper's) interleaves them: Marian's column j is tfm's column perm[j] (perm = 0, 2, 4, ..., 1, 3, 5, ...). The table is
 * fixed, so the model is written in that permuted basis instead: every tensor that reads the residual stream has its
 * input columns permuted, every one that writes it (out_proj, fc2, norms, embeddings) its output rows. The logits,
 * x E^T, are unchanged. */
static void residual_permutation(int C, int *perm) {
    for (int k = 0; k < C / 2; k++) perm[k] = 2 * k, perm[C / 2 + k] = 2 * k + 1;
}

/* What Marian cannot hold, by name. */
static tfm_status check_marian(const tfm_seq2seq_config *c) {
    const char *why = c->pre_layernorm                       ? "pre_layernorm (Marian is post-LN)"
                      : c->final_norm                        ? "final_norm (torch.nn.Transformer's norms after each stack; Marian has none)"
                      : c->positions != TFM_POSITIONS_SINUSOIDAL ? "positions other than sinusoidal"
                      : c->norm != TFM_NORM_LAYERNORM        ? "norm other than layernorm"
                      : c->attention_score != TFM_SCORE_SCALED_DOT ? "attention_score other than scaled_dot"
                      : !c->share_embeddings                 ? "untied embeddings (share_embeddings false)"
                      : c->activation != TFM_ACTIVATION_RELU && c->activation != TFM_ACTIVATION_GELU ? "an activation other than relu or gelu"
                      : c->layernorm_eps != 1e-5f            ? "layernorm_eps other than 1e-5 (Marian's LayerNorm has the default)"
                      : c->d_model % 2                       ? "an odd d_model"
                                                             : NULL;
    return why ? tfm_error(TFM_ERR_UNSUPPORTED, "Marian export: MarianMTModel has no %s; this model has it", why) : TFM_OK;
}

/* Export and import walk the same list of (Marian name, tfm tensor, permutation) through a visitor. */
typedef struct marian_writer {
    tfm_safetensors_entry *entries;
    float **copies;
    int count, capacity;
    const int *perm;
    tfm_status status;
    /* import: the file read from, instead of the entries written */
    const tfm_safetensors *file;
    float *scratch;           /* [largest tensor] */
    int start_row;            /* import: the embeddings end with Marian's zero start row, which tfm does not keep */
} marian_writer;

static void add(marian_writer *w, const char *name, const float *data, int rows, int cols, int permute_rows, int permute_cols, int ndim);

/* Import: the file's tensor into `data` [rows, cols] in tfm's basis (the inverse of add's copy); the file has
 * `extra` more rows, which must be zero (Marian's start row). */
static void take_rows(marian_writer *w, const char *name, float *data, int rows, int extra, int cols, int permute_rows, int permute_cols,
                      int ndim) {
    if (w->status) return;
    int shape[2] = {ndim == 1 ? cols : rows + extra, cols};
    if ((w->status = tfm_safetensors_read_f32(w->file, name, ndim, shape, 0, w->scratch)) != TFM_OK) return;
    for (size_t i = (size_t)rows * cols; i < (size_t)(rows + extra) * cols; i++)
        if (w->scratch[i] != 0.0f) {
            w->status = tfm_error(TFM_ERR_FORMAT, "%s: %s row %d (the decoder's start token) is not zero, as a model with "
                                  "tfm_zero_start_embedding must have it", tfm_safetensors_path(w->file), name, rows);
            return;
        }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            data[(size_t)(permute_rows ? w->perm[r] : r) * cols + (permute_cols ? w->perm[c] : c)] = w->scratch[(size_t)r * cols + c];
}

static void take(marian_writer *w, const char *name, float *data, int rows, int cols, int permute_rows, int permute_cols, int ndim) {
    take_rows(w, name, data, rows, 0, cols, permute_rows, permute_cols, ndim);
}

/* One tensor either way. */
static void visit(marian_writer *w, const char *name, const float *data, int rows, int cols, int permute_rows, int permute_cols, int ndim) {
    if (w->file) take(w, name, (float *)data, rows, cols, permute_rows, permute_cols, ndim); /* import writes the model's own tensor */
    else add(w, name, data, rows, cols, permute_rows, permute_cols, ndim);
}

/* A permuted copy of `t` [rows, cols]: rows (permute_rows) and/or columns (permute_cols) in Marian's basis. */
static void add(marian_writer *w, const char *name, const float *data, int rows, int cols, int permute_rows, int permute_cols, int ndim) {
    if (w->status) return;
    if (w->count == w->capacity) { w->status = tfm_error(TFM_ERR_INVALID_ARGUMENT, "Marian export: too many tensors"); return; }
    float *copy = tfm_malloc(sizeof(float) * (size_t)rows * cols);
    char *own = tfm_strdup(name);
    if (!copy || !own) { w->status = TFM_ERR_OUT_OF_MEMORY; tfm_free(copy, sizeof(float) * (size_t)rows * cols); return; }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            copy[(size_t)r * cols + c] = data[(size_t)(permute_rows ? w->perm[r] : r) * cols + (permute_cols ? w->perm[c] : c)];
    w->copies[w->count] = copy;
    w->entries[w->count] = (tfm_safetensors_entry){.name = own, .data = copy, .ndim = ndim, .shape = {ndim == 1 ? cols : rows, cols}};
    w->count++;
}

#define READS 0, 1   /* input columns in the residual basis */
#define WRITES 1, 0  /* output rows in the residual basis */

static void add_attention(marian_writer *w, const char *prefix, const tfm_seq2seq_attention *a, int C) {
    static const char *const parts[3] = {"q_proj", "k_proj", "v_proj"};
    char name[320];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s.weight", prefix, parts[i]);
        visit(w, name, a->in_proj_weight.data + (size_t)i * C * C, C, C, READS, 2);
        snprintf(name, sizeof name, "%s.%s.bias", prefix, parts[i]);
        visit(w, name, a->in_proj_bias.data + (size_t)i * C, 1, C, 0, 0, 1);
    }
    snprintf(name, sizeof name, "%s.out_proj.weight", prefix);
    visit(w, name, a->out_proj.weight.data, C, C, WRITES, 2);
    snprintf(name, sizeof name, "%s.out_proj.bias", prefix);
    visit(w, name, a->out_proj.bias.data, 1, C, 0, 1, 1);
}

static void add_norm(marian_writer *w, const char *prefix, const tfm_norm_layer *n, int C) {
    char name[320];
    snprintf(name, sizeof name, "%s.weight", prefix);
    visit(w, name, n->weight.data, 1, C, 0, 1, 1);
    snprintf(name, sizeof name, "%s.bias", prefix);
    visit(w, name, n->bias.data, 1, C, 0, 1, 1);
}

static void add_ffn(marian_writer *w, const char *prefix, const tfm_linear_layer *fc1, const tfm_linear_layer *fc2, int C, int F) {
    char name[320];
    snprintf(name, sizeof name, "%s.fc1.weight", prefix);
    visit(w, name, fc1->weight.data, F, C, READS, 2);
    snprintf(name, sizeof name, "%s.fc1.bias", prefix);
    visit(w, name, fc1->bias.data, 1, F, 0, 0, 1);
    snprintf(name, sizeof name, "%s.fc2.weight", prefix);
    visit(w, name, fc2->weight.data, C, F, WRITES, 2);
    snprintf(name, sizeof name, "%s.fc2.bias", prefix);
    visit(w, name, fc2->bias.data, 1, C, 0, 1, 1);
}

static void visit_model(marian_writer *w, const tfm_seq2seq *m) {
    const tfm_seq2seq_config *c = &m->config;
    int C = c->d_model, F = c->d_ff, V = c->vocab_size;
    char prefix[128], name[160];
    static const char *const embeddings[] = {"model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
                                             "lm_head.weight", NULL};
    for (const char *const *n = embeddings; *n; n++) {
        if (w->file && !tfm_safetensors_find(w->file, *n)) continue; /* tied copies may be left out of a file */
        if (w->file) take_rows(w, *n, m->source_embedding.data, V, w->start_row, C, READS, 2);
        else visit(w, *n, m->source_embedding.data, V, C, READS, 2);
        if (w->file) break;
    }
    if (w->file && !w->status && !tfm_safetensors_find(w->file, "model.shared.weight") && !tfm_safetensors_find(w->file, "model.encoder.embed_tokens.weight") &&
        !tfm_safetensors_find(w->file, "model.decoder.embed_tokens.weight") && !tfm_safetensors_find(w->file, "lm_head.weight"))
        w->status = tfm_error(TFM_ERR_FORMAT, "%s: no embedding table (model.shared.weight)", tfm_safetensors_path(w->file));
    for (int l = 0; l < c->n_encoder_layers; l++) {
        const tfm_seq2seq_encoder_layer *e = &m->encoder_layers[l];
        snprintf(prefix, sizeof prefix, "model.encoder.layers.%d", l);
        snprintf(name, sizeof name, "%s.self_attn", prefix), add_attention(w, name, &e->self_attn, C);
        snprintf(name, sizeof name, "%s.self_attn_layer_norm", prefix), add_norm(w, name, &e->norm1, C);
        add_ffn(w, prefix, &e->linear1, &e->linear2, C, F);
        snprintf(name, sizeof name, "%s.final_layer_norm", prefix), add_norm(w, name, &e->norm2, C);
    }
    for (int l = 0; l < c->n_decoder_layers; l++) {
        const tfm_seq2seq_decoder_layer *d = &m->decoder_layers[l];
        snprintf(prefix, sizeof prefix, "model.decoder.layers.%d", l);
        snprintf(name, sizeof name, "%s.self_attn", prefix), add_attention(w, name, &d->self_attn, C);
        snprintf(name, sizeof name, "%s.self_attn_layer_norm", prefix), add_norm(w, name, &d->norm1, C);
        snprintf(name, sizeof name, "%s.encoder_attn", prefix), add_attention(w, name, &d->cross_attn, C);
        snprintf(name, sizeof name, "%s.encoder_attn_layer_norm", prefix), add_norm(w, name, &d->norm2, C);
        add_ffn(w, prefix, &d->linear1, &d->linear2, C, F);
        snprintf(name, sizeof name, "%s.final_layer_norm", prefix), add_norm(w, name, &d->norm3, C);
    }
}

/* Marian keeps the decoder's start in the vocabulary: its last id, the pad token, whose embedding row is zero (and
 * which CTranslate2 drops, starting from a zero vector). A model with zero_start_embedding is written that way: one
 * more row, zero, with a final_logits_bias of -1e9 so that its probability is 0 and every other token's is tfm's. */
static int marian_vocab_size(const tfm_seq2seq_config *c) { return c->vocab_size + (c->zero_start_embedding ? 1 : 0); }
static int marian_start_id(const tfm_seq2seq_config *c) { return c->zero_start_embedding ? c->vocab_size : c->bos_id; }
static int marian_pad_id(const tfm_seq2seq_config *c) { return c->zero_start_embedding ? c->vocab_size : c->pad_id; }
#define MARIAN_NEVER (-1e9f) /* the start row's logit bias: exp(-1e9 - max) is 0 in float */

/* MarianConfig's fields for this model. */
static char *marian_config_json(const tfm_seq2seq_config *c) {
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("MarianMTModel"));
    cJSON_AddStringToObject(o, "model_type", "marian");
    int V = marian_vocab_size(c);
    const struct { const char *key; double value; } numbers[] = {
        {"vocab_size", V}, {"decoder_vocab_size", V}, {"d_model", c->d_model},
        {"encoder_layers", c->n_encoder_layers}, {"decoder_layers", c->n_decoder_layers},
        {"encoder_attention_heads", c->n_heads}, {"decoder_attention_heads", c->n_heads},
        {"encoder_ffn_dim", c->d_ff}, {"decoder_ffn_dim", c->d_ff},
        {"max_position_embeddings", c->max_source_length > c->max_target_length ? c->max_source_length : c->max_target_length},
        {"dropout", c->dropout}, {"attention_dropout", c->attention_dropout}, {"activation_dropout", c->activation_dropout},
        {"pad_token_id", marian_pad_id(c)}, {"eos_token_id", c->eos_id}, {"forced_eos_token_id", c->eos_id},
        {"decoder_start_token_id", marian_start_id(c)}, {"init_std", 0.02}};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) cJSON_AddNumberToObject(o, numbers[i].key, numbers[i].value);
    cJSON_AddStringToObject(o, "activation_function", c->activation == TFM_ACTIVATION_RELU ? "relu" : "gelu_new");
    cJSON_AddBoolToObject(o, "scale_embedding", c->scale_embeddings);
    cJSON_AddBoolToObject(o, "share_encoder_decoder_embeddings", 1);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    cJSON_AddBoolToObject(o, "is_encoder_decoder", 1);
    /* What the import needs to give back tfm's model exactly (transformers keeps fields it does not know). */
    cJSON_AddNumberToObject(o, "tfm_max_source_length", c->max_source_length);
    cJSON_AddNumberToObject(o, "tfm_max_target_length", c->max_target_length);
    if (c->zero_start_embedding) {
        cJSON_AddBoolToObject(o, "tfm_zero_start_embedding", 1);
        cJSON_AddNumberToObject(o, "tfm_pad_token_id", c->pad_id);
        cJSON_AddNumberToObject(o, "tfm_bos_token_id", c->bos_id);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* generation_config.json: transformers' generate never picks what tfm's search never picks (pad, and BOS when it is not
 * EOS; removed after the log-softmax, as tfm does), and forces EOS at the length limit as tfm does. */
static char *generation_config_json(const tfm_seq2seq_config *c) {
    cJSON *o = cJSON_CreateObject(), *bad = cJSON_AddArrayToObject(o, "bad_words_ids");
    int never[3] = {0}, count = 0;
    never[count++] = c->pad_id;
    if (c->bos_id != c->eos_id && c->bos_id != c->pad_id) never[count++] = c->bos_id;
    if (c->zero_start_embedding) never[count++] = c->vocab_size;
    for (int i = 0; i < count; i++) {
        cJSON *word = cJSON_CreateArray();
        cJSON_AddItemToArray(word, cJSON_CreateNumber(never[i]));
        cJSON_AddItemToArray(bad, word);
    }
    cJSON_AddNumberToObject(o, "decoder_start_token_id", marian_start_id(c));
    cJSON_AddNumberToObject(o, "eos_token_id", c->eos_id);
    cJSON_AddNumberToObject(o, "forced_eos_token_id", c->eos_id);
    cJSON_AddNumberToObject(o, "pad_token_id", marian_pad_id(c));
    cJSON_AddNumberToObject(o, "max_length", c->max_target_length + 1); /* the start token and max_target_length more */
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* The embedding tables written so far get the zero start row (zero_start_embedding). */
static void append_start_row(marian_writer *w, int V, int C) {
    for (int i = 0; i < w->count && !w->status; i++) {
        tfm_safetensors_entry *e = &w->entries[i];
        if (e->ndim != 2 || e->shape[0] != V || e->shape[1] != C || (!strstr(e->name, "embed_tokens") && !strstr(e->name, "shared") &&
                                                                     strcmp(e->name, "lm_head.weight")))
            continue;
        float *grown = tfm_calloc((size_t)(V + 1) * C, sizeof(float));
        if (!grown) { w->status = TFM_ERR_OUT_OF_MEMORY; return; }
        memcpy(grown, w->copies[i], sizeof(float) * (size_t)V * C);
        tfm_free(w->copies[i], sizeof(float) * (size_t)V * C);
        w->copies[i] = grown;
        e->data = grown;
        e->shape[0] = V + 1;
    }
}

static tfm_status write_files(const tfm_seq2seq *m, const char *dir) {
    int C = m->config.d_model, capacity = 4 + 1 + 16 * m->config.n_encoder_layers + 26 * m->config.n_decoder_layers;
    int *perm = tfm_malloc(sizeof(int) * (size_t)C);
    marian_writer w = {.entries = tfm_calloc((size_t)capacity, sizeof *w.entries), .copies = tfm_calloc((size_t)capacity, sizeof *w.copies),
                       .capacity = capacity, .perm = perm};
    if (!perm || !w.entries || !w.copies) w.status = TFM_ERR_OUT_OF_MEMORY;
    else residual_permutation(C, perm);
    int V = m->config.vocab_size, Vm = marian_vocab_size(&m->config);
    float *bias = w.status ? NULL : tfm_calloc((size_t)Vm, sizeof(float));   /* [1, V] zeros: tfm's logits have no bias */
    visit_model(&w, m);
    if (m->config.zero_start_embedding) append_start_row(&w, V, C);
    if (bias && Vm > V) bias[V] = MARIAN_NEVER;
    if (!w.status) bias ? add(&w, "final_logits_bias", bias, 1, Vm, 0, 0, 2) : (void)(w.status = TFM_ERR_OUT_OF_MEMORY);
    char *json = w.status ? NULL : marian_config_json(&m->config), *generation_json = w.status ? NULL : generation_config_json(&m->config);
    char *weights = tfm_file_join(dir, "model.safetensors"), *config = tfm_file_join(dir, "config.json");
    char *generation = tfm_file_join(dir, "generation_config.json");
    tfm_status st = w.status ? w.status : (!json || !generation_json || !weights || !config || !generation) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    if (!st) st = tfm_safetensors_write(weights, w.entries, w.count, (const char *[]){"format", "pt", NULL});
    if (!st) st = tfm_file_write_atomic(config, json, strlen(json));
    if (!st) st = tfm_file_write_atomic(generation, generation_json, strlen(generation_json));
    for (int i = 0; i < w.count; i++) {
        tfm_free((void *)w.entries[i].name, strlen(w.entries[i].name) + 1);
        tfm_free(w.copies[i], sizeof(float) * (size_t)w.entries[i].shape[0] * (size_t)(w.entries[i].ndim == 2 ? w.entries[i].shape[1] : 1));
    }
    if (json) cJSON_free(json);
    if (generation_json) cJSON_free(generation_json);
    if (weights) tfm_free(weights, strlen(weights) + 1);
    if (config) tfm_free(config, strlen(config) + 1);
    if (generation) tfm_free(generation, strlen(generation) + 1);
    tfm_free(bias, sizeof(float) * (size_t)Vm);
    tfm_free(w.entries, sizeof *w.entries * (size_t)capacity);
    tfm_free(w.copies, sizeof *w.copies * (size_t)capacity);
    tfm_free(perm, sizeof(int) * (size_t)C);
    return st;
}

/* The model-vocab entry of `id` in a tokenizer.json (or NULL), and in *added its added_tokens entry (or NULL). */
static cJSON *token_named(cJSON *root, int id, cJSON **added) {
    *added = NULL;
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "id")) == id) *added = item;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab")) {
        if (cJSON_IsNumber(item) && item->valuedouble == id) return item;
    }
    return NULL;
}

static const char *token_string(cJSON *root, int id) {
    cJSON *added, *entry = token_named(root, id, &added);
    if (added) return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(added, "content"));
    return entry ? entry->string : NULL;
}

/* The id of a token string, or -1. */
static int token_id(cJSON *root, const char *string) {
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "content"));
        if (content && !strcmp(content, string)) return (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "id"));
    }
    item = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab"), string);
    return cJSON_IsNumber(item) ? (int)item->valuedouble : -1;
}

static int token_count(cJSON *root) {
    int largest = -1;
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab"))
        if (cJSON_IsNumber(item) && item->valuedouble > largest) largest = (int)item->valuedouble;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        double id = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "id"));
        if (id > largest) largest = (int)id;
    }
    return largest + 1;
}

/* Marian's start token "<pad>" appended as id V (zero_start_embedding); tfm's own pad, if it is called "<pad>", becomes
 * "<unk>" (never produced by byte-level BPE; CTranslate2 wants an unknown token) so that every string names one id. */
static tfm_status add_start_token(cJSON *root, const tfm_seq2seq_config *c, const char *source) {
    int taken = token_id(root, "<pad>");
    if (taken >= 0 && taken != c->pad_id)
        return tfm_error(TFM_ERR_FORMAT, "%s: \"<pad>\" is token %d, not the model's pad_id %d: Marian's start token would clash", source, taken, c->pad_id);
    cJSON *added, *entry = token_named(root, c->pad_id, &added);
    const char *own = token_string(root, c->pad_id);
    if (own && !strcmp(own, "<pad>")) {
        if (!entry) return tfm_error(TFM_ERR_FORMAT, "%s: the pad token %d is not in the model's vocab", source, c->pad_id);
        const char *name = token_id(root, "<unk>") >= 0 ? "<tfm_pad>" : "<unk>";
        cJSON *vocab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab");
        cJSON_DeleteItemFromObjectCaseSensitive(vocab, "<pad>");
        cJSON_AddNumberToObject(vocab, name, c->pad_id);
        if (added) cJSON_ReplaceItemInObjectCaseSensitive(added, "content", cJSON_CreateString(name));
    }
    cJSON *start = cJSON_CreateObject();
    cJSON_AddNumberToObject(start, "id", c->vocab_size);
    cJSON_AddStringToObject(start, "content", "<pad>");
    cJSON_AddBoolToObject(start, "single_word", 0), cJSON_AddBoolToObject(start, "lstrip", 0), cJSON_AddBoolToObject(start, "rstrip", 0);
    cJSON_AddBoolToObject(start, "normalized", 0), cJSON_AddBoolToObject(start, "special", 1);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!list) list = cJSON_AddArrayToObject(root, "added_tokens");
    return cJSON_AddItemToArray(list, start) ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

/* tokenizer.json (with Marian's start token when the model has one) and a tokenizer_config.json naming its special
 * tokens, so that AutoTokenizer (and ct2-transformers-converter) load it as a fast tokenizer. */
static tfm_status write_tokenizer(const tfm_seq2seq_config *c, const char *from, const char *dir) {
    char *text = NULL, *json = NULL, *settings = NULL;
    size_t size = 0;
    cJSON *root = NULL, *o = NULL;
    tfm_status st = tfm_file_read(from, &text, &size);
    if (!st) st = tfm_json_parse(text, size, from, &root);
    int have = st ? 0 : token_count(root);
    if (!st && have != c->vocab_size)
        st = tfm_error(TFM_ERR_FORMAT, "%s: %d tokens, but the model's vocab_size is %d", from, have, c->vocab_size);
    if (!st && c->zero_start_embedding) st = add_start_token(root, c, from);
    if (!st) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tokenizer_class", "PreTrainedTokenizerFast");
        const struct { const char *key; int id; } special[] = {{"bos_token", c->bos_id}, {"eos_token", c->eos_id}, {"pad_token", marian_pad_id(c)}};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
            const char *t = token_string(root, special[i].id);
            if (t) cJSON_AddStringToObject(o, special[i].key, t);
        }
        if (token_id(root, "<unk>") >= 0) cJSON_AddStringToObject(o, "unk_token", "<unk>");
        cJSON_AddNumberToObject(o, "model_max_length", c->max_source_length);
        json = cJSON_PrintUnformatted(root);
        settings = cJSON_Print(o);
        if (!json || !settings) st = TFM_ERR_OUT_OF_MEMORY;
    }
    char *tokenizer = tfm_file_join(dir, "tokenizer.json"), *config = tfm_file_join(dir, "tokenizer_config.json");
    if (!st && (!tokenizer || !config)) st = TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_file_write_atomic(tokenizer, json, strlen(json));
    if (!st) st = tfm_file_write_atomic(config, settings, strlen(settings));
    if (tokenizer) tfm_free(tokenizer, strlen(tokenizer) + 1);
    if (config) tfm_free(config, strlen(config) + 1);
    if (json) cJSON_free(json);
    if (settings) cJSON_free(settings);
    cJSON_Delete(root);
    cJSON_Delete(o);
    if (text) tfm_free(text, size + 1);
    return st;
}

tfm_status tfm_seq2seq_export_marian(const tfm_seq2seq *m, const char *tokenizer_json, const char *dir) {
    tfm_status st = check_marian(&m->config);
    if (st) return st;
    if (tfm_file_exists(dir)) return tfm_error(TFM_ERR_IO, "%s exists: the Marian export writes a new directory", dir);
    char temp[4200];
    snprintf(temp, sizeof temp, "%s.tmp.%ld", dir, (long)getpid());
    if ((st = tfm_file_make_directory(temp)) != TFM_OK) return st;
    st = write_files(m, temp);
    if (!st && tokenizer_json) st = write_tokenizer(&m->config, tokenizer_json, temp);
    if (!st && rename(temp, dir) != 0) st = tfm_error(TFM_ERR_IO, "cannot rename %s to %s: %s", temp, dir, strerror(errno));
    if (st) { /* nothing half-written stays behind */
        const char *files[] = {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"};
        for (int i = 0; i < 5; i++) {
            char *f = tfm_file_join(temp, files[i]);
            if (f) remove(f), tfm_free(f, strlen(f) + 1);
        }
        remove(temp);
    }
    return st;
}

/* ---- Import: a MarianMTModel directory as tfm's encoder-decoder ---- */

static double number_or(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}

/* MarianConfig's fields (its defaults where absent) as tfm's config: post-LN, no final norms, sinusoidal, shared. */
static tfm_status config_from_marian(const cJSON *o, const char *source, tfm_seq2seq_config *c, int *start_row) {
    tfm_seq2seq_config_default(c);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "activation_function");
    const char *a = cJSON_IsString(act) ? act->valuestring : "gelu";
    static const struct { const char *hf; int tfm; } activations[] = {
        {"relu", TFM_ACTIVATION_RELU}, {"gelu_new", TFM_ACTIVATION_GELU}, {"gelu_pytorch_tanh", TFM_ACTIVATION_GELU},
        {"gelu", TFM_ACTIVATION_GELU_ERF}, {"swish", TFM_ACTIVATION_SILU}, {"silu", TFM_ACTIVATION_SILU}};
    c->activation = -1;
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (!strcmp(a, activations[i].hf)) c->activation = activations[i].tfm;
    if (c->activation < 0) return tfm_error(TFM_ERR_UNSUPPORTED, "%s: activation_function \"%s\": tfm has relu, gelu, gelu_new and swish", source, a);
    int V = (int)number_or(o, "vocab_size", 58101), heads = (int)number_or(o, "encoder_attention_heads", 16);
    int ffn = (int)number_or(o, "encoder_ffn_dim", 4096);
    if ((int)number_or(o, "decoder_vocab_size", V) != V || (int)number_or(o, "decoder_attention_heads", heads) != heads ||
        (int)number_or(o, "decoder_ffn_dim", ffn) != ffn || !number_or(o, "share_encoder_decoder_embeddings", 1) || !number_or(o, "tie_word_embeddings", 1))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: tfm's encoder-decoder needs one vocabulary, one embedding table and the same heads and "
                                              "FFN width in encoder and decoder", source);
    int positions = (int)number_or(o, "max_position_embeddings", 1024);
    c->vocab_size = V, c->n_heads = heads, c->d_ff = ffn;
    c->d_model = (int)number_or(o, "d_model", 1024);
    c->n_encoder_layers = (int)number_or(o, "encoder_layers", 12), c->n_decoder_layers = (int)number_or(o, "decoder_layers", 12);
    c->max_source_length = (int)number_or(o, "tfm_max_source_length", positions);
    c->max_target_length = (int)number_or(o, "tfm_max_target_length", positions);
    c->dropout = (float)number_or(o, "dropout", 0.1), c->attention_dropout = (float)number_or(o, "attention_dropout", 0);
    c->activation_dropout = (float)number_or(o, "activation_dropout", 0);
    c->scale_embeddings = (int)number_or(o, "scale_embedding", 0);
    c->pad_id = (int)number_or(o, "pad_token_id", 58100), c->eos_id = (int)number_or(o, "eos_token_id", 0);
    c->bos_id = (int)number_or(o, "decoder_start_token_id", 58100);
    c->pre_layernorm = 0, c->final_norm = 0, c->positions = TFM_POSITIONS_SINUSOIDAL, c->norm = TFM_NORM_LAYERNORM;
    c->share_embeddings = 1, c->layernorm_eps = 1e-5f;
    *start_row = number_or(o, "tfm_zero_start_embedding", 0) != 0;
    if (*start_row) { /* tfm's export of a zero-start model: Marian's start token is the extra last id */
        if (c->pad_id != V - 1 || c->bos_id != V - 1)
            return tfm_error(TFM_ERR_FORMAT, "%s: tfm_zero_start_embedding needs pad_token_id and decoder_start_token_id %d (the last id), "
                             "got %d and %d", source, V - 1, c->pad_id, c->bos_id);
        c->vocab_size = V - 1, c->zero_start_embedding = 1;
        c->pad_id = (int)number_or(o, "tfm_pad_token_id", 0), c->bos_id = (int)number_or(o, "tfm_bos_token_id", 1);
    }
    tfm_status st = tfm_seq2seq_config_validate(c);
    return st ? tfm_error_prefix(st, "%s (MarianMTModel): ", source) : TFM_OK;
}

/* final_logits_bias is a buffer tfm has no place for: only zeros (what Marian initialises it to) can be dropped, and
 * the start row's "never" (start_row) that tfm's export wrote. */
static tfm_status check_zero_bias(const tfm_safetensors *f, int V, int start_row, float *scratch) {
    if (!tfm_safetensors_find(f, "final_logits_bias")) return TFM_OK;
    tfm_status st = tfm_safetensors_read_f32(f, "final_logits_bias", 2, (const int[]){1, V + start_row}, 0, scratch);
    for (int i = 0; !st && i < V; i++)
        if (scratch[i] != 0.0f)
            return tfm_error(TFM_ERR_UNSUPPORTED, "%s: final_logits_bias[%d] is %g; tfm's output layer has no bias (only zeros load)",
                             tfm_safetensors_path(f), i, (double)scratch[i]);
    if (!st && start_row && !(scratch[V] <= MARIAN_NEVER / 10))
        return tfm_error(TFM_ERR_FORMAT, "%s: final_logits_bias[%d] (the start token) is %g; tfm's export writes %g", tfm_safetensors_path(f), V,
                         (double)scratch[V], (double)MARIAN_NEVER);
    return st;
}

/* Tensors of the file tfm does not read: Marian's fixed position tables and the tied embedding copies are expected. */
static tfm_status check_extra(const tfm_safetensors *f, int read) {
    int expected = read;
    static const char *const known[] = {"model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight", "final_logits_bias",
                                        "model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
                                        "lm_head.weight", NULL};
    for (const char *const *k = known; *k; k++) expected += tfm_safetensors_find(f, *k) != NULL;
    if (tfm_safetensors_count(f) == expected - 1) return TFM_OK; /* the embedding read is among the known names */
    for (int i = 0; i < tfm_safetensors_count(f); i++) {
        const char *name = tfm_safetensors_tensor_at(f, i)->name;
        if (strncmp(name, "model.encoder.layers.", 21) && strncmp(name, "model.decoder.layers.", 21)) {
            int listed = 0;
            for (const char *const *k = known; *k; k++) listed |= !strcmp(name, *k);
            if (!listed) return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\" is not part of a MarianMTModel tfm can run", tfm_safetensors_path(f), name);
        }
    }
    return tfm_error(TFM_ERR_FORMAT, "%s: %d tensors, but the config's layers account for %d: extra layers in the file", tfm_safetensors_path(f),
                     tfm_safetensors_count(f), expected - 1);
}

tfm_status tfm_seq2seq_load_marian(tfm_seq2seq **out, const char *dir, const char *config_json) {
    *out = NULL;
    char source[1100];
    snprintf(source, sizeof source, "%s/config.json", dir);
    cJSON *o = cJSON_Parse(config_json);
    if (!o) return tfm_error(TFM_ERR_FORMAT, "%s: not valid JSON", source);
    tfm_seq2seq_config c;
    int start_row = 0;
    tfm_status st = config_from_marian(o, source, &c, &start_row);
    cJSON_Delete(o);
    tfm_seq2seq *m = NULL;
    if (!st) st = tfm_seq2seq_create(&m, &c);
    char *path = st ? NULL : tfm_file_join(dir, "model.safetensors");
    tfm_safetensors *f = NULL;
    if (!st) st = path ? tfm_safetensors_open(path, &f) : TFM_ERR_OUT_OF_MEMORY;
    size_t largest = (size_t)(c.vocab_size + start_row) * c.d_model, ffn = (size_t)c.d_ff * c.d_model;
    marian_writer w = {.file = f, .start_row = start_row};
    int *perm = tfm_malloc(sizeof(int) * (size_t)c.d_model);
    w.scratch = st ? NULL : tfm_malloc(sizeof(float) * (largest > ffn ? largest : ffn));
    if (!st && (!perm || !w.scratch)) st = TFM_ERR_OUT_OF_MEMORY;
    if (!st) {
        residual_permutation(c.d_model, perm);
        w.perm = perm;
        st = check_zero_bias(f, c.vocab_size, start_row, w.scratch);
    }
    if (!st) {
        visit_model(&w, m);
        st = w.status;
    }
    if (!st) st = check_extra(f, 16 * c.n_encoder_layers + 26 * c.n_decoder_layers + 1);
    tfm_free(w.scratch, sizeof(float) * (largest > ffn ? largest : ffn));
    tfm_free(perm, sizeof(int) * (size_t)c.d_model);
    tfm_safetensors_close(f);
    if (path) tfm_free(path, strlen(path) + 1);
    if (st) { tfm_seq2seq_free(m); return st; }
    *out = m;
    return TFM_OK;
}
