/* tfm/train.h: one training loop for every model: the shared configuration, the task interface a model plugs in through, and the run. */
#ifndef TFM_TRAIN_H
#define TFM_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "tfm/config.h"
#include "tfm/graph.h"
#include "tfm/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the pieces fit:
 *
 *   tfm_train_config config;                                   // the "train" object of a config file
 *   tfm_train_config_default(&config);                         // GPT's defaults (the encoder-decoder has its own)
 *   tfm_train_task *task;                                      // a model + its data: what the loop trains
 *   tfm_gpt_task_create(&task, model, &config, "corpus.txt", NULL);  // or tfm_seq2seq_task_create(...)
 *   tfm_trainer *trainer;                                      // the loop; it owns the task from here on
 *   tfm_trainer_create(&trainer, task, &config);
 *   tfm_train_run_options run = {.out_dir = "runs/gpt"};       // evaluation, checkpoints, log.jsonl, stopping
 *   tfm_train_summary summary;
 *   tfm_trainer_run(trainer, &run, &summary);                  // or tfm_trainer_step() in a loop of your own
 *   tfm_trainer_free(trainer);
 *
 * One optimizer step (tfm_trainer_step), whatever the model:
 *   zero the gradients; for each of grad_accum_steps micro-batches: the task builds its loss on a fresh tape,
 *   the loop checks it is finite and backpropagates it weighted (each micro-batch alike, or by the tokens it
 *   counted: the task says which); L1/L2 penalties; clipping by value, then by global norm; learning rate from the schedule;
 *   the optimizer's update (train.optimizer).
 * A run (tfm_trainer_run) adds: evaluation every eval_every steps, the best validation score and patience,
 * a time limit, checkpoints every save_every steps (and at the end, at a stop request, at early stopping),
 * a copy of the best model in <out>/best, one log.jsonl line per step, and progress events for the caller. */

/* ---- Learning rate for optimizer step `step` (1-based) ----
 * Every schedule but noam warms up first: step / warmup_steps of lr for the first warmup_steps steps. Then, with
 * k = step - warmup_steps - 1 (0 for the first step after the warm-up) and W = warmup_steps, T = max_steps:
 *   constant:    lr
 *   cosine:      min_lr + (lr - min_lr) * (1 + cos(pi * (k + 1) / (T - W))) / 2         (min_lr at step T)
 *   noam:        lr * d_model^-0.5 * min(step^-0.5, step * W^-1.5)   ("Attention Is All You Need" §5.3)
 *   step:        lr * gamma^floor(k / step_size)                                        (torch's StepLR)
 *   exponential: lr * gamma^k                                                           (ExponentialLR)
 *   linear:      min_lr + (lr - min_lr) * (1 - min(k / (T - W), 1))    (LinearLR; transformers' linear schedule)
 *   plateau:     lr reduced `reductions` times: each max(rate * plateau_factor, min_lr)  (ReduceLROnPlateau)
 * `reductions` counts the plateau schedule's reductions so far (tfm_plateau); the other schedules ignore it. */
float tfm_schedule_learning_rate(const tfm_train_config *t, int d_model, long step, int reductions);

/* Reduce-on-plateau's record of the validations so far; the trainer keeps one and saves it with a checkpoint. */
typedef struct tfm_plateau {
    float best;              /* best validation metric so far (NAN before the first) */
    int bad_evaluations;     /* validations since it last improved by more than plateau_threshold (relative) */
    int cooldown_left;       /* validations still ignored after the last reduction */
    int reductions;          /* times the rate was reduced */
} tfm_plateau;
void tfm_plateau_init(tfm_plateau *p);
/* One validation's metric (a loss unless higher_is_better), as torch's ReduceLROnPlateau.step(metric): after more
 * than plateau_patience validations without improvement the rate is reduced, then plateau_cooldown are ignored.
 * Returns 1 when this call reduced the rate (a reduction that would change it by 1e-8 or less is not made). */
int tfm_plateau_observe(tfm_plateau *p, const tfm_train_config *t, float metric, int higher_is_better);

