/* train/loop.c: the one training loop: micro-batches, loss weighting, clipping, schedule, optimizer, evaluation, checkpoints, resume. */
#include "tfm/train.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/train_state.h"
#include "tfm/io.h"
#include "train/clip.h"
#include "train/optimizer.h"
#include "train/regularize.h"

/* The state format this loop writes; version 1 (the two trainers before it) is read too. */
#define TRAINER_STATE_VERSION 2
/* The dropout stream is derived from the seed, apart from the data's stream. */
#define DROPOUT_SEED_MIX 0xD409u

struct tfm_trainer {
    tfm_train_task *task;        /* owned */
    tfm_train_config config;
    tfm_graph *graph;            /* per-step arena + tape, reused */
    long step;                   /* optimizer steps done */
    float last_loss, last_learning_rate, last_grad_norm;
    long last_tokens;
    float best_score;            /* NAN before the first validation */
    long best_step;
    int evaluations_without_gain;
    tfm_plateau plateau;         /* the "plateau" schedule's record of the validations */
    long skipped_steps;          /* on_nonfinite "skip": non-finite steps dropped in the whole run */
    int skips_in_a_row;
    int last_step_skipped;       /* the last tfm_trainer_step call dropped its batch */
    char skip_reason[512];       /* and why */
};

const char *const tfm_train_stop_reason_names[] = {"max_steps", "paused", "time_limit", "patience", "requested", NULL};

void tfm_train_task_free(tfm_train_task *task) {
    if (task && task->free_task) task->free_task(task->self);
}

tfm_status tfm_trainer_create(tfm_trainer **out, tfm_train_task *task, const tfm_train_config *config) {
    *out = NULL;
    tfm_status st = tfm_train_config_validate(config, NULL);
    tfm_trainer *t = st ? NULL : tfm_calloc(1, sizeof *t);
    if (!st && !t) st = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the trainer");
    if (st) {
        tfm_train_task_free(task);
        return st;
    }
    t->task = task;
    t->config = *config;
    t->best_score = NAN;
    tfm_plateau_init(&t->plateau);
    st = tfm_graph_create(&t->graph, 0);
    if (!st) tfm_rng_init(tfm_graph_dropout_stream(t->graph), config->seed ^ DROPOUT_SEED_MIX);
    tfm_optimizer_settings settings = tfm_optimizer_settings_of(config);
    if (!st) st = tfm_params_allocate_moments_n(task->params, tfm_optimizer_state_count(&settings) == 3);
    if (st) {
        tfm_trainer_free(t);
        return st;
    }
    *out = t;
    return TFM_OK;
}

void tfm_trainer_free(tfm_trainer *t) {
    if (!t) return;
    tfm_graph_free(t->graph);
    tfm_train_task_free(t->task);
    tfm_free(t, sizeof *t);
}

/* ---- One step ---- */

/* The first parameter whose slab entries (values or gradients) hold NaN or infinity, or NULL. */
static const tfm_param *first_nonfinite(const tfm_params *p, const float *slab) {
    for (int i = 0; i < p->count; i++)
        if (tfm_clip_has_nonfinite(slab + p->entries[i].offset, p->entries[i].size)) return &p->entries[i];
    return NULL;
}

/* Step N failed on `what` (the loss or the gradient norm): say where the first NaN or infinity is, in the
 * weights themselves or else in the gradients (in declaration order, embeddings first). */
static tfm_status nonfinite_error(const tfm_trainer *t, const char *what, double value) {
    const tfm_params *p = t->task->params;
    const tfm_param *weight = first_nonfinite(p, p->data), *grad = weight ? NULL : first_nonfinite(p, p->grad);
    char where[400];
    if (weight) snprintf(where, sizeof where, "the weights of %s are already non-finite", weight->name);
    else if (grad) snprintf(where, sizeof where, "the first non-finite gradient is that of %s", grad->name);
    else snprintf(where, sizeof where, "every weight and gradient is finite");
    return tfm_error(TFM_ERR_NUMERIC, "step %ld: the %s is %s (%s); parameters left as before this step", t->step + 1, what,
                     isnan(value) ? "nan" : value > 0 ? "inf" : "-inf", where);
}

