/* cli/seq2seq_train_command.c: "tfm train" for encoder-decoder configs: progress, validation BLEU, early stopping, checkpoints, resume. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "cli/translate_commands.h"
#include "io/file.h"
#include "tfm/io.h"
#include "train/seq2seq_trainer.h"

__attribute__((format(printf, 2, 3))) static void log_line(FILE *log, const char *fmt, ...) {
    if (!log) return;
    va_list args;
    va_start(args, fmt);
    vfprintf(log, fmt, args);
    va_end(args);
    fputc('\n', log);
    fflush(log);
}

/* model_type of a JSON object's "model" member (top = 1) or of the object itself (top = 0), read from a file. */
static int file_model_type_is_seq2seq(const char *path, int top) {
    char *text = NULL;
    size_t size = 0;
    if (tfm_file_read(path, &text, &size) != TFM_OK) return 0;
    cJSON *root = cJSON_Parse(text);
    tfm_free(text, size + 1);
    const cJSON *model = top ? cJSON_GetObjectItemCaseSensitive(root, "model") : root;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "model_type");
    int yes = cJSON_IsString(type) && strcmp(type->valuestring, "seq2seq") == 0;
    cJSON_Delete(root);
    return yes;
}

int cli_train_is_seq2seq(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) return file_model_type_is_seq2seq(argv[i + 1], 1);
        if (strcmp(argv[i], "--resume") == 0) {
            char *path = tfm_file_join(argv[i + 1], "config.json");
            int yes = path && file_model_type_is_seq2seq(path, 0);
            if (path) tfm_free(path, strlen(path) + 1);
            return yes;
        }
    }
    return 0;
}

/* Copy a small file (the tokenizer) atomically. */
static tfm_status copy_file(const char *from, const char *to) {
    char *data = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(from, &data, &size);
    if (st) return st;
    st = tfm_file_write_atomic(to, data, size);
    tfm_free(data, size + 1);
    return st;
}

/* A model-only copy in <out>/best with the tokenizer, for translating with the best validation BLEU. */
static tfm_status save_best(tfm_seq2seq *model, const char *out_dir, const char *tokenizer_path) {
    char *best = tfm_file_join(out_dir, "best");
    if (!best) return TFM_ERR_OUT_OF_MEMORY;
    tfm_status st = tfm_seq2seq_save(model, best);
    char *tok = st ? NULL : tfm_file_join(best, "tokenizer.json");
    if (!st) st = tok ? copy_file(tokenizer_path, tok) : TFM_ERR_OUT_OF_MEMORY;
    if (tok) tfm_free(tok, strlen(tok) + 1);
    tfm_free(best, strlen(best) + 1);
    return st;
}

