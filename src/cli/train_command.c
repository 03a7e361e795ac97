/* cli/train_command.c: "tfm train" for every model: one option table, one set of overrides, progress and summary; the model's part is how its task is built. */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bert_data.h"
#include "tfm/bert_labeled.h"
#include "tfm/bpe.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"
#include "tfm/train.h"
#include "tfm/wordpiece.h"

/* What the command line says, before it is applied to a config. Negative / zero: not given. */
typedef struct train_arguments {
    const char *config_path, *data, *out_dir, *resume_dir, *init_dir, *tokenizer, *on_nonfinite;
    long max_steps, stop_after, seed;
    int threads, eval_every, save_every, keep_checkpoints, log_every, patience, bleu_sentences, force, help;
    float time_limit_minutes;
    char saved_data[4096];       /* on resume without --data: where the run's data was */
} train_arguments;

/* A model and what it needs beside the trainer (freed after it). */
typedef struct train_model {
    cli_model model;             /* .task: TFM_TASK_* */
    tfm_bpe *tokenizer;          /* the encoder-decoder's joint BPE; a GPT's BPE (NULL: bytes) */
    tfm_wordpiece *wordpiece;    /* BERT's vocabulary */
} train_model;

static void free_model(train_model *m) {
    cli_model_free(&m->model);
    tfm_bpe_free(m->tokenizer);
    tfm_wordpiece_free(m->wordpiece);
}

/* ---- Which model: "model_type" of --config's "model" object, of --init DIR or of --resume DIR ---- */

static int task_of(const train_arguments *a) {
    if (a->init_dir) return cli_model_type_of_directory(a->init_dir);
    if (a->config_path) return cli_model_type_of_file(a->config_path, 1);
    if (!a->resume_dir) return TFM_TASK_GPT;
    return cli_model_type_of_directory(a->resume_dir);
}

/* ---- The config: file or saved, then what the command line changes ---- */

/* The run's length and reporting may change on resume; the seed only on a new run. */
static void apply_overrides(const train_arguments *a, tfm_train_config *c, int resuming) {
    if (a->max_steps) c->max_steps = a->max_steps;
    if (a->seed >= 0 && !resuming) c->seed = (unsigned long long)a->seed;
    if (a->eval_every >= 0) c->eval_every = a->eval_every;
    if (a->save_every >= 0) c->save_every = a->save_every;
    if (a->keep_checkpoints > 0) c->keep_checkpoints = a->keep_checkpoints;
    if (a->log_every > 0) c->log_every = a->log_every;
    if (a->patience >= 0) c->patience = a->patience;
    if (a->bleu_sentences >= -1) c->seq2seq.bleu_sentences = a->bleu_sentences;
    if (a->on_nonfinite) c->on_nonfinite = strcmp(a->on_nonfinite, "skip") == 0 ? TFM_ON_NONFINITE_SKIP : TFM_ON_NONFINITE_STOP;
}

/* Extending a run whose schedule depends on max_steps changes the rate from the next step on: say so. */
static void warn_schedule_change(const tfm_train_config *saved, const tfm_train_config *now, long step, int d_model) {
    if (saved->max_steps == now->max_steps || (saved->schedule != TFM_SCHEDULE_COSINE && saved->schedule != TFM_SCHEDULE_LINEAR)) return;
    float before = tfm_schedule_learning_rate(saved, d_model, step + 1, 0), after = tfm_schedule_learning_rate(now, d_model, step + 1, 0);
    fprintf(stderr, "tfm train: max_steps %ld -> %ld re-plans the %s schedule: the learning rate of step %ld is %.2e, not %.2e\n",
            saved->max_steps, now->max_steps, saved->schedule == TFM_SCHEDULE_COSINE ? "cosine" : "linear", step + 1, (double)after,
            (double)before);
}

/* ---- The model's part: build (new run) or load (resume) the model and its task ---- */

