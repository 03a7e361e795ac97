/* train/gpt_task.c: GPT as a training task: windows of a token stream, next-token loss, validation loss (per token and per byte), data position for resume. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bpe.h"
#include "tfm/gpt.h"
#include "tfm/io.h"
#include "tfm/train.h"

typedef struct gpt_task {
    tfm_train_task task;
    tfm_gpt *model;              /* not owned */
    tfm_gpt_train_config part;   /* B, T, validation */
    char *data_path;             /* absolute: --resume works from any directory */
    uint64_t data_checksum;      /* of the token stream: a resumed run must see the same data */
    tfm_dataset data;
    int32_t *inputs, *targets;   /* [B, T] each */
    uint32_t *token_bytes;       /* [V]: how many bytes of text each id stands for; NULL when unknown */
} gpt_task;

enum { METRIC_PERPLEXITY, METRIC_BITS_PER_BYTE, METRIC_BYTE_PERPLEXITY };

/* FNV-1a over the token stream: cheap identity check of the data a checkpoint was trained on. */
static uint64_t checksum_tokens(const uint32_t *tokens, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint64_t)tokens[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static tfm_status train_loss(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count) {
    gpt_task *t = self;
    int B = t->part.batch_size, T = t->part.seq_len;
    tfm_dataset_next_train_batch(&t->data, t->inputs, t->targets, B, T);
    *loss = tfm_gpt_loss(t->model, g, t->inputs, t->targets, B, T, label_smoothing);
    *count = (long)B * T;
    return *loss ? TFM_OK : TFM_ERR_INVALID_ARGUMENT;
}

static tfm_status evaluate(void *self, tfm_graph *g, float *valid_loss, float *score) {
    gpt_task *t = self;
    int B = t->part.batch_size, T = t->part.seq_len;
    double sum = 0, bytes = 0;
    for (int i = 0; i < t->part.eval_batches; i++) {
        tfm_status st = tfm_graph_begin(g, 0, 0);
        if (st) return st;
        tfm_dataset_valid_batch(&t->data, i, t->inputs, t->targets, B, T);
        tfm_tensor *loss = tfm_gpt_loss(t->model, g, t->inputs, t->targets, B, T, 0.0f);
        if (!loss) return TFM_ERR_INVALID_ARGUMENT;
        sum += loss->data[0];
        for (size_t j = 0; t->token_bytes && j < (size_t)B * T; j++) bytes += t->token_bytes[t->targets[j]];
    }
    *valid_loss = (float)(sum / t->part.eval_batches);
    *score = NAN;
    t->task.metric_values[METRIC_PERPLEXITY] = expf(*valid_loss);
    if (t->token_bytes) { /* the same nats, spread over the bytes the targets stand for */
        double nats_per_byte = sum * B * T / (bytes > 0 ? bytes : 1);
        t->task.metric_values[METRIC_BITS_PER_BYTE] = (float)(nats_per_byte / log(2.0));
        t->task.metric_values[METRIC_BYTE_PERPLEXITY] = (float)exp(nats_per_byte);
    }
    return TFM_OK;
}

static void describe(const void *self, char *buffer, size_t size) {
    const gpt_task *t = self;
    const tfm_gpt_config *m = &t->model->config;
    snprintf(buffer, size, "%zu parameters, %d layers, d_model %d, %d heads, context %d | data %s: %zu train + %zu valid tokens | batch %d x %d",
             tfm_params_count_values(&t->model->params), m->n_layers, m->d_model, m->n_heads, m->context_length, t->data_path, t->data.train_count,
             t->data.count - t->data.train_count, t->part.batch_size, t->part.seq_len);
}

static tfm_status model_config_json(const void *self, char **json) {
    const gpt_task *t = self;
    return tfm_gpt_config_to_json(&t->model->config, json);
}

static tfm_status save_state(const void *self, tfm_train_state *state) {
    const gpt_task *t = self;
    tfm_status st = tfm_train_state_set_u64(state, "data_tokens", t->data.count);
    if (!st) st = tfm_train_state_set_u64(state, "data_checksum", t->data_checksum);
    if (!st) st = tfm_train_state_set_u64(state, "data_seed", t->data.position_rng.seed);
    if (!st) st = tfm_train_state_set_u64(state, "data_counter", t->data.position_rng.counter);
    return st;
}

static tfm_status load_state(void *self, const tfm_train_state *state) {
    gpt_task *t = self;
    uint64_t tokens = 0, checksum = 0, seed = 0, counter = 0;
    tfm_status st = tfm_train_state_get_u64(state, "data_tokens", &tokens);
    if (!st) st = tfm_train_state_get_u64(state, "data_checksum", &checksum);
    if (!st) st = tfm_train_state_get_u64(state, "data_seed", &seed);
    if (!st) st = tfm_train_state_get_u64(state, "data_counter", &counter);
    if (st) return st;
    if (t->data.count != tokens || t->data_checksum != checksum)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the data file %s differs from the one this checkpoint was trained on (%" PRIu64 " tokens)",
                         tfm_train_state_source(state), t->data_path, tokens);
    t->data.position_rng = (tfm_rng){seed, counter};
    return TFM_OK;
}

static void free_task(void *self) {
    gpt_task *t = self;
    size_t bt = (size_t)t->part.batch_size * t->part.seq_len;
    tfm_dataset_free(&t->data);
    tfm_free(t->inputs, sizeof(int32_t) * bt);
    tfm_free(t->targets, sizeof(int32_t) * bt);
    if (t->token_bytes) tfm_free(t->token_bytes, sizeof(uint32_t) * (size_t)t->model->config.vocab_size);
    if (t->data_path) tfm_free(t->data_path, strlen(t->data_path) + 1);
    tfm_free(t, sizeof *t);
}

