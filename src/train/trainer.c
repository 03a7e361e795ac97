/* train/trainer.c: the training loop: micro-batches, gradient accumulation, clipping, schedule, optimizer, resume. */
#define _DEFAULT_SOURCE /* realpath */
#include "tfm/train.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "tfm/gpt.h"
#include "tfm/io.h"
#include "train/clip.h"
#include "train/optimizer.h"

/* FNV-1a over the token stream: cheap identity check of the data a checkpoint was trained on. */
static uint64_t checksum_tokens(const uint16_t *tokens, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint64_t)tokens[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static tfm_status trainer_allocate(tfm_trainer **out, struct tfm_gpt *model, const tfm_train_config *config, const char *data_path) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, &model->config);
    if (st) return st;
    tfm_trainer *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->config = *config;
    t->tokens_per_step = (long)config->batch_size * config->seq_len * config->grad_accum_steps;
    /* Saved in the checkpoint: an absolute path lets --resume run from any directory. */
    char *absolute = realpath(data_path, NULL);
    t->data_path = tfm_strdup(absolute ? absolute : data_path);
    free(absolute);
    t->graph = tfm_malloc(sizeof(tfm_graph));
    size_t bt = (size_t)config->batch_size * config->seq_len;
    t->inputs = tfm_malloc(sizeof(int32_t) * bt);
    t->targets = tfm_malloc(sizeof(int32_t) * bt);
    if (!t->data_path || !t->graph || !t->inputs || !t->targets) { tfm_trainer_free(t); return TFM_ERR_OUT_OF_MEMORY; }
    if ((st = tfm_graph_init(t->graph, 0)) != TFM_OK) { tfm_free(t->graph, sizeof(tfm_graph)); t->graph = NULL; tfm_trainer_free(t); return st; }
    tfm_rng_init(&t->graph->dropout_rng, config->seed ^ 0xD409u);
    if ((st = tfm_params_allocate_moments(&model->params)) != TFM_OK) { tfm_trainer_free(t); return st; }
    st = tfm_dataset_load_text(&t->data, data_path, config->seq_len, config->valid_fraction, config->seed);
    if (st) { tfm_trainer_free(t); return st; }
    if (model->config.vocab_size < 256) {
        tfm_trainer_free(t);
        return tfm_error(TFM_ERR_CONFIG, "byte-level data needs vocab_size >= 256, the model has %d", model->config.vocab_size);
    }
    t->data_checksum = checksum_tokens(t->data.tokens, t->data.count);
    *out = t;
    return TFM_OK;
}

tfm_status tfm_trainer_create(tfm_trainer **out, struct tfm_gpt *model, const tfm_train_config *config, const char *data_path) {
    return trainer_allocate(out, model, config, data_path);
}

void tfm_trainer_free(tfm_trainer *t) {
    if (!t) return;
    size_t bt = (size_t)t->config.batch_size * t->config.seq_len;
    if (t->graph) { tfm_graph_free(t->graph); tfm_free(t->graph, sizeof(tfm_graph)); }
    tfm_dataset_free(&t->data);
    tfm_free(t->inputs, sizeof(int32_t) * bt);
    tfm_free(t->targets, sizeof(int32_t) * bt);
    if (t->data_path) tfm_free(t->data_path, strlen(t->data_path) + 1);
    tfm_free(t, sizeof *t);
}

