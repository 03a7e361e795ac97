/* train/bert_classify_task.c: BERT fine-tuning as a training task: a label per sequence (or pair) or per word from DIR/{train,valid}.tsv, held-out accuracy, the classifier trained alone first if asked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bert.h"
#include "tfm/io.h"
#include "tfm/decode.h"
#include "tfm/bert_data.h"
#include "tfm/bert_labeled.h"
#include "tfm/train.h"
#include "tfm/wordpiece.h"

#define ORDER_SEED_MIX 0xC1A55u

typedef struct classify_task {
    tfm_train_task task;
    tfm_bert *model;                 /* not owned */
    tfm_bert_train_config part;
    uint64_t seed;
    char *data_dir;                  /* absolute */
    tfm_bert_labeled_set train, valid;
    size_t *order;                   /* [train.count]: this epoch's order */
    long epoch;                      /* 0-based */
    size_t position;
    tfm_bert_labeled_batch batch;
} classify_task;

static void shuffle_epoch(classify_task *t) {
    tfm_random_permutation(t->order, t->train.count, tfm_random_bits_at(t->seed ^ ORDER_SEED_MIX, (uint64_t)t->epoch));
}

static tfm_bert_batch model_batch(const tfm_bert_labeled_batch *b) {
    return (tfm_bert_batch){b->input_ids, b->token_type_ids, b->lengths, b->batch, b->length};
}

static tfm_status train_loss(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count) {
    classify_task *t = self;
    int B = t->part.batch_size < (int)t->train.count ? t->part.batch_size : (int)t->train.count;
    for (int b = 0; b < B; b++) {
        if (t->position == t->train.count) {
            t->epoch++;
            t->position = 0;
            shuffle_epoch(t);
        }
        t->batch.indices[b] = t->order[t->position++];
    }
    *loss = NULL;
    tfm_status st = tfm_bert_labeled_batch_fill(&t->batch, &t->train, t->batch.indices, B);
    if (st) return st;
    if (t->batch.count == 0) return tfm_error(TFM_ERR_FORMAT, "%s/train.tsv: a batch with no labelled word", t->data_dir);
    tfm_bert_batch batch = model_batch(&t->batch);
    *loss = tfm_bert_classification_loss(t->model, g, &batch, t->batch.rows, t->batch.labels, t->batch.count, label_smoothing, NULL);
    *count = 0; /* input tokens, for throughput (every micro-batch's mean counts alike) */
    for (int b = 0; b < B; b++) *count += t->batch.lengths[b];
    return *loss ? TFM_OK : TFM_ERR_INVALID_ARGUMENT;
}

/* Loss and accuracy over valid.tsv (the first eval_batches batches of it, or all when 0). */
static tfm_status evaluate(void *self, tfm_graph *g, float *valid_loss, float *score) {
    classify_task *t = self;
    size_t n = t->valid.count, B = (size_t)t->part.batch_size;
    if (t->part.eval_batches > 0 && n > (size_t)t->part.eval_batches * B) n = (size_t)t->part.eval_batches * B;
    double loss_sum = 0;
    long predictions = 0, correct = 0;
    for (size_t first = 0; first < n; first += B) {
        int count = (int)(n - first < B ? n - first : B);
        for (int b = 0; b < count; b++) t->batch.indices[b] = first + (size_t)b;
        tfm_status st = tfm_graph_begin(g, 0, 0);
        if (!st) st = tfm_bert_labeled_batch_fill(&t->batch, &t->valid, t->batch.indices, count);
        if (st) return st;
        if (t->batch.count == 0) continue;
        tfm_bert_batch batch = model_batch(&t->batch);
        tfm_tensor *logits = NULL;
        tfm_tensor *loss = tfm_bert_classification_loss(t->model, g, &batch, t->batch.rows, t->batch.labels, t->batch.count, 0.0f, &logits);
        if (!loss) return TFM_ERR_INVALID_ARGUMENT;
        int L = logits->shape[1];
        for (int k = 0; k < t->batch.count; k++) correct += tfm_argmax(logits->data + (size_t)k * L, L) == t->batch.labels[k];
        loss_sum += (double)loss->data[0] * t->batch.count;
        predictions += t->batch.count;
    }
    if (!predictions) return tfm_error(TFM_ERR_FORMAT, "%s/valid.tsv: nothing labelled to evaluate", t->data_dir);
    *valid_loss = (float)(loss_sum / (double)predictions);
    *score = (float)(100.0 * (double)correct / (double)predictions);
    return TFM_OK;
}

