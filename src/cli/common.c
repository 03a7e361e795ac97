/* cli/common.c: helpers shared by the tfm commands (error printing, clock, threads, loading a model). */
#define _POSIX_C_SOURCE 200809L
#include "cli/common.h"
#include "tfm/bpe.h"

#include "tfm/wordpiece.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tfm/base.h"
#include "tfm/io.h"

int cli_fail(const char *command) {
    fprintf(stderr, "tfm %s: %s\n", command, tfm_last_error());
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_set_threads(int threads) { tfm_threads_set(threads); }

int cli_model_type_of_file(const char *path, int top) {
    char *text = NULL;
    size_t size = 0;
    if (tfm_file_read(path, &text, &size) != TFM_OK) return TFM_TASK_GPT;
    cJSON *root = cJSON_Parse(text);
    tfm_free(text, size + 1);
    const cJSON *model = top ? cJSON_GetObjectItemCaseSensitive(root, "model") : root;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "model_type");
    int task = !cJSON_IsString(type) ? TFM_TASK_GPT
               : strcmp(type->valuestring, "seq2seq") == 0 || strcmp(type->valuestring, "marian") == 0 ? TFM_TASK_SEQ2SEQ
               : strcmp(type->valuestring, "bert") == 0 || strcmp(type->valuestring, "albert") == 0 ? TFM_TASK_BERT : TFM_TASK_GPT;
    cJSON_Delete(root);
    return task;
}

int cli_model_type_of_directory(const char *dir) {
    char *checkpoint = NULL, *config = NULL;
    int task = TFM_TASK_GPT;
    if (tfm_checkpoint_resolve(dir, &checkpoint) == TFM_OK && (config = tfm_file_join(checkpoint, "config.json")))
        task = cli_model_type_of_file(config, 0);
    if (config) tfm_free(config, strlen(config) + 1);
    if (checkpoint) tfm_free(checkpoint, strlen(checkpoint) + 1);
    return task;
}

tfm_status cli_model_load(const char *dir, cli_model *m) {
    memset(m, 0, sizeof *m);
    m->task = cli_model_type_of_directory(dir);
    if (m->task == TFM_TASK_BERT) return tfm_bert_load(&m->bert, dir, NULL);
    return m->task == TFM_TASK_SEQ2SEQ ? tfm_seq2seq_load(&m->seq2seq, dir) : tfm_gpt_load(&m->gpt, dir);
}

static int has_file(const char *dir, const char *name) {
    char *path = tfm_file_join(dir, name);
    int found = path && tfm_file_exists(path);
    if (path) tfm_free(path, strlen(path) + 1);
    return found;
}

int cli_directory_has_tokenizer(const char *dir) {
    return has_file(dir, "tokenizer.json") || (has_file(dir, "vocab.json") && has_file(dir, "merges.txt")) ||
           (has_file(dir, "encoder.json") && has_file(dir, "vocab.bpe"));
}

tfm_params *cli_model_params(cli_model *m) { return m->bert ? &m->bert->params : m->seq2seq ? &m->seq2seq->params : &m->gpt->params; }

tfm_status cli_model_save(const cli_model *m, const char *dir) {
    if (m->bert) return tfm_bert_save(m->bert, dir);
    return m->seq2seq ? tfm_seq2seq_save(m->seq2seq, dir) : tfm_gpt_save(m->gpt, dir);
}

void cli_model_free(cli_model *m) {
    tfm_gpt_free(m->gpt);
    tfm_seq2seq_free(m->seq2seq);
    tfm_bert_free(m->bert);
    memset(m, 0, sizeof *m);
}

/* A number from a small JSON file beside the model (tokenizer_config.json, sentence_bert_config.json), or fallback. */
double cli_json_number_in(const char *dir, const char *file, const char *key, double fallback) {
    char *path = tfm_file_join(dir, file), *text = NULL;
    size_t size = 0;
    double value = fallback;
    if (path && tfm_file_exists(path) && tfm_file_read(path, &text, &size) == TFM_OK) {
        cJSON *o = cJSON_ParseWithLength(text, size);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (cJSON_IsNumber(v)) value = v->valuedouble;
        else if (cJSON_IsBool(v)) value = cJSON_IsTrue(v);
        cJSON_Delete(o);
        tfm_free(text, size + 1);
    }
    if (path) tfm_free(path, strlen(path) + 1);
    return value;
}

