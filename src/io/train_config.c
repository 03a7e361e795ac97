/* io/train_config.c: the "train" object every model shares (defaults per task, validation, JSON) and the training-config files. */
#include "tfm/config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/json.h"
#include "tfm/io.h"
#include "tfm/bert.h"
#include "tfm/seq2seq.h"

const char *const tfm_optimizer_names[] = {"adamw", "sgd", "adam", "adagrad", "rmsprop", "adadelta", "adamax", "nadam", "ftrl", NULL};
const char *const tfm_schedule_names[] = {"constant", "cosine", "noam", "step", "exponential", "linear", "plateau", NULL};
static const char *const on_nonfinite_names[] = {"stop", "skip", NULL};            /* = TFM_ON_NONFINITE_* */

/* ---- Defaults ---- */

static void gpt_defaults(tfm_train_config *t) {
    t->max_steps = 2000;
    t->optimizer = TFM_OPTIMIZER_ADAMW;
    t->learning_rate = 1e-3f;
    t->min_lr = 1e-4f;
    t->schedule = TFM_SCHEDULE_COSINE;
    t->warmup_steps = 100;
    t->beta1 = 0.9f;
    t->beta2 = 0.95f;
    t->eps = 1e-8f;
    t->weight_decay = 0.1f;
    t->grad_clip = 1.0f;
    t->eval_every = 200;
    t->save_every = 500;
    t->log_every = 10;
    t->seed = 1337;
}

/* "Attention Is All You Need" §5.3-5.4: Adam 0.9/0.98/1e-9, warm-up 4000 with the inverse square root, eps_ls 0.1. */
static void seq2seq_defaults(tfm_train_config *t) {
    t->max_steps = 10000;
    t->optimizer = TFM_OPTIMIZER_ADAMW;
    t->learning_rate = 1.0f;
    t->schedule = TFM_SCHEDULE_NOAM;
    t->warmup_steps = 4000;
    t->beta1 = 0.9f;
    t->beta2 = 0.98f;
    t->eps = 1e-9f;
    t->label_smoothing = 0.1f;
    t->eval_every = 1000;
    t->log_every = 50;
    t->seed = 1;
}

/* BERT (Devlin et al. 2019, appendix A.2): Adam 0.9/0.999, weight decay 0.01, warm-up; a higher peak rate, as
 * small models (ELECTRA-small, BERT-mini) use. */
static void bert_defaults(tfm_train_config *t) {
    t->max_steps = 5000;
    t->optimizer = TFM_OPTIMIZER_ADAMW;
    t->learning_rate = 5e-4f;
    t->min_lr = 5e-5f;
    t->schedule = TFM_SCHEDULE_COSINE;
    t->warmup_steps = 200;
    t->beta1 = 0.9f;
    t->beta2 = 0.999f;
    t->eps = 1e-6f;
    t->weight_decay = 0.01f;
    t->grad_clip = 1.0f;
    t->eval_every = 250;
    t->save_every = 500;
    t->log_every = 10;
    t->seed = 12345;
}

void tfm_train_config_default_task(tfm_train_config *t, int task) {
    memset(t, 0, sizeof *t);
    t->task = task == TFM_TASK_SEQ2SEQ || task == TFM_TASK_BERT ? task : TFM_TASK_GPT;
    t->grad_accum_steps = 1;
    t->momentum = 0.9f;
    t->optimizer_options = (tfm_optimizer_options){.alpha = 0.99f, .rho = 0.9f, .momentum_decay = 0.004f, .lr_power = -0.5f};
    /* torch's StepLR and ReduceLROnPlateau defaults */
    t->schedule_options = (tfm_schedule_options){.gamma = 0.1f, .plateau_factor = 0.1f, .plateau_patience = 10, .plateau_threshold = 1e-4f};
    snprintf(t->penalty_parameters, sizeof t->penalty_parameters, "matrices");
    t->keep_checkpoints = 2;
    t->on_nonfinite = TFM_ON_NONFINITE_STOP;
    t->nonfinite_skip_limit = 10;
    if (t->task == TFM_TASK_SEQ2SEQ) seq2seq_defaults(t);
    else if (t->task == TFM_TASK_BERT) bert_defaults(t);
    else gpt_defaults(t);
    /* Every part get defaults, so a config copied between tasks stays valid. */
    t->gpt = (tfm_gpt_train_config){.batch_size = 32, .seq_len = 128, .valid_fraction = 0.05f, .eval_batches = 8};
    t->seq2seq = (tfm_seq2seq_train_config){.batch_tokens = 4096, .bleu_sentences = 500, .max_length_a = 1.5f, .max_length_b = 10};
    snprintf(t->seq2seq.source_lang, sizeof t->seq2seq.source_lang, "en");
    snprintf(t->seq2seq.target_lang, sizeof t->seq2seq.target_lang, "de");
    t->bert = (tfm_bert_train_config){.batch_size = 32, .valid_fraction = 0.02f, .eval_batches = 16};
    tfm_bert_data_options_default(&t->bert.data);
}

void tfm_train_config_default(tfm_train_config *t) { tfm_train_config_default_task(t, TFM_TASK_GPT); }

/* ---- Validation ---- */

static int unit_interval(float x) { return isfinite(x) && x >= 0.0f && x < 1.0f; } /* [0, 1) */