/* Run the micro-batches: forward, finite check, weighted backward. Sets *loss (the step's mean) and *tokens. */
static tfm_status accumulate_gradients(tfm_trainer *t, double *loss, long *tokens) {
    const tfm_train_config *c = &t->config;
    tfm_train_task *task = t->task;
    int per_token = task->loss_weighting == TFM_LOSS_WEIGHT_PER_TOKEN;
    double weighted_sum = 0;
    *tokens = 0;
    for (int micro = 0; micro < c->grad_accum_steps; micro++) {
        tfm_status st = tfm_graph_begin(t->graph, 1, 1);
        if (st) return st;
        tfm_tensor *micro_loss = NULL;
        long count = 0;
        if ((st = task->train_loss(task->self, t->graph, c->label_smoothing, &micro_loss, &count)) != TFM_OK || !micro_loss)
            return tfm_error_prefix(st ? st : TFM_ERR_INVALID_ARGUMENT, "step %ld: ", t->step + 1);
        float value = micro_loss->data[0];
        if (!isfinite(value)) { /* backpropagate anyway, to name the first tensor that went non-finite */
            if ((st = tfm_graph_backward(t->graph, micro_loss, 1.0f)) != TFM_OK) return st;
            return nonfinite_error(t, "loss", value);
        }
        weighted_sum += per_token ? (double)value * (double)count : (double)value;
        *tokens += count;
        /* Per batch: each micro-batch's mean counts 1/accum. Per token: weigh by its tokens now and divide by
         * the step's total below, so the gradient is that of the mean over every token of the step. */
        float seed = per_token ? (float)count : 1.0f / (float)c->grad_accum_steps;
        if ((st = tfm_graph_backward(t->graph, micro_loss, seed)) != TFM_OK) return st;
    }
    tfm_params *p = task->params;
    if (per_token && *tokens > 0) {
        float inverse = 1.0f / (float)*tokens;
        for (size_t i = 0; i < p->total; i++) p->grad[i] *= inverse;
    }
    *loss = per_token ? (*tokens ? weighted_sum / (double)*tokens : 0.0) : weighted_sum / c->grad_accum_steps;
    return TFM_OK;
}

/* A non-finite step under on_nonfinite "skip": its batch is dropped and the step is not counted, until
 * nonfinite_skip_limit steps in a row have failed. */
static tfm_status skip_step(tfm_trainer *t) {
    if (t->config.on_nonfinite != TFM_ON_NONFINITE_SKIP) return TFM_ERR_NUMERIC;
    if (++t->skips_in_a_row >= t->config.nonfinite_skip_limit)
        return tfm_error_prefix(TFM_ERR_NUMERIC, "%d non-finite steps in a row (nonfinite_skip_limit), the last: ", t->skips_in_a_row);
    snprintf(t->skip_reason, sizeof t->skip_reason, "%s", tfm_last_error());
    t->skipped_steps++;
    t->last_step_skipped = 1;
    return TFM_OK;
}

/* Fine-tuning's layer freezing: for the task's first freeze_steps steps only parameters named head_prefix* train; the
 * others take no gradient (torch: requires_grad = False), so backward stops where the frozen part begins (the whole
 * encoder's backward is skipped), and once they train, Adam counts only their own steps. Set before the step's
 * forward passes. */
static void apply_freezing(tfm_trainer *t) {
    const tfm_train_task *task = t->task;
    if (task->freeze_steps <= 0 || !task->head_prefix) return;
    tfm_params *p = task->params;
    int frozen = t->step < task->freeze_steps;
    size_t prefix = strlen(task->head_prefix);
    for (int i = 0; i < p->count; i++) {
        tfm_param *e = &p->entries[i];
        int head = strncmp(e->name, task->head_prefix, prefix) == 0;
        e->frozen = frozen && !head;
        e->steps_frozen = head ? 0 : task->freeze_steps;
        e->tensor->requires_grad = !e->frozen && !e->buffer;
    }
}