/* 1 when --config's "model" object sets `key` (a GPT's vocab_size then has to match its tokenizer's). */
static int config_sets(const char *config_path, const char *key) {
    char *text = NULL;
    size_t size = 0;
    if (!config_path || tfm_file_read(config_path, &text, &size) != TFM_OK) return 0;
    cJSON *root = cJSON_Parse(text);
    tfm_free(text, size + 1);
    int found = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), key) != NULL;
    cJSON_Delete(root);
    return found;
}

/* A GPT's tokenizer: the run's (resume), --tokenizer's, else --init's when its directory has one; none: bytes. */
static tfm_status gpt_tokenizer(const train_arguments *a, train_model *m) {
    const char *from = a->resume_dir ? a->resume_dir : a->tokenizer ? a->tokenizer : a->init_dir;
    if (!from || (from != a->tokenizer && !cli_directory_has_tokenizer(from))) return TFM_OK;
    return tfm_bpe_load(&m->tokenizer, from);
}

static tfm_status gpt_model(const train_arguments *a, train_model *m, const tfm_train_config *c) {
    if (a->resume_dir) return tfm_gpt_load(&m->model.gpt, a->resume_dir);
    if (a->init_dir) return tfm_gpt_load(&m->model.gpt, a->init_dir); /* tfm's or Hugging Face's GPT-2 weights */
    tfm_gpt_config model_config;
    tfm_gpt_config_default(&model_config);
    tfm_status st = a->config_path ? tfm_config_load(a->config_path, &model_config, NULL) : TFM_OK;
    /* The tokenizer decides the vocabulary unless the config says otherwise (then they must agree: the task checks). */
    if (!st && m->tokenizer && !config_sets(a->config_path, "vocab_size")) model_config.vocab_size = (int)tfm_bpe_vocab_size(m->tokenizer);
    if (!st) st = tfm_gpt_create(&m->model.gpt, &model_config);
    if (!st) tfm_gpt_init_weights(m->model.gpt, c->seed);
    return st;
}

/* A new run with a tokenizer: it goes into the run directory as tokenizer.json, and text is tokenized once into
 * <out>/data.tokens, which the run then trains on (and resumes from). */
static tfm_status gpt_run_files(const train_arguments *a, const char *out_dir, const tfm_bpe *tokenizer, char **data) {
    *data = tfm_strdup(a->data);
    if (!*data) return TFM_ERR_OUT_OF_MEMORY;
    if (a->resume_dir || !tokenizer) return TFM_OK;
    char *saved = tfm_file_join(out_dir, "tokenizer.json"), *tokens = tfm_file_join(out_dir, "data.tokens");
    tfm_status st = saved && tokens ? tfm_file_make_directory(out_dir) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_bpe_save_hf(tokenizer, saved);
    if (!st && !tfm_token_file_is(a->data)) {
        double t0 = cli_now();
        st = tfm_dataset_tokenize_file(a->data, (tfm_bpe *)tokenizer, tokens);
        if (!st) fprintf(stderr, "tfm train: tokenized %s into %s (%.1f s)\n", a->data, tokens, cli_now() - t0);
        if (!st) {
            tfm_free(*data, strlen(*data) + 1);
            *data = tokens, tokens = NULL;
        }
    }
    if (saved) tfm_free(saved, strlen(saved) + 1);
    if (tokens) tfm_free(tokens, strlen(tokens) + 1);
    return st;
}

static tfm_status gpt_task(const train_arguments *a, const char *out_dir, train_model *m, tfm_train_config *c, tfm_train_task **task) {
    m->model.gpt = NULL;
    char *data = NULL;
    tfm_status st = gpt_tokenizer(a, m);
    if (!st) st = gpt_model(a, m, c);
    if (!st) st = gpt_run_files(a, out_dir, m->tokenizer, &data);
    if (!st) st = tfm_gpt_task_create(task, m->model.gpt, c, data, m->tokenizer);
    if (data) tfm_free(data, strlen(data) + 1);
    return st;
}