tfm_status tfm_trainer_step(tfm_trainer *t) {
    const tfm_train_config *c = &t->config;
    tfm_params *p = &t->model->params;
    int B = c->batch_size, T = c->seq_len;
    tfm_params_zero_grad(p);
    double loss_sum = 0;
    for (int micro = 0; micro < c->grad_accum_steps; micro++) {
        tfm_status st = tfm_graph_begin(t->graph, 1, 1);
        if (st) return st;
        tfm_dataset_next_train_batch(&t->data, t->inputs, t->targets, B, T);
        tfm_tensor *loss = tfm_gpt_loss(t->model, t->graph, t->inputs, t->targets, B, T, c->label_smoothing);
        if (!loss) return tfm_error_prefix(TFM_ERR_INVALID_ARGUMENT, "step %ld: ", t->step + 1);
        if (!isfinite(loss->data[0]))
            return tfm_error(TFM_ERR_NUMERIC, "step %ld: the loss is %g; parameters left as before this step (try a lower learning_rate)",
                             t->step + 1, loss->data[0]);
        loss_sum += loss->data[0];
        /* Each micro-batch's mean loss counts 1/accum, so the gradient is that of the mean over the step. */
        if ((st = tfm_graph_backward(t->graph, loss, 1.0f / (float)c->grad_accum_steps)) != TFM_OK) return st;
    }
    float norm = (float)tfm_clip_global_norm(p->grad, p->total);
    if (!isfinite(norm))
        return tfm_error(TFM_ERR_NUMERIC, "step %ld: the gradient norm is %g; parameters left as before this step", t->step + 1, norm);
    if (c->grad_clip > 0) tfm_clip_scale(p->grad, p->total, norm, c->grad_clip);
    float lr = tfm_schedule_learning_rate(c, t->model->config.d_model, t->step + 1);
    tfm_status st = c->optimizer == TFM_OPTIMIZER_SGD
                        ? tfm_sgd_step_params(p, lr, c->momentum, 0.0f, c->weight_decay, 0, t->step + 1)
                        : tfm_adamw_step_params(p, lr, c->beta1, c->beta2, c->eps, c->weight_decay, t->step + 1);
    if (st) return st;
    t->step++;
    t->last_loss = (float)(loss_sum / c->grad_accum_steps);
    t->last_learning_rate = lr;
    t->last_grad_norm = norm;
    return TFM_OK;
}

tfm_status tfm_trainer_evaluate(tfm_trainer *t, float *valid_loss) {
    const tfm_train_config *c = &t->config;
    int B = c->batch_size, T = c->seq_len;
    double sum = 0;
    int batches = c->eval_batches > 0 ? c->eval_batches : 1;
    for (int i = 0; i < batches; i++) {
        tfm_status st = tfm_graph_begin(t->graph, 0, 0);
        if (st) return st;
        tfm_dataset_valid_batch(&t->data, i, t->inputs, t->targets, B, T);
        tfm_tensor *loss = tfm_gpt_loss(t->model, t->graph, t->inputs, t->targets, B, T, 0.0f);
        if (!loss) return TFM_ERR_INVALID_ARGUMENT;
        sum += loss->data[0];
    }
    *valid_loss = (float)(sum / batches);
    return TFM_OK;
}

/* ---- trainer state: 64-bit counters are written as decimal strings (JSON numbers are doubles) ---- */
static cJSON *u64_string(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateString(buf);
}

static tfm_status read_u64(const cJSON *object, const char *key, const char *source, uint64_t *value) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    char *end = NULL;
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a decimal string", source, key);
    unsigned long long v = strtoull(item->valuestring, &end, 10);
    if (*end) return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a decimal string, got \"%s\"", source, key, item->valuestring);
    *value = v;
    return TFM_OK;
}

