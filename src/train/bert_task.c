/* train/bert_task.c: BERT pre-training as a training task: masked-LM + NSP/SOP loss on examples from a text of sentences, held-out accuracies, data position for resume. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bert.h"
#include "tfm/io.h"
#include "tfm/decode.h"
#include "tfm/bert_data.h"
#include "tfm/train.h"
#include "tfm/wordpiece.h"

/* Streams derived from the seed: the held-out examples' pairs, and each epoch's order. */
#define VALID_SEED_MIX 0x7A11Du
#define ORDER_SEED_MIX 0x0D3Eu

typedef struct bert_task {
    tfm_train_task task;
    tfm_bert *model;                 /* not owned */
    tfm_bert_train_config part;
    uint64_t seed;
    char *data_path;                 /* absolute */
    tfm_bert_corpus corpus;
    uint64_t checksum;               /* of the tokenized corpus: a resumed run must see the same data */
    size_t train_documents;          /* documents [0, train_documents) train, the rest are held out */
    tfm_bert_examples *train, *valid;
    size_t *order;                   /* [train count]: this epoch's order of the training examples */
    long epoch;                      /* 0-based */
    size_t position;                 /* examples of this epoch already used */
    tfm_bert_pretraining_batch batch;
} bert_task;

/* ---- Batches ---- */

static void shuffle_epoch(bert_task *t) {
    tfm_random_permutation(t->order, tfm_bert_examples_count(t->train), tfm_random_bits_at(t->seed ^ ORDER_SEED_MIX, (uint64_t)t->epoch));
}

static tfm_status train_loss(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count) {
    bert_task *t = self;
    size_t n = tfm_bert_examples_count(t->train);
    int B = t->part.batch_size;
    for (int b = 0; b < B; b++) {
        if (t->position == n) {
            t->epoch++;
            t->position = 0;
            shuffle_epoch(t);
        }
        t->batch.indices[b] = t->order[t->position++];
    }
    *loss = NULL;
    tfm_status st = tfm_bert_pretraining_batch_fill(&t->batch, t->train, t->batch.indices, B, t->epoch);
    if (st) return st;
    *loss = tfm_bert_pretraining_loss(t->model, g, &t->batch, label_smoothing, NULL);
    *count = 0;
    for (int b = 0; b < B; b++) *count += t->batch.lengths[b];
    return *loss ? TFM_OK : TFM_ERR_INVALID_ARGUMENT;
}

/* ---- Validation: loss, masked-LM accuracy, pair accuracy over the held-out examples (masks of epoch 0) ---- */

static tfm_status evaluate(void *self, tfm_graph *g, float *valid_loss, float *score) {
    bert_task *t = self;
    tfm_bert_pretraining_batch *batch = &t->batch;
    size_t n = tfm_bert_examples_count(t->valid), limit = (size_t)t->part.eval_batches * (size_t)t->part.batch_size;
    if (n > limit) n = limit;
    double mlm_sum = 0, pair_sum = 0;
    long predictions = 0, mlm_correct = 0, pairs = 0, pair_correct = 0;
    for (size_t first = 0; first < n; first += (size_t)t->part.batch_size) {
        int B = (int)(n - first < (size_t)t->part.batch_size ? n - first : (size_t)t->part.batch_size);
        for (int b = 0; b < B; b++) batch->indices[b] = first + (size_t)b;
        tfm_status st = tfm_graph_begin(g, 0, 0);
        if (!st) st = tfm_bert_pretraining_batch_fill(batch, t->valid, batch->indices, B, 0);
        if (st) return st;
        tfm_bert_pretraining_outputs out;
        if (!tfm_bert_pretraining_loss(t->model, g, batch, 0.0f, &out)) return TFM_ERR_INVALID_ARGUMENT;
        int V = out.mlm_logits->shape[1];
        for (int k = 0; k < batch->predictions; k++) mlm_correct += tfm_argmax(out.mlm_logits->data + (size_t)k * V, V) == batch->labels[k];
        mlm_sum += (double)out.mlm_loss * batch->predictions;
        predictions += batch->predictions;
        if (out.pair_logits) {
            for (int b = 0; b < B; b++) pair_correct += tfm_argmax(out.pair_logits->data + (size_t)b * 2, 2) == batch->pair_labels[b];
            pair_sum += (double)out.pair_loss * B;
            pairs += B;
        }
    }
    float mlm_mean = (float)(mlm_sum / (double)predictions), pair_mean = pairs ? (float)(pair_sum / (double)pairs) : 0.0f;
    *valid_loss = mlm_mean + pair_mean;
    *score = (float)(100.0 * (double)mlm_correct / (double)predictions);
    t->task.metric_values[0] = mlm_mean;
    t->task.metric_values[1] = pairs ? (float)(100.0 * (double)pair_correct / (double)pairs) : NAN;
    t->task.metric_values[2] = pairs ? pair_mean : NAN;
    return TFM_OK;
}