static long epoch(const void *self) { return ((const classify_task *)self)->epoch + 1; }

static void describe(const void *self, char *buffer, size_t size) {
    const classify_task *t = self;
    int tokens = t->model->config.parts == TFM_BERT_TOKEN_CLASSIFICATION;
    char model[256];
    tfm_bert_describe(t->model, model, sizeof model);
    snprintf(buffer, size, "bert %s classification, %s, %d labels | data %s: %zu train + %zu valid %s (%zu + %zu truncated to %d tokens%s) | "
                           "batch %d%s",
             tokens ? "token" : t->train.pairs ? "sentence-pair" : "sequence", model, t->model->config.num_labels, t->data_dir, t->train.count,
             t->valid.count, t->train.pairs ? "pairs" : "lines", t->train.truncated, t->valid.truncated, t->part.data.max_length,
             tokens ? ", first pieces labelled" : "", t->part.batch_size, t->part.freeze_steps ? ", classifier alone for the first steps" : "");
}

static tfm_status model_config_json(const void *self, char **json) {
    const tfm_bert *m = ((const classify_task *)self)->model;
    return tfm_bert_config_to_json(&m->config, (const char *const *)m->label_names, json);
}

/* FNV-1a over ids and labels: a resumed run must see the same data. */
static uint64_t checksum_set(const tfm_bert_labeled_set *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t tokens = s->start[s->count], labels = s->kind == TFM_BERT_LABEL_TOKENS ? tokens : s->count;
    for (size_t i = 0; i < tokens; i++) h = (h ^ (uint64_t)(uint32_t)s->ids[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < labels; i++) h = (h ^ (uint64_t)(uint32_t)s->labels[i]) * 0x100000001b3ull;
    return h;
}

static tfm_status save_state(const void *self, tfm_train_state *state) {
    const classify_task *t = self;
    tfm_status st = tfm_train_state_set_u64(state, "data_checksum", checksum_set(&t->train));
    return st ? st : tfm_train_state_set_epoch_position(state, t->epoch, t->position);
}

static tfm_status load_state(void *self, const tfm_train_state *state) {
    classify_task *t = self;
    uint64_t checksum = 0;
    tfm_status st = tfm_train_state_get_u64(state, "data_checksum", &checksum);
    if (!st) st = tfm_train_state_get_epoch_position(state, t->train.count, "training examples", &t->epoch, &t->position);
    if (st) return st;
    if (checksum != checksum_set(&t->train))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: %s/train.tsv (or its labels or tokenizer) differs from the one this checkpoint was "
                                                   "trained on", tfm_train_state_source(state), t->data_dir);
    shuffle_epoch(t);
    return TFM_OK;
}

static void free_task(void *self) {
    classify_task *t = self;
    tfm_free(t->order, sizeof(size_t) * t->train.count);
    tfm_bert_labeled_free(&t->train);
    tfm_bert_labeled_free(&t->valid);
    tfm_bert_labeled_batch_free(&t->batch);
    if (t->data_dir) tfm_free(t->data_dir, strlen(t->data_dir) + 1);
    tfm_free(t, sizeof *t);
}

