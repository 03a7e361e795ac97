/* train/seq2seq_trainer.c: the encoder-decoder training loop: accumulation, clipping, warm-up schedule, Adam, validation BLEU, resume. */
#define _DEFAULT_SOURCE /* realpath */
#include "train/seq2seq_trainer.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "tfm/io.h"
#include "tfm/metrics.h"
#include "tfm/train.h"
#include "train/clip.h"
#include "train/optimizer.h"

/* ---- Config ---- */

void tfm_seq2seq_train_config_default(tfm_seq2seq_train_config *c) {
    memset(c, 0, sizeof *c);
    c->batch_tokens = 4096;
    c->max_sentences = 0;
    c->grad_accum_steps = 1;
    c->max_steps = 10000;
    c->schedule = TFM_SCHEDULE_NOAM;
    c->learning_rate = 1.0f;
    c->min_lr = 0.0f;
    c->warmup_steps = 4000;
    c->beta1 = 0.9f;
    c->beta2 = 0.98f;
    c->eps = 1e-9f;
    c->weight_decay = 0.0f;
    c->grad_clip = 0.0f;
    c->label_smoothing = 0.1f;
    c->eval_every = 1000;
    c->bleu_sentences = 500;
    c->patience = 0;
    c->save_every = 0;
    c->log_every = 50;
    c->max_length_a = 1.5f;
    c->max_length_b = 10;
    snprintf(c->source_lang, sizeof c->source_lang, "en");
    snprintf(c->target_lang, sizeof c->target_lang, "de");
    c->seed = 1;
}

static const char *const schedule_names[] = {"constant", "cosine", "noam", NULL};

static tfm_status read_lang(const cJSON *o, const char *key, const tfm_json_context *ctx, char *out, size_t size) {
    const cJSON *item = tfm_json_field(o, key);
    if (!item) return TFM_OK;
    if (!cJSON_IsString(item) || !item->valuestring[0] || strlen(item->valuestring) >= size || strchr(item->valuestring, '/'))
        return tfm_error(TFM_ERR_CONFIG, "%s: train.%s: expected a short language suffix such as \"en\"", ctx->source, key);
    snprintf(out, size, "%s", item->valuestring);
    return TFM_OK;
}

