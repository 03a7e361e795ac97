/* train/seq2seq_task.c: the encoder-decoder as a training task: token-count batches of sentence pairs, validation loss and BLEU, data position for resume. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bpe.h"
#include "tfm/metrics.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"
#include "tfm/train.h"
#include "train/seq2seq_data.h"

typedef struct seq2seq_task {
    tfm_train_task task;
    tfm_seq2seq *model;             /* not owned */
    tfm_bpe *tokenizer;             /* not owned */
    tfm_seq2seq_train_config part;  /* batching and validation decoding */
    char *data_dir;                 /* absolute */
    tfm_seq2seq_data train, valid;
} seq2seq_task;

static tfm_status load_split(seq2seq_task *t, tfm_seq2seq_data *d, const char *split, uint64_t seed) {
    const tfm_seq2seq_config *m = &t->model->config;
    tfm_seq2seq_data_options o = {m->max_source_length, m->max_target_length, t->part.batch_tokens, t->part.max_sentences,
                                  m->pad_id, m->bos_id, m->eos_id};
    char source[4096], target[4096];
    snprintf(source, sizeof source, "%s/%s.%s", t->data_dir, split, t->part.source_lang);
    snprintf(target, sizeof target, "%s/%s.%s", t->data_dir, split, t->part.target_lang);
    return tfm_seq2seq_data_load(d, t->tokenizer, source, target, &o, seed);
}

static tfm_status train_loss(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count) {
    seq2seq_task *t = self;
    tfm_seq2seq_data_next(&t->train);
    const tfm_seq2seq_batch *b = &t->train.batch;
    int counted = 0;
    *loss = tfm_seq2seq_loss(t->model, g, b->source, b->source_lengths, b->target_input, b->target_output, b->target_lengths, b->B,
                             b->S, b->T, label_smoothing, &counted);
    *count = counted;
    return *loss ? TFM_OK : TFM_ERR_INVALID_ARGUMENT;
}