char *cli_model_file(const char *dir, const char *name) {
    char *path = tfm_file_join(dir, name);
    if (!path || tfm_file_exists(path)) return path;
    tfm_free(path, strlen(path) + 1);
    char *up = tfm_file_join(dir, "../.."), *marker = up ? tfm_file_join(up, "checkpoints") : NULL;
    path = marker && tfm_file_exists(marker) ? tfm_file_join(up, name) : NULL;
    if (path && !tfm_file_exists(path)) {
        tfm_free(path, strlen(path) + 1);
        path = NULL;
    }
    if (up) tfm_free(up, strlen(up) + 1);
    if (marker) tfm_free(marker, strlen(marker) + 1);
    return path;
}

tfm_status cli_bert_load(const char *dir, tfm_bert **model, tfm_wordpiece **tokenizer) {
    *model = NULL;
    *tokenizer = NULL;
    tfm_status st = tfm_bert_load(model, dir, NULL);
    if (st) return st;
    char *vocab = cli_model_file(dir, "vocab.txt");
    if (!vocab) {
        tfm_bert_free(*model);
        *model = NULL;
        return tfm_error(TFM_ERR_IO, "%s: no vocab.txt; a BERT directory needs the WordPiece vocabulary it was trained with", dir);
    }
    char *vocab_dir = tfm_strdup(vocab), *slash = vocab_dir ? strrchr(vocab_dir, '/') : NULL;
    if (slash) *slash = '\0';
    int lowercase = (int)cli_json_number_in(slash ? vocab_dir : ".", "tokenizer_config.json", "do_lower_case", 1);
    st = tfm_wordpiece_load(tokenizer, vocab, lowercase);
    if (!st && tfm_wordpiece_vocab_size(*tokenizer) != (size_t)(*model)->config.vocab_size)
        st = tfm_error(TFM_ERR_CONFIG, "%s: vocab.txt has %zu tokens but config.json's vocab_size is %d", dir, tfm_wordpiece_vocab_size(*tokenizer),
                       (*model)->config.vocab_size);
    tfm_free(vocab, strlen(vocab) + 1);
    if (vocab_dir) tfm_free(vocab_dir, strlen(vocab_dir) + 1);
    if (st) {
        tfm_bert_free(*model);
        tfm_wordpiece_free(*tokenizer);
        *model = NULL;
        *tokenizer = NULL;
    }
    return st;
}

/* The k most probable ids of one row of logits [V], with their softmax probabilities. */
void cli_top_k(const float *logits, int V, int k, int32_t *ids, float *probabilities) {
    float max = logits[0];
    for (int v = 1; v < V; v++) max = logits[v] > max ? logits[v] : max;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)logits[v] - max);
    for (int i = 0; i < k; i++) ids[i] = -1;
    for (int v = 0; v < V; v++) { /* insertion into the sorted top k; ties to the lower id, as a stable sort */
        int at = k;
        while (at > 0 && (ids[at - 1] < 0 || logits[v] > logits[ids[at - 1]])) at--;
        if (at == k) continue;
        memmove(ids + at + 1, ids + at, sizeof(int32_t) * (size_t)(k - at - 1));
        ids[at] = v;
    }
    for (int i = 0; i < k; i++) probabilities[i] = (float)(exp((double)logits[ids[i]] - max) / sum);
}

int cli_next_line(const char *text, size_t size, size_t *at, const char **line, size_t *length) {
    if (*at >= size) return 0;
    const char *start = text + *at, *end = memchr(start, '\n', size - *at);
    size_t n = end ? (size_t)(end - start) : size - *at;
    *at += n + 1;
    *line = start;
    *length = n > 0 && start[n - 1] == '\r' ? n - 1 : n;
    return 1;
}

