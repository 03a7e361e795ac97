/* train/run.c: a whole training run around the loop: cadence of logging, validation and checkpoints, early stopping, time limit, stop requests. */
#define _POSIX_C_SOURCE 200809L
#include "tfm/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "io/file.h"
#include "tfm/io.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- log.jsonl: one line per step and per validation ---- */

/* The "step" of a log line, or -1. */
static long line_step(const char *line) {
    const char *s = strstr(line, "\"step\":");
    return s ? strtol(s + 7, NULL, 10) : -1;
}

/* A resumed run: drop the lines of steps after the checkpoint (they will be run again). */
static tfm_status truncate_log(const char *path, long step) {
    char *text = NULL;
    size_t size = 0;
    if (!tfm_file_exists(path)) return TFM_OK;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    size_t kept = 0;
    for (char *line = text; line < text + size;) {
        char *end = memchr(line, '\n', (size_t)(text + size - line));
        size_t length = end ? (size_t)(end - line) + 1 : (size_t)(text + size - line);
        char saved = line[length - 1];
        line[length - 1] = '\0';
        long s = line_step(line);
        line[length - 1] = saved;
        if (s >= 0 && s <= step) {
            memmove(text + kept, line, length);
            kept += length;
        }
        line += length;
    }
    st = kept == size ? TFM_OK : tfm_file_write_atomic(path, text, kept);
    tfm_free(text, size + 1);
    return st;
}

/* A new run: an old log in the directory is kept as log.jsonl.N (the first free N), never appended to. */
static tfm_status set_aside_log(const char *path) {
    if (!tfm_file_exists(path)) return TFM_OK;
    char aside[4200];
    for (int n = 1; n < 1000; n++) {
        snprintf(aside, sizeof aside, "%s.%d", path, n);
        if (tfm_file_exists(aside)) continue;
        if (rename(path, aside) != 0) return tfm_error(TFM_ERR_IO, "cannot move the old %s to %s", path, aside);
        return TFM_OK;
    }
    return tfm_error(TFM_ERR_IO, "%s: too many old logs beside it", path);
}

static tfm_status open_log(const char *dir, long step, FILE **log) {
    char path[4096];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    tfm_status st = step > 0 ? truncate_log(path, step) : set_aside_log(path);
    if (st) return st;
    *log = fopen(path, "a");
    if (!*log) return tfm_error(TFM_ERR_IO, "cannot open %s for writing", path);
    return TFM_OK;
}

static void log_step(FILE *log, const tfm_trainer_progress *p, int has_epochs, double wall) {
    fprintf(log, "{\"step\":%ld,", p->step);
    if (has_epochs) fprintf(log, "\"epoch\":%ld,", p->epoch);
    fprintf(log, "\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,\"tokens\":%ld,\"wall_seconds\":%.3f}\n", (double)p->loss,
            (double)p->learning_rate, (double)p->grad_norm, p->tokens, wall);
    fflush(log);
}

static void log_validation(FILE *log, long step, float loss, const tfm_train_task *task, float score, double wall) {
    fprintf(log, "{\"step\":%ld,\"valid_loss\":%.9g", step, (double)loss);
    if (task->score_name && !isnan(score)) fprintf(log, ",\"valid_%s\":%.4f", task->score_name, (double)score);
    for (int i = 0; i < task->metric_count; i++)
        if (isfinite(task->metric_values[i])) fprintf(log, ",\"valid_%s\":%.6g", task->metric_names[i], (double)task->metric_values[i]);
    fprintf(log, ",\"wall_seconds\":%.3f}\n", wall);
    fflush(log);
}

/* A dropped step (on_nonfinite "skip"): {"step": the step it would have been, "skipped": why}. */
static void log_skip(FILE *log, long step, const char *reason, double wall) {
    cJSON *why = cJSON_CreateString(reason);
    char *quoted = why ? cJSON_PrintUnformatted(why) : NULL; /* cJSON escapes the message */
    fprintf(log, "{\"step\":%ld,\"skipped\":%s,\"wall_seconds\":%.3f}\n", step, quoted ? quoted : "\"\"", wall);
    fflush(log);
    if (quoted) cJSON_free(quoted);
    cJSON_Delete(why);
}

/* ---- best/: a model-only copy of the best validation, with the run's tokenizer if it has one ---- */