tfm_status tfm_trainer_save(tfm_trainer *t, const char *dir) {
    char *model_json = NULL, *train_json = NULL, *state_text = NULL;
    tfm_status st = tfm_gpt_config_to_json(&t->model->config, &model_json);
    if (!st) st = tfm_train_config_to_json(&t->config, &train_json);
    if (st) goto done;
    cJSON *state = cJSON_CreateObject();
    cJSON_AddStringToObject(state, "format", "tfm-trainer-state");
    cJSON_AddNumberToObject(state, "version", 1);
    cJSON_AddNumberToObject(state, "step", (double)t->step);
    cJSON_AddStringToObject(state, "data_path", t->data_path);
    cJSON_AddItemToObject(state, "data_tokens", u64_string(t->data.count));
    cJSON_AddItemToObject(state, "data_checksum", u64_string(t->data_checksum));
    cJSON_AddItemToObject(state, "data_seed", u64_string(t->data.position_rng.seed));
    cJSON_AddItemToObject(state, "data_counter", u64_string(t->data.position_rng.counter));
    cJSON_AddItemToObject(state, "dropout_seed", u64_string(t->graph->dropout_rng.seed));
    cJSON_AddItemToObject(state, "dropout_counter", u64_string(t->graph->dropout_rng.counter));
    cJSON *train = cJSON_Parse(train_json);
    if (train) cJSON_AddItemToObject(state, "train", train);
    state_text = cJSON_Print(state);
    cJSON_Delete(state);
    if (!train || !state_text) { st = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory writing the trainer state"); goto done; }
    st = tfm_checkpoint_save(dir, &t->model->params, model_json, state_text);
done:
    if (model_json) tfm_free(model_json, strlen(model_json) + 1);
    if (train_json) tfm_free(train_json, strlen(train_json) + 1);
    if (state_text) cJSON_free(state_text);
    return st;
}

tfm_status tfm_trainer_resume(tfm_trainer **out, struct tfm_gpt *model, const char *dir, const char *data_path,
                              const tfm_train_config *override) {
    *out = NULL;
    char *state_text = NULL;
    tfm_status st = tfm_checkpoint_load_trainer_state(dir, &model->params, &state_text);
    if (st) return st;
    char source[512];
    snprintf(source, sizeof source, "%s/trainer_state.json", dir);
    cJSON *state = cJSON_Parse(state_text);
    tfm_free(state_text, strlen(state_text) + 1);
    if (!state) return tfm_error(TFM_ERR_FORMAT, "%s: not valid JSON", source);
    tfm_train_config config;
    tfm_train_config_default(&config);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(state, "train");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(state, "step");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(state, "data_path");
    uint64_t tokens = 0, checksum = 0, data_seed = 0, data_counter = 0, dropout_seed = 0, dropout_counter = 0;
    if (!cJSON_IsObject(train)) st = tfm_error(TFM_ERR_FORMAT, "%s: missing the \"train\" object", source);
    else if (!cJSON_IsNumber(step) || step->valuedouble < 0) st = tfm_error(TFM_ERR_FORMAT, "%s: step: expected a number >= 0", source);
    else if (!cJSON_IsString(path)) st = tfm_error(TFM_ERR_FORMAT, "%s: data_path: expected a string", source);
    if (!st) {
        char *train_text = cJSON_PrintUnformatted(train);
        st = train_text ? tfm_train_config_from_json(train_text, source, &config) : TFM_ERR_OUT_OF_MEMORY;
        if (train_text) cJSON_free(train_text);
    }
    if (!st) st = read_u64(state, "data_tokens", source, &tokens);
    if (!st) st = read_u64(state, "data_checksum", source, &checksum);
    if (!st) st = read_u64(state, "data_seed", source, &data_seed);
    if (!st) st = read_u64(state, "data_counter", source, &data_counter);
    if (!st) st = read_u64(state, "dropout_seed", source, &dropout_seed);
    if (!st) st = read_u64(state, "dropout_counter", source, &dropout_counter);
    tfm_trainer *t = NULL;
    if (!st) {
        if (override) {
            /* Only the length of the run may change on resume; everything that shapes the trajectory stays. */
            config.max_steps = override->max_steps;
            config.eval_every = override->eval_every;
            config.save_every = override->save_every;
            config.log_every = override->log_every;
        }
        st = trainer_allocate(&t, model, &config, data_path ? data_path : path->valuestring);
    }
    if (!st && (t->data.count != tokens || t->data_checksum != checksum))
        st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the data file %s differs from the one this checkpoint was trained on (%" PRIu64 " tokens)",
                       dir, t->data_path, tokens);
    if (!st) {
        t->step = (long)step->valuedouble;
        t->data.position_rng = (tfm_rng){data_seed, data_counter};
        t->graph->dropout_rng = (tfm_rng){dropout_seed, dropout_counter};
        *out = t;
    } else {
        tfm_trainer_free(t);
    }
    cJSON_Delete(state);
    return st;
}