int cli_each_line(const char *command, const char *input, const char *output, cli_line_function each, void *user) {
    cli_files files;
    if (!cli_files_open(&files, command, &input, input ? 1 : 0, output)) return 1;
    size_t size = 0, capacity = 0;
    char *text = cli_read_stream(files.in, &size, &capacity);
    tfm_status st = text ? TFM_OK : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory reading the input");
    const char *line_text;
    size_t at = 0, n = 0;
    for (long line = 1; !st && cli_next_line(text, size, &at, &line_text, &n); line++) st = each(user, line_text, n, line, files.out);
    if (text) tfm_free(text, capacity);
    int ok = cli_files_close(&files, st == TFM_OK);
    if (st) return cli_fail(command);
    return ok ? 0 : 1;
}

void cli_format_duration(double seconds, char *buf, int size) {
    if (seconds < 0) seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, (size_t)size, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else snprintf(buf, (size_t)size, "%ldm%02lds", s / 60, s % 60);
}

/* ---- Outputs that must not destroy what the user had ---- */

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_output_overwrites_input(const char *command, const char *option, const char *output, const char *const *inputs, int count) {
    if (!output || !strcmp(output, "-")) return 0;
    for (int i = 0; i < count; i++)
        if (inputs[i] && strcmp(inputs[i], "-") && cli_same_file(inputs[i], output)) {
            fprintf(stderr, "tfm %s: %s %s is the input file %s; write to another file\n", command, option, output, inputs[i]);
            return 1;
        }
    return 0;
}

int cli_output_directory_check(const char *command, const char *dir, int force, const char *advice) {
    switch (tfm_checkpoint_directory_kind(dir)) {
    case TFM_DIRECTORY_MISSING:
    case TFM_DIRECTORY_EMPTY:
        return 1;
    case TFM_DIRECTORY_OTHER: {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 1; /* a directory of other files: ours are new names */
        fprintf(stderr, "tfm %s: --out %s exists and is not a directory\n", command, dir);
        return 0;
    }
    case TFM_DIRECTORY_RUN:
        if (force) return 1;
        fprintf(stderr, "tfm %s: --out %s holds a training run (its checkpoints and optimizer state would be lost); %s"
                        "or pass --force to replace it\n", command, dir, advice ? advice : "choose another --out, ");
        return 0;
    case TFM_DIRECTORY_MODEL:
        if (force) return 1;
        fprintf(stderr, "tfm %s: --out %s holds a model; choose another --out, or pass --force to replace it\n", command, dir);
        return 0;
    }
    return 0;
}

tfm_status cli_output_directory_clear(const char *dir) {
    tfm_directory_kind kind = tfm_checkpoint_directory_kind(dir);
    return kind == TFM_DIRECTORY_RUN || kind == TFM_DIRECTORY_MODEL ? tfm_checkpoint_remove_run(dir) : TFM_OK;
}

/* ---- Streaming commands' files ---- */