static tfm_status translate_greedy_text(tfm_seq2seq *model, tfm_bpe *tokenizer, const int32_t *const *sources,
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
static tfm_status validation_bleu(seq2seq_task *t, int n, float *bleu) {
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
    if (!st) st = translate_greedy_text(t->model, t->tokenizer, sources, lengths, n, t->part.max_length_a,
                                                    t->part.max_length_b, sorted_hyps);
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

/* Token-weighted mean loss over the whole valid set (no label smoothing), then BLEU of greedy translations. */
static tfm_status evaluate(void *self, tfm_graph *g, float *valid_loss, float *score) {
    seq2seq_task *t = self;
    tfm_seq2seq_data *d = &t->valid;
    double sum = 0;
    long tokens = 0;
    for (size_t i = 0; i < d->batch_count; i++) {
        tfm_status st = tfm_graph_begin(g, 0, 0);
        if (st) return st;
        tfm_seq2seq_data_fill(d, i);
        const tfm_seq2seq_batch *b = &d->batch;
        int counted = 0;
        tfm_tensor *loss = tfm_seq2seq_loss(t->model, g, b->source, b->source_lengths, b->target_input, b->target_output,
                                            b->target_lengths, b->B, b->S, b->T, 0.0f, &counted);
        if (!loss) return TFM_ERR_INVALID_ARGUMENT;
        sum += (double)loss->data[0] * counted;
        tokens += counted;
    }
    *valid_loss = tokens ? (float)(sum / (double)tokens) : 0.0f;
    *score = NAN;
    return t->part.bleu_sentences != 0 ? validation_bleu(t, t->part.bleu_sentences, score) : TFM_OK;
}

static long epoch(const void *self) { return ((const seq2seq_task *)self)->train.epoch + 1; }

static void describe(const void *self, char *buffer, size_t size) {
    const seq2seq_task *t = self;
    const tfm_seq2seq_config *m = &t->model->config;
    snprintf(buffer, size,
             "seq2seq, %zu parameters, %d+%d layers, d_model %d, %d heads, vocab %d | data %s: %zu train pairs in %zu batches "
             "(%zu empty, %zu too long skipped), %zu valid pairs | %d tokens per batch",
             tfm_params_count_values(&t->model->params), m->n_encoder_layers, m->n_decoder_layers, m->d_model, m->n_heads, m->vocab_size, t->data_dir,
             t->train.pairs, t->train.batch_count, t->train.skipped_empty, t->train.skipped_long, t->valid.pairs, t->part.batch_tokens);
}

static tfm_status model_config_json(const void *self, char **json) {
    return tfm_seq2seq_config_to_json(&((const seq2seq_task *)self)->model->config, json);
}

static tfm_status save_state(const void *self, tfm_train_state *state) {
    const seq2seq_task *t = self;
    tfm_status st = tfm_train_state_set_u64(state, "train_checksum", t->train.checksum);
    if (!st) st = tfm_train_state_set_u64(state, "valid_checksum", t->valid.checksum);
    return st ? st : tfm_train_state_set_epoch_position(state, t->train.epoch, t->train.position);
}

static tfm_status load_state(void *self, const tfm_train_state *state) {
    seq2seq_task *t = self;
    uint64_t train_sum = 0, valid_sum = 0;
    long epoch_count = 0;
    size_t position = 0;
    tfm_status st = tfm_train_state_get_u64(state, "train_checksum", &train_sum);
    if (!st) st = tfm_train_state_get_u64(state, "valid_checksum", &valid_sum);
    if (!st) st = tfm_train_state_get_epoch_position(state, t->train.batch_count, "batches", &epoch_count, &position);
    if (st) return st;
    if (t->train.checksum != train_sum || t->valid.checksum != valid_sum)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the data in %s differs from the data this checkpoint was trained on",
                         tfm_train_state_source(state), t->data_dir);
    tfm_seq2seq_data_seek(&t->train, epoch_count, position);
    return TFM_OK;
}

static void free_task(void *self) {
    seq2seq_task *t = self;
    tfm_seq2seq_data_free(&t->train);
    tfm_seq2seq_data_free(&t->valid);
    if (t->data_dir) tfm_free(t->data_dir, strlen(t->data_dir) + 1);
    tfm_free(t, sizeof *t);
}

tfm_status tfm_seq2seq_task_create(tfm_train_task **out, tfm_seq2seq *model, tfm_bpe *tokenizer, const tfm_train_config *config,
                                   const char *data_dir) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, NULL);
    if (st) return st;
    if (config->task != TFM_TASK_SEQ2SEQ) return tfm_error(TFM_ERR_CONFIG, "tfm_seq2seq_task_create: the train config is not an encoder-decoder one");
    if ((long)tfm_bpe_vocab_size(tokenizer) != model->config.vocab_size)
        return tfm_error(TFM_ERR_CONFIG, "the tokenizer has %zu tokens but the model's vocab_size is %d; they must be equal",
                         tfm_bpe_vocab_size(tokenizer), model->config.vocab_size);
    /* One step's activations, roughly: [tokens, V] logits, probabilities and gradient, and per layer (a decoder
     * layer counts twice: self and cross attention) [tokens, 12 d + 4 d_ff] plus attention rows of up to the
     * longest sentence per head. In double, so that no product wraps. */
    const tfm_seq2seq_config *m = &model->config;
    double tokens = (double)config->seq2seq.batch_tokens, layers = m->n_encoder_layers + 2.0 * m->n_decoder_layers;
    double longest = m->max_source_length > m->max_target_length ? m->max_source_length : m->max_target_length;
    double floats = tokens * (3.0 * m->vocab_size + layers * (12.0 * m->d_model + 4.0 * m->d_ff + 2.0 * m->n_heads * longest));
    char what[256];
    snprintf(what, sizeof what, "a training step of train.batch_tokens %d (model.vocab_size %d, %d + %d layers of d_model %d, d_ff %d)",
             config->seq2seq.batch_tokens, m->vocab_size, m->n_encoder_layers, m->n_decoder_layers, m->d_model, m->d_ff);
    if ((st = tfm_memory_check_request(4.0 * floats, what)) != TFM_OK) return st;
    seq2seq_task *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->model = model;
    t->tokenizer = tokenizer;
    t->part = config->seq2seq;
    t->data_dir = tfm_file_absolute(data_dir);
    if (!t->data_dir) st = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the encoder-decoder task");
    if (!st) st = load_split(t, &t->train, "train", config->seed);
    if (!st) st = load_split(t, &t->valid, "valid", config->seed);
    if (st) {
        free_task(t);
        return st;
    }
    t->task = (tfm_train_task){.name = "seq2seq", .state_format = "tfm-seq2seq-trainer-state", .data_key = "data_dir",
                               .data_location = t->data_dir, .score_name = "bleu", .loss_weighting = TFM_LOSS_WEIGHT_PER_TOKEN, .tokenizer_files = {"tokenizer.json"},
                               .d_model = model->config.d_model, .params = &model->params, .self = t, .train_loss = train_loss,
                               .evaluate = evaluate, .epoch = epoch, .describe = describe, .model_config_json = model_config_json, .save_state = save_state,
                               .load_state = load_state, .free_task = free_task};
    *out = &t->task;
    return TFM_OK;
}