tfm_status tfm_trainer_step(tfm_trainer *t) {
    const tfm_train_config *c = &t->config;
    tfm_params *p = t->task->params;
    tfm_params_zero_grad(p);
    t->last_step_skipped = 0;
    double loss = 0;
    long tokens = 0;
    apply_freezing(t);
    tfm_status st = accumulate_gradients(t, &loss, &tokens);
    if (st) return st == TFM_ERR_NUMERIC ? skip_step(t) : st;
    if (c->penalty_l1 > 0 || c->penalty_l2 > 0) loss += tfm_penalty_apply(p, c->penalty_l1, c->penalty_l2, c->penalty_parameters);
    float norm = (float)tfm_clip_global_norm(p->grad, p->total);
    if (!isfinite(norm)) {
        nonfinite_error(t, "gradient norm", norm);
        return skip_step(t);
    }
    t->skips_in_a_row = 0;
    if (c->grad_clip_value > 0) {
        tfm_clip_value(p->grad, p->total, c->grad_clip_value);
        if (c->grad_clip > 0) norm = (float)tfm_clip_global_norm(p->grad, p->total); /* the norm clip sees the clipped values */
    }
    if (c->grad_clip > 0) tfm_clip_scale(p->grad, p->total, norm, c->grad_clip);
    float lr = tfm_schedule_learning_rate(c, t->task->d_model, t->step + 1, t->plateau.reductions);
    tfm_optimizer_settings settings = tfm_optimizer_settings_of(c);
    st = tfm_optimizer_step_params(p, &settings, lr, t->step + 1);
    if (st) return st;
    t->step++;
    t->last_loss = (float)loss;
    t->last_learning_rate = lr;
    t->last_grad_norm = norm;
    t->last_tokens = tokens;
    return TFM_OK;
}

tfm_status tfm_trainer_evaluate(tfm_trainer *t, float *valid_loss, float *score) {
    float loss = NAN, task_score = NAN;
    tfm_status st = t->task->evaluate(t->task->self, t->graph, &loss, &task_score);
    if (st) return tfm_error_prefix(st, "validation at step %ld: ", t->step);
    /* Higher is better: the task's score, or the negated loss when it has none. */
    float ranked = isnan(task_score) ? -loss : task_score;
    if (isnan(t->best_score) || ranked > t->best_score) {
        t->best_score = ranked;
        t->best_step = t->step;
        t->evaluations_without_gain = 0;
    } else {
        t->evaluations_without_gain++;
    }
    if (t->config.schedule == TFM_SCHEDULE_PLATEAU) tfm_plateau_observe(&t->plateau, &t->config, isnan(task_score) ? loss : task_score, !isnan(task_score));
    *valid_loss = loss;
    *score = task_score;
    return TFM_OK;
}

int tfm_trainer_should_stop(const tfm_trainer *t) {
    return t->config.patience > 0 && t->evaluations_without_gain >= t->config.patience;
}

tfm_trainer_progress tfm_trainer_get_progress(const tfm_trainer *t) {
    tfm_trainer_progress p = {.step = t->step,
                              .max_steps = t->config.max_steps,
                              .epoch = t->task->epoch ? t->task->epoch(t->task->self) : 0,
                              .loss = t->last_loss,
                              .learning_rate = t->last_learning_rate,
                              .grad_norm = t->last_grad_norm,
                              .tokens = t->last_tokens,
                              .best_score = t->best_score,
                              .best_step = t->best_step,
                              .evaluations_without_gain = t->evaluations_without_gain,
                              .skipped_steps = t->skipped_steps,
                              .last_step_skipped = t->last_step_skipped};
    return p;
}