/* The joint BPE lives in the run directory, so translate and resume find it there. */
static tfm_status seq2seq_task(const train_arguments *a, const char *out_dir, train_model *m, tfm_train_config *c, tfm_train_task **task) {
    char *run_tokenizer = tfm_file_join(out_dir, "tokenizer.json");
    char *given = a->resume_dir ? tfm_strdup(run_tokenizer) : a->tokenizer ? tfm_strdup(a->tokenizer) : tfm_file_join(a->data, "tokenizer.json");
    tfm_status st = (!run_tokenizer || !given) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    if (!st && !tfm_file_exists(given))
        st = tfm_error(TFM_ERR_IO, "%s: no such file; the joint BPE tokenizer is needed (build it with scripts/make-ende-corpus.sh, or "
                                   "pass --tokenizer)", given);
    if (!st) st = tfm_bpe_load_hf(&m->tokenizer, given);
    if (!st && a->resume_dir) {
        st = tfm_seq2seq_load(&m->model.seq2seq, a->resume_dir);
    } else if (!st) {
        tfm_seq2seq_config model_config;
        if ((st = tfm_seq2seq_config_load(a->config_path, &model_config, NULL)) == TFM_OK) st = tfm_seq2seq_create(&m->model.seq2seq, &model_config);
        if (!st) tfm_seq2seq_init_weights(m->model.seq2seq, c->seed);
    }
    if (!st) st = tfm_seq2seq_task_create(task, m->model.seq2seq, m->tokenizer, c, a->data);
    if (!st && !a->resume_dir) st = tfm_file_make_directory(out_dir);
    if (!st && !a->resume_dir) st = tfm_file_copy(given, run_tokenizer);
    if (run_tokenizer) tfm_free(run_tokenizer, strlen(run_tokenizer) + 1);
    if (given) tfm_free(given, strlen(given) + 1);
    return st;
}

/* The directory part of a path ("." when it has none; "a/b/" is in "a"), in fresh memory. */
static char *directory_of(const char *path) {
    char *dir = tfm_strdup(path);
    if (!dir) return NULL;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) {
        tfm_free(dir, strlen(path) + 1);
        return tfm_strdup(".");
    }
    slash[slash == dir ? 1 : 0] = '\0';
    return dir;
}

/* Where the vocabulary comes from: the run's (resume), --tokenizer, the --init model's, else vocab.txt beside --data. */
static char *vocab_path(const train_arguments *a, const char *out_dir) {
    if (a->resume_dir) return tfm_file_join(out_dir, "vocab.txt");
    if (a->tokenizer) return tfm_strdup(a->tokenizer);
    if (a->init_dir) {
        char *path = cli_model_file(a->init_dir, "vocab.txt");
        return path ? path : tfm_file_join(a->init_dir, "vocab.txt");
    }
    char *data_dir = directory_of(a->data), *path = data_dir ? tfm_file_join(data_dir, "vocab.txt") : NULL;
    if (data_dir) tfm_free(data_dir, strlen(data_dir) + 1);
    return path;
}

/* BERT's WordPiece vocabulary (vocab_path); it lower-cases unless a tokenizer_config.json beside it says
 * "do_lower_case": false. The run directory keeps both, as Hugging Face lays a BERT out, so resume, best/ and other
 * tools find them. */
static tfm_status load_wordpiece(const train_arguments *a, const char *out_dir, train_model *m) {
    char *given = vocab_path(a, out_dir);
    char *given_dir = given ? directory_of(given) : NULL;
    tfm_status st = (!given || !given_dir) ? TFM_ERR_OUT_OF_MEMORY : TFM_OK;
    if (!st && !tfm_file_exists(given))
        st = tfm_error(TFM_ERR_IO, "%s: no such file; BERT needs a WordPiece vocab.txt (make one with \"tfm tokenizer wordpiece train\", or "
                                   "pass --tokenizer)", given);
    int lowercase = st ? 1 : (int)cli_json_number_in(given_dir, "tokenizer_config.json", "do_lower_case", 1);
    if (!st) st = tfm_wordpiece_load(&m->wordpiece, given, lowercase);
    if (!st && !a->resume_dir) {
        char *vocab = tfm_file_join(out_dir, "vocab.txt"), *settings = tfm_file_join(out_dir, "tokenizer_config.json");
        char json[128];
        snprintf(json, sizeof json, "{\n  \"do_lower_case\": %s,\n  \"tokenizer_class\": \"BertTokenizer\"\n}\n", lowercase ? "true" : "false");
        st = (!vocab || !settings) ? TFM_ERR_OUT_OF_MEMORY : tfm_file_make_directory(out_dir);
        if (!st) st = tfm_file_copy(given, vocab); /* byte for byte (also when it is that file) */
        if (!st) st = tfm_file_write_atomic(settings, json, strlen(json));
        if (vocab) tfm_free(vocab, strlen(vocab) + 1);
        if (settings) tfm_free(settings, strlen(settings) + 1);
    }
    if (given) tfm_free(given, strlen(given) + 1);
    if (given_dir) tfm_free(given_dir, strlen(given_dir) + 1);
    return st;
}

