/* cli/embed_command.c: "tfm embed": text lines -> sentence vectors from a BERT (mean pooling over the tokens, L2 norm), as JSON lines or .npy. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bert.h"
#include "tfm/io.h"
#include "tfm/wordpiece.h"

/* .npy version 1.0: magic, header length, a Python dict padded with spaces to a multiple of 64 bytes. */
static int write_npy(FILE *out, const float *x, size_t rows, int columns) {
    char header[128];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows, columns);
    int total = 10 + n + 1, padded = (total + 63) / 64 * 64;
    unsigned short header_length = (unsigned short)(padded - 10);
    fwrite("\x93NUMPY\x01\x00", 1, 8, out);
    fputc(header_length & 0xFF, out);
    fputc(header_length >> 8, out);
    fputs(header, out);
    for (int i = total; i < padded; i++) fputc(' ', out);
    fputc('\n', out);
    return fwrite(x, sizeof(float), rows * (size_t)columns, out) == rows * (size_t)columns; /* x86: little-endian */
}

static void write_json_line(FILE *out, const float *x, int columns) {
    fputc('[', out);
    for (int c = 0; c < columns; c++) fprintf(out, c ? ",%.8g" : "%.8g", (double)x[c]);
    fputs("]\n", out);
}

typedef struct embed_job {
    tfm_bert *model;
    tfm_wordpiece *tokenizer;
    int max_length, batch, normalize, stats;
    tfm_graph *graph;
    uint32_t *ids, *types;       /* [batch, max_length] as the tokenizer writes them */
    int32_t *input_ids, *lengths;
} embed_job;

/* Lines [first, first + count) of text (lines[i] = start, lengths[i] = bytes) into out[count, C]. */
static tfm_status embed_batch(embed_job *j, char **lines, const size_t *bytes, int first, int count, float *out) {
    int T = 1;
    for (int i = 0; i < count; i++) {
        size_t n = 0;
        tfm_status st = tfm_wordpiece_encode_pair(j->tokenizer, lines[first + i], bytes[first + i], NULL, 0, TFM_WORDPIECE_ALLOW_SPECIAL,
                                                  (size_t)j->max_length,
                                                  j->ids + (size_t)i * j->max_length, j->types + (size_t)i * j->max_length, NULL, &n);
        if (st) return tfm_error_prefix(st, "line %d: ", first + i + 1);
        j->lengths[i] = (int)n;
        if ((int)n > T) T = (int)n;
    }
    for (int i = 0; i < count; i++) /* the batch padded to its longest line */
        for (int t = 0; t < T; t++) j->input_ids[i * T + t] = (int32_t)j->ids[(size_t)i * j->max_length + t];
    tfm_status st = tfm_graph_begin(j->graph, 0, 0);
    if (st) return st;
    tfm_bert_batch b = {j->input_ids, NULL, j->lengths, count, T};
    tfm_tensor *hidden = tfm_bert_encode(j->model, j->graph, &b);
    if (!hidden) return TFM_ERR_INVALID_ARGUMENT;
    return tfm_bert_mean_pool(hidden, j->lengths, count, T, j->normalize, out);
}

/* Lines longer than max_length tokens are cut (sentence-transformers does the same silently): say which. */
static void warn_truncated(embed_job *j, char **lines, const size_t *bytes, int count) {
    tfm_tokens tokens = {0};
    int shown = 0, total = 0;
    for (int i = 0; i < count; i++) {
        if (bytes[i] + 2 <= (size_t)j->max_length) continue; /* every word piece takes at least one byte: it fits */
        tokens.count = 0;
        if (tfm_wordpiece_encode(j->tokenizer, lines[i], bytes[i], TFM_WORDPIECE_ALLOW_SPECIAL, &tokens) || tokens.count + 2 <= (size_t)j->max_length) continue;
        if (shown++ < 5) fprintf(stderr, "tfm embed: line %d: %zu tokens, truncated to --max-length %d\n", i + 1, tokens.count + 2, j->max_length);
        total++;
    }
    if (total > 5) fprintf(stderr, "tfm embed: %d lines truncated in all\n", total);
    tfm_tokens_free(&tokens);
}

/* --stats: the whole embedding time (tokenizing, forward, pooling; not loading or writing) and the rate after the
 * first batch, which also sets up the arena every later batch reuses. */
static void print_stats(int count, int batch, double seconds, double steady_seconds) {
    int steady = count > batch ? count - batch : 0;
    fprintf(stderr, "summary {\"sentences\":%d,\"batch\":%d,\"seconds\":%.4f,\"sentences_per_second\":%.2f,"
            "\"steady_sentences_per_second\":%.2f}\n", count, batch, seconds, seconds > 0 ? count / seconds : 0,
            steady && steady_seconds > 0 ? steady / steady_seconds : 0);
}

