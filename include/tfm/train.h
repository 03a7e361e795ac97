/* tfm/train.h: learning-rate schedules, the byte/token data stream, and the training loop around a model. */
#ifndef TFM_TRAIN_H
#define TFM_TRAIN_H

#include "tfm/config.h"
#include "tfm/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Learning rate for optimizer step `step` (1-based):
 *   constant: lr (linear warm-up over warmup_steps if > 0)
 *   cosine:   linear warm-up to lr, then cosine decay to min_lr at max_steps
 *   noam:     lr * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)   ("Attention Is All You Need" §5.3) */
float tfm_schedule_learning_rate(const tfm_train_config *t, int d_model, long step);

/* ---- Data: a token stream (bytes of a UTF-8 text file for the byte-level vocabulary) ----
 * The file is split into a training part and a held-out validation tail (valid_fraction). Training
 * batches are windows of T+1 tokens at positions drawn from a counter-based stream, so the data
 * position is just (seed, counter) and a resumed run sees exactly the batches it would have seen. */
typedef struct tfm_dataset {
    uint16_t *tokens;        /* [count] token ids (16 bits: vocabularies up to 65,536) */
    size_t count;
    size_t train_count;      /* tokens[0 .. train_count) train, the rest validation */
    tfm_rng position_rng;    /* where the next training window starts */
} tfm_dataset;

/* Load a text file as byte tokens. Errors: missing/unreadable file, empty file, invalid UTF-8 (names the
 * byte offset and line), too small for one (seq_len+1)-token window in each split. */
tfm_status tfm_dataset_load_text(tfm_dataset *d, const char *path, int seq_len, float valid_fraction, uint64_t seed);
void tfm_dataset_free(tfm_dataset *d);
/* Fill inputs/targets [B, T] with the next training windows (targets = inputs shifted by one). */
void tfm_dataset_next_train_batch(tfm_dataset *d, int32_t *inputs, int32_t *targets, int B, int T);
/* Validation batch number `index` (deterministic, covers the validation part in order, wrapping). */
void tfm_dataset_valid_batch(const tfm_dataset *d, long index, int32_t *inputs, int32_t *targets, int B, int T);

/* ---- The training loop (for GPT; the encoder-decoder and BERT get their own forward behind the same loop) ----
 *
 *   tfm_trainer *t;
 *   tfm_trainer_create(&t, model, &train_config, "corpus.txt");   // or tfm_trainer_resume(&t, model, "runs/gpt", NULL)
 *   while (t->step < train_config.max_steps) tfm_trainer_step(t);   // t->last_loss, t->last_learning_rate, ...
 *   tfm_trainer_save(t, "runs/gpt");
 *   tfm_trainer_free(t);
 */
struct tfm_gpt;
typedef struct tfm_trainer {
    struct tfm_gpt *model;       /* not owned */
    tfm_train_config config;
    char *data_path;
    uint64_t data_checksum;      /* of the token stream: a resumed run must see the same data */
    tfm_dataset data;
    struct tfm_graph *graph;     /* per-step arena + tape */
    int32_t *inputs, *targets;   /* [B, T] each */
    long step;                   /* optimizer steps done */
    float last_loss;             /* mean training loss of the last step (over its micro-batches) */
    float last_learning_rate;
    float last_grad_norm;        /* before clipping */
    long tokens_per_step;        /* B * T * accumulation */
} tfm_trainer;

tfm_status tfm_trainer_create(tfm_trainer **trainer, struct tfm_gpt *model, const tfm_train_config *config, const char *data_path);
/* Continue from a checkpoint directory written by tfm_trainer_save: restores optimizer moments, step,
 * data position and dropout stream, so the following losses equal those of an uninterrupted run.
 * The model's parameters must already be loaded from the same directory. data_path NULL: the path saved
 * in the checkpoint. A different data file than the one trained on is an error. */
tfm_status tfm_trainer_resume(tfm_trainer **trainer, struct tfm_gpt *model, const char *dir, const char *data_path,
                              const tfm_train_config *override /* NULL: the saved config */);
void tfm_trainer_free(tfm_trainer *trainer);
/* One optimizer step (grad_accum_steps micro-batches). A NaN or infinite loss or gradient is an error
 * (TFM_ERR_NUMERIC) and the parameters are left as they were before the step. */
tfm_status tfm_trainer_step(tfm_trainer *trainer);
/* Mean validation loss over eval_batches batches (no dropout, no gradients). */
tfm_status tfm_trainer_evaluate(tfm_trainer *trainer, float *valid_loss);
/* Write model, config, optimizer state and trainer state into dir (each file atomically). */
tfm_status tfm_trainer_save(tfm_trainer *trainer, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