const tfm_train_config *tfm_trainer_config(const tfm_trainer *t) { return &t->config; }
const tfm_train_task *tfm_trainer_task(const tfm_trainer *t) { return t->task; }
const char *tfm_trainer_skip_reason(const tfm_trainer *t) { return t->skip_reason; }

/* ---- Checkpoints ---- */

static tfm_status write_plateau(const tfm_plateau *p, tfm_train_state *state) {
    tfm_status st = tfm_train_state_set_float(state, "plateau_best", p->best);
    if (!st) st = tfm_train_state_set_count(state, "plateau_bad_evaluations", p->bad_evaluations);
    if (!st) st = tfm_train_state_set_count(state, "plateau_cooldown_left", p->cooldown_left);
    if (!st) st = tfm_train_state_set_count(state, "plateau_reductions", p->reductions);
    return st;
}

/* States written before the plateau schedule have none of its keys: a fresh record, which is what they had. */
static tfm_status read_plateau(const tfm_train_state *state, tfm_plateau *p) {
    tfm_plateau_init(p);
    if (!tfm_train_state_has(state, "plateau_reductions")) return TFM_OK;
    long bad = 0, cooldown = 0, reductions = 0;
    tfm_status st = tfm_train_state_get_float(state, "plateau_best", &p->best);
    if (!st) st = tfm_train_state_get_count(state, "plateau_bad_evaluations", &bad);
    if (!st) st = tfm_train_state_get_count(state, "plateau_cooldown_left", &cooldown);
    if (!st) st = tfm_train_state_get_count(state, "plateau_reductions", &reductions);
    if (!st && (bad > INT_MAX || cooldown > INT_MAX || reductions > INT_MAX))
        st = tfm_error(TFM_ERR_FORMAT, "%s: plateau_*: counts out of range", tfm_train_state_source(state));
    p->bad_evaluations = (int)bad;
    p->cooldown_left = (int)cooldown;
    p->reductions = (int)reductions;
    return st;
}

static tfm_status write_state(const tfm_trainer *t, tfm_train_state *state) {
    const tfm_train_task *task = t->task;
    char *train_json = NULL;
    tfm_status st = tfm_train_config_to_json(&t->config, &train_json);
    if (!st) st = tfm_train_state_set_string(state, "format", task->state_format);
    if (!st) st = tfm_train_state_set_count(state, "version", TRAINER_STATE_VERSION);
    if (!st) st = tfm_train_state_set_count(state, "step", t->step);
    if (!st) st = tfm_train_state_set_string(state, task->data_key, task->data_location);
    if (!st) st = task->save_state(task->self, state);
    if (!st) st = tfm_train_state_set_u64(state, "dropout_seed", tfm_graph_dropout_stream(t->graph)->seed);
    if (!st) st = tfm_train_state_set_u64(state, "dropout_counter", tfm_graph_dropout_stream(t->graph)->counter);
    if (!st) st = tfm_train_state_set_float(state, "best_score", t->best_score);
    if (!st) st = tfm_train_state_set_count(state, "best_step", t->best_step);
    if (!st) st = tfm_train_state_set_count(state, "evaluations_without_gain", t->evaluations_without_gain);
    if (!st) st = tfm_train_state_set_count(state, "skipped_steps", t->skipped_steps);
    if (!st) st = write_plateau(&t->plateau, state);
    if (!st) st = tfm_train_state_set_object(state, "train", train_json);
    if (train_json) tfm_free(train_json, strlen(train_json) + 1);
    return st;
}