static int run(embed_job *j, cli_files *files, const char *format) {
    size_t size = 0, capacity = 0;
    char *text = cli_read_stream(files->in, &size, &capacity);
    if (!text) return cli_fail("embed");
    int count = 0;
    for (size_t i = 0; i < size; i++) count += text[i] == '\n';
    if (size > 0 && text[size - 1] != '\n') count++;
    char **lines = tfm_calloc(count ? (size_t)count : 1, sizeof *lines);
    size_t *bytes = tfm_calloc(count ? (size_t)count : 1, sizeof *bytes);
    int C = j->model->config.d_model, code = 0;
    float *vectors = tfm_malloc(sizeof(float) * (size_t)(count ? count : 1) * C);
    if (!lines || !bytes || !vectors) code = cli_fail("embed");
    for (int i = 0, pos = 0; !code && i < count; i++) {
        lines[i] = text + pos;
        char *end = memchr(text + pos, '\n', size - (size_t)pos);
        size_t n = end ? (size_t)(end - (text + pos)) : size - (size_t)pos;
        bytes[i] = n > 0 && lines[i][n - 1] == '\r' ? n - 1 : n;
        pos += (int)n + 1;
    }
    if (!code) warn_truncated(j, lines, bytes, count);
    double t0 = cli_now(), after_first = t0;
    for (int first = 0; !code && first < count; first += j->batch) {
        int n = count - first < j->batch ? count - first : j->batch;
        if (embed_batch(j, lines, bytes, first, n, vectors + (size_t)first * C)) code = cli_fail("embed");
        if (first == 0) after_first = cli_now();
    }
    if (!code && j->stats) print_stats(count, j->batch, cli_now() - t0, cli_now() - after_first);
    if (!code && strcmp(format, "npy") == 0) {
        if (!write_npy(files->out, vectors, (size_t)count, C)) code = 1;
    } else if (!code) {
        for (int i = 0; i < count; i++) write_json_line(files->out, vectors + (size_t)i * C, C);
    }
    tfm_free(lines, sizeof *lines * (size_t)(count ? count : 1));
    tfm_free(bytes, sizeof *bytes * (size_t)(count ? count : 1));
    tfm_free(vectors, sizeof(float) * (size_t)(count ? count : 1) * C);
    tfm_free(text, capacity);
    return code;
}

/* The buffers of one batch, once. */
static tfm_status job_allocate(embed_job *j) {
    size_t n = (size_t)j->batch * j->max_length;
    j->ids = tfm_malloc(sizeof(uint32_t) * n);
    j->types = tfm_malloc(sizeof(uint32_t) * n);
    j->input_ids = tfm_malloc(sizeof(int32_t) * n);
    j->lengths = tfm_malloc(sizeof(int32_t) * (size_t)j->batch);
    if (!j->ids || !j->types || !j->input_ids || !j->lengths) return TFM_ERR_OUT_OF_MEMORY;
    return tfm_graph_create(&j->graph, 0);
}

static void job_free(embed_job *j) {
    size_t n = (size_t)j->batch * j->max_length;
    tfm_free(j->ids, sizeof(uint32_t) * n);
    tfm_free(j->types, sizeof(uint32_t) * n);
    tfm_free(j->input_ids, sizeof(int32_t) * n);
    tfm_free(j->lengths, sizeof(int32_t) * (size_t)j->batch);
    tfm_graph_free(j->graph);
    tfm_wordpiece_free(j->tokenizer);
    tfm_bert_free(j->model);
}

/* Model and tokenizer from the directory; max_length: --max-length, else sentence_bert_config.json's max_seq_length,
 * else the model's max_position_embeddings. */
static int load(embed_job *j, const char *dir, int max_length) {
    if (cli_bert_load(dir, &j->model, &j->tokenizer)) return 0;
    int positions = j->model->config.max_positions;
    j->max_length = max_length ? max_length : (int)cli_json_number_in(dir, "sentence_bert_config.json", "max_seq_length", positions);
    if (j->max_length < 2 || j->max_length > positions) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "--max-length %d: expected 2 to the model's max_position_embeddings %d", j->max_length, positions);
        return 0;
    }
    tfm_params_free_gradients(&j->model->params); /* inference only */
    return job_allocate(j) == TFM_OK;
}

int cli_embed(int argc, char **argv) {
    const char *model_dir = NULL, *input = "-", *output = NULL, *format = "jsonl";
    int batch = 32, max_length = 0, no_normalize = 0, threads = 0, stats = 0, help = 0;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt)", 0},
        {"input", CLI_STRING, &input, 0, 0, "text, one sentence per line (default - : stdin)", 0},
        {"output", CLI_STRING, &output, 0, 0, "where the vectors go (default stdout); written complete or not at all", 0},
        {"format", CLI_STRING, &format, 0, 0, "jsonl (one JSON array per line, the default) or npy (float32 [lines, hidden_size])", 0},
        {"batch", CLI_INT, &batch, 1, 4096, "sentences per forward pass (default 32)", 0},
        {"max-length", CLI_INT, &max_length, 2, 1e6, "tokens per sentence with [CLS] and [SEP] (default: sentence_bert_config.json, else the model's)", 0},
        {"no-normalize", CLI_FLAG, &no_normalize, 0, 0, "mean-pooled vectors without the L2 normalisation", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"stats", CLI_FLAG, &stats, 0, 0, "print a summary line with sentences/s to stderr", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("embed", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm embed --model DIR [--input FILE] [--output FILE] [--format jsonl|npy]", options);
        return 0;
    }
    if (!model_dir) { fprintf(stderr, "tfm embed: needs --model DIR; see tfm embed --help\n"); return 2; }
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "npy") != 0) {
        fprintf(stderr, "tfm embed: --format: expected jsonl or npy, got \"%s\"\n", format);
        return 2;
    }
    cli_set_threads(threads);
    embed_job job = {.batch = batch, .normalize = !no_normalize, .stats = stats};
    if (!load(&job, model_dir, max_length)) {
        job_free(&job);
        return cli_fail("embed");
    }
    cli_files files;
    const char *inputs[1] = {input};
    int code = 1;
    if (cli_files_open(&files, "embed", inputs, 1, output)) {
        code = run(&job, &files, format);
        code = cli_files_close(&files, code == 0) ? code : 1;
    }
    job_free(&job);
    return code;
}