int cli_train_seq2seq(int argc, char **argv) {
    const char *config_path = NULL, *data_dir = NULL, *out_dir = NULL, *resume_dir = NULL, *tokenizer_arg = NULL;
    long max_steps = 0, stop_after = 0, seed = -1;
    int threads = 0, eval_every = -1, save_every = -1, log_every = -1, patience = -1, bleu_sentences = -2, help = 0;
    float time_limit = 0;
    cli_option options[] = {
        {"config", CLI_STRING, &config_path, 0, 0, "training config (JSON) whose model has \"model_type\": \"seq2seq\"", 0},
        {"data", CLI_STRING, &data_dir, 0, 0, "directory with train.<src>/train.<tgt>/valid.<src>/valid.<tgt> (and tokenizer.json)", 0},
        {"tokenizer", CLI_STRING, &tokenizer_arg, 0, 0, "joint BPE tokenizer.json (default: <data>/tokenizer.json)", 0},
        {"out", CLI_STRING, &out_dir, 0, 0, "checkpoint directory to create", 0},
        {"resume", CLI_STRING, &resume_dir, 0, 0, "continue the run saved in this directory", 0},
        {"max-steps", CLI_LONG, &max_steps, 1, 1e12, "optimizer steps in total (overrides the config)", 0},
        {"stop-after", CLI_LONG, &stop_after, 1, 1e12, "save and stop at this step, keeping the schedule of --max-steps", 0},
        {"time-limit", CLI_FLOAT, &time_limit, 0, 1e7, "stop after this many minutes of this run (then validate and save)", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"seed", CLI_LONG, &seed, 0, 9.2e18, "random seed (overrides the config)", 0},
        {"eval-every", CLI_INT, &eval_every, 0, 1e9, "steps between validations (0 = only at the end)", 0},
        {"bleu-sentences", CLI_INT, &bleu_sentences, -1, 1e8, "validation sentences translated for BLEU (-1 = all, 0 = none)", 0},
        {"patience", CLI_INT, &patience, 0, 1e6, "stop after this many validations without a better BLEU (0 = never)", 0},
        {"save-every", CLI_INT, &save_every, 0, 1e9, "steps between checkpoints (0 = only at the end)", 0},
        {"log-every", CLI_INT, &log_every, 1, 1e9, "steps between progress lines", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("train", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm train --config SEQ2SEQ.json --data DIR --out DIR\n       tfm train --resume DIR", options);
        return 0;
    }
    if (!resume_dir && (!config_path || !data_dir || !out_dir)) {
        fprintf(stderr, "tfm train: an encoder-decoder run needs --config FILE --data DIR --out DIR (or --resume DIR)\n");
        return 2;
    }
    if (resume_dir && (config_path || seed >= 0 || tokenizer_arg)) {
        fprintf(stderr, "tfm train: --resume continues with the saved config, seed and tokenizer; drop --config/--seed/--tokenizer\n");
        return 2;
    }
    if (resume_dir && out_dir && strcmp(out_dir, resume_dir) != 0) {
        fprintf(stderr, "tfm train: --resume writes back into %s; drop --out or make it the same directory\n", resume_dir);
        return 2;
    }
    cli_set_threads(threads);
    if (resume_dir) out_dir = resume_dir;

    /* The tokenizer lives in the run directory, so translate and resume find it there. */
    char *run_tokenizer = tfm_file_join(out_dir, "tokenizer.json");
    char *source_tokenizer = resume_dir ? tfm_strdup(run_tokenizer) : tokenizer_arg ? tfm_strdup(tokenizer_arg) : tfm_file_join(data_dir, "tokenizer.json");
    tfm_seq2seq *model = NULL;
    tfm_bpe *tokenizer = NULL;
    tfm_seq2seq_trainer *trainer = NULL;
    tfm_status st = (!run_tokenizer || !source_tokenizer) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    int exit_code = 0;
    if (!st && !tfm_file_exists(source_tokenizer))
        st = tfm_error(TFM_ERR_IO, "%s: no such file; the joint BPE tokenizer is needed (build it with scripts/make-ende-corpus.sh, or "
                                   "pass --tokenizer)", source_tokenizer);
    if (!st) st = tfm_bpe_load_hf(&tokenizer, source_tokenizer);
    if (st) { exit_code = cli_fail("train"); goto done; }
    if (resume_dir) {
        if ((st = tfm_seq2seq_load(&model, resume_dir)) == TFM_OK) st = tfm_seq2seq_trainer_resume(&trainer, model, tokenizer, resume_dir, data_dir);
        if (!st) {
            if (max_steps) trainer->config.max_steps = max_steps;
            if (eval_every >= 0) trainer->config.eval_every = eval_every;
            if (save_every >= 0) trainer->config.save_every = save_every;
            if (log_every > 0) trainer->config.log_every = log_every;
            if (patience >= 0) trainer->config.patience = patience;
            if (bleu_sentences >= -1) trainer->config.bleu_sentences = bleu_sentences;
        }
    } else {
        tfm_seq2seq_config model_config;
        tfm_seq2seq_train_config train_config;
        tfm_seq2seq_config_default(&model_config);
        if ((st = tfm_seq2seq_config_load(config_path, &model_config, &train_config))) { exit_code = cli_fail("train"); goto done; }
        if (max_steps) train_config.max_steps = max_steps;
        if (seed >= 0) train_config.seed = (unsigned long long)seed;
        if (eval_every >= 0) train_config.eval_every = eval_every;
        if (save_every >= 0) train_config.save_every = save_every;
        if (log_every > 0) train_config.log_every = log_every;
        if (patience >= 0) train_config.patience = patience;
        if (bleu_sentences >= -1) train_config.bleu_sentences = bleu_sentences;
        char *existing = tfm_file_join(out_dir, "model.safetensors");
        int exists = existing && tfm_file_exists(existing);
        if (existing) tfm_free(existing, strlen(existing) + 1);
        if (exists) {
            fprintf(stderr, "tfm train: %s already holds a checkpoint; continue it with --resume %s, or choose another --out\n", out_dir, out_dir);
            exit_code = 1;
            goto done;
        }
        if ((st = tfm_seq2seq_create(&model, &model_config)) == TFM_OK) {
            tfm_seq2seq_init_weights(model, train_config.seed);
            st = tfm_seq2seq_trainer_create(&trainer, model, tokenizer, &train_config, data_dir);
        }
        if (!st) st = tfm_file_make_directory(out_dir);
        if (!st) st = copy_file(source_tokenizer, run_tokenizer);
    }
    if (st) { exit_code = cli_fail("train"); goto done; }

    const tfm_seq2seq_train_config *c = &trainer->config;
    const tfm_seq2seq_config *mc = &model->config;
    size_t n_params = 0;
    for (int i = 0; i < model->params.count; i++) n_params += model->params.entries[i].size;
    fprintf(stderr,
            "tfm train: seq2seq, %zu parameters, %d+%d layers, d_model %d, %d heads, vocab %d | data %s: %zu train pairs in %zu batches "
            "(%zu empty, %zu too long skipped), %zu valid pairs | %d tokens x %d accum | %s from step %ld to %ld\n",
            n_params, mc->n_encoder_layers, mc->n_decoder_layers, mc->d_model, mc->n_heads, mc->vocab_size, trainer->data_dir,
            trainer->train.pairs, trainer->train.batch_count, trainer->train.skipped_empty, trainer->train.skipped_long, trainer->valid.pairs,
            c->batch_tokens, c->grad_accum_steps, resume_dir ? "resuming" : "training", trainer->step, c->max_steps);

    char log_path[2048];
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", out_dir);
    FILE *log = fopen(log_path, "a");
    double train_seconds = 0;
    long timed_tokens = 0, first_step = trainer->step, tokens_since_log = 0, steps_since_log = 0;
    double seconds_since_log = 0;
    float valid_loss = NAN, bleu = -1;
    int stopped_early = 0;
    long stop = stop_after && stop_after < c->max_steps ? stop_after : c->max_steps;
    /* --time-limit: the run ends like at max_steps (validation, checkpoint) once the clock says so. */
    const double run_start = cli_now(), deadline = time_limit > 0 ? run_start + 60.0 * time_limit : INFINITY;
    int out_of_time = 0;
    while (trainer->step < stop) {
        double t0 = cli_now();
        if ((st = tfm_seq2seq_trainer_step(trainer)) != TFM_OK) { exit_code = cli_fail("train"); break; }
        double dt = cli_now() - t0;
        if (trainer->step > first_step + 1) { train_seconds += dt; timed_tokens += trainer->last_target_tokens; }
        steps_since_log++;
        tokens_since_log += trainer->last_target_tokens;
        seconds_since_log += dt;
        out_of_time = cli_now() >= deadline;
        int last = trainer->step == stop || out_of_time;
        if (trainer->step % c->log_every == 0 || last) {
            double tok_s = seconds_since_log > 0 ? tokens_since_log / seconds_since_log : 0;
            char eta[32];
            double remaining = seconds_since_log / (double)steps_since_log * (double)(c->max_steps - trainer->step);
            if (deadline - cli_now() < remaining) remaining = deadline - cli_now();
            cli_format_duration(remaining, eta, sizeof eta);
            fprintf(stderr, "step %6ld/%ld | epoch %ld | loss %.4f | lr %.2e | norm %.3f | %.1fk tgt tok/s | ETA %s\n", trainer->step,
                    c->max_steps, trainer->epoch_of_step + 1, trainer->last_loss, trainer->last_learning_rate, trainer->last_grad_norm,
                    tok_s / 1000, eta);
            steps_since_log = tokens_since_log = 0;
            seconds_since_log = 0;
        }
        log_line(log, "{\"step\":%ld,\"epoch\":%ld,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,\"target_tokens\":%ld}", trainer->step,
                 trainer->epoch_of_step + 1, trainer->last_loss, trainer->last_learning_rate, trainer->last_grad_norm,
                 trainer->last_target_tokens);
        /* Not at a --stop-after pause: an extra validation would change the early-stopping state of the run. */
        int evaluate = (c->eval_every > 0 && trainer->step % c->eval_every == 0) || trainer->step == c->max_steps || out_of_time;
        if (evaluate) {
            float previous_best = trainer->best_bleu;
            double e0 = cli_now();
            if ((st = tfm_seq2seq_trainer_evaluate(trainer, &valid_loss, &bleu)) != TFM_OK) { exit_code = cli_fail("train"); break; }
            fprintf(stderr, "step %6ld/%ld | valid loss %.4f | BLEU %.2f (best %.2f at step %ld) | %.1fs\n", trainer->step, c->max_steps,
                    valid_loss, bleu, trainer->best_bleu, trainer->best_step, cli_now() - e0);
            log_line(log, "{\"step\":%ld,\"valid_loss\":%.9g,\"valid_bleu\":%.4f}", trainer->step, valid_loss, bleu);
            if (bleu >= 0 && trainer->best_bleu > previous_best && (st = save_best(model, out_dir, run_tokenizer))) {
                exit_code = cli_fail("train");
                break;
            }
            if (tfm_seq2seq_trainer_should_stop(trainer)) {
                fprintf(stderr, "tfm train: no better validation BLEU in %d validations; stopping early (best %.2f at step %ld)\n",
                        c->patience, trainer->best_bleu, trainer->best_step);
                stopped_early = 1;
            }
        }
        if ((c->save_every > 0 && trainer->step % c->save_every == 0) || last || stopped_early) {
            if ((st = tfm_seq2seq_trainer_save(trainer, out_dir)) != TFM_OK) { exit_code = cli_fail("train"); break; }
        }
        if (stopped_early) break;
        if (out_of_time) {
            fprintf(stderr, "tfm train: time limit of %g minutes reached at step %ld\n", (double)time_limit, trainer->step);
            break;
        }
    }
    if (log) fclose(log);
    if (exit_code == 0) {
        fprintf(stderr, "tfm train: saved %s (step %ld)\n", out_dir, trainer->step);
        printf("summary {\"steps\":%ld,\"target_tokens\":%ld,\"seconds\":%.3f,\"target_tokens_per_second\":%.1f,\"final_train_loss\":%.6f,"
               "\"final_valid_loss\":%.6f,\"final_valid_bleu\":%.4f,\"best_valid_bleu\":%.4f,\"best_step\":%ld,\"stopped_early\":%s,"
               "\"wall_seconds\":%.3f}\n",
               trainer->step - first_step, timed_tokens, train_seconds, train_seconds > 0 ? timed_tokens / train_seconds : 0.0,
               trainer->last_loss, isnan(valid_loss) ? -1.0 : (double)valid_loss, (double)bleu, (double)trainer->best_bleu,
               trainer->best_step, stopped_early ? "true" : "false", cli_now() - run_start);
    }
done:
    tfm_seq2seq_trainer_free(trainer);
    tfm_seq2seq_free(model);
    tfm_bpe_free(tokenizer);
    if (run_tokenizer) tfm_free(run_tokenizer, strlen(run_tokenizer) + 1);
    if (source_tokenizer) tfm_free(source_tokenizer, strlen(source_tokenizer) + 1);
    return exit_code;
}