static tfm_status validate_gpt_part(const tfm_gpt_train_config *g, const tfm_gpt_config *m) {
    if (g->batch_size < 1) return tfm_error(TFM_ERR_CONFIG, "train.batch_size: expected a positive integer, got %d", g->batch_size);
    if (g->seq_len < 1) return tfm_error(TFM_ERR_CONFIG, "train.seq_len: expected a positive integer, got %d", g->seq_len);
    if (m && g->seq_len > m->context_length)
        return tfm_error(TFM_ERR_CONFIG, "train.seq_len (%d) exceeds model.context_length (%d)", g->seq_len, m->context_length);
    if (!unit_interval(g->valid_fraction))
        return tfm_error(TFM_ERR_CONFIG, "train.valid_fraction: expected a number in [0, 1), got %g", (double)g->valid_fraction);
    if (g->eval_batches < 1) return tfm_error(TFM_ERR_CONFIG, "train.eval_batches: expected a positive integer, got %d", g->eval_batches);
    return TFM_OK;
}

static tfm_status validate_seq2seq_part(const tfm_seq2seq_train_config *s) {
    if (s->batch_tokens < 1) return tfm_error(TFM_ERR_CONFIG, "train.batch_tokens: expected a positive integer, got %d", s->batch_tokens);
    if (s->max_sentences < 0)
        return tfm_error(TFM_ERR_CONFIG, "train.max_sentences: expected a non-negative integer, got %d", s->max_sentences);
    if (s->bleu_sentences < -1)
        return tfm_error(TFM_ERR_CONFIG, "train.bleu_sentences: expected -1 (all), 0 (none) or a count, got %d", s->bleu_sentences);
    if (!(isfinite(s->max_length_a) && s->max_length_a >= 0))
        return tfm_error(TFM_ERR_CONFIG, "train.max_length_a: expected a non-negative number, got %g", (double)s->max_length_a);
    if (s->max_length_b < 0) return tfm_error(TFM_ERR_CONFIG, "train.max_length_b: expected a non-negative integer, got %d", s->max_length_b);
    if (!s->source_lang[0] || !s->target_lang[0]) return tfm_error(TFM_ERR_CONFIG, "train.source_lang/target_lang: expected language suffixes");
    return TFM_OK;
}

static tfm_status validate_bert_part(const tfm_bert_train_config *b) {
    if (b->batch_size < 1) return tfm_error(TFM_ERR_CONFIG, "train.batch_size: expected a positive integer, got %d", b->batch_size);
    if (!unit_interval(b->valid_fraction) || b->valid_fraction == 0.0f)
        return tfm_error(TFM_ERR_CONFIG, "train.valid_fraction: expected a number in (0, 1), got %g", (double)b->valid_fraction);
    int fine_tuning = b->data.objective >= TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION;
    if (b->eval_batches < !fine_tuning)
        return tfm_error(TFM_ERR_CONFIG, "train.eval_batches: expected a %s integer, got %d", fine_tuning ? "non-negative" : "positive", b->eval_batches);
    if (b->freeze_steps < 0 || (b->freeze_steps && !fine_tuning))
        return tfm_error(TFM_ERR_CONFIG, "train.freeze_steps: expected a non-negative integer, and 0 unless fine-tuning (got %d)", b->freeze_steps);
    return tfm_bert_data_options_validate(&b->data);
}

static int non_negative(float x) { return isfinite(x) && x >= 0.0f; }