static tfm_status read_train_object(const cJSON *o, const char *source, tfm_seq2seq_train_config *c) {
    static const char *const keys[] = {"batch_tokens", "max_sentences", "grad_accum_steps", "max_steps", "schedule", "learning_rate",
                                       "min_lr", "warmup_steps", "beta1", "beta2", "eps", "weight_decay", "grad_clip",
                                       "label_smoothing", "eval_every", "bleu_sentences", "patience", "save_every", "log_every",
                                       "max_length_a", "max_length_b", "source_lang", "target_lang", "seed", NULL};
    tfm_json_context ctx = {source, "train"};
    long long v;
    tfm_status st = tfm_json_check_keys(o, &ctx, keys, NULL);
#define INT_FIELD(name, lo, hi)                                                      \
    if (!st) {                                                                       \
        v = c->name;                                                                 \
        st = tfm_json_read_int(o, #name, &ctx, lo, hi, &v);                          \
        c->name = (__typeof__(c->name))v;                                            \
    }
#define FLOAT_FIELD(name, lo, hi) \
    if (!st) st = tfm_json_read_float(o, #name, &ctx, lo, 1, hi, 1, &c->name);
    INT_FIELD(batch_tokens, 1, 100000000)
    INT_FIELD(max_sentences, 0, 100000000)
    INT_FIELD(grad_accum_steps, 1, 100000)
    INT_FIELD(max_steps, 1, 1000000000000LL)
    if (!st) st = tfm_json_read_choice(o, "schedule", &ctx, schedule_names, &c->schedule);
    FLOAT_FIELD(learning_rate, 0, 1e3)
    FLOAT_FIELD(min_lr, 0, 1e3)
    INT_FIELD(warmup_steps, 0, 1000000000)
    FLOAT_FIELD(beta1, 0, 0.999999)
    FLOAT_FIELD(beta2, 0, 0.999999)
    FLOAT_FIELD(eps, 0, 1)
    FLOAT_FIELD(weight_decay, 0, 10)
    FLOAT_FIELD(grad_clip, 0, 1e9)
    FLOAT_FIELD(label_smoothing, 0, 0.999)
    INT_FIELD(eval_every, 0, 1000000000)
    INT_FIELD(bleu_sentences, -1, 100000000)
    INT_FIELD(patience, 0, 1000000)
    INT_FIELD(save_every, 0, 1000000000)
    INT_FIELD(log_every, 1, 1000000000)
    FLOAT_FIELD(max_length_a, 0, 100)
    INT_FIELD(max_length_b, 0, 100000)
    if (!st) st = read_lang(o, "source_lang", &ctx, c->source_lang, sizeof c->source_lang);
    if (!st) st = read_lang(o, "target_lang", &ctx, c->target_lang, sizeof c->target_lang);
    if (!st) {
        /* The seed may exceed a double's exact range: accept a number or a decimal string. */
        const cJSON *seed = tfm_json_field(o, "seed");
        if (cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble < 9e15) c->seed = (unsigned long long)seed->valuedouble;
        else if (cJSON_IsString(seed) && seed->valuestring[0]) {
            char *end = NULL;
            c->seed = strtoull(seed->valuestring, &end, 10);
            if (*end) st = tfm_error(TFM_ERR_CONFIG, "%s: train.seed: expected a non-negative integer", source);
        } else if (seed) st = tfm_error(TFM_ERR_CONFIG, "%s: train.seed: expected a non-negative integer", source);
    }
#undef INT_FIELD
#undef FLOAT_FIELD
    return st;
}

tfm_status tfm_seq2seq_train_config_from_json(const char *json_text, const char *source, tfm_seq2seq_train_config *c) {
    cJSON *root = NULL;
    tfm_status st = tfm_json_parse(json_text, strlen(json_text), source, &root);
    if (st) return st;
    if (!cJSON_IsObject(root)) st = tfm_error(TFM_ERR_CONFIG, "%s: train: expected an object", source);
    else st = read_train_object(root, source, c);
    cJSON_Delete(root);
    return st;
}

tfm_status tfm_seq2seq_train_config_to_json(const tfm_seq2seq_train_config *c, char **json_text) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return TFM_ERR_OUT_OF_MEMORY;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", c->seed);
    cJSON_AddNumberToObject(o, "batch_tokens", c->batch_tokens);
    cJSON_AddNumberToObject(o, "max_sentences", c->max_sentences);
    cJSON_AddNumberToObject(o, "grad_accum_steps", c->grad_accum_steps);
    cJSON_AddNumberToObject(o, "max_steps", (double)c->max_steps);
    cJSON_AddStringToObject(o, "schedule", schedule_names[c->schedule]);
    cJSON_AddNumberToObject(o, "learning_rate", tfm_json_float_value(c->learning_rate));
    cJSON_AddNumberToObject(o, "min_lr", tfm_json_float_value(c->min_lr));
    cJSON_AddNumberToObject(o, "warmup_steps", c->warmup_steps);
    cJSON_AddNumberToObject(o, "beta1", tfm_json_float_value(c->beta1));
    cJSON_AddNumberToObject(o, "beta2", tfm_json_float_value(c->beta2));
    cJSON_AddNumberToObject(o, "eps", tfm_json_float_value(c->eps));
    cJSON_AddNumberToObject(o, "weight_decay", tfm_json_float_value(c->weight_decay));
    cJSON_AddNumberToObject(o, "grad_clip", tfm_json_float_value(c->grad_clip));
    cJSON_AddNumberToObject(o, "label_smoothing", tfm_json_float_value(c->label_smoothing));
    cJSON_AddNumberToObject(o, "eval_every", c->eval_every);
    cJSON_AddNumberToObject(o, "bleu_sentences", c->bleu_sentences);
    cJSON_AddNumberToObject(o, "patience", c->patience);
    cJSON_AddNumberToObject(o, "save_every", c->save_every);
    cJSON_AddNumberToObject(o, "log_every", c->log_every);
    cJSON_AddNumberToObject(o, "max_length_a", tfm_json_float_value(c->max_length_a));
    cJSON_AddNumberToObject(o, "max_length_b", c->max_length_b);
    cJSON_AddStringToObject(o, "source_lang", c->source_lang);
    cJSON_AddStringToObject(o, "target_lang", c->target_lang);
    cJSON_AddStringToObject(o, "seed", seed);
    tfm_status st = tfm_json_print(o, 1, json_text);
    cJSON_Delete(o);
    return st;
}

tfm_status tfm_seq2seq_config_load(const char *path, tfm_seq2seq_config *model, tfm_seq2seq_train_config *train) {
    char *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    cJSON *root = NULL;
    st = tfm_json_parse(text, size, path, &root);
    tfm_free(text, size + 1);
    if (st) return st;
    static const char *const sections[] = {"model", "train", NULL};
    tfm_json_context top = {path, NULL};
    const cJSON *mo = tfm_json_field(root, "model"), *to = tfm_json_field(root, "train");
    if (!cJSON_IsObject(root)) st = tfm_error(TFM_ERR_CONFIG, "%s: expected a JSON object", path);
    if (!st) st = tfm_json_check_keys(root, &top, sections, NULL);
    if (!st && !cJSON_IsObject(mo)) st = tfm_error(TFM_ERR_CONFIG, "%s: model: expected an object with \"model_type\": \"seq2seq\"", path);
    tfm_seq2seq_train_config_default(train);
    if (!st) {
        char *model_text = cJSON_PrintUnformatted(mo);
        st = model_text ? tfm_seq2seq_config_from_json(model_text, path, model) : TFM_ERR_OUT_OF_MEMORY;
        if (model_text) cJSON_free(model_text);
    }
    if (!st && to) {
        if (!cJSON_IsObject(to)) st = tfm_error(TFM_ERR_CONFIG, "%s: train: expected an object", path);
        else st = read_train_object(to, path, train);
    }
    cJSON_Delete(root);
    return st;
}

/* ---- Trainer ---- */

static tfm_status load_split(tfm_seq2seq_trainer *t, tfm_seq2seq_data *d, const char *split, uint64_t seed) {
    const tfm_seq2seq_config *m = &t->model->config;
    tfm_seq2seq_data_options o = {m->max_source_length, m->max_target_length, t->config.batch_tokens, t->config.max_sentences,
                                  m->pad_id, m->bos_id, m->eos_id};
    char source[2048], target[2048];
    snprintf(source, sizeof source, "%s/%s.%s", t->data_dir, split, t->config.source_lang);
    snprintf(target, sizeof target, "%s/%s.%s", t->data_dir, split, t->config.target_lang);
    return tfm_seq2seq_data_load(d, t->tokenizer, source, target, &o, seed);
}

static tfm_status trainer_allocate(tfm_seq2seq_trainer **out, tfm_seq2seq *model, tfm_bpe *tokenizer,
                                   const tfm_seq2seq_train_config *config, const char *data_dir) {
    *out = NULL;
    if ((long)tfm_bpe_vocab_size(tokenizer) != model->config.vocab_size)
        return tfm_error(TFM_ERR_CONFIG, "the tokenizer has %zu tokens but the model's vocab_size is %d; they must be equal",
                         tfm_bpe_vocab_size(tokenizer), model->config.vocab_size);
    tfm_seq2seq_trainer *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->tokenizer = tokenizer;
    t->config = *config;
    t->best_bleu = -1;
    char *absolute = realpath(data_dir, NULL);
    t->data_dir = tfm_strdup(absolute ? absolute : data_dir);
    free(absolute);
    t->graph = tfm_calloc(1, sizeof(tfm_graph));
    tfm_status st = (!t->data_dir || !t->graph) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    if (!st && (st = tfm_graph_init(t->graph, 0)) != TFM_OK) { tfm_free(t->graph, sizeof(tfm_graph)); t->graph = NULL; }
    if (!st) tfm_rng_init(&t->graph->dropout_rng, config->seed ^ 0xD409u);
    if (!st) st = tfm_params_allocate_moments(&model->params);
    if (!st) st = load_split(t, &t->train, "train", config->seed);
    if (!st) st = load_split(t, &t->valid, "valid", config->seed);
    if (st) { tfm_seq2seq_trainer_free(t); return st; }
    *out = t;
    return TFM_OK;
}

tfm_status tfm_seq2seq_trainer_create(tfm_seq2seq_trainer **out, tfm_seq2seq *model, tfm_bpe *tokenizer,
                                      const tfm_seq2seq_train_config *config, const char *data_dir) {
    return trainer_allocate(out, model, tokenizer, config, data_dir);
}

void tfm_seq2seq_trainer_free(tfm_seq2seq_trainer *t) {
    if (!t) return;
    if (t->graph) { tfm_graph_free(t->graph); tfm_free(t->graph, sizeof(tfm_graph)); }
    tfm_seq2seq_data_free(&t->train);
    tfm_seq2seq_data_free(&t->valid);
    if (t->data_dir) tfm_free(t->data_dir, strlen(t->data_dir) + 1);
    tfm_free(t, sizeof *t);
}

static float learning_rate(const tfm_seq2seq_trainer *t, long step) {
    tfm_train_config s;
    tfm_train_config_default(&s);
    s.schedule = t->config.schedule;
    s.learning_rate = t->config.learning_rate;
    s.min_lr = t->config.min_lr;
    s.warmup_steps = t->config.warmup_steps;
    s.max_steps = t->config.max_steps;
    return tfm_schedule_learning_rate(&s, t->model->config.d_model, step);
}

tfm_status tfm_seq2seq_trainer_step(tfm_seq2seq_trainer *t) {
    const tfm_seq2seq_train_config *c = &t->config;
    tfm_params *p = &t->model->params;
    tfm_params_zero_grad(p);
    double loss_sum = 0;
    long tokens = 0;
    for (int micro = 0; micro < c->grad_accum_steps; micro++) {
        tfm_status st = tfm_graph_begin(t->graph, 1, 1);
        if (st) return st;
        tfm_seq2seq_data_next(&t->train);
        const tfm_seq2seq_batch *b = &t->train.batch;
        int counted = 0;
        tfm_tensor *loss = tfm_seq2seq_loss(t->model, t->graph, b->source, b->source_lengths, b->target_input, b->target_output,
                                            b->target_lengths, b->B, b->S, b->T, c->label_smoothing, &counted);
        if (!loss) return tfm_error_prefix(TFM_ERR_INVALID_ARGUMENT, "step %ld: ", t->step + 1);
        if (!isfinite(loss->data[0]))
            return tfm_error(TFM_ERR_NUMERIC, "step %ld: the loss is %g (try a lower learning_rate)", t->step + 1, loss->data[0]);
        loss_sum += (double)loss->data[0] * counted;
        tokens += counted;
        /* Weigh by tokens now; divide by the step's total below (the mean over every token of the step). */
        if ((st = tfm_graph_backward(t->graph, loss, (float)counted)) != TFM_OK) return st;
    }
    if (tokens > 0) {
        float inverse = 1.0f / (float)tokens;
        for (size_t i = 0; i < p->total; i++) p->grad[i] *= inverse;
    }
    float norm = (float)tfm_clip_global_norm(p->grad, p->total);
    if (!isfinite(norm)) return tfm_error(TFM_ERR_NUMERIC, "step %ld: the gradient norm is %g", t->step + 1, norm);
    if (c->grad_clip > 0) tfm_clip_scale(p->grad, p->total, norm, c->grad_clip);
    float lr = learning_rate(t, t->step + 1);
    tfm_status st = tfm_adamw_step_params(p, lr, c->beta1, c->beta2, c->eps, c->weight_decay, t->step + 1);
    if (st) return st;
    t->step++;
    t->last_loss = tokens ? (float)(loss_sum / (double)tokens) : 0.0f;
    t->last_learning_rate = lr;
    t->last_grad_norm = norm;
    t->last_target_tokens = tokens;
    t->epoch_of_step = t->train.epoch;
    return TFM_OK;
}

tfm_status tfm_seq2seq_translate_greedy_text(tfm_seq2seq *model, tfm_bpe *tokenizer, const int32_t *const *sources,
                                             const int *lengths, int count, float max_length_a, int max_length_b, char **outputs) {
    const tfm_seq2seq_config *m = &model->config;
    int chunk = 64;
    int S_max = m->max_source_length;
    int max_output = m->max_target_length;
    int32_t *source = tfm_malloc(sizeof(int32_t) * (size_t)chunk * S_max);
    int *source_lengths = tfm_malloc(sizeof(int) * (size_t)chunk);
    int32_t *output = tfm_malloc(sizeof(int32_t) * (size_t)chunk * max_output);
    int *output_lengths = tfm_malloc(sizeof(int) * (size_t)chunk);
    uint32_t *ids = tfm_malloc(sizeof(uint32_t) * (size_t)max_output);
    tfm_status st = (!source || !source_lengths || !output || !output_lengths || !ids) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    for (int i = 0; i < count; i++) outputs[i] = NULL;
    for (int first = 0; !st && first < count; first += chunk) {
        int B = count - first < chunk ? count - first : chunk, S = 0;
        for (int b = 0; b < B; b++) {
            int n = lengths[first + b] < S_max - 1 ? lengths[first + b] : S_max - 1;
            if (n + 1 > S) S = n + 1;
        }
        for (int b = 0; b < B; b++) {
            int n = lengths[first + b] < S_max - 1 ? lengths[first + b] : S_max - 1;
            int32_t *row = source + (size_t)b * S;
            memcpy(row, sources[first + b], sizeof(int32_t) * (size_t)n);
            row[n] = m->eos_id;
            for (int j = n + 1; j < S; j++) row[j] = m->pad_id;
            source_lengths[b] = n + 1;
        }
        tfm_seq2seq_greedy_args args = {source, source_lengths, B, S, max_length_a, max_length_b, 1, output, output_lengths, max_output};
        st = tfm_seq2seq_greedy(model, &args);
        for (int b = 0; !st && b < B; b++) {
            char *bytes = NULL;
            size_t len = 0, capacity = 0;
            for (int j = 0; j < output_lengths[b]; j++) ids[j] = (uint32_t)output[(size_t)b * max_output + j];
            st = tfm_bpe_decode(tokenizer, ids, (size_t)output_lengths[b], 1, &bytes, &len, &capacity);
            if (st) break;
            outputs[first + b] = tfm_malloc(len + 1);
            if (!outputs[first + b]) { tfm_free(bytes, capacity); st = TFM_ERR_OUT_OF_MEMORY; break; }
            if (len) memcpy(outputs[first + b], bytes, len);
            outputs[first + b][len] = '\0';
            tfm_free(bytes, capacity);
        }
    }
    tfm_free(source, sizeof(int32_t) * (size_t)chunk * S_max);
    tfm_free(source_lengths, sizeof(int) * (size_t)chunk);
    tfm_free(output, sizeof(int32_t) * (size_t)chunk * max_output);
    tfm_free(output_lengths, sizeof(int) * (size_t)chunk);
    tfm_free(ids, sizeof(uint32_t) * (size_t)max_output);
    if (st)
        for (int i = 0; i < count; i++)
            if (outputs[i]) { tfm_free(outputs[i], strlen(outputs[i]) + 1); outputs[i] = NULL; }
    return st;
}

/* BLEU of greedy translations of the first n kept valid pairs (in length order for small padding). */
static tfm_status validation_bleu(tfm_seq2seq_trainer *t, int n, float *bleu) {
    tfm_seq2seq_data *d = &t->valid;
    if (n < 0 || (size_t)n > d->pairs) n = (int)d->pairs;
    const int32_t **sources = tfm_malloc(sizeof(int32_t *) * (size_t)n);
    int *lengths = tfm_malloc(sizeof(int) * (size_t)n);
    size_t *pair = tfm_malloc(sizeof(size_t) * (size_t)n);
    char **hyps = tfm_calloc((size_t)n, sizeof(char *)), **refs = tfm_calloc((size_t)n, sizeof(char *));
    /* The sources' ids, widened from the pool, back to back; one reference's ids for decoding. */
    size_t source_ids = 0;
    for (size_t i = 0; i < (size_t)n; i++) source_ids += (size_t)d->source_length[i];
    int32_t *source_pool = tfm_malloc(sizeof(int32_t) * (source_ids ? source_ids : 1));
    uint32_t *reference = tfm_malloc(sizeof(uint32_t) * (size_t)d->options.max_target_length);
    tfm_status st = (!sources || !lengths || !pair || !hyps || !refs || !source_pool || !reference) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    int k = 0;
    size_t filled = 0;
    for (size_t i = 0; !st && i < d->pairs; i++)
        if (d->sorted[i] < (size_t)n) {
            pair[k] = d->sorted[i];
            lengths[k] = d->source_length[pair[k]];
            tfm_seq2seq_data_ids(d, d->source_start[pair[k]], lengths[k], source_pool + filled);
            sources[k] = source_pool + filled;
            filled += (size_t)lengths[k];
            k++;
        }
    char **sorted_hyps = tfm_calloc((size_t)n, sizeof(char *));
    if (!st && !sorted_hyps) st = TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_seq2seq_translate_greedy_text(t->model, t->tokenizer, sources, lengths, n, t->config.max_length_a,
                                                    t->config.max_length_b, sorted_hyps);
    for (int i = 0; !st && i < n; i++) {
        hyps[pair[i]] = sorted_hyps[i];
        sorted_hyps[i] = NULL;
        /* The reference is the decoded target ids: BPE decoding is exact, so this is the file's line. */
        size_t p = pair[i], len = 0, capacity = 0;
        char *bytes = NULL;
        tfm_seq2seq_data_ids(d, d->target_start[p], d->target_length[p], (int32_t *)reference);
        st = tfm_bpe_decode(t->tokenizer, reference, (size_t)d->target_length[p], 0, &bytes, &len, &capacity);
        if (st) break;
        refs[p] = tfm_malloc(len + 1);
        if (!refs[p]) { tfm_free(bytes, capacity); st = TFM_ERR_OUT_OF_MEMORY; break; }
        memcpy(refs[p], bytes, len);
        refs[p][len] = '\0';
        tfm_free(bytes, capacity);
    }
    if (!st) {
        tfm_bleu_options options;
        tfm_bleu_options_default(&options);
        tfm_bleu_score score;
        const char *const *streams[1] = {(const char *const *)refs};
        st = tfm_bleu_corpus((const char *const *)hyps, (size_t)n, streams, 1, &options, &score);
        if (!st) *bleu = (float)score.score;
    }
    for (int i = 0; i < n; i++) {
        if (hyps && hyps[i]) tfm_free(hyps[i], strlen(hyps[i]) + 1);
        if (refs && refs[i]) tfm_free(refs[i], strlen(refs[i]) + 1);
        if (sorted_hyps && sorted_hyps[i]) tfm_free(sorted_hyps[i], strlen(sorted_hyps[i]) + 1);
    }
    tfm_free(sorted_hyps, sizeof(char *) * (size_t)n);
    tfm_free(source_pool, sizeof(int32_t) * (source_ids ? source_ids : 1));
    tfm_free(reference, sizeof(uint32_t) * (size_t)d->options.max_target_length);
    tfm_free(sources, sizeof(int32_t *) * (size_t)n);
    tfm_free(lengths, sizeof(int) * (size_t)n);
    tfm_free(pair, sizeof(size_t) * (size_t)n);
    tfm_free(hyps, sizeof(char *) * (size_t)n);
    tfm_free(refs, sizeof(char *) * (size_t)n);
    return st;
}

tfm_status tfm_seq2seq_trainer_evaluate(tfm_seq2seq_trainer *t, float *valid_loss, float *bleu) {
    tfm_seq2seq_data *d = &t->valid;
    double sum = 0;
    long tokens = 0;
    for (size_t i = 0; i < d->batch_count; i++) {
        tfm_status st = tfm_graph_begin(t->graph, 0, 0);
        if (st) return st;
        tfm_seq2seq_data_fill(d, i);
        const tfm_seq2seq_batch *b = &d->batch;
        int counted = 0;
        tfm_tensor *loss = tfm_seq2seq_loss(t->model, t->graph, b->source, b->source_lengths, b->target_input, b->target_output,
                                            b->target_lengths, b->B, b->S, b->T, 0.0f, &counted);
        if (!loss) return tfm_error_prefix(TFM_ERR_INVALID_ARGUMENT, "validation: ");
        sum += (double)loss->data[0] * counted;
        tokens += counted;
    }
    *valid_loss = tokens ? (float)(sum / (double)tokens) : 0.0f;
    *bleu = -1;
    if (t->config.bleu_sentences != 0) {
        tfm_status st = validation_bleu(t, t->config.bleu_sentences, bleu);
        if (st) return st;
        if (*bleu > t->best_bleu) {
            t->best_bleu = *bleu;
            t->best_step = t->step;
            t->evaluations_without_gain = 0;
        } else {
            t->evaluations_without_gain++;
        }
    }
    return TFM_OK;
}

int tfm_seq2seq_trainer_should_stop(const tfm_seq2seq_trainer *t) {
    return t->config.patience > 0 && t->evaluations_without_gain >= t->config.patience;
}

/* ---- Checkpoints ---- */

static cJSON *u64_string(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateString(buf);
}

static tfm_status read_u64(const cJSON *object, const char *key, const char *source, uint64_t *value) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    char *end = NULL;
    if (!cJSON_IsString(item) || !item->valuestring[0]) return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a decimal string", source, key);
    unsigned long long v = strtoull(item->valuestring, &end, 10);
    if (*end) return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a decimal string, got \"%s\"", source, key, item->valuestring);
    *value = v;
    return TFM_OK;
}