/* ---- Data for GPT: a token stream (bytes of a UTF-8 text file for the byte-level vocabulary) ----
 * The file is split into a training part and a held-out validation tail (valid_fraction). Training
 * batches are windows of T+1 tokens at positions drawn from a counter-based stream, so the data
 * position is just (seed, counter) and a resumed run sees exactly the batches it would have seen. */
typedef struct tfm_dataset {
    uint32_t *tokens;        /* [count] token ids */
    size_t count;
    size_t train_count;      /* tokens[0 .. train_count) train, the rest validation */
    tfm_rng position_rng;    /* where the next training window starts */
} tfm_dataset;

/* Load a text file as byte tokens. Errors: missing/unreadable file, empty file, invalid UTF-8 (names the
 * byte offset and line), too small for one (seq_len+1)-token window in each split. */
tfm_status tfm_dataset_load_text(tfm_dataset *d, const char *path, int seq_len, float valid_fraction, uint64_t seed);
/* Load a token file (tfm/io.h: tfm_token_file_read; its vocabulary no larger than vocab_size). */
tfm_status tfm_dataset_load_tokens(tfm_dataset *d, const char *path, uint32_t vocab_size, int seq_len, float valid_fraction, uint64_t seed);
/* Tokenize a UTF-8 text file once with a BPE (special tokens such as "<|endoftext|>" in the text count as such)
 * into a token file, written atomically. */
struct tfm_bpe;
tfm_status tfm_dataset_tokenize_file(const char *text_path, struct tfm_bpe *tokenizer, const char *token_path);
void tfm_dataset_free(tfm_dataset *d);
/* Fill inputs/targets [B, T] with the next training windows (targets = inputs shifted by one). */
void tfm_dataset_next_train_batch(tfm_dataset *d, int32_t *inputs, int32_t *targets, int B, int T);
/* Validation batch number `index` (deterministic, covers the validation part in order, wrapping). */
void tfm_dataset_valid_batch(const tfm_dataset *d, long index, int32_t *inputs, int32_t *targets, int B, int T);

/* ---- The trainer's state file (trainer_state.json): what a task writes beside the loop's own keys ----
 * Counters are 64-bit decimal strings (JSON numbers are doubles and would round them); reading one that is
 * absent, negative, not decimal or out of range is an error naming the file and the key. */
typedef struct tfm_train_state tfm_train_state;
tfm_status tfm_train_state_set_u64(tfm_train_state *state, const char *key, uint64_t value);
tfm_status tfm_train_state_set_string(tfm_train_state *state, const char *key, const char *value);
tfm_status tfm_train_state_get_u64(const tfm_train_state *state, const char *key, uint64_t *value);
/* The string stays valid while the state does. */
tfm_status tfm_train_state_get_string(const tfm_train_state *state, const char *key, const char **value);
/* Where an epoch-based task is in its data: "data_epoch" (0-based) and "data_position" (units of this epoch used).
 * Reading checks the position against the `count` units of an epoch (`units` names them in the message). */
tfm_status tfm_train_state_set_epoch_position(tfm_train_state *state, long epoch, size_t position);
tfm_status tfm_train_state_get_epoch_position(const tfm_train_state *state, size_t count, const char *units, long *epoch, size_t *position);
/* "<dir>/trainer_state.json", for messages. */
const char *tfm_train_state_source(const tfm_train_state *state);

/* ---- The task: what a model brings to the loop ----
 * A model plugs in by filling one of these (see src/train/gpt_task.c and seq2seq_task.c). The loop calls
 * the functions with `self`; none of them prints. The loop frees the task with free_task. */