static tfm_status save_best(tfm_trainer *t, const char *dir) {
    char *best = tfm_file_join(dir, "best");
    tfm_status st = best ? tfm_trainer_save_model(t, best) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory saving the best model");
    const char *const *files = tfm_trainer_task(t)->tokenizer_files;
    for (int i = 0; !st && i < 3 && files[i]; i++) {
        char *from = tfm_file_join(dir, files[i]), *to = tfm_file_join(best, files[i]);
        if (!from || !to) st = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory saving the best model");
        else if (tfm_file_exists(from)) st = tfm_file_copy(from, to);
        if (from) tfm_free(from, strlen(from) + 1);
        if (to) tfm_free(to, strlen(to) + 1);
    }
    if (best) tfm_free(best, strlen(best) + 1);
    return st;
}

/* ---- The run ---- */

typedef struct run_clock {
    double start, deadline;
    long steps_since_progress, tokens_since_progress;
    double seconds_since_progress;
} run_clock;

static void emit(const tfm_train_run_options *o, tfm_train_event *e) {
    if (o->on_event) o->on_event(o->user, e);
}

static void report_progress(const tfm_trainer *t, const tfm_train_run_options *o, run_clock *clock) {
    tfm_train_event e = {.kind = TFM_TRAIN_EVENT_PROGRESS, .progress = tfm_trainer_get_progress(t)};
    double per_step = clock->seconds_since_progress / (double)(clock->steps_since_progress ? clock->steps_since_progress : 1);
    e.tokens_per_second = clock->seconds_since_progress > 0 ? (double)clock->tokens_since_progress / clock->seconds_since_progress : 0;
    e.eta_seconds = per_step * (double)(e.progress.max_steps - e.progress.step);
    if (clock->deadline - now_seconds() < e.eta_seconds) e.eta_seconds = clock->deadline - now_seconds();
    emit(o, &e);
    clock->steps_since_progress = clock->tokens_since_progress = 0;
    clock->seconds_since_progress = 0;
}

/* Validate, log, keep the best model; *stop becomes 1 when patience runs out. */
static tfm_status validate(tfm_trainer *t, const tfm_train_run_options *o, FILE *log, const run_clock *clock,
                           tfm_train_summary *summary, int *stop) {
    double e0 = now_seconds();
    float loss = NAN, score = NAN;
    long best_before = tfm_trainer_get_progress(t).best_step;
    float best_score_before = tfm_trainer_get_progress(t).best_score;
    tfm_status st = tfm_trainer_evaluate(t, &loss, &score);
    if (st) return st;
    tfm_train_event e = {.kind = TFM_TRAIN_EVENT_EVALUATED, .progress = tfm_trainer_get_progress(t), .valid_loss = loss, .score = score};
    e.new_best = e.progress.best_step != best_before || (isnan(best_score_before) && !isnan(e.progress.best_score));
    e.eval_seconds = now_seconds() - e0;
    log_validation(log, e.progress.step, loss, tfm_trainer_task(t), score, now_seconds() - clock->start);
    summary->final_valid_loss = loss;
    summary->final_score = score;
    if (e.new_best && (st = save_best(t, o->out_dir)) != TFM_OK) return st;
    emit(o, &e);
    *stop = tfm_trainer_should_stop(t);
    return TFM_OK;
}

/* A step failed on NaN or infinity: keep the parameters as they were before it (the checkpoint of this step,
 * unless the run already has one) and say where they are. */
static tfm_status save_after_nonfinite(tfm_trainer *t, const char *out_dir, long saved_step) {
    char reason[1024];
    snprintf(reason, sizeof reason, "%s", tfm_last_error());
    long step = tfm_trainer_get_progress(t).step;
    if (step != saved_step && tfm_trainer_save(t, out_dir) != TFM_OK)
        return tfm_error(TFM_ERR_NUMERIC, "%s; saving the last good parameters (step %ld) failed too: %s", reason, step, tfm_last_error());
    return tfm_error(TFM_ERR_NUMERIC,
                     "%s; the run is saved at step %ld in %s: resume it with --resume %s (--on-nonfinite skip drops such "
                     "steps) or train again with a lower learning rate",
                     reason, step, out_dir, out_dir);
}

static void finish_summary(const tfm_trainer *t, long first_step, const run_clock *clock, tfm_train_summary *s) {
    tfm_trainer_progress p = tfm_trainer_get_progress(t);
    s->steps = p.step - first_step;
    s->final_step = p.step;
    s->final_train_loss = s->steps > 0 ? p.loss : NAN;
    s->best_score = p.best_score;
    s->best_step = p.best_step;
    s->skipped_steps = p.skipped_steps - s->skipped_steps; /* s->skipped_steps held the count at the start */
    s->wall_seconds = now_seconds() - clock->start;
}