static tfm_status validate_optimizer_options(const tfm_optimizer_options *o, float momentum) {
    if (!(non_negative(o->dampening) && o->dampening <= 1.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.dampening: expected a number in [0, 1], got %g", (double)o->dampening);
    if (o->nesterov && (momentum <= 0.0f || o->dampening != 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.nesterov: needs momentum > 0 and dampening 0 (got momentum %g, dampening %g)",
                         (double)momentum, (double)o->dampening);
    if (!unit_interval(o->alpha)) return tfm_error(TFM_ERR_CONFIG, "train.alpha: expected a number in [0, 1), got %g", (double)o->alpha);
    if (!unit_interval(o->rho)) return tfm_error(TFM_ERR_CONFIG, "train.rho: expected a number in [0, 1), got %g", (double)o->rho);
    const struct { const char *name; float value; } non_negatives[] = {
        {"lr_decay", o->lr_decay}, {"initial_accumulator", o->initial_accumulator}, {"momentum_decay", o->momentum_decay},
        {"l1", o->l1}, {"l2", o->l2}, {"l2_shrinkage", o->l2_shrinkage}, {"ftrl_beta", o->ftrl_beta}};
    for (size_t i = 0; i < sizeof non_negatives / sizeof non_negatives[0]; i++)
        if (!non_negative(non_negatives[i].value))
            return tfm_error(TFM_ERR_CONFIG, "train.%s: expected a non-negative number, got %g", non_negatives[i].name,
                             (double)non_negatives[i].value);
    if (!(isfinite(o->lr_power) && o->lr_power <= 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.lr_power: expected a number <= 0, got %g", (double)o->lr_power);
    return TFM_OK;
}

static tfm_status validate_schedule_options(const tfm_train_config *t) {
    const tfm_schedule_options *o = &t->schedule_options;
    if (o->step_size < 0 || (t->schedule == TFM_SCHEDULE_STEP && o->step_size < 1))
        return tfm_error(TFM_ERR_CONFIG, "train.step_size: expected a positive integer%s, got %d",
                         t->schedule == TFM_SCHEDULE_STEP ? " (the \"step\" schedule needs it)" : "", o->step_size);
    if (!(isfinite(o->gamma) && o->gamma > 0.0f && o->gamma <= 1.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.gamma: expected a number in (0, 1], got %g", (double)o->gamma);
    if (!(unit_interval(o->plateau_factor) && o->plateau_factor > 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.plateau_factor: expected a number in (0, 1), got %g", (double)o->plateau_factor);
    if (o->plateau_patience < 0)
        return tfm_error(TFM_ERR_CONFIG, "train.plateau_patience: expected a non-negative integer, got %d", o->plateau_patience);
    if (!unit_interval(o->plateau_threshold))
        return tfm_error(TFM_ERR_CONFIG, "train.plateau_threshold: expected a number in [0, 1), got %g", (double)o->plateau_threshold);
    if (o->plateau_cooldown < 0)
        return tfm_error(TFM_ERR_CONFIG, "train.plateau_cooldown: expected a non-negative integer, got %d", o->plateau_cooldown);
    if (t->schedule == TFM_SCHEDULE_PLATEAU && t->eval_every < 1)
        return tfm_error(TFM_ERR_CONFIG, "train.eval_every: the \"plateau\" schedule reduces the rate after validations, so it needs "
                                         "eval_every >= 1, got %d", t->eval_every);
    return TFM_OK;
}

/* The loop's fields; `m` (may be NULL) is the GPT model the task part is checked against. */
tfm_status tfm_train_config_validate(const tfm_train_config *t, const tfm_gpt_config *m) {
    if (t->grad_accum_steps < 1)
        return tfm_error(TFM_ERR_CONFIG, "train.grad_accum_steps: expected a positive integer, got %d", t->grad_accum_steps);
    if (t->max_steps < 1) return tfm_error(TFM_ERR_CONFIG, "train.max_steps: expected a positive integer, got %ld", t->max_steps);
    if (t->optimizer < 0 || t->optimizer >= TFM_OPTIMIZER_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "train.optimizer: expected a TFM_OPTIMIZER_* value (0 to %d), got %d", TFM_OPTIMIZER_COUNT - 1,
                         t->optimizer);
    tfm_status options = validate_optimizer_options(&t->optimizer_options, t->momentum);
    if (options) return options;
    if (!(isfinite(t->learning_rate) && t->learning_rate > 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.learning_rate: expected a positive number, got %g", (double)t->learning_rate);
    if (!(isfinite(t->min_lr) && t->min_lr >= 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.min_lr: expected a non-negative number, got %g", (double)t->min_lr);
    if (t->schedule < 0 || t->schedule >= TFM_SCHEDULE_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "train.schedule: expected a TFM_SCHEDULE_* value (0 to %d), got %d", TFM_SCHEDULE_COUNT - 1, t->schedule);
    if ((t->schedule == TFM_SCHEDULE_COSINE || t->schedule == TFM_SCHEDULE_LINEAR || t->schedule == TFM_SCHEDULE_PLATEAU) &&
        t->min_lr > t->learning_rate)
        return tfm_error(TFM_ERR_CONFIG, "train.min_lr (%g) exceeds train.learning_rate (%g)", (double)t->min_lr, (double)t->learning_rate);
    tfm_status schedule = validate_schedule_options(t);
    if (schedule) return schedule;
    if (t->warmup_steps < 0) return tfm_error(TFM_ERR_CONFIG, "train.warmup_steps: expected a non-negative integer, got %d", t->warmup_steps);
    if (t->schedule == TFM_SCHEDULE_NOAM && t->warmup_steps < 1)
        return tfm_error(TFM_ERR_CONFIG, "train.warmup_steps: the \"noam\" schedule needs at least 1 warm-up step, got %d", t->warmup_steps);
    if (!unit_interval(t->beta1)) return tfm_error(TFM_ERR_CONFIG, "train.beta1: expected a number in [0, 1), got %g", (double)t->beta1);
    if (!unit_interval(t->beta2)) return tfm_error(TFM_ERR_CONFIG, "train.beta2: expected a number in [0, 1), got %g", (double)t->beta2);
    if (!(isfinite(t->eps) && t->eps > 0.0f)) return tfm_error(TFM_ERR_CONFIG, "train.eps: expected a positive number, got %g", (double)t->eps);
    if (!unit_interval(t->momentum))
        return tfm_error(TFM_ERR_CONFIG, "train.momentum: expected a number in [0, 1), got %g", (double)t->momentum);
    if (!(isfinite(t->weight_decay) && t->weight_decay >= 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.weight_decay: expected a non-negative number, got %g", (double)t->weight_decay);
    if (!(isfinite(t->grad_clip) && t->grad_clip >= 0.0f))
        return tfm_error(TFM_ERR_CONFIG, "train.grad_clip: expected a non-negative number, got %g", (double)t->grad_clip);
    const struct { const char *name; float value; } regularizers[] = {
        {"grad_clip_value", t->grad_clip_value}, {"penalty_l1", t->penalty_l1}, {"penalty_l2", t->penalty_l2}};
    for (size_t i = 0; i < sizeof regularizers / sizeof regularizers[0]; i++)
        if (!(isfinite(regularizers[i].value) && regularizers[i].value >= 0.0f))
            return tfm_error(TFM_ERR_CONFIG, "train.%s: expected a non-negative number, got %g", regularizers[i].name,
                             (double)regularizers[i].value);
    if (!t->penalty_parameters[0])
        return tfm_error(TFM_ERR_CONFIG, "train.penalty_parameters: expected \"matrices\", \"all\" or name patterns, got \"\"");
    if (!unit_interval(t->label_smoothing))
        return tfm_error(TFM_ERR_CONFIG, "train.label_smoothing: expected a number in [0, 1), got %g", (double)t->label_smoothing);
    if (t->eval_every < 0) return tfm_error(TFM_ERR_CONFIG, "train.eval_every: expected a non-negative integer, got %d", t->eval_every);
    if (t->patience < 0) return tfm_error(TFM_ERR_CONFIG, "train.patience: expected a non-negative integer, got %d", t->patience);
    if (t->save_every < 0) return tfm_error(TFM_ERR_CONFIG, "train.save_every: expected a non-negative integer, got %d", t->save_every);
    if (t->keep_checkpoints < 1)
        return tfm_error(TFM_ERR_CONFIG, "train.keep_checkpoints: expected a positive integer, got %d", t->keep_checkpoints);
    if (t->log_every < 1) return tfm_error(TFM_ERR_CONFIG, "train.log_every: expected a positive integer, got %d", t->log_every);
    if (t->on_nonfinite != TFM_ON_NONFINITE_STOP && t->on_nonfinite != TFM_ON_NONFINITE_SKIP)
        return tfm_error(TFM_ERR_CONFIG, "train.on_nonfinite: expected TFM_ON_NONFINITE_STOP or _SKIP, got %d", t->on_nonfinite);
    if (t->nonfinite_skip_limit < 1)
        return tfm_error(TFM_ERR_CONFIG, "train.nonfinite_skip_limit: expected a positive integer, got %d", t->nonfinite_skip_limit);
    if (t->task == TFM_TASK_SEQ2SEQ) return validate_seq2seq_part(&t->seq2seq);
    if (t->task == TFM_TASK_BERT) return validate_bert_part(&t->bert);
    return validate_gpt_part(&t->gpt, m);
}

/* ---- JSON: one flat object, the loop's keys then the task's ---- */

static const char *const loop_keys[] = {"grad_accum_steps", "max_steps", "optimizer", "learning_rate", "min_lr", "schedule",
                                        "warmup_steps", "step_size", "gamma", "plateau_factor", "plateau_patience", "plateau_threshold",
                                        "plateau_cooldown", "beta1", "beta2", "eps", "momentum", "weight_decay", "grad_clip", "grad_clip_value", "penalty_l1", "penalty_l2",
                                        "penalty_parameters", "dampening", "nesterov",
                                        "alpha", "centered", "rho", "lr_decay", "initial_accumulator", "momentum_decay", "l1", "l2",
                                        "lr_power", "l2_shrinkage", "ftrl_beta",
                                        "label_smoothing", "eval_every", "patience", "save_every", "keep_checkpoints", "log_every", "on_nonfinite",
                                        "nonfinite_skip_limit", "seed", NULL};
static const char *const gpt_keys[] = {"batch_size", "seq_len", "valid_fraction", "eval_batches", NULL};
static const char *const seq2seq_keys[] = {"batch_tokens", "max_sentences", "bleu_sentences", "max_length_a", "max_length_b",
                                           "source_lang", "target_lang", NULL};
static const char *const bert_keys[] = {"batch_size", "seq_len", "valid_fraction", "eval_batches", "objective", "short_sequence_probability",
                                        "mask_probability", "max_predictions", "mask_token_probability", "random_token_probability",
                                        "whole_word_masking", "dynamic_masking", "freeze_steps", NULL};
static const char *const objective_names[] = {"nsp", "sop", "mlm", "sequence_classification", "token_classification", NULL}; /* = TFM_BERT_OBJECTIVE_* */
/* Indexed by TFM_TASK_*. */
static const char *const *const task_keys[] = {gpt_keys, seq2seq_keys, bert_keys};
static const char *const task_names[] = {"GPT", "encoder-decoder", "BERT"};

static int listed(const char *const *list, const char *key) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0) return 1;
    return 0;
}

#define TRY(call)                                                                                                                  \
    do {                                                                                                                           \
        tfm_status try_status_ = (call);                                                                                           \
        if (try_status_ != TFM_OK) return try_status_;                                                                             \
    } while (0)

/* Every key must be the loop's or the task's; one of another task's gets a message saying whose it is. */
static tfm_status check_train_keys(const cJSON *o, const tfm_json_context *ctx, int task) {
    for (const cJSON *item = o->child; item; item = item->next) {
        if (!item->string || listed(task_keys[task], item->string)) continue;
        for (int other = 0; other < 3; other++)
            if (listed(task_keys[other], item->string))
                return tfm_error(TFM_ERR_CONFIG, "%s: train.%s: a setting of %s training, not of %s", ctx->source, item->string, task_names[other],
                                 task_names[task]);
    }
    const char *allowed[64];
    int n = 0;
    for (int i = 0; loop_keys[i]; i++) allowed[n++] = loop_keys[i];
    for (int i = 0; task_keys[task][i]; i++) allowed[n++] = task_keys[task][i];
    allowed[n] = NULL;
    return tfm_json_check_keys(o, ctx, allowed, NULL);
}

static tfm_status read_language(const cJSON *o, const char *key, const tfm_json_context *ctx, char *out, size_t size) {
    const cJSON *item = tfm_json_field(o, key);
    if (!item) return TFM_OK;
    if (!cJSON_IsString(item) || !item->valuestring[0] || strlen(item->valuestring) >= size || strchr(item->valuestring, '/'))
        return tfm_error(TFM_ERR_CONFIG, "%s: train.%s: expected a short language suffix such as \"en\"", ctx->source, key);
    snprintf(out, size, "%s", item->valuestring);
    return TFM_OK;
}

static tfm_status read_string(const cJSON *o, const char *key, const tfm_json_context *ctx, char *out, size_t size) {
    const cJSON *item = tfm_json_field(o, key);
    if (!item) return TFM_OK;
    if (!cJSON_IsString(item) || !item->valuestring[0] || strlen(item->valuestring) >= size) {
        char got[64];
        tfm_json_describe(item, got, sizeof got);
        return tfm_error(TFM_ERR_CONFIG, "%s: train.%s: expected a non-empty string of at most %zu characters, got %s", ctx->source, key,
                         size - 1, got);
    }
    snprintf(out, size, "%s", item->valuestring);
    return TFM_OK;
}

static tfm_status read_bert_part(const cJSON *o, const tfm_json_context *ctx, tfm_bert_train_config *b) {
    tfm_bert_data_options *d = &b->data;
    TRY(tfm_json_read_int32(o, "batch_size", ctx, 1, INT_MAX, &b->batch_size));
    TRY(tfm_json_read_int32(o, "seq_len", ctx, 1, 1 << 20, &d->max_length));
    TRY(tfm_json_read_float(o, "valid_fraction", ctx, 0, 0, 1, 0, &b->valid_fraction));
    TRY(tfm_json_read_int32(o, "eval_batches", ctx, 0, INT_MAX, &b->eval_batches));
    TRY(tfm_json_read_choice(o, "objective", ctx, objective_names, &d->objective));
    TRY(tfm_json_read_float(o, "short_sequence_probability", ctx, 0, 1, 1, 1, &d->short_sequence_probability));
    TRY(tfm_json_read_float(o, "mask_probability", ctx, 0, 0, 1, 1, &d->mask_probability));
    TRY(tfm_json_read_int32(o, "max_predictions", ctx, 1, 1 << 20, &d->max_predictions));
    TRY(tfm_json_read_float(o, "mask_token_probability", ctx, 0, 1, 1, 1, &d->mask_token_probability));
    TRY(tfm_json_read_float(o, "random_token_probability", ctx, 0, 1, 1, 1, &d->random_token_probability));
    TRY(tfm_json_read_bool(o, "whole_word_masking", ctx, &d->whole_word_masking));
    TRY(tfm_json_read_int32(o, "freeze_steps", ctx, 0, INT_MAX, &b->freeze_steps));
    return tfm_json_read_bool(o, "dynamic_masking", ctx, &d->dynamic_masking);
}

static tfm_status read_task_part(const cJSON *o, const tfm_json_context *ctx, tfm_train_config *t) {
    if (t->task == TFM_TASK_BERT) return read_bert_part(o, ctx, &t->bert);
    if (t->task == TFM_TASK_GPT) {
        tfm_gpt_train_config *g = &t->gpt;
        TRY(tfm_json_read_int32(o, "batch_size", ctx, 1, INT_MAX, &g->batch_size));
        TRY(tfm_json_read_int32(o, "seq_len", ctx, 1, INT_MAX, &g->seq_len));
        TRY(tfm_json_read_float(o, "valid_fraction", ctx, 0, 1, 1, 0, &g->valid_fraction));
        return tfm_json_read_int32(o, "eval_batches", ctx, 1, INT_MAX, &g->eval_batches);
    }
    tfm_seq2seq_train_config *s = &t->seq2seq;
    TRY(tfm_json_read_int32(o, "batch_tokens", ctx, 1, 100000000, &s->batch_tokens));
    TRY(tfm_json_read_int32(o, "max_sentences", ctx, 0, 100000000, &s->max_sentences));
    TRY(tfm_json_read_int32(o, "bleu_sentences", ctx, -1, 100000000, &s->bleu_sentences));
    TRY(tfm_json_read_float(o, "max_length_a", ctx, 0, 1, 100, 1, &s->max_length_a));
    TRY(tfm_json_read_int32(o, "max_length_b", ctx, 0, 100000, &s->max_length_b));
    TRY(read_language(o, "source_lang", ctx, s->source_lang, sizeof s->source_lang));
    return read_language(o, "target_lang", ctx, s->target_lang, sizeof s->target_lang);
}

/* An optimizer named in the file brings torch's defaults for what the file leaves out: eps (Adagrad 1e-10,
 * Adadelta 1e-6, the others 1e-8), weight decay 0, SGD's and RMSprop's momentum 0, Ftrl's initial accumulator 0.1. */
static void optimizer_defaults(const cJSON *o, tfm_train_config *t) {
    if (!cJSON_GetObjectItemCaseSensitive(o, "optimizer") || t->optimizer == TFM_OPTIMIZER_ADAMW) return;
    if (!cJSON_GetObjectItemCaseSensitive(o, "eps"))
        t->eps = t->optimizer == TFM_OPTIMIZER_ADAGRAD ? 1e-10f : t->optimizer == TFM_OPTIMIZER_ADADELTA ? 1e-6f : 1e-8f;
    if (!cJSON_GetObjectItemCaseSensitive(o, "weight_decay")) t->weight_decay = 0.0f; /* an L2 term there: the task's decoupled rate is no default */
    if ((t->optimizer == TFM_OPTIMIZER_RMSPROP || t->optimizer == TFM_OPTIMIZER_SGD) && !cJSON_GetObjectItemCaseSensitive(o, "momentum"))
        t->momentum = 0.0f;
    if (t->optimizer == TFM_OPTIMIZER_FTRL && !cJSON_GetObjectItemCaseSensitive(o, "initial_accumulator"))
        t->optimizer_options.initial_accumulator = 0.1f;
}

static tfm_status read_optimizer_options(const cJSON *o, const tfm_json_context *ctx, tfm_train_config *t) {
    tfm_optimizer_options *p = &t->optimizer_options;
    optimizer_defaults(o, t);
    TRY(tfm_json_read_float(o, "dampening", ctx, 0, 1, 1, 1, &p->dampening));
    TRY(tfm_json_read_bool(o, "nesterov", ctx, &p->nesterov));
    TRY(tfm_json_read_float(o, "alpha", ctx, 0, 1, 1, 0, &p->alpha));
    TRY(tfm_json_read_bool(o, "centered", ctx, &p->centered));
    TRY(tfm_json_read_float(o, "rho", ctx, 0, 1, 1, 0, &p->rho));
    TRY(tfm_json_read_float(o, "lr_decay", ctx, 0, 1, INFINITY, 0, &p->lr_decay));
    TRY(tfm_json_read_float(o, "initial_accumulator", ctx, 0, 1, INFINITY, 0, &p->initial_accumulator));
    TRY(tfm_json_read_float(o, "momentum_decay", ctx, 0, 1, INFINITY, 0, &p->momentum_decay));
    TRY(tfm_json_read_float(o, "l1", ctx, 0, 1, INFINITY, 0, &p->l1));
    TRY(tfm_json_read_float(o, "l2", ctx, 0, 1, INFINITY, 0, &p->l2));
    TRY(tfm_json_read_float(o, "lr_power", ctx, -INFINITY, 0, 0, 1, &p->lr_power));
    TRY(tfm_json_read_float(o, "l2_shrinkage", ctx, 0, 1, INFINITY, 0, &p->l2_shrinkage));
    return tfm_json_read_float(o, "ftrl_beta", ctx, 0, 1, INFINITY, 0, &p->ftrl_beta);
}

static tfm_status read_schedule_options(const cJSON *o, const tfm_json_context *ctx, tfm_schedule_options *p) {
    TRY(tfm_json_read_int32(o, "step_size", ctx, 0, INT_MAX, &p->step_size)); /* 0: unset (an error for "step") */
    TRY(tfm_json_read_float(o, "gamma", ctx, 0, 0, 1, 1, &p->gamma));
    TRY(tfm_json_read_float(o, "plateau_factor", ctx, 0, 0, 1, 0, &p->plateau_factor));
    TRY(tfm_json_read_int32(o, "plateau_patience", ctx, 0, INT_MAX, &p->plateau_patience));
    TRY(tfm_json_read_float(o, "plateau_threshold", ctx, 0, 1, 1, 0, &p->plateau_threshold));
    return tfm_json_read_int32(o, "plateau_cooldown", ctx, 0, INT_MAX, &p->plateau_cooldown);
}

/* Fields absent from `o` keep what *t holds (its task's defaults). */
static tfm_status read_train_object(const cJSON *o, const tfm_json_context *ctx, tfm_train_config *t) {
    TRY(check_train_keys(o, ctx, t->task));
    TRY(tfm_json_read_int32(o, "grad_accum_steps", ctx, 1, INT_MAX, &t->grad_accum_steps));
    long long steps = t->max_steps;
    TRY(tfm_json_read_int(o, "max_steps", ctx, 1, LONG_MAX, &steps));
    t->max_steps = (long)steps;
    TRY(tfm_json_read_choice(o, "optimizer", ctx, tfm_optimizer_names, &t->optimizer));
    TRY(tfm_json_read_float(o, "learning_rate", ctx, 0, 0, INFINITY, 0, &t->learning_rate));
    TRY(tfm_json_read_float(o, "min_lr", ctx, 0, 1, INFINITY, 0, &t->min_lr));
    TRY(tfm_json_read_choice(o, "schedule", ctx, tfm_schedule_names, &t->schedule));
    TRY(tfm_json_read_int32(o, "warmup_steps", ctx, 0, INT_MAX, &t->warmup_steps));
    TRY(read_schedule_options(o, ctx, &t->schedule_options));
    TRY(tfm_json_read_float(o, "beta1", ctx, 0, 1, 1, 0, &t->beta1));
    TRY(tfm_json_read_float(o, "beta2", ctx, 0, 1, 1, 0, &t->beta2));
    TRY(tfm_json_read_float(o, "eps", ctx, 0, 0, INFINITY, 0, &t->eps));
    TRY(tfm_json_read_float(o, "momentum", ctx, 0, 1, 1, 0, &t->momentum));
    TRY(tfm_json_read_float(o, "weight_decay", ctx, 0, 1, INFINITY, 0, &t->weight_decay));
    TRY(read_optimizer_options(o, ctx, t));
    TRY(tfm_json_read_float(o, "grad_clip", ctx, 0, 1, INFINITY, 0, &t->grad_clip));
    TRY(tfm_json_read_float(o, "grad_clip_value", ctx, 0, 1, INFINITY, 0, &t->grad_clip_value));
    TRY(tfm_json_read_float(o, "penalty_l1", ctx, 0, 1, INFINITY, 0, &t->penalty_l1));
    TRY(tfm_json_read_float(o, "penalty_l2", ctx, 0, 1, INFINITY, 0, &t->penalty_l2));
    TRY(read_string(o, "penalty_parameters", ctx, t->penalty_parameters, sizeof t->penalty_parameters));
    TRY(tfm_json_read_float(o, "label_smoothing", ctx, 0, 1, 1, 0, &t->label_smoothing));
    TRY(tfm_json_read_int32(o, "eval_every", ctx, 0, INT_MAX, &t->eval_every));
    TRY(tfm_json_read_int32(o, "patience", ctx, 0, INT_MAX, &t->patience));
    TRY(tfm_json_read_int32(o, "save_every", ctx, 0, INT_MAX, &t->save_every));
    TRY(tfm_json_read_int32(o, "keep_checkpoints", ctx, 1, 1000000, &t->keep_checkpoints));
    TRY(tfm_json_read_int32(o, "log_every", ctx, 1, INT_MAX, &t->log_every));
    TRY(tfm_json_read_choice(o, "on_nonfinite", ctx, on_nonfinite_names, &t->on_nonfinite));
    TRY(tfm_json_read_int32(o, "nonfinite_skip_limit", ctx, 1, INT_MAX, &t->nonfinite_skip_limit));
    TRY(tfm_json_read_u64(o, "seed", ctx, &t->seed));
    return read_task_part(o, ctx, t);
}

static int add_float(cJSON *o, const char *key, float x) { return cJSON_AddNumberToObject(o, key, tfm_json_float_value(x)) != NULL; }
static int add_number(cJSON *o, const char *key, double x) { return cJSON_AddNumberToObject(o, key, x) != NULL; }

static int add_optimizer_options(cJSON *o, const tfm_optimizer_options *p) {
    return add_float(o, "dampening", p->dampening) && cJSON_AddBoolToObject(o, "nesterov", p->nesterov) && add_float(o, "alpha", p->alpha) &&
           cJSON_AddBoolToObject(o, "centered", p->centered) && add_float(o, "rho", p->rho) && add_float(o, "lr_decay", p->lr_decay) &&
           add_float(o, "initial_accumulator", p->initial_accumulator) && add_float(o, "momentum_decay", p->momentum_decay) &&
           add_float(o, "l1", p->l1) && add_float(o, "l2", p->l2) && add_float(o, "lr_power", p->lr_power) &&
           add_float(o, "l2_shrinkage", p->l2_shrinkage) && add_float(o, "ftrl_beta", p->ftrl_beta);
}


static int add_schedule_options(cJSON *o, const tfm_schedule_options *p) {
    return add_number(o, "step_size", p->step_size) && add_float(o, "gamma", p->gamma) && add_float(o, "plateau_factor", p->plateau_factor) &&
           add_number(o, "plateau_patience", p->plateau_patience) && add_float(o, "plateau_threshold", p->plateau_threshold) &&
           add_number(o, "plateau_cooldown", p->plateau_cooldown);
}

static int add_bert_part(cJSON *o, const tfm_bert_train_config *b) {
    const tfm_bert_data_options *d = &b->data;
    return add_number(o, "batch_size", b->batch_size) && add_number(o, "seq_len", d->max_length) &&
           add_float(o, "valid_fraction", b->valid_fraction) && add_number(o, "eval_batches", b->eval_batches) &&
           cJSON_AddStringToObject(o, "objective", objective_names[d->objective]) &&
           add_float(o, "short_sequence_probability", d->short_sequence_probability) && add_float(o, "mask_probability", d->mask_probability) &&
           add_number(o, "max_predictions", d->max_predictions) && add_float(o, "mask_token_probability", d->mask_token_probability) &&
           add_float(o, "random_token_probability", d->random_token_probability) &&
           cJSON_AddBoolToObject(o, "whole_word_masking", d->whole_word_masking) && cJSON_AddBoolToObject(o, "dynamic_masking", d->dynamic_masking) &&
           add_number(o, "freeze_steps", b->freeze_steps);
}

static int add_task_part(cJSON *o, const tfm_train_config *t) {
    if (t->task == TFM_TASK_BERT) return add_bert_part(o, &t->bert);
    if (t->task == TFM_TASK_GPT)
        return add_number(o, "batch_size", t->gpt.batch_size) && add_number(o, "seq_len", t->gpt.seq_len) &&
               add_float(o, "valid_fraction", t->gpt.valid_fraction) && add_number(o, "eval_batches", t->gpt.eval_batches);
    const tfm_seq2seq_train_config *s = &t->seq2seq;
    return add_number(o, "batch_tokens", s->batch_tokens) && add_number(o, "max_sentences", s->max_sentences) &&
           add_number(o, "bleu_sentences", s->bleu_sentences) && add_float(o, "max_length_a", s->max_length_a) &&
           add_number(o, "max_length_b", s->max_length_b) && cJSON_AddStringToObject(o, "source_lang", s->source_lang) &&
           cJSON_AddStringToObject(o, "target_lang", s->target_lang);
}

tfm_status tfm_train_config_to_json(const tfm_train_config *t, char **json_text) {
    *json_text = NULL;
    TRY(tfm_train_config_validate(t, NULL));
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_number(o, "grad_accum_steps", t->grad_accum_steps) && add_number(o, "max_steps", (double)t->max_steps) &&
             cJSON_AddStringToObject(o, "optimizer", tfm_optimizer_names[t->optimizer]) && add_float(o, "learning_rate", t->learning_rate) &&
             add_float(o, "min_lr", t->min_lr) && cJSON_AddStringToObject(o, "schedule", tfm_schedule_names[t->schedule]) &&
             add_number(o, "warmup_steps", t->warmup_steps) && add_schedule_options(o, &t->schedule_options) && add_float(o, "beta1", t->beta1) && add_float(o, "beta2", t->beta2) &&
             add_float(o, "eps", t->eps) && add_float(o, "momentum", t->momentum) && add_float(o, "weight_decay", t->weight_decay) &&
             add_optimizer_options(o, &t->optimizer_options) && add_float(o, "grad_clip", t->grad_clip) &&
             add_float(o, "grad_clip_value", t->grad_clip_value) && add_float(o, "penalty_l1", t->penalty_l1) &&
             add_float(o, "penalty_l2", t->penalty_l2) && cJSON_AddStringToObject(o, "penalty_parameters", t->penalty_parameters) && add_float(o, "label_smoothing", t->label_smoothing) &&
             add_number(o, "eval_every", t->eval_every) && add_number(o, "patience", t->patience) &&
             add_number(o, "save_every", t->save_every) &&
             add_number(o, "keep_checkpoints", t->keep_checkpoints) && add_number(o, "log_every", t->log_every) &&
             cJSON_AddStringToObject(o, "on_nonfinite", on_nonfinite_names[t->on_nonfinite]) &&
             add_number(o, "nonfinite_skip_limit", t->nonfinite_skip_limit) && tfm_json_add_u64(o, "seed", t->seed) && add_task_part(o, t);
    tfm_status s = ok ? tfm_json_print(o, 1, json_text) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building train config JSON");
    cJSON_Delete(o);
    return s;
}

tfm_status tfm_train_config_from_json(const char *json_text, const char *source_name, tfm_train_config *out) {
    const char *source = source_name ? source_name : "<train config>";
    cJSON *o = NULL;
    TRY(tfm_json_parse(json_text, strlen(json_text), source, &o));
    tfm_train_config t;
    tfm_train_config_default_task(&t, out->task);
    tfm_json_context ctx = {source, "train"};
    tfm_status s = tfm_json_expect_object(o, source, "train");
    if (s == TFM_OK) s = read_train_object(o, &ctx, &t);
    cJSON_Delete(o);
    if (s != TFM_OK) return s;
    s = tfm_train_config_validate(&t, NULL);
    if (s != TFM_OK) return tfm_error_prefix(s, "%s: ", source);
    *out = t;
    return TFM_OK;
}

/* ---- Training-config files: {"model": {...}, "train": {...}} ---- */

/* Parse the file and hand its "model" object (or NULL) to read_model; then read "train" into t (t->task set). */
static tfm_status load_config_file(const char *path, tfm_status (*read_model)(const cJSON *model, const char *path, void *out),
                                   void *model_out, int model_required, tfm_train_config *t) {
    char *text = NULL;
    size_t size = 0;
    TRY(tfm_file_read(path, &text, &size));
    cJSON *root = NULL;
    tfm_status s = tfm_json_parse(text, size, path, &root);
    tfm_free(text, size + 1);
    if (s != TFM_OK) return s;
    static const char *const sections[] = {"model", "train", NULL};
    tfm_json_context top = {path, NULL}, train_ctx = {path, "train"};
    s = tfm_json_expect_object(root, path, "the top level");
    if (s == TFM_OK) s = tfm_json_check_keys(root, &top, sections, NULL);
    const cJSON *mo = tfm_json_field(root, "model"), *to = tfm_json_field(root, "train");
    if (s == TFM_OK && (mo || model_required)) s = tfm_json_expect_object(mo, path, "model");
    if (s == TFM_OK) s = read_model(mo, path, model_out);
    if (s == TFM_OK && to) s = tfm_json_expect_object(to, path, "train");
    if (s == TFM_OK && to) s = read_train_object(to, &train_ctx, t);
    cJSON_Delete(root);
    return s;
}

/* The GPT "model" object with tfm's names (io/config.c). */
tfm_status tfm_gpt_config_read_object(const cJSON *o, const char *path, void *out);

tfm_status tfm_config_load(const char *path, tfm_gpt_config *model, tfm_train_config *train) {
    tfm_gpt_config m;
    tfm_train_config t;
    tfm_gpt_config_default(&m);
    tfm_train_config_default(&t);
    TRY(load_config_file(path, tfm_gpt_config_read_object, &m, 0, &t));
    /* Cross-field checks; their messages name fields, so add the file. */
    tfm_status s = tfm_gpt_config_validate(&m);
    if (s == TFM_OK) s = tfm_train_config_validate(&t, &m);
    if (s != TFM_OK) return tfm_error_prefix(s, "%s: ", path);
    if (model) *model = m;
    if (train) *train = t;
    return TFM_OK;
}

/* A model whose "model" object is that model's own config.json (Hugging Face keys): printed back to text and read by
 * its from_json, which names `source` ("<file>: model") in its messages. */
typedef struct model_reader {
    tfm_status (*from_json)(const char *text, const char *source, void *config);
    void *config;
} model_reader;

static tfm_status read_model_as_json(const cJSON *o, const char *path, void *out) {
    const model_reader *reader = out;
    char *model_text = cJSON_PrintUnformatted(o);
    if (!model_text) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    char source[4200];
    snprintf(source, sizeof source, "%s: model", path);
    tfm_status s = reader->from_json(model_text, source, reader->config);
    cJSON_free(model_text);
    return s;
}

/* The file's "model" (required) into reader->config, already holding its defaults, and "train" into *train with the
 * task's defaults, checked. */
static tfm_status load_model_config_file(const char *path, const model_reader *reader, int task, tfm_train_config *train) {
    tfm_train_config_default_task(train, task);
    tfm_status s = load_config_file(path, read_model_as_json, (void *)reader, 1, train);
    if (s == TFM_OK && (s = tfm_train_config_validate(train, NULL)) != TFM_OK) s = tfm_error_prefix(s, "%s: ", path);
    return s;
}

static tfm_status seq2seq_from_json(const char *text, const char *source, void *c) { return tfm_seq2seq_config_from_json(text, source, c); }
static tfm_status bert_from_json(const char *text, const char *source, void *c) { return tfm_bert_config_from_json(text, source, c); }

tfm_status tfm_seq2seq_config_load(const char *path, tfm_seq2seq_config *model, tfm_train_config *train) {
    tfm_seq2seq_config m;
    tfm_train_config t;
    tfm_seq2seq_config_default(&m);
    TRY(load_model_config_file(path, &(model_reader){seq2seq_from_json, &m}, TFM_TASK_SEQ2SEQ, &t));
    if (model) *model = m;
    if (train) *train = t;
    return TFM_OK;
}

static tfm_status refuse_model(const cJSON *o, const char *path, void *out) {
    (void)out;
    if (o) return tfm_error(TFM_ERR_CONFIG, "%s: model: with --init the model is the one in that directory (its config.json); "
                                            "remove \"model\" from this file", path);
    return TFM_OK;
}

tfm_status tfm_train_config_load_part(const char *path, int task, tfm_train_config *train) {
    tfm_train_config t;
    tfm_train_config_default_task(&t, task);
    TRY(load_config_file(path, refuse_model, NULL, 0, &t));
    tfm_status s = tfm_train_config_validate(&t, NULL);
    if (s) return tfm_error_prefix(s, "%s: ", path);
    *train = t;
    return TFM_OK;
}

tfm_status tfm_bert_config_load(const char *path, tfm_bert_config *model, tfm_train_config *train) {
    tfm_bert_config m;
    tfm_train_config t;
    tfm_bert_config_default(&m);
    TRY(load_model_config_file(path, &(model_reader){bert_from_json, &m}, TFM_TASK_BERT, &t));
    if (model) *model = m;
    if (train) *train = t;
    return TFM_OK;
}