tfm_status tfm_seq2seq_trainer_save(tfm_seq2seq_trainer *t, const char *dir) {
    char *model_json = NULL, *train_json = NULL, *state_text = NULL;
    tfm_status st = tfm_seq2seq_config_to_json(&t->model->config, &model_json);
    if (!st) st = tfm_seq2seq_train_config_to_json(&t->config, &train_json);
    if (st) goto done;
    cJSON *state = cJSON_CreateObject();
    cJSON_AddStringToObject(state, "format", "tfm-seq2seq-trainer-state");
    cJSON_AddNumberToObject(state, "version", 1);
    cJSON_AddNumberToObject(state, "step", (double)t->step);
    cJSON_AddStringToObject(state, "data_dir", t->data_dir);
    cJSON_AddItemToObject(state, "train_checksum", u64_string(t->train.checksum));
    cJSON_AddItemToObject(state, "valid_checksum", u64_string(t->valid.checksum));
    cJSON_AddItemToObject(state, "data_epoch", u64_string((uint64_t)t->train.epoch));
    cJSON_AddItemToObject(state, "data_position", u64_string(t->train.position));
    cJSON_AddItemToObject(state, "dropout_seed", u64_string(t->graph->dropout_rng.seed));
    cJSON_AddItemToObject(state, "dropout_counter", u64_string(t->graph->dropout_rng.counter));
    cJSON_AddNumberToObject(state, "best_bleu", tfm_json_float_value(t->best_bleu));
    cJSON_AddNumberToObject(state, "best_step", (double)t->best_step);
    cJSON_AddNumberToObject(state, "evaluations_without_gain", t->evaluations_without_gain);
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

tfm_status tfm_seq2seq_trainer_resume(tfm_seq2seq_trainer **out, tfm_seq2seq *model, tfm_bpe *tokenizer, const char *dir,
                                      const char *data_dir) {
    *out = NULL;
    char *state_text = NULL;
    tfm_status st = tfm_checkpoint_load_trainer_state(dir, &model->params, &state_text);
    if (st) return st;
    char source[1024];
    snprintf(source, sizeof source, "%s/trainer_state.json", dir);
    cJSON *state = cJSON_Parse(state_text);
    tfm_free(state_text, strlen(state_text) + 1);
    if (!state) return tfm_error(TFM_ERR_FORMAT, "%s: not valid JSON", source);
    tfm_seq2seq_train_config config;
    tfm_seq2seq_train_config_default(&config);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(state, "format");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(state, "train");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(state, "step");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(state, "data_dir");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(state, "best_bleu");
    const cJSON *best_step = cJSON_GetObjectItemCaseSensitive(state, "best_step");
    const cJSON *without = cJSON_GetObjectItemCaseSensitive(state, "evaluations_without_gain");
    uint64_t train_sum = 0, valid_sum = 0, epoch = 0, position = 0, dropout_seed = 0, dropout_counter = 0;
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "tfm-seq2seq-trainer-state") != 0)
        st = tfm_error(TFM_ERR_FORMAT, "%s: not an encoder-decoder training state (format is not \"tfm-seq2seq-trainer-state\")", source);
    else if (!cJSON_IsObject(train)) st = tfm_error(TFM_ERR_FORMAT, "%s: missing the \"train\" object", source);
    else if (!cJSON_IsNumber(step) || step->valuedouble < 0) st = tfm_error(TFM_ERR_FORMAT, "%s: step: expected a number >= 0", source);
    else if (!cJSON_IsString(path)) st = tfm_error(TFM_ERR_FORMAT, "%s: data_dir: expected a string", source);
    else if (!cJSON_IsNumber(best) || !cJSON_IsNumber(best_step) || !cJSON_IsNumber(without))
        st = tfm_error(TFM_ERR_FORMAT, "%s: best_bleu/best_step/evaluations_without_gain: expected numbers", source);
    if (!st) {
        char *train_text = cJSON_PrintUnformatted(train);
        st = train_text ? tfm_seq2seq_train_config_from_json(train_text, source, &config) : TFM_ERR_OUT_OF_MEMORY;
        if (train_text) cJSON_free(train_text);
    }
    if (!st) st = read_u64(state, "train_checksum", source, &train_sum);
    if (!st) st = read_u64(state, "valid_checksum", source, &valid_sum);
    if (!st) st = read_u64(state, "data_epoch", source, &epoch);
    if (!st) st = read_u64(state, "data_position", source, &position);
    if (!st) st = read_u64(state, "dropout_seed", source, &dropout_seed);
    if (!st) st = read_u64(state, "dropout_counter", source, &dropout_counter);
    tfm_seq2seq_trainer *t = NULL;
    if (!st) st = trainer_allocate(&t, model, tokenizer, &config, data_dir ? data_dir : path->valuestring);
    if (!st && (t->train.checksum != train_sum || t->valid.checksum != valid_sum))
        st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the data in %s differs from the data this checkpoint was trained on", dir, t->data_dir);
    if (!st && position > t->train.batch_count)
        st = tfm_error(TFM_ERR_FORMAT, "%s: data_position %" PRIu64 " is past the %zu batches", source, position, t->train.batch_count);
    if (!st) {
        t->step = (long)step->valuedouble;
        tfm_seq2seq_data_seek(&t->train, (long)epoch, (size_t)position);
        t->epoch_of_step = (long)epoch;
        t->graph->dropout_rng = (tfm_rng){dropout_seed, dropout_counter};
        t->best_bleu = (float)best->valuedouble;
        t->best_step = (long)best_step->valuedouble;
        t->evaluations_without_gain = without->valueint;
        *out = t;
    } else {
        tfm_seq2seq_trainer_free(t);
    }
    cJSON_Delete(state);
    return st;
}
