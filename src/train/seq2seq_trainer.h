/* train/seq2seq_trainer.h: training the encoder-decoder: token-count batches, Adam + warm-up, validation loss/BLEU, early stopping, resume. */
#ifndef TFM_TRAIN_SEQ2SEQ_TRAINER_H
#define TFM_TRAIN_SEQ2SEQ_TRAINER_H

#include "tfm/bpe.h"
#include "tfm/graph.h"
#include "tfm/seq2seq.h"
#include "train/seq2seq_data.h"

/* The "train" object of a seq2seq training config (JSON names = field names; absent fields keep the
 * defaults, which are the paper's: Adam 0.9/0.98/1e-9, "noam" warm-up 4000, label smoothing 0.1). */
typedef struct tfm_seq2seq_train_config {
    int batch_tokens;        /* padded tokens per micro-batch (count * max(S, T)) */
    int max_sentences;       /* pairs per micro-batch at most (0: no limit) */
    int grad_accum_steps;    /* micro-batches per optimizer step */
    long max_steps;
    int schedule;            /* TFM_SCHEDULE_NOAM (default), _CONSTANT or _COSINE: "noam" | "constant" | "cosine" */
    float learning_rate;     /* a multiplier for noam (1 in the paper), else the peak */
    float min_lr;            /* cosine floor */
    int warmup_steps;
    float beta1, beta2, eps, weight_decay;
    float grad_clip;         /* global-norm clip; 0 disables */
    float label_smoothing;
    int eval_every;          /* steps between validations (0: only at the end) */
    int bleu_sentences;      /* validation sentences decoded greedily for BLEU (0: none, -1: all) */
    int patience;            /* stop after this many validations without a better BLEU (0: never) */
    int save_every;          /* steps between checkpoints (0: only at the end and at each new best) */
    int log_every;
    float max_length_a;      /* validation decoding: at most a * source length + b tokens */
    int max_length_b;
    char source_lang[16], target_lang[16];   /* file suffixes: <data>/train.<source_lang> etc. */
    unsigned long long seed;
} tfm_seq2seq_train_config;

void tfm_seq2seq_train_config_default(tfm_seq2seq_train_config *c);
/* Read the "train" object (a JSON text); unknown fields are errors naming `source`. */
tfm_status tfm_seq2seq_train_config_from_json(const char *json_text, const char *source, tfm_seq2seq_train_config *c);
tfm_status tfm_seq2seq_train_config_to_json(const tfm_seq2seq_train_config *c, char **json_text);
/* A whole training config file {"model": {...seq2seq...}, "train": {...}}. */
tfm_status tfm_seq2seq_config_load(const char *path, tfm_seq2seq_config *model, tfm_seq2seq_train_config *train);

/* The loop's state. `data_dir` holds train.<src>/train.<tgt>/valid.<src>/valid.<tgt> and the tokenizer is
 * the joint BPE (its vocabulary size must equal the model's). */
typedef struct tfm_seq2seq_trainer {
    tfm_seq2seq *model;          /* not owned */
    tfm_bpe *tokenizer;          /* not owned */
    tfm_seq2seq_train_config config;
    char *data_dir;              /* absolute */
    tfm_seq2seq_data train, valid;
    tfm_graph *graph;
    long step;
    long epoch_of_step;          /* train.epoch after the last step */
    float last_loss, last_learning_rate, last_grad_norm;
    long last_target_tokens;     /* tokens the loss counted in the last step (all micro-batches) */
    float best_bleu;             /* -1 before the first validation */
    long best_step;
    int evaluations_without_gain;
} tfm_seq2seq_trainer;

tfm_status tfm_seq2seq_trainer_create(tfm_seq2seq_trainer **trainer, tfm_seq2seq *model, tfm_bpe *tokenizer,
                                      const tfm_seq2seq_train_config *config, const char *data_dir);
/* Continue the run saved in `dir` by tfm_seq2seq_trainer_save (model already loaded from dir): optimizer
 * moments, step, data position, dropout stream and early-stopping state, so the losses that follow equal an
 * uninterrupted run's. data_dir NULL: the saved one. Different data (checksum) is an error. */
tfm_status tfm_seq2seq_trainer_resume(tfm_seq2seq_trainer **trainer, tfm_seq2seq *model, tfm_bpe *tokenizer, const char *dir,
                                      const char *data_dir);
void tfm_seq2seq_trainer_free(tfm_seq2seq_trainer *trainer);
/* One optimizer step over grad_accum_steps micro-batches. The loss of a micro-batch is its mean over target
 * tokens; the step's gradient weighs micro-batches by their token counts (so accumulation over k batches
 * equals one batch holding them all). */
tfm_status tfm_seq2seq_trainer_step(tfm_seq2seq_trainer *trainer);
/* Validation: token-weighted mean loss (no label smoothing, no dropout) over the whole valid set, and
 * corpus BLEU (sacreBLEU default) of greedy translations of its first bleu_sentences pairs in file order
 * (*bleu = -1 when bleu_sentences is 0). Updates best_bleu / evaluations_without_gain. */
tfm_status tfm_seq2seq_trainer_evaluate(tfm_seq2seq_trainer *trainer, float *valid_loss, float *bleu);
/* Model, config, optimizer and trainer state into dir. */
tfm_status tfm_seq2seq_trainer_save(tfm_seq2seq_trainer *trainer, const char *dir);
/* 1 when early stopping says stop (patience exhausted). */
int tfm_seq2seq_trainer_should_stop(const tfm_seq2seq_trainer *trainer);

/* Greedy-translate tokenised sources (no EOS) -> newly allocated UTF-8 strings (tfm_free(s, strlen+1)). */
tfm_status tfm_seq2seq_translate_greedy_text(tfm_seq2seq *model, tfm_bpe *tokenizer, const int32_t *const *sources,
                                             const int *lengths, int count, float max_length_a, int max_length_b,
                                             char **outputs);

#endif