/* Bytes per id: 1 for byte tokens (no tokenizer), else each token's length (0 past the tokenizer's ids). */
static uint32_t *token_byte_table(const tfm_bpe *tokenizer, int vocab_size) {
    uint32_t *table = tfm_calloc((size_t)vocab_size, sizeof *table);
    for (int id = 0; table && id < vocab_size; id++) {
        size_t len = 1;
        if (tokenizer && (size_t)id >= tfm_bpe_vocab_size(tokenizer)) len = 0;
        else if (tokenizer && !tfm_bpe_id_to_token(tokenizer, (uint32_t)id, &len)) len = 0;
        table[id] = (uint32_t)len;
    }
    return table;
}

/* A token file as it is; a text file as bytes (a model that needs more than bytes must be given a token file). */
static tfm_status load_data(gpt_task *t, const char *data_path, int token_file, const tfm_bpe *tokenizer, uint64_t seed) {
    const tfm_gpt_config *m = &t->model->config;
    if (token_file)
        return tfm_dataset_load_tokens(&t->data, data_path, (uint32_t)m->vocab_size, t->part.seq_len, t->part.valid_fraction, seed);
    if (tokenizer)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: a text file, but the model has a tokenizer: tokenize it into a token file first "
                                                   "(tfm_dataset_tokenize_file; tfm train does it for you)", data_path);
    if (m->vocab_size < 256)
        return tfm_error(TFM_ERR_CONFIG, "byte-level data needs vocab_size >= 256, the model has %d", m->vocab_size);
    return tfm_dataset_load_text(&t->data, data_path, t->part.seq_len, t->part.valid_fraction, seed);
}

tfm_status tfm_gpt_task_create(tfm_train_task **out, tfm_gpt *model, const tfm_train_config *config, const char *data_path,
                               const tfm_bpe *tokenizer) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, &model->config);
    if (st) return st;
    if (config->task != TFM_TASK_GPT) return tfm_error(TFM_ERR_CONFIG, "tfm_gpt_task_create: the train config is not a GPT one");
    if (tokenizer && tfm_bpe_vocab_size(tokenizer) != (size_t)model->config.vocab_size)
        return tfm_error(TFM_ERR_CONFIG, "model.vocab_size is %d but the tokenizer has %zu ids", model->config.vocab_size, tfm_bpe_vocab_size(tokenizer));
    /* What one step keeps for backward, roughly: logits, probabilities and their gradient [B, T, V]; per layer
     * the block's activations [B, T, 12 d + 4 d_ff] and attention probabilities [B, H, T, T]. In double: no wrap. */
    const tfm_gpt_config *m = &model->config;
    double rows = (double)config->gpt.batch_size * config->gpt.seq_len;
    double floats = rows * (3.0 * m->vocab_size + m->n_layers * (12.0 * m->d_model + 4.0 * m->d_ff + 2.0 * m->n_heads * config->gpt.seq_len));
    char what[256];
    snprintf(what, sizeof what, "a training step of train.batch_size %d x train.seq_len %d (model.vocab_size %d, n_layers %d, d_model %d, d_ff %d)",
             config->gpt.batch_size, config->gpt.seq_len, m->vocab_size, m->n_layers, m->d_model, m->d_ff);
    if ((st = tfm_memory_check_request(4.0 * floats, what)) != TFM_OK) return st;
    gpt_task *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->part = config->gpt;
    t->data_path = tfm_file_absolute(data_path);
    size_t bt = (size_t)t->part.batch_size * t->part.seq_len;
    t->inputs = tfm_malloc(sizeof(int32_t) * bt);
    t->targets = tfm_malloc(sizeof(int32_t) * bt);
    if (!t->data_path || !t->inputs || !t->targets) st = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the GPT task");
    int token_file = tfm_token_file_is(data_path); /* before loading: a failed query leaves its own message */
    if (!st) st = load_data(t, data_path, token_file, tokenizer, config->seed);
    /* bytes per id when they are known: byte tokens, or a tokenizer to ask */
    if (!st && (tokenizer || !token_file) && !(t->token_bytes = token_byte_table(tokenizer, model->config.vocab_size))) st = TFM_ERR_OUT_OF_MEMORY;
    if (st) {
        free_task(t);
        return st;
    }
    t->data_checksum = checksum_tokens(t->data.tokens, t->data.count);
    t->task = (tfm_train_task){.name = "gpt", .state_format = "tfm-trainer-state", .data_key = "data_path", .data_location = t->data_path,
                               .score_name = NULL, .loss_weighting = TFM_LOSS_WEIGHT_PER_BATCH, .d_model = model->config.d_model,
                               .params = &model->params, .self = t, .train_loss = train_loss, .evaluate = evaluate, .epoch = NULL,
                               .describe = describe, .model_config_json = model_config_json, .save_state = save_state, .load_state = load_state,
                               .free_task = free_task, .metric_count = 1, .metric_names = {"perplexity"}};
    if (tokenizer) t->task.tokenizer_files[0] = "tokenizer.json";
    if (t->token_bytes) {
        t->task.metric_count = 3;
        t->task.metric_names[METRIC_BITS_PER_BYTE] = "bits_per_byte";
        t->task.metric_names[METRIC_BYTE_PERPLEXITY] = "byte_perplexity";
    }
    *out = &t->task;
    return TFM_OK;
}
