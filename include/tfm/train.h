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
    int32_t *tokens;         /* [count] token ids */
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

#ifdef __cplusplus
}
#endif
#endif