/* ---- The rest of the interface ---- */

static long epoch(const void *self) { return ((const bert_task *)self)->epoch + 1; }

static const char *const objective_names[] = {"nsp", "sop", "mlm"};

static void describe(const void *self, char *buffer, size_t size) {
    const bert_task *t = self;
    const tfm_bert_data_options *d = &t->part.data;
    tfm_bert_examples_stats s = tfm_bert_examples_get_stats(t->train);
    char model[256];
    tfm_bert_describe(t->model, model, sizeof model);
    snprintf(buffer, size,
             "bert, %s, vocab %d | data %s: %zu documents, %zu sentences, %zu tokens; %zu train + %zu valid sequences (%s, %.0f%% "
             "masked%s%s) | batch %d x %d",
             model, t->model->config.vocab_size, t->data_path, t->corpus.document_count, t->corpus.sentence_count, t->corpus.token_count,
             s.examples, tfm_bert_examples_count(t->valid), objective_names[d->objective], 100.0 * d->mask_probability,
             d->whole_word_masking ? ", whole words" : "", d->dynamic_masking ? ", dynamic" : "", t->part.batch_size, d->max_length);
}

static tfm_status model_config_json(const void *self, char **json) {
    return tfm_bert_config_to_json(&((const bert_task *)self)->model->config, NULL, json);
}

static tfm_status save_state(const void *self, tfm_train_state *state) {
    const bert_task *t = self;
    tfm_status st = tfm_train_state_set_u64(state, "data_tokens", t->corpus.token_count);
    if (!st) st = tfm_train_state_set_u64(state, "data_checksum", t->checksum);
    return st ? st : tfm_train_state_set_epoch_position(state, t->epoch, t->position);
}

static tfm_status load_state(void *self, const tfm_train_state *state) {
    bert_task *t = self;
    uint64_t tokens = 0, checksum = 0;
    tfm_status st = tfm_train_state_get_u64(state, "data_tokens", &tokens);
    if (!st) st = tfm_train_state_get_u64(state, "data_checksum", &checksum);
    if (!st) st = tfm_train_state_get_epoch_position(state, tfm_bert_examples_count(t->train), "training sequences", &t->epoch, &t->position);
    if (st) return st;
    if (tokens != t->corpus.token_count || checksum != t->checksum)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the data file %s (or its tokenizer) differs from the one this checkpoint was trained on "
                                                   "(%" PRIu64 " tokens)", tfm_train_state_source(state), t->data_path, tokens);
    shuffle_epoch(t);
    return TFM_OK;
}

static void free_task(void *self) {
    bert_task *t = self;
    if (t->train) tfm_free(t->order, sizeof(size_t) * tfm_bert_examples_count(t->train));
    tfm_bert_examples_free(t->train);
    tfm_bert_examples_free(t->valid);
    tfm_bert_corpus_free(&t->corpus);
    tfm_bert_pretraining_batch_free(&t->batch);
    if (t->data_path) tfm_free(t->data_path, strlen(t->data_path) + 1);
    tfm_free(t, sizeof *t);
}

/* ---- Creation ---- */

/* FNV-1a over the tokens and the sentence and document boundaries. */
static uint64_t checksum_corpus(const tfm_bert_corpus *c) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < c->token_count; i++) h = (h ^ (uint64_t)(uint32_t)c->tokens[i]) * 0x100000001b3ull;
    for (size_t i = 0; i <= c->sentence_count; i++) h = (h ^ c->sentence_start[i]) * 0x100000001b3ull;
    for (size_t i = 0; i <= c->document_count; i++) h = (h ^ c->document_start[i]) * 0x100000001b3ull;
    return h;
}