tfm_status tfm_trainer_save(tfm_trainer *t, const char *dir) {
    char *model_json = NULL, *state_text = NULL;
    tfm_train_state *state = NULL;
    tfm_status st = t->task->model_config_json(t->task->self, &model_json);
    if (!st) st = tfm_train_state_create(&state, "trainer_state.json");
    if (!st) st = write_state(t, state);
    if (!st) st = tfm_train_state_print(state, &state_text);
    if (!st) st = tfm_checkpoint_save_step(dir, t->step, t->config.keep_checkpoints, t->task->params, model_json, state_text);
    tfm_train_state_free(state);
    if (model_json) tfm_free(model_json, strlen(model_json) + 1);
    if (state_text) tfm_free(state_text, strlen(state_text) + 1);
    return st;
}

tfm_status tfm_trainer_save_model(tfm_trainer *t, const char *dir) {
    char *model_json = NULL;
    tfm_status st = t->task->model_config_json(t->task->self, &model_json);
    if (!st) st = tfm_checkpoint_save(dir, t->task->params, model_json, NULL);
    if (model_json) tfm_free(model_json, strlen(model_json) + 1);
    return st;
}

/* trainer_state.json of dir, parsed (without touching the optimizer files). */
static tfm_status read_state_file(const char *dir, tfm_train_state **state) {
    char *checkpoint = NULL, *path = NULL, *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_checkpoint_resolve(dir, &checkpoint);
    if (!st) st = (path = tfm_file_join(checkpoint, "trainer_state.json")) ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_file_read(path, &text, &size);
    if (!st) st = tfm_train_state_parse(state, text, path);
    if (text) tfm_free(text, size + 1);
    if (path) tfm_free(path, strlen(path) + 1);
    if (checkpoint) tfm_free(checkpoint, strlen(checkpoint) + 1);
    return st;
}

static tfm_status read_train_config(const tfm_train_state *state, int task, tfm_train_config *config) {
    char *train_json = NULL;
    tfm_status st = tfm_train_state_get_object(state, "train", &train_json);
    if (st) return st;
    config->task = task;
    st = tfm_train_config_from_json(train_json, tfm_train_state_source(state), config);
    tfm_free(train_json, strlen(train_json) + 1);
    return st;
}

tfm_status tfm_trainer_saved_config(const char *dir, int task, tfm_train_config *config, char *data, size_t size) {
    tfm_train_state *state = NULL;
    tfm_status st = read_state_file(dir, &state);
    if (st) return st;
    const char *location = NULL;
    const char *key = task == TFM_TASK_SEQ2SEQ ? "data_dir" : "data_path";
    st = read_train_config(state, task, config);
    if (!st) st = tfm_train_state_get_string(state, key, &location);
    if (!st && strlen(location) >= size) st = tfm_error(TFM_ERR_FORMAT, "%s: %s: path too long", tfm_train_state_source(state), key);
    if (!st) snprintf(data, size, "%s", location);
    tfm_train_state_free(state);
    return st;
}

/* The given config may differ from the saved one only in the run's length and reporting. */
static tfm_status check_resume_config(const tfm_train_state *state, const tfm_train_config *given) {
    tfm_train_config saved;
    tfm_status st = read_train_config(state, given->task, &saved);
    if (st) return st;
    saved.max_steps = given->max_steps;
    saved.eval_every = given->eval_every;
    saved.save_every = given->save_every;
    saved.keep_checkpoints = given->keep_checkpoints;
    saved.log_every = given->log_every;
    saved.patience = given->patience;
    saved.on_nonfinite = given->on_nonfinite;
    saved.nonfinite_skip_limit = given->nonfinite_skip_limit;
    saved.seq2seq.bleu_sentences = given->seq2seq.bleu_sentences;
    char *a = NULL, *b = NULL;
    st = tfm_train_config_to_json(&saved, &a);
    if (!st) st = tfm_train_config_to_json(given, &b);
    if (!st && strcmp(a, b) != 0)
        st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: a resumed run keeps its training config; only max_steps, eval_every, save_every, "
                                                 "keep_checkpoints, log_every, patience, on_nonfinite, nonfinite_skip_limit and bleu_sentences may change", tfm_train_state_source(state));
    if (a) tfm_free(a, strlen(a) + 1);
    if (b) tfm_free(b, strlen(b) + 1);
    return st;
}