enum {
    TFM_LOSS_WEIGHT_PER_BATCH = 0,   /* every micro-batch's mean loss counts alike (fixed-size batches) */
    TFM_LOSS_WEIGHT_PER_TOKEN = 1,   /* micro-batches count by the tokens in their mean: the step's loss is the
                                        mean over all its tokens, so k micro-batches = one batch holding them */
};
#define TFM_TRAIN_MAX_METRICS 4
typedef struct tfm_train_task {
    const char *name;            /* "gpt", "seq2seq": the first word of progress lines */
    const char *state_format;    /* trainer_state.json's "format"; resume refuses any other */
    const char *data_key;        /* the state key holding the data's location ("data_path", "data_dir") */
    const char *data_location;   /* absolute path of what is trained on */
    const char *score_name;      /* the validation score ("bleu": log key "valid_bleu"), NULL if the task has none */
    int loss_weighting;          /* TFM_LOSS_WEIGHT_* */
    const char *tokenizer_files[3]; /* the files in the run directory that go with the model ("tokenizer.json";
                                       "vocab.txt", "tokenizer_config.json"), copied into best/; NULL-terminated */
    /* Further validation figures beside the loss and the score ("nsp_accuracy"): evaluate sets metric_values,
     * the loop logs each as "valid_<name>". */
    int metric_count;
    const char *metric_names[TFM_TRAIN_MAX_METRICS];
    float metric_values[TFM_TRAIN_MAX_METRICS];
    int d_model;                 /* for the "noam" schedule */
    const char *head_prefix;     /* fine-tuning: parameters named so ("classifier.") train alone for the first */
    long freeze_steps;           /* freeze_steps steps (0: nothing frozen) */
    tfm_params *params;          /* what the optimizer updates (the model's) */
    void *self;
    /* Build the loss of the next training micro-batch on g (a fresh tape with gradients); *loss is the mean
     * over *count units (tokens). NULL *loss with a status on error. */
    tfm_status (*train_loss)(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count);
    /* Validation without dropout or gradients: mean loss and, when the task has one, a score where higher is
     * better (BLEU); NAN when it has none, and then the loop ranks runs by -valid_loss. g is for scratch. */
    tfm_status (*evaluate)(void *self, tfm_graph *g, float *valid_loss, float *score);
    /* How far through its data the task is: epochs started, 1-based (0 when it has no epochs). */
    long (*epoch)(const void *self);
    /* One line about the model and its data for progress output ("6.6M parameters, ... | data ...: ..."). */
    void (*describe)(const void *self, char *buffer, size_t size);
    /* The model's config.json text (tfm_free(*json, strlen + 1)). */
    tfm_status (*model_config_json)(const void *self, char **json);
    /* Write / restore the task's own state (data identity and position) in trainer_state.json. */
    tfm_status (*save_state)(const void *self, tfm_train_state *state);
    tfm_status (*load_state)(void *self, const tfm_train_state *state);
    void (*free_task)(void *self);
} tfm_train_task;

/* GPT on a token stream: data_path is a token file (tfm_dataset_tokenize_file), or else a UTF-8 text file of byte
 * tokens. Windows of config->gpt.seq_len, per-batch weighting, eval_batches validation windows. `tokenizer` (NULL for
 * bytes) tells how many bytes each id stands for: validation then also logs "bits_per_byte" and "byte_perplexity"
 * (comparable across tokenizers) beside "perplexity" per token. Model and tokenizer are not owned. */
struct tfm_gpt;
tfm_status tfm_gpt_task_create(tfm_train_task **task, struct tfm_gpt *model, const tfm_train_config *config, const char *data_path,
                               const struct tfm_bpe *tokenizer);
/* BERT pre-training on a text file of sentences (one per line, blank lines between documents) tokenized with
 * `tokenizer` (a vocabulary no larger than the model's): the last valid_fraction of the documents held out; loss =
 * mean masked-LM cross-entropy + mean NSP/SOP cross-entropy (MLM only for objective "mlm"); score = masked-LM
 * accuracy on the held-out examples, metrics "mlm_loss", "nsp_accuracy" (or "sop_accuracy"). Epochs go through the
 * training examples in an order shuffled per epoch. The model (TFM_BERT_PRETRAINING) and tokenizer are not owned. */
struct tfm_bert;
struct tfm_wordpiece;
tfm_status tfm_bert_task_create(tfm_train_task **task, struct tfm_bert *model, struct tfm_wordpiece *tokenizer, const tfm_train_config *config,
                                const char *data_path);