static int fine_tuning(const tfm_train_config *c) { return c->bert.data.objective >= TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION; }

/* 1 when --config has a "model" object of its own (with --init it may have none: the model is --init's). */
static int config_has_model(const train_arguments *a) { return a->config_path && cli_model_type_of_file(a->config_path, 1) == TFM_TASK_BERT; }

/* A new BERT: --config's model, else --init's, with the heads the objective needs; its body from --init when given. */
static tfm_status new_bert(const train_arguments *a, train_model *m, const tfm_train_config *c, const tfm_bert_labels *labels) {
    tfm_bert_config model_config;
    tfm_status st = config_has_model(a) ? tfm_bert_config_load(a->config_path, &model_config, NULL) : tfm_bert_config_read(a->init_dir, &model_config);
    if (st) return st;
    if (fine_tuning(c)) {
        int sequences = c->bert.data.objective == TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION;
        model_config.parts = sequences ? TFM_BERT_SEQUENCE_CLASSIFICATION : TFM_BERT_TOKEN_CLASSIFICATION;
        model_config.num_labels = labels->count;
    } else if (a->init_dir) {
        model_config.parts = TFM_BERT_PRETRAINING; /* continued pre-training */
    }
    st = tfm_bert_create(&m->model.bert, &model_config);
    if (!st) tfm_bert_init_weights(m->model.bert, c->seed);
    if (!st && a->init_dir) st = tfm_bert_load_encoder(m->model.bert, a->init_dir, NULL);
    if (!st && labels->count) st = tfm_bert_set_label_names(m->model.bert, (const char *const *)labels->names, labels->count);
    return st;
}

/* Pre-training on a text file, or fine-tuning on a directory with labels.txt, train.tsv and valid.tsv (on resume the
 * labels are the checkpoint's id2label). */
static tfm_status bert_task(const train_arguments *a, const char *out_dir, train_model *m, tfm_train_config *c, tfm_train_task **task) {
    tfm_bert_labels labels = {0};
    tfm_status st = load_wordpiece(a, out_dir, m);
    if (!st && fine_tuning(c) && !a->resume_dir) {
        char *path = tfm_file_join(a->data, "labels.txt");
        st = !path ? TFM_ERR_OUT_OF_MEMORY : tfm_file_exists(path) ? tfm_bert_labels_load(&labels, path)
             : tfm_error(TFM_ERR_IO, "%s: no such file; fine-tuning needs the label set, one label per line, beside train.tsv", path);
        if (path) tfm_free(path, strlen(path) + 1);
    }
    if (!st && a->resume_dir) {
        st = tfm_bert_load(&m->model.bert, a->resume_dir, NULL);
        if (!st && fine_tuning(c))
            st = tfm_bert_labels_from_names(&labels, (const char *const *)m->model.bert->label_names, m->model.bert->config.num_labels,
                                            "the checkpoint's id2label");
    } else if (!st) {
        st = new_bert(a, m, c, &labels);
    }
    if (!st) st = fine_tuning(c) ? tfm_bert_classifier_task_create(task, m->model.bert, m->wordpiece, &labels, c, a->data)
                                 : tfm_bert_task_create(task, m->model.bert, m->wordpiece, c, a->data);
    tfm_bert_labels_free(&labels);
    return st;
}