static tfm_status check_model(const tfm_bert *model, const tfm_wordpiece *tokenizer, const tfm_train_config *config) {
    const tfm_bert_config *m = &model->config;
    const tfm_bert_train_config *b = &config->bert;
    if (config->task != TFM_TASK_BERT) return tfm_error(TFM_ERR_CONFIG, "tfm_bert_task_create: the train config is not a BERT one");
    if (b->data.objective > TFM_BERT_OBJECTIVE_MLM)
        return tfm_error(TFM_ERR_CONFIG, "train.objective: fine-tuning objectives train with tfm_bert_classifier_task_create, on labelled data");
    if (m->parts != TFM_BERT_PRETRAINING)
        return tfm_error(TFM_ERR_CONFIG, "BERT pre-training needs the masked-LM and next-sentence heads: model.architectures must be "
                                         "[\"BertForPreTraining\"] (an ALBERT's [\"AlbertForPreTraining\"])");
    if (b->data.max_length > m->max_positions)
        return tfm_error(TFM_ERR_CONFIG, "train.seq_len (%d) exceeds model.max_position_embeddings (%d)", b->data.max_length, m->max_positions);
    if (b->data.objective != TFM_BERT_OBJECTIVE_MLM && m->type_vocab_size < 2)
        return tfm_error(TFM_ERR_CONFIG, "sentence pairs need model.type_vocab_size >= 2 (segments A and B), got %d", m->type_vocab_size);
    size_t V = tfm_wordpiece_vocab_size(tokenizer);
    if (V > (size_t)m->vocab_size)
        return tfm_error(TFM_ERR_CONFIG, "the tokenizer has %zu pieces, more than model.vocab_size (%d)", V, m->vocab_size);
    /* What one step keeps for backward, roughly: per layer [B, T, 9 C + 2 d_ff] and attention [B, H, T, T]; the
     * masked-LM logits, probabilities and gradient [B * max_predictions, 3 V]. In double: no wrap. */
    double rows = (double)b->batch_size * b->data.max_length;
    double floats = rows * m->n_layers * (9.0 * m->d_model + 2.0 * m->d_ff + 2.0 * m->n_heads * b->data.max_length) +
                    3.0 * b->batch_size * b->data.max_predictions * m->vocab_size;
    char what[256];
    snprintf(what, sizeof what, "a training step of train.batch_size %d x train.seq_len %d (model.vocab_size %d, num_hidden_layers %d, "
                                "hidden_size %d, intermediate_size %d)", b->batch_size, b->data.max_length, m->vocab_size, m->n_layers, m->d_model, m->d_ff);
    return tfm_memory_check_request(4.0 * floats, what);
}

/* The documents at the end are held out; both parts must be large enough for the objective. */
static tfm_status split_and_build(bert_task *t) {
    size_t documents = t->corpus.document_count, least = t->part.data.objective == TFM_BERT_OBJECTIVE_NSP ? 2 : 1;
    size_t valid = (size_t)lround((double)documents * t->part.valid_fraction);
    if (valid < least) valid = least;
    if (documents < valid + least)
        return tfm_error(TFM_ERR_FORMAT, "data file %s has %zu documents (separated by blank lines): too few for a training part and a held-out "
                                         "part of %zu (train.valid_fraction %g)", t->data_path, documents, valid, (double)t->part.valid_fraction);
    t->train_documents = documents - valid;
    tfm_status st = tfm_bert_examples_create(&t->train, &t->corpus, 0, t->train_documents, &t->part.data, t->seed);
    if (!st) st = tfm_bert_examples_create(&t->valid, &t->corpus, t->train_documents, valid, &t->part.data, t->seed ^ VALID_SEED_MIX);
    if (st) return tfm_error_prefix(st, "data file %s: ", t->data_path);
    t->order = tfm_malloc(sizeof(size_t) * tfm_bert_examples_count(t->train));
    if (!t->order) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the order of %zu examples", tfm_bert_examples_count(t->train));
    shuffle_epoch(t);
    return TFM_OK;
}

tfm_status tfm_bert_task_create(tfm_train_task **out, tfm_bert *model, tfm_wordpiece *tokenizer, const tfm_train_config *config,
                                const char *data_path) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, NULL);
    if (!st) st = check_model(model, tokenizer, config);
    if (st) return st;
    bert_task *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->part = config->bert;
    t->seed = config->seed;
    t->data_path = tfm_file_absolute(data_path);
    st = t->data_path ? tfm_bert_pretraining_batch_allocate(&t->batch, t->part.batch_size, &t->part.data) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_bert_corpus_load(&t->corpus, data_path, tokenizer);
    if (!st) st = split_and_build(t);
    if (st) {
        free_task(t);
        return st;
    }
    t->checksum = checksum_corpus(&t->corpus);
    int sop = config->bert.data.objective == TFM_BERT_OBJECTIVE_SOP;
    t->task = (tfm_train_task){.name = "bert", .state_format = "tfm-trainer-state", .data_key = "data_path", .data_location = t->data_path,
                               .score_name = "mlm_accuracy", .loss_weighting = TFM_LOSS_WEIGHT_PER_BATCH, .tokenizer_files = {"vocab.txt", "tokenizer_config.json"},
                               .metric_count = 3, .metric_names = {"mlm_loss", sop ? "sop_accuracy" : "nsp_accuracy", sop ? "sop_loss" : "nsp_loss"},
                               .d_model = model->config.d_model, .params = &model->params, .self = t, .train_loss = train_loss,
                               .evaluate = evaluate, .epoch = epoch, .describe = describe, .model_config_json = model_config_json,
                               .save_state = save_state, .load_state = load_state, .free_task = free_task};
    for (int i = 0; i < 3; i++) t->task.metric_values[i] = NAN;
    *out = &t->task;
    return TFM_OK;
}