int cli_files_open(cli_files *f, const char *command, const char *const *inputs, int input_count, const char *output) {
    memset(f, 0, sizeof *f);
    snprintf(f->command, sizeof f->command, "%s", command);
    const char *input = input_count ? inputs[0] : NULL;
    if (input && !strcmp(input, "-")) input = NULL;
    f->output = output && strcmp(output, "-") ? output : NULL;
    if (input_count > 1) {
        fprintf(stderr, "tfm %s: one --input only\n", command);
        return 0;
    }
    if (cli_output_overwrites_input(command, "--output", f->output, &input, input ? 1 : 0)) return 0;
    f->in = input ? fopen(input, "rb") : stdin;
    struct stat st;
    if (f->in && fstat(fileno(f->in), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tfm %s: %s is a directory, not a file to read\n", command, input ? input : "standard input");
        if (f->in != stdin) fclose(f->in);
        f->in = NULL;
        return 0;
    }
    if (!f->in) {
        fprintf(stderr, "tfm %s: %s: %s\n", command, input, strerror(errno));
        return 0;
    }
    if (!f->output) {
        f->out = stdout;
        return 1;
    }
    snprintf(f->temporary, sizeof f->temporary, "%s.tmp.%ld", f->output, (long)getpid());
    f->out = fopen(f->temporary, "wb");
    if (!f->out) {
        fprintf(stderr, "tfm %s: %s: %s\n", command, f->output, strerror(errno));
        if (f->in != stdin) fclose(f->in);
        f->in = NULL;
        return 0;
    }
    return 1;
}

int cli_files_close(cli_files *f, int ok) {
    if (f->in && f->in != stdin) fclose(f->in);
    f->in = NULL;
    if (!f->out) return 0;
    int written = fflush(f->out) == 0 && !ferror(f->out);
    if (f->out != stdout && fclose(f->out) != 0) written = 0;
    if (ok && !written) fprintf(stderr, "tfm %s: write error on %s\n", f->command, f->output ? f->output : "stdout");
    ok = ok && written;
    if (f->out != stdout) {
        if (ok && rename(f->temporary, f->output) != 0) {
            fprintf(stderr, "tfm %s: cannot rename %s to %s: %s\n", f->command, f->temporary, f->output, strerror(errno));
            ok = 0;
        }
        if (!ok) remove(f->temporary);
    }
    f->out = NULL;
    return ok;
}

int cli_write_ids(FILE *out, const char *format, const uint32_t *ids, size_t n, int *first) {
    if (!strcmp(format, "text")) {
        char buf[16];
        for (size_t i = 0; i < n; i++) {
            int len = snprintf(buf, sizeof buf, *first ? "%u" : " %u", ids[i]);
            fwrite(buf, 1, (size_t)len, out);
            *first = 0;
        }
    } else if (!strcmp(format, "uint16")) {
        for (size_t i = 0; i < n; i++) {
            if (ids[i] > 65535) {
                fprintf(stderr, "tfm tokenizer encode: id %u does not fit --format uint16 (use uint32)\n", ids[i]);
                return 0;
            }
            unsigned char b[2] = {(unsigned char)ids[i], (unsigned char)(ids[i] >> 8)};
            fwrite(b, 1, 2, out);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char b[4] = {(unsigned char)ids[i], (unsigned char)(ids[i] >> 8), (unsigned char)(ids[i] >> 16),
                                  (unsigned char)(ids[i] >> 24)};
            fwrite(b, 1, 4, out);
        }
    }
    return !ferror(out);
}

int cli_parse_long(const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return 0;
    *out = v;
    return 1;
}

char *cli_read_stream(FILE *in, size_t *size, size_t *capacity) {
    size_t cap = 1 << 16, len = 0;
    char *buf = tfm_malloc(cap);
    while (buf) {
        if (len == cap) {
            char *bigger = tfm_realloc(buf, cap, cap * 2);
            if (!bigger) { tfm_free(buf, cap); return NULL; }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, in);
        len += got;
        if (got == 0) break;
    }
    *size = len;
    *capacity = cap;
    return buf;
}

/* The model's tokenizer, from its directory (or its run's): tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe.
 * None is fine for a byte-level vocabulary; a larger one cannot be printed without it. */
tfm_status cli_gpt_tokenizer(const char *model_dir, const tfm_gpt *model, tfm_bpe **tokenizer) {
    *tokenizer = NULL;
    char *json = cli_model_file(model_dir, "tokenizer.json");
    tfm_status st = TFM_OK;
    if (json) st = tfm_bpe_load(tokenizer, json);
    else if (cli_directory_has_tokenizer(model_dir)) st = tfm_bpe_load(tokenizer, model_dir);
    if (json) tfm_free(json, strlen(json) + 1);
    if (st) return st;
    int V = model->config.vocab_size;
    if (!*tokenizer && V > 256)
        return tfm_error(TFM_ERR_CONFIG, "%s: the model has %d token ids but no tokenizer (tokenizer.json, or vocab.json + merges.txt) to "
                                         "turn them into text; only a vocabulary of 256 bytes needs none", model_dir, V);
    if (*tokenizer && tfm_bpe_vocab_size(*tokenizer) != (size_t)V)
        return tfm_error(TFM_ERR_CONFIG, "%s: the tokenizer has %zu ids but config.json's vocab_size is %d", model_dir, tfm_bpe_vocab_size(*tokenizer), V);
    return TFM_OK;
}