/* New run: the config file's (or the built-in) config; resume: the saved one. Then the trainer. */
static tfm_status make_trainer(train_arguments *a, const char *out_dir, train_model *m, tfm_trainer **trainer) {
    tfm_train_config config, saved;
    tfm_status st = TFM_OK;
    tfm_train_config_default_task(&config, m->model.task);
    if (a->resume_dir) {
        st = tfm_trainer_saved_config(a->resume_dir, m->model.task, &config, a->saved_data, sizeof a->saved_data);
        if (!a->data) a->data = a->saved_data;
    } else if (a->init_dir && !config_has_model(a)) {
        if (a->config_path) st = tfm_train_config_load_part(a->config_path, m->model.task, &config);
    } else if (a->config_path) {
        st = m->model.task == TFM_TASK_SEQ2SEQ ? tfm_seq2seq_config_load(a->config_path, NULL, &config)
             : m->model.task == TFM_TASK_BERT  ? tfm_bert_config_load(a->config_path, NULL, &config)
                                               : tfm_config_load(a->config_path, NULL, &config);
    }
    if (st) return st;
    saved = config;
    apply_overrides(a, &config, a->resume_dir != NULL);
    tfm_train_task *task = NULL;
    st = m->model.task == TFM_TASK_SEQ2SEQ ? seq2seq_task(a, out_dir, m, &config, &task)
         : m->model.task == TFM_TASK_BERT  ? bert_task(a, out_dir, m, &config, &task)
                                           : gpt_task(a, out_dir, m, &config, &task);
    if (st) return st;
    if (!a->resume_dir) return tfm_trainer_create(trainer, task, &config);
    st = tfm_trainer_resume(trainer, task, &config, a->resume_dir);
    if (!st) warn_schedule_change(&saved, &config, tfm_trainer_get_progress(*trainer).step, task->d_model);
    return st;
}

/* ---- Progress on stderr ---- */

/* What the progress printer needs besides the event. */
typedef struct progress_printer {
    const tfm_trainer *trainer;
    float time_limit_minutes;
} progress_printer;