static tfm_status check_model(const tfm_bert *model, const tfm_bert_labels *labels, const tfm_train_config *config) {
    const tfm_bert_config *m = &model->config;
    int objective = config->bert.data.objective;
    if (config->task != TFM_TASK_BERT || objective < TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION)
        return tfm_error(TFM_ERR_CONFIG, "BERT fine-tuning needs train.objective \"sequence_classification\" or \"token_classification\"");
    int parts = objective == TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION ? TFM_BERT_SEQUENCE_CLASSIFICATION : TFM_BERT_TOKEN_CLASSIFICATION;
    if (m->parts != parts)
        return tfm_error(TFM_ERR_CONFIG, "train.objective \"%s\" needs model.architectures [\"%s\"]",
                         parts == TFM_BERT_SEQUENCE_CLASSIFICATION ? "sequence_classification" : "token_classification",
                         parts == TFM_BERT_SEQUENCE_CLASSIFICATION ? "BertForSequenceClassification" : "BertForTokenClassification");
    if (m->num_labels != labels->count)
        return tfm_error(TFM_ERR_CONFIG, "the model has %d labels, %s has %d", m->num_labels, labels->source, labels->count);
    if (config->bert.data.max_length > m->max_positions)
        return tfm_error(TFM_ERR_CONFIG, "train.seq_len (%d) exceeds model.max_position_embeddings (%d)", config->bert.data.max_length,
                         m->max_positions);
    return TFM_OK;
}

static tfm_status load_sets(classify_task *t, const tfm_bert_labels *labels, tfm_wordpiece *tokenizer, const char *dir) {
    int kind = t->part.data.objective == TFM_BERT_OBJECTIVE_TOKEN_CLASSIFICATION ? TFM_BERT_LABEL_TOKENS : TFM_BERT_LABEL_SEQUENCES;
    char path[4200];
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    tfm_status st = tfm_bert_labeled_load(&t->train, path, kind, labels, tokenizer, t->part.data.max_length);
    snprintf(path, sizeof path, "%s/valid.tsv", dir);
    if (!st) st = tfm_bert_labeled_load(&t->valid, path, kind, labels, tokenizer, t->part.data.max_length);
    if (!st && t->train.pairs != t->valid.pairs)
        st = tfm_error(TFM_ERR_FORMAT, "%s: %s pairs but train.tsv %s", path, t->valid.pairs ? "holds" : "does not hold",
                       t->train.pairs ? "does" : "does not");
    if (!st && t->train.pairs && t->model->config.type_vocab_size < 2)
        st = tfm_error(TFM_ERR_CONFIG, "sentence pairs need model.type_vocab_size >= 2, got %d", t->model->config.type_vocab_size);
    if (!st && !(t->order = tfm_malloc(sizeof(size_t) * t->train.count))) st = TFM_ERR_OUT_OF_MEMORY;
    return st;
}

tfm_status tfm_bert_classifier_task_create(tfm_train_task **out, tfm_bert *model, tfm_wordpiece *tokenizer, const tfm_bert_labels *labels,
                                           const tfm_train_config *config, const char *data_dir) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, NULL);
    if (!st) st = check_model(model, labels, config);
    if (st) return st;
    classify_task *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->part = config->bert;
    t->seed = config->seed;
    t->data_dir = tfm_file_absolute(data_dir);
    st = t->data_dir ? tfm_bert_labeled_batch_allocate(&t->batch, t->part.batch_size, t->part.data.max_length) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = load_sets(t, labels, tokenizer, data_dir);
    if (st) {
        free_task(t);
        return st;
    }
    shuffle_epoch(t);
    t->task = (tfm_train_task){.name = "bert", .state_format = "tfm-trainer-state", .data_key = "data_path", .data_location = t->data_dir,
                               .score_name = "accuracy", .loss_weighting = TFM_LOSS_WEIGHT_PER_BATCH,
                               .tokenizer_files = {"vocab.txt", "tokenizer_config.json"}, .d_model = model->config.d_model,
                               .head_prefix = "classifier.", .freeze_steps = config->bert.freeze_steps, .params = &model->params,
                               .self = t, .train_loss = train_loss, .evaluate = evaluate, .epoch = epoch, .describe = describe,
                               .model_config_json = model_config_json, .save_state = save_state, .load_state = load_state,
                               .free_task = free_task};
    *out = &t->task;
    return TFM_OK;
}