static tfm_status restore(tfm_trainer *t, const tfm_train_state *state) {
    const char *source = tfm_train_state_source(state), *format = NULL;
    long version = 0, step = 0, best_step = 0, without = 0;
    uint64_t dropout_seed = 0, dropout_counter = 0;
    float best = NAN;
    tfm_status st = tfm_train_state_get_string(state, "format", &format);
    if (!st && strcmp(format, t->task->state_format) != 0)
        st = tfm_error(TFM_ERR_FORMAT, "%s: format is \"%s\", not \"%s\": this checkpoint is not a %s training run", source, format,
                       t->task->state_format, t->task->name);
    if (!st) st = tfm_train_state_get_count(state, "version", &version);
    if (!st && (version < 1 || version > TRAINER_STATE_VERSION))
        st = tfm_error(TFM_ERR_FORMAT, "%s: version %ld: this tfm reads versions 1 to %d", source, version, TRAINER_STATE_VERSION);
    if (!st) st = tfm_train_state_get_count(state, "step", &step);
    if (!st) st = tfm_train_state_get_u64(state, "dropout_seed", &dropout_seed);
    if (!st) st = tfm_train_state_get_u64(state, "dropout_counter", &dropout_counter);
    /* Version 1 of the encoder-decoder kept best_bleu (-1 before the first validation); GPT's kept nothing. */
    if (!st && tfm_train_state_has(state, "best_bleu")) {
        st = tfm_train_state_get_float(state, "best_bleu", &best);
        if (best < 0) best = NAN;
    }
    if (!st) st = tfm_train_state_get_float(state, "best_score", &best);
    if (!st && tfm_train_state_has(state, "best_step")) st = tfm_train_state_get_count(state, "best_step", &best_step);
    if (!st && tfm_train_state_has(state, "evaluations_without_gain"))
        st = tfm_train_state_get_count(state, "evaluations_without_gain", &without);
    long skipped = 0;
    if (!st && tfm_train_state_has(state, "skipped_steps")) st = tfm_train_state_get_count(state, "skipped_steps", &skipped);
    tfm_plateau plateau;
    if (!st) st = read_plateau(state, &plateau);
    if (!st) st = t->task->load_state(t->task->self, state);
    if (st) return st;
    t->plateau = plateau;
    t->skipped_steps = skipped;
    t->step = step;
    *tfm_graph_dropout_stream(t->graph) = (tfm_rng){dropout_seed, dropout_counter};
    t->best_score = best;
    t->best_step = best_step;
    t->evaluations_without_gain = (int)without;
    return TFM_OK;
}

tfm_status tfm_trainer_resume(tfm_trainer **out, tfm_train_task *task, const tfm_train_config *config, const char *dir) {
    *out = NULL;
    char *state_text = NULL;
    tfm_train_state *state = NULL;
    tfm_trainer *t = NULL;
    char source[4096], *checkpoint = NULL;
    tfm_status st = tfm_checkpoint_resolve(dir, &checkpoint);
    snprintf(source, sizeof source, "%s/trainer_state.json", checkpoint ? checkpoint : dir);
    if (checkpoint) tfm_free(checkpoint, strlen(checkpoint) + 1);
    if (st) {
        tfm_train_task_free(task);
        return st;
    }
    st = tfm_trainer_create(&t, task, config); /* owns the task from here */
    if (!st) st = tfm_checkpoint_load_trainer_state(dir, task->params, &state_text);
    if (!st) st = tfm_train_state_parse(&state, state_text, source);
    if (!st) st = check_resume_config(state, config);
    if (!st) st = restore(t, state);
    tfm_train_state_free(state);
    if (state_text) tfm_free(state_text, strlen(state_text) + 1);
    if (st) {
        tfm_trainer_free(t);
        return st;
    }
    *out = t;
    return TFM_OK;
}