/* "BLEU" for the score name "bleu"; a name of several words ("mlm_accuracy") stays as it is. */
static void upper_case(const char *name, char *out, size_t size) {
    size_t i = 0;
    int word = strchr(name, '_') == NULL;
    for (; name[i] && i + 1 < size; i++) out[i] = (char)(word && name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    out[i] = '\0';
}

static void print_event(void *user, const tfm_train_event *e) {
    const progress_printer *printer = user;
    const tfm_trainer *t = printer->trainer;
    const tfm_train_task *task = tfm_trainer_task(t);
    const tfm_trainer_progress *p = &e->progress;
    char eta[32];
    switch (e->kind) {
    case TFM_TRAIN_EVENT_PROGRESS:
        cli_format_duration(e->eta_seconds, eta, sizeof eta);
        fprintf(stderr, "step %6ld/%ld", p->step, p->max_steps);
        if (task->epoch) fprintf(stderr, " | epoch %ld", p->epoch);
        fprintf(stderr, " | loss %.4f | lr %.2e | norm %.3f | %.1fk tok/s | ETA %s\n", (double)p->loss, (double)p->learning_rate,
                (double)p->grad_norm, e->tokens_per_second / 1000, eta);
        break;
    case TFM_TRAIN_EVENT_EVALUATED:
        fprintf(stderr, "step %6ld/%ld | valid loss %.4f", p->step, p->max_steps, (double)e->valid_loss);
        char score_name[32];
        if (task->score_name) upper_case(task->score_name, score_name, sizeof score_name);
        if (task->score_name && !isnan(e->score))
            fprintf(stderr, " | %s %.2f (best %.2f at step %ld)", score_name, (double)e->score, (double)p->best_score, p->best_step);
        else
            fprintf(stderr, " (best %.4f at step %ld)", -(double)p->best_score, p->best_step);
        for (int i = 0; i < task->metric_count; i++)
            if (!isnan(task->metric_values[i])) fprintf(stderr, " | %s %.4g", task->metric_names[i], (double)task->metric_values[i]);
        fprintf(stderr, " | %.1fs\n", e->eval_seconds);
        break;
    case TFM_TRAIN_EVENT_STOPPED:
        if (e->stop_reason == TFM_TRAIN_STOP_PATIENCE)
            fprintf(stderr, "tfm train: no better validation in %d validations; stopping early (best at step %ld)\n",
                    tfm_trainer_config(t)->patience, p->best_step);
        else if (e->stop_reason == TFM_TRAIN_STOP_TIME_LIMIT)
            fprintf(stderr, "tfm train: time limit of %g minutes reached at step %ld\n", (double)printer->time_limit_minutes, p->step);
        else if (e->stop_reason == TFM_TRAIN_STOP_REQUESTED)
            fprintf(stderr, "tfm train: stopped on request after step %ld; continue with --resume\n", p->step);
        break;
    case TFM_TRAIN_EVENT_SKIPPED:
        fprintf(stderr, "tfm train: skipped (on_nonfinite \"skip\", %ld so far): %s\n", p->skipped_steps, e->message);
        break;
    }
}

/* ---- The summary: one plain JSON line on stdout; null for what was not measured ---- */

static void print_number(const char *key, double value, int last) {
    if (isfinite(value)) printf("\"%s\":%.6g%s", key, value, last ? "" : ",");
    else printf("\"%s\":null%s", key, last ? "" : ",");
}

static void print_summary(const tfm_trainer *t, const tfm_train_summary *s) {
    const tfm_train_task *task = tfm_trainer_task(t);
    int scored = task->score_name != NULL && !isnan(s->best_score) && s->best_score >= 0;
    printf("{\"model\":\"%s\",\"steps\":%ld,\"final_step\":%ld,\"tokens\":%ld,", task->name, s->steps, s->final_step, s->timed_tokens);
    print_number("seconds", s->train_seconds, 0);
    print_number("tokens_per_second", s->train_seconds > 0 ? (double)s->timed_tokens / s->train_seconds : NAN, 0);
    print_number("final_train_loss", s->final_train_loss, 0);
    print_number("final_valid_loss", s->final_valid_loss, 0);
    if (task->score_name) {
        char key[64];
        snprintf(key, sizeof key, "final_valid_%s", task->score_name);
        print_number(key, s->final_score, 0);
        snprintf(key, sizeof key, "best_valid_%s", task->score_name);
        print_number(key, scored ? s->best_score : NAN, 0);
    } else {
        print_number("best_valid_loss", -s->best_score, 0);
    }
    if (isnan(s->best_score)) printf("\"best_step\":null,");
    else printf("\"best_step\":%ld,", s->best_step);
    printf("\"skipped_steps\":%ld,", s->skipped_steps);
    printf("\"stop_reason\":\"%s\",\"stopped_early\":%s,", tfm_train_stop_reason_names[s->stop_reason],
           s->stop_reason == TFM_TRAIN_STOP_PATIENCE ? "true" : "false");
    print_number("wall_seconds", s->wall_seconds, 1);
    printf("}\n");
    fflush(stdout);
}

/* ---- Ctrl-C / SIGTERM: finish the step, save, exit; a second signal ends the process at once ---- */

static volatile sig_atomic_t stop_requested = 0;

static void request_stop(int signal_number) {
    stop_requested = 1;
    signal(signal_number, SIG_DFL);
}

/* ---- The command ---- */

static int check_arguments(const train_arguments *a, int task) {
    if (!a->resume_dir && (!a->data || !a->out_dir || (task != TFM_TASK_GPT && !a->config_path))) {
        fprintf(stderr, "tfm train: needs --data FILE|DIR and --out DIR (and --config FILE for an encoder-decoder or a BERT), or --resume DIR; "
                        "see tfm train --help\n");
        return 0;
    }
    if (a->resume_dir && (a->config_path || a->seed >= 0 || a->tokenizer || a->init_dir)) {
        fprintf(stderr, "tfm train: --resume continues with the saved config, seed, tokenizer and weights; drop --config/--seed/--tokenizer/--init\n");
        return 0;
    }
    if (a->init_dir && task == TFM_TASK_SEQ2SEQ) {
        fprintf(stderr, "tfm train: --init %s: expected a BERT or GPT directory; an encoder-decoder run starts from its own config\n", a->init_dir);
        return 0;
    }
    if (a->resume_dir && a->out_dir && strcmp(a->out_dir, a->resume_dir) != 0) {
        fprintf(stderr, "tfm train: --resume writes back into %s; drop --out or make it the same directory\n", a->resume_dir);
        return 0;
    }
    if (a->on_nonfinite && strcmp(a->on_nonfinite, "stop") != 0 && strcmp(a->on_nonfinite, "skip") != 0) {
        fprintf(stderr, "tfm train: --on-nonfinite: expected \"stop\" or \"skip\", got \"%s\"\n", a->on_nonfinite);
        return 0;
    }
    return 1;
}

static void print_names(const char *key, const char *const *names) {
    fprintf(stdout, "  %-22s", key);
    for (int i = 0; names[i]; i++) fprintf(stdout, "%s%s", i ? ", " : "", names[i]);
    fputc('\n', stdout);
}

/* The config's choices, from the library's own tables; every key with its default is in docs/config.md. */
static void print_config_help(void) {
    fprintf(stdout, "\nconfig choices (every key, its default and range: docs/config.md):\n");
    print_names("train.optimizer", tfm_optimizer_names);
    print_names("train.schedule", tfm_schedule_names);
    print_names("model.activation", tfm_ffn_activation_names);
    print_names("model.norm", tfm_norm_names);
    print_names("model.positions", tfm_position_names);
    print_names("model.attention_score", tfm_score_names);
}

int cli_train(int argc, char **argv) {
    train_arguments a = {.seed = -1, .eval_every = -1, .save_every = -1, .log_every = -1, .patience = -1, .bleu_sentences = -2};
    cli_option options[] = {
        {"config", CLI_STRING, &a.config_path, 0, 0, "training config (JSON); default: the built-in tiny GPT. \"model_type\": \"seq2seq\" "
                                                   "or \"bert\" in its model makes an encoder-decoder or BERT run; a BERT's train.objective "
                                                   "\"sequence_classification\" or \"token_classification\" fine-tunes", 0},
        {"data", CLI_STRING, &a.data, 0, 0, "GPT: a UTF-8 text file (bytes, or tokenized once with --tokenizer) or a token file; encoder-decoder: the directory with "
                                           "train.<src>/train.<tgt>/valid.<src>/valid.<tgt> (and tokenizer.json); BERT pre-training: a UTF-8 "
                                           "text file, one sentence per line, a blank line between documents; BERT fine-tuning: the "
                                           "directory with labels.txt, train.tsv and valid.tsv (label<TAB>text[<TAB>text_b], or "
                                           "word labels<TAB>text)", 0},
        {"init", CLI_STRING, &a.init_dir, 0, 0, "BERT or GPT: start from the weights of this model or run (tfm's or Hugging Face's); its "
                                               "config.json is the model (for BERT unless --config has one), its vocab.txt / tokenizer the vocabulary", 0},
        {"tokenizer", CLI_STRING, &a.tokenizer, 0, 0, "GPT: a byte-level BPE (tokenizer.json, a .tiktoken file, or a directory with tokenizer.json, "
                                                     "vocab.json + merges.txt or encoder.json + vocab.bpe; default: --init's, else bytes); encoder-decoder: the joint BPE "
                                                     "tokenizer.json (default: <data>/tokenizer.json); BERT: the WordPiece vocab.txt (default: --init's, else vocab.txt beside --data)", 0},
        {"out", CLI_STRING, &a.out_dir, 0, 0, "checkpoint directory to create", 0},
        {"resume", CLI_STRING, &a.resume_dir, 0, 0, "continue the run saved in this directory", 0},
        {"max-steps", CLI_LONG, &a.max_steps, 1, 1e12, "optimizer steps in total (overrides the config)", 0},
        {"stop-after", CLI_LONG, &a.stop_after, 1, 1e12, "save and stop at this step, keeping the schedule of --max-steps", 0},
        {"time-limit", CLI_FLOAT, &a.time_limit_minutes, 0, 1e7, "stop after this many minutes of this run (then validate and save)", 0},
        {"threads", CLI_INT, &a.threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"seed", CLI_LONG, &a.seed, 0, 9.2e18, "random seed (overrides the config)", 0},
        {"eval-every", CLI_INT, &a.eval_every, 0, 1e9, "steps between validations (0 = only at the end)", 0},
        {"patience", CLI_INT, &a.patience, 0, 1e6, "stop after this many validations without a better score (0 = never)", 0},
        {"bleu-sentences", CLI_INT, &a.bleu_sentences, -1, 1e8, "encoder-decoder: validation sentences translated for BLEU (-1 = all, 0 = none)", 0},
        {"save-every", CLI_INT, &a.save_every, 0, 1e9, "steps between checkpoints (0 = only at the end)", 0},
        {"keep-checkpoints", CLI_INT, &a.keep_checkpoints, 1, 1e6, "checkpoints kept in <out>/checkpoints/, the newest (default 2)", 0},
        {"log-every", CLI_INT, &a.log_every, 1, 1e9, "steps between progress lines", 0},
        {"on-nonfinite", CLI_STRING, &a.on_nonfinite, 0, 0, "a step with a NaN/infinite loss or gradient: \"stop\" (save the last good "
                                                          "step and fail; the default) or \"skip\" (drop its batch)", 0},
        {"force", CLI_FLAG, &a.force, 0, 0, "replace the run or model already in --out", 0},
        {"help", CLI_FLAG, &a.help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("train", options, argc, argv, 1)) return 2;
    if (a.help) {
        cli_options_print_help("usage: tfm train [--config FILE] [--init DIR] --data FILE|DIR --out DIR\n       tfm train --resume DIR", options);
        print_config_help();
        return 0;
    }
    train_model m = {.model.task = task_of(&a)};
    if (!check_arguments(&a, m.model.task)) return 2;
    cli_set_threads(a.threads);
    const char *out_dir = a.resume_dir ? a.resume_dir : a.out_dir;
    if (!a.resume_dir) {
        char advice[4200];
        snprintf(advice, sizeof advice, "continue it with --resume %s, choose another --out, ", out_dir);
        if (!cli_output_directory_check("train", out_dir, a.force, advice)) return 1;
    }
    tfm_trainer *trainer = NULL;
    /* With --force the old run goes only once the new one is set up (a bad config loses nothing). */
    if (make_trainer(&a, out_dir, &m, &trainer) != TFM_OK || (!a.resume_dir && cli_output_directory_clear(out_dir) != TFM_OK)) {
        tfm_trainer_free(trainer);
        free_model(&m);
        return cli_fail("train");
    }
    char description[1024];
    const tfm_train_task *task = tfm_trainer_task(trainer);
    const tfm_train_config *c = tfm_trainer_config(trainer);
    task->describe(task->self, description, sizeof description);
    fprintf(stderr, "tfm train: %s x %d accum | %s from step %ld to %ld\n", description, c->grad_accum_steps,
            a.resume_dir ? "resuming" : "training", tfm_trainer_get_progress(trainer).step, c->max_steps);

    signal(SIGINT, request_stop);
    signal(SIGTERM, request_stop);
    progress_printer printer = {trainer, a.time_limit_minutes};
    tfm_train_run_options run = {out_dir, a.stop_after, 60.0 * a.time_limit_minutes, &stop_requested, print_event, &printer};
    tfm_train_summary summary;
    int exit_code = 0;
    if (tfm_trainer_run(trainer, &run, &summary) != TFM_OK) {
        exit_code = cli_fail("train");
    } else {
        fprintf(stderr, "tfm train: saved %s (step %ld)\n", out_dir, summary.final_step);
        print_summary(trainer, &summary);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    tfm_trainer_free(trainer);
    free_model(&m);
    return exit_code;
}