tfm_status tfm_trainer_run(tfm_trainer *t, const tfm_train_run_options *o, tfm_train_summary *summary) {
    memset(summary, 0, sizeof *summary);
    summary->final_valid_loss = summary->final_score = NAN;
    const tfm_train_config *c = tfm_trainer_config(t);
    const tfm_train_task *task = tfm_trainer_task(t);
    long first_step = tfm_trainer_get_progress(t).step;
    long stop_at = o->stop_after > 0 && o->stop_after < c->max_steps ? o->stop_after : c->max_steps;
    FILE *log = NULL;
    tfm_status st = tfm_file_make_directory(o->out_dir);
    if (!st) st = tfm_checkpoint_clean_stale(o->out_dir, NULL); /* what runs killed in the middle of a save left */
    if (!st) st = open_log(o->out_dir, first_step, &log);
    if (st) return st;
    run_clock clock = {now_seconds(), INFINITY, 0, 0, 0};
    if (o->time_limit_seconds > 0) clock.deadline = clock.start + o->time_limit_seconds;
    tfm_train_stop_reason reason = stop_at < c->max_steps ? TFM_TRAIN_STOP_PAUSED : TFM_TRAIN_STOP_MAX_STEPS;
    int has_epochs = task->epoch != NULL;
    long step = first_step;
    long saved_step = first_step > 0 ? first_step : -1; /* a resumed run has the checkpoint it started from */
    summary->skipped_steps = tfm_trainer_get_progress(t).skipped_steps;
    while (!st && step < stop_at) {
        double t0 = now_seconds();
        if ((st = tfm_trainer_step(t)) != TFM_OK) {
            if (st == TFM_ERR_NUMERIC) st = save_after_nonfinite(t, o->out_dir, saved_step);
            break;
        }
        double dt = now_seconds() - t0;
        tfm_trainer_progress p = tfm_trainer_get_progress(t);
        if (p.last_step_skipped) {
            log_skip(log, p.step + 1, tfm_trainer_skip_reason(t), now_seconds() - clock.start);
            tfm_train_event e = {.kind = TFM_TRAIN_EVENT_SKIPPED, .progress = p, .message = tfm_trainer_skip_reason(t)};
            emit(o, &e);
            if (!(now_seconds() >= clock.deadline || (o->stop_requested && *o->stop_requested))) continue;
            /* out of time or asked to stop while skipping: save where the run is and end */
            if ((st = tfm_trainer_save(t, o->out_dir)) != TFM_OK) break;
            reason = now_seconds() >= clock.deadline ? TFM_TRAIN_STOP_TIME_LIMIT : TFM_TRAIN_STOP_REQUESTED;
            break;
        }
        step = p.step;
        if (step > first_step + 1) { /* the first step of a process warms up the arena and thread pools */
            summary->train_seconds += dt;
            summary->timed_steps++;
            summary->timed_tokens += p.tokens;
        }
        clock.steps_since_progress++;
        clock.tokens_since_progress += p.tokens;
        clock.seconds_since_progress += dt;
        log_step(log, &p, has_epochs, now_seconds() - clock.start);
        int out_of_time = now_seconds() >= clock.deadline;
        int requested = o->stop_requested && *o->stop_requested;
        int patience_out = 0;
        if (step % c->log_every == 0 || step == stop_at || out_of_time || requested) report_progress(t, o, &clock);
        /* Not at a --stop-after pause or a stop request: an extra validation would change the early-stopping state. */
        if ((c->eval_every > 0 && step % c->eval_every == 0) || step == c->max_steps || out_of_time)
            if ((st = validate(t, o, log, &clock, summary, &patience_out)) != TFM_OK) break;
        int ending = step == stop_at || out_of_time || requested || patience_out;
        if ((c->save_every > 0 && step % c->save_every == 0) || ending) {
            if ((st = tfm_trainer_save(t, o->out_dir)) != TFM_OK) break;
            saved_step = step;
        }
        if (patience_out) reason = TFM_TRAIN_STOP_PATIENCE;
        else if (out_of_time && step < stop_at) reason = TFM_TRAIN_STOP_TIME_LIMIT;
        else if (requested && step < stop_at) reason = TFM_TRAIN_STOP_REQUESTED;
        if (step < stop_at && (patience_out || out_of_time || requested)) break;
    }
    fclose(log);
    finish_summary(t, first_step, &clock, summary);
    summary->stop_reason = reason;
    if (!st && reason != TFM_TRAIN_STOP_MAX_STEPS) {
        tfm_train_event e = {.kind = TFM_TRAIN_EVENT_STOPPED, .progress = tfm_trainer_get_progress(t), .stop_reason = reason};
        emit(o, &e);
    }
    return st;
}