/* The encoder-decoder on <data_dir>/{train,valid}.{source_lang,target_lang} tokenised with the joint BPE
 * (its vocabulary must be the model's): token-count batches, per-token weighting, validation loss and the
 * BLEU of greedy translations of bleu_sentences validation pairs. Model and tokenizer are not owned. */
/* BERT fine-tuning on DIR/train.tsv, validated on DIR/valid.tsv (tfm/bert_labeled.h for the format), labels from
 * `labels` (the model's num_labels); train.objective "sequence_classification" (BertForSequenceClassification) or
 * "token_classification" (BertForTokenClassification). Score: accuracy in % (of sequences, or of labelled words). */
struct tfm_bert_labels;
tfm_status tfm_bert_classifier_task_create(tfm_train_task **task, struct tfm_bert *model, struct tfm_wordpiece *tokenizer,
                                           const struct tfm_bert_labels *labels, const tfm_train_config *config, const char *data_dir);

struct tfm_seq2seq;
struct tfm_bpe;
tfm_status tfm_seq2seq_task_create(tfm_train_task **task, struct tfm_seq2seq *model, struct tfm_bpe *tokenizer,
                                   const tfm_train_config *config, const char *data_dir);
void tfm_train_task_free(tfm_train_task *task);

/* ---- The loop ---- */
typedef struct tfm_trainer tfm_trainer;

/* Takes ownership of `task` (also on failure). Allocates the optimizer moments; the dropout stream starts
 * from config->seed. */
tfm_status tfm_trainer_create(tfm_trainer **trainer, tfm_train_task *task, const tfm_train_config *config);
/* The training config and data location saved in dir's trainer_state.json, to rebuild the task for
 * tfm_trainer_resume (the data location is copied into `data`, of `size` bytes). `task` is TFM_TASK_*. */
tfm_status tfm_trainer_saved_config(const char *dir, int task, tfm_train_config *config, char *data, size_t size);
/* Continue the run saved in dir (the model's parameters already loaded from it): optimizer moments, step,
 * data position, dropout stream, best score and patience, so the losses that follow equal those of an
 * uninterrupted run. `config` is the saved one (tfm_trainer_saved_config) with at most the run's length and
 * reporting changed: max_steps, eval_every, save_every, log_every, patience and, for seq2seq, bleu_sentences.
 * Refused: another task's state, a data file that differs from the one trained on. Owns `task` as above. */
tfm_status tfm_trainer_resume(tfm_trainer **trainer, tfm_train_task *task, const tfm_train_config *config, const char *dir);
void tfm_trainer_free(tfm_trainer *trainer);

/* One optimizer step. A NaN or infinite loss or gradient norm leaves the parameters as they were before the
 * step; the message names the step and the first non-finite weight or gradient tensor. With on_nonfinite
 * "stop" that is TFM_ERR_NUMERIC; with "skip" the call returns TFM_OK with progress.last_step_skipped set (the
 * batch is dropped, the step not counted), and TFM_ERR_NUMERIC once nonfinite_skip_limit steps in a row fail. */
tfm_status tfm_trainer_step(tfm_trainer *trainer);
/* Validation (the task's), updating the best score and the patience count. */
tfm_status tfm_trainer_evaluate(tfm_trainer *trainer, float *valid_loss, float *score);
/* Model, config, optimizer state and trainer state into dir (each file atomically). */
tfm_status tfm_trainer_save(tfm_trainer *trainer, const char *dir);
/* A model-only copy (parameters + config.json) in dir. */
tfm_status tfm_trainer_save_model(tfm_trainer *trainer, const char *dir);

