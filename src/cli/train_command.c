/* cli/train_command.c: "tfm train": train a GPT on a text file, with progress, validation, checkpoints and resume. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "io/file.h"
#include "tfm/io.h"
#include "tfm/train.h"

__attribute__((format(printf, 2, 3))) static void log_json_line(FILE *log, const char *fmt, ...) {
    if (!log) return;
    va_list args;
    va_start(args, fmt);
    vfprintf(log, fmt, args);
    va_end(args);
    fputc('\n', log);
    fflush(log);
}

static int checkpoint_exists(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int cli_train(int argc, char **argv) {
    const char *config_path = NULL, *data_path = NULL, *out_dir = NULL, *resume_dir = NULL;
    long max_steps = 0, stop_after = 0;
    int threads = 0, eval_every = -1, save_every = -1, log_every = -1, help = 0;
    long seed = -1;
    cli_option options[] = {
        {"config", CLI_STRING, &config_path, 0, 0, "training config (JSON); default: the built-in tiny GPT", 0},
        {"data", CLI_STRING, &data_path, 0, 0, "UTF-8 text file to train on (byte-level tokens)", 0},
        {"out", CLI_STRING, &out_dir, 0, 0, "checkpoint directory to create", 0},
        {"resume", CLI_STRING, &resume_dir, 0, 0, "continue the run saved in this directory", 0},
        {"max-steps", CLI_LONG, &max_steps, 1, 1e12, "optimizer steps in total (overrides the config)", 0},
        {"stop-after", CLI_LONG, &stop_after, 1, 1e12, "save and stop at this step, keeping the schedule of --max-steps", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"seed", CLI_LONG, &seed, 0, 9.2e18, "random seed (overrides the config)", 0},
        {"eval-every", CLI_INT, &eval_every, 0, 1e9, "steps between validation runs (0 = never)", 0},
        {"save-every", CLI_INT, &save_every, 0, 1e9, "steps between checkpoints (0 = only at the end)", 0},
        {"log-every", CLI_INT, &log_every, 1, 1e9, "steps between progress lines", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("train", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm train [--config FILE] --data FILE --out DIR\n       tfm train --resume DIR", options);
        return 0;
    }
    if (!resume_dir && (!data_path || !out_dir)) {
        fprintf(stderr, "tfm train: needs --data FILE and --out DIR (or --resume DIR); see tfm train --help\n");
        return 2;
    }
    if (resume_dir && (config_path || seed >= 0)) {
        fprintf(stderr, "tfm train: --resume continues with the saved config and seed; drop --config/--seed\n");
        return 2;
    }
    if (resume_dir && out_dir && strcmp(out_dir, resume_dir) != 0) {
        fprintf(stderr, "tfm train: --resume writes back into %s; drop --out or make it the same directory\n", resume_dir);
        return 2;
    }
    cli_set_threads(threads);

    tfm_gpt *model = NULL;
    tfm_trainer *trainer = NULL;
    tfm_status st;
    if (resume_dir) {
        out_dir = resume_dir;
        if ((st = cli_load_gpt(resume_dir, &model)) != TFM_OK) return cli_fail("train");
        /* The saved config, except for the run length and reporting the command line names. */
        st = tfm_trainer_resume(&trainer, model, resume_dir, data_path, NULL);
        if (!st) {
            if (max_steps) trainer->config.max_steps = max_steps;
            if (eval_every >= 0) trainer->config.eval_every = eval_every;
            if (save_every >= 0) trainer->config.save_every = save_every;
            if (log_every > 0) trainer->config.log_every = log_every;
        }
    } else {
        tfm_gpt_config model_config;
        tfm_train_config train_config;
        tfm_gpt_config_default(&model_config);
        tfm_train_config_default(&train_config);
        if (config_path && (st = tfm_config_load(config_path, &model_config, &train_config)) != TFM_OK) return cli_fail("train");
        if (max_steps) train_config.max_steps = max_steps;
        if (seed >= 0) train_config.seed = (unsigned long long)seed;
        if (eval_every >= 0) train_config.eval_every = eval_every;
        if (save_every >= 0) train_config.save_every = save_every;
        if (log_every > 0) train_config.log_every = log_every;
        if (checkpoint_exists(out_dir)) {
            fprintf(stderr, "tfm train: %s already holds a checkpoint; continue it with --resume %s, or choose another --out\n", out_dir, out_dir);
            return 1;
        }
        if ((st = tfm_gpt_create(&model, &model_config)) != TFM_OK) return cli_fail("train");
        tfm_gpt_init_weights(model, train_config.seed);
        st = tfm_trainer_create(&trainer, model, &train_config, data_path);
    }
    if (st) { tfm_gpt_free(model); return cli_fail("train"); }

    const tfm_train_config *c = &trainer->config;
    size_t n_params = 0;
    for (int i = 0; i < model->params.count; i++) n_params += model->params.entries[i].size;
    fprintf(stderr, "tfm train: %zu parameters, %d layers, d_model %d, %d heads, context %d | data %s: %zu train + %zu valid tokens | "
                    "batch %d x %d x %d accum | %s from step %ld to %ld\n",
            n_params, model->config.n_layers, model->config.d_model, model->config.n_heads, model->config.context_length,
            trainer->data_path, trainer->data.train_count, trainer->data.count - trainer->data.train_count, c->batch_size, c->seq_len,
            c->grad_accum_steps, resume_dir ? "resuming" : "training", trainer->step, c->max_steps);

    char log_path[1024];
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", out_dir);
    FILE *log = NULL;
    int exit_code = 0;
    double train_seconds = 0;
    long timed_steps = 0, first_step = trainer->step;
    float valid_loss = NAN, best_valid = INFINITY;
    long steps_since_log = 0;
    double seconds_since_log = 0;
    long stop = stop_after && stop_after < c->max_steps ? stop_after : c->max_steps;
    while (trainer->step < stop) {
        double t0 = cli_now();
        if ((st = tfm_trainer_step(trainer)) != TFM_OK) { exit_code = cli_fail("train"); break; }
        double dt = cli_now() - t0;
        if (trainer->step > first_step + 1) { train_seconds += dt; timed_steps++; } /* the first step warms up the arena */
        steps_since_log++;
        seconds_since_log += dt;
        if (!log) {
            /* The directory exists after the first save; create it now so the log has a home. */
            if (tfm_file_make_directory(out_dir) != TFM_OK) { exit_code = cli_fail("train"); break; }
            log = fopen(log_path, "a");
        }
        int last = trainer->step == stop;
        if (trainer->step % c->log_every == 0 || last) {
            double tok_s = seconds_since_log > 0 ? (double)steps_since_log * trainer->tokens_per_step / seconds_since_log : 0;
            double per_step = seconds_since_log / (double)steps_since_log;
            char eta[32];
            cli_format_duration(per_step * (double)(c->max_steps - trainer->step), eta, sizeof eta);
            fprintf(stderr, "step %6ld/%ld | loss %.4f | lr %.2e | norm %.3f | %.1fk tok/s | ETA %s\n", trainer->step, c->max_steps,
                    trainer->last_loss, trainer->last_learning_rate, trainer->last_grad_norm, tok_s / 1000, eta);
            steps_since_log = 0;
            seconds_since_log = 0;
        }
        log_json_line(log, "{\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g}", trainer->step, trainer->last_loss,
                      trainer->last_learning_rate, trainer->last_grad_norm);
        if ((c->eval_every > 0 && trainer->step % c->eval_every == 0) || (last && c->eval_every > 0)) {
            if ((st = tfm_trainer_evaluate(trainer, &valid_loss)) != TFM_OK) { exit_code = cli_fail("train"); break; }
            if (valid_loss < best_valid) best_valid = valid_loss;
            fprintf(stderr, "step %6ld/%ld | valid loss %.4f (best %.4f)\n", trainer->step, c->max_steps, valid_loss, best_valid);
            log_json_line(log, "{\"step\":%ld,\"valid_loss\":%.9g}", trainer->step, valid_loss);
        }
        if ((c->save_every > 0 && trainer->step % c->save_every == 0) || last) {
            if ((st = tfm_trainer_save(trainer, out_dir)) != TFM_OK) { exit_code = cli_fail("train"); break; }
        }
    }
    if (log) fclose(log);
    if (exit_code == 0) {
        double tok_s = train_seconds > 0 ? (double)timed_steps * trainer->tokens_per_step / train_seconds : 0;
        fprintf(stderr, "tfm train: saved %s (step %ld)\n", out_dir, trainer->step);
        printf("summary {\"steps\":%ld,\"tokens\":%ld,\"seconds\":%.3f,\"tokens_per_second\":%.1f,\"final_train_loss\":%.6f,"
               "\"final_valid_loss\":%.6f}\n",
               timed_steps, timed_steps * trainer->tokens_per_step, train_seconds, tok_s, trainer->last_loss,
               isnan(valid_loss) ? -1.0 : (double)valid_loss);
    }
    tfm_trainer_free(trainer);
    tfm_gpt_free(model);
    return exit_code;
}