/* What the loop knows, read-only: the CLI and examples report these. */
typedef struct tfm_trainer_progress {
    long step;                   /* optimizer steps done */
    long max_steps;
    long epoch;                  /* the task's epoch (0 if it has none) */
    float loss;                  /* mean training loss of the last step (weighted as the task says) */
    float learning_rate;         /* of the last step */
    float grad_norm;             /* of the last step, before clipping */
    long tokens;                 /* units the last step's loss counted (all micro-batches) */
    float best_score;            /* best validation score so far (NAN before the first validation) */
    long best_step;
    int evaluations_without_gain;
    long skipped_steps;          /* on_nonfinite "skip": batches dropped for a NaN/infinite loss or gradient */
    int last_step_skipped;       /* the last tfm_trainer_step dropped its batch (tfm_trainer_skip_reason says why) */
} tfm_trainer_progress;
tfm_trainer_progress tfm_trainer_get_progress(const tfm_trainer *trainer);
const tfm_train_config *tfm_trainer_config(const tfm_trainer *trainer);
/* Why the last skipped step was dropped ("step N: the loss is nan (...)"); "" before any. */
const char *tfm_trainer_skip_reason(const tfm_trainer *trainer);
const tfm_train_task *tfm_trainer_task(const tfm_trainer *trainer);
/* 1 when early stopping says stop (patience validations without a better score). */
int tfm_trainer_should_stop(const tfm_trainer *trainer);

/* ---- A whole run: what `tfm train` does ---- */
typedef enum tfm_train_stop_reason {
    TFM_TRAIN_STOP_MAX_STEPS, TFM_TRAIN_STOP_PAUSED, TFM_TRAIN_STOP_TIME_LIMIT, TFM_TRAIN_STOP_PATIENCE,
    TFM_TRAIN_STOP_REQUESTED,
} tfm_train_stop_reason;
typedef enum tfm_train_event_kind {
    TFM_TRAIN_EVENT_PROGRESS,    /* every log_every steps and at the last step */
    TFM_TRAIN_EVENT_EVALUATED,   /* after a validation */
    TFM_TRAIN_EVENT_STOPPED,     /* why the run ended before max_steps: see tfm_train_summary.stop_reason */
    TFM_TRAIN_EVENT_SKIPPED,     /* on_nonfinite "skip" dropped a step: see .message */
} tfm_train_event_kind;
typedef struct tfm_train_event {
    tfm_train_event_kind kind;
    tfm_trainer_progress progress;
    double tokens_per_second;    /* PROGRESS: over the steps since the previous PROGRESS event */
    double eta_seconds;          /* PROGRESS: to max_steps (or the time limit, if sooner) */
    float valid_loss, score;     /* EVALUATED (score NAN if the task has none) */
    double eval_seconds;         /* EVALUATED */
    int new_best;                /* EVALUATED: the score is the best so far (the model was copied to <out>/best) */
    tfm_train_stop_reason stop_reason; /* STOPPED */
    const char *message;         /* SKIPPED: why (valid during the callback) */
} tfm_train_event;

typedef struct tfm_train_run_options {
    const char *out_dir;         /* checkpoints, log.jsonl and best/ go here */
    long stop_after;             /* pause (save and return) at this step, keeping max_steps' schedule; 0: none */
    double time_limit_seconds;   /* end like at max_steps (validate, save) once this much time has passed; 0: none */
    const volatile sig_atomic_t *stop_requested; /* polled after each step: nonzero saves and returns (SIGINT) */
    void (*on_event)(void *user, const tfm_train_event *event);
    void *user;
} tfm_train_run_options;

typedef struct tfm_train_summary {
    long steps;                  /* optimizer steps this run */
    long final_step;
    long timed_steps;            /* steps after the first (which warms up allocators) */
    long timed_tokens;
    double train_seconds;        /* time in those steps */
    double wall_seconds;
    float final_train_loss;
    float final_valid_loss;      /* NAN when not validated */
    float final_score;           /* NAN when not measured */
    float best_score;
    long best_step;
    long skipped_steps;          /* non-finite steps dropped this run (on_nonfinite "skip") */
    tfm_train_stop_reason stop_reason;
} tfm_train_summary;
extern const char *const tfm_train_stop_reason_names[]; /* "max_steps", "paused", "time_limit", "patience", "requested" */

/* A step that fails on NaN or infinity (on_nonfinite "stop", or "skip" past its limit) first saves the last
 * good parameters as a checkpoint (unless the run already has one of that step) and says so in the message. */
tfm_status tfm_trainer_run(tfm_trainer *trainer, const tfm_train_run_options *options, tfm_train_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
