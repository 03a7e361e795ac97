/* cli/common.h: what the command-line tool's commands share: error reporting, clocks, thread set-up, model loading. */
#ifndef TFM_CLI_COMMON_H
#define TFM_CLI_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "tfm/bert.h"
#include "tfm/gpt.h"
#include "tfm/seq2seq.h"

/* Print "tfm <command>: <last error>" to stderr and return exit code 1. */
int cli_fail(const char *command);
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Apply --threads (0 = all cores). */
void cli_set_threads(int threads);
/* Any model directory: which model config.json describes ("model_type" "seq2seq", "bert", else GPT), loaded. */
typedef struct cli_model {
    int task;                    /* TFM_TASK_GPT, TFM_TASK_SEQ2SEQ or TFM_TASK_BERT */
    tfm_gpt *gpt;
    tfm_seq2seq *seq2seq;
    tfm_bert *bert;
} cli_model;
/* TFM_TASK_SEQ2SEQ / TFM_TASK_BERT when the JSON file's object (top = 0) or its "model" member (top = 1) has
 * model_type "seq2seq" / "bert" or "albert"; TFM_TASK_GPT otherwise (also when the file cannot be read: loading it reports that). */
int cli_model_type_of_file(const char *path, int top);
/* The same for a model, checkpoint or run directory (its current checkpoint's config.json). */
int cli_model_type_of_directory(const char *dir);
tfm_status cli_model_load(const char *dir, cli_model *model);
/* 1 when a directory holds a byte-level BPE that tfm_bpe_load reads (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe). */
int cli_directory_has_tokenizer(const char *dir);
/* A GPT's tokenizer from its directory (or its run's): tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe.
 * NULL for a byte-level model without one; a larger vocabulary without one, or one of another size, is an error. */
struct tfm_bpe;
tfm_status cli_gpt_tokenizer(const char *model_dir, const tfm_gpt *model, struct tfm_bpe **tokenizer);
tfm_params *cli_model_params(cli_model *model);
/* Model-only save (parameters + config.json). */
tfm_status cli_model_save(const cli_model *model, const char *dir);
void cli_model_free(cli_model *model);
/* 1 when both paths exist and are the same file (device and inode). */
int cli_same_file(const char *a, const char *b);
/* 1 (after a message naming `option`) when `output` is the same file, by device and inode, as one of the
 * `count` inputs (NULL and "-" entries are skipped). */
int cli_output_overwrites_input(const char *command, const char *option, const char *output, const char *const *inputs, int count);
/* 1 when `dir` may receive a new model or run: missing, empty, or a directory of other files. A run or a model
 * there is refused (0, after a message; `advice` such as "continue it with --resume DIR, " goes before the
 * --force hint) unless `force`; then call cli_output_directory_clear before writing into it. */
int cli_output_directory_check(const char *command, const char *dir, int force, const char *advice);
/* Remove the run or model tfm wrote in `dir` (nothing else there). */
tfm_status cli_output_directory_clear(const char *dir);
/* The input and output of a streaming command (tokenizer encode/decode): --input FILE or stdin, --output FILE or
 * stdout. The output goes to FILE.tmp.<pid> and is renamed over FILE only when everything was written, so a
 * failed or interrupted run never truncates what was there; an output that is the input file is refused. */
typedef struct cli_files {
    FILE *in, *out;
    char command[64];            /* "tokenizer encode", for messages */
    const char *output;          /* NULL: stdout */
    char temporary[4200];        /* where the output is written until it is complete */
} cli_files;
/* 0 (after a message on stderr) when a file cannot be opened; `inputs` holds at most one path ("-": stdin). */
int cli_files_open(cli_files *files, const char *command, const char *const *inputs, int input_count, const char *output);
/* Close both; with ok = 1 the output is flushed and put in place, else discarded. Returns the final ok. */
int cli_files_close(cli_files *files, int ok);
/* Write token ids as "text" (space-separated), "uint16" or "uint32" (little-endian). *first tracks the
 * separator of text output. 0 on a write error or an id too large for uint16 (with a message). */
int cli_write_ids(FILE *out, const char *format, const uint32_t *ids, size_t n, int *first);
/* The whole of a stream (stdin, a pipe): free with tfm_free(text, *capacity); NULL when out of memory. */
char *cli_read_stream(FILE *in, size_t *size, size_t *capacity);
/* A decimal long in [min, max] (the whole string). */
int cli_parse_long(const char *s, long min, long max, long *out);

/* A number (or boolean, as 0/1) from a small JSON file in dir (tokenizer_config.json, sentence_bert_config.json), or
 * fallback when the file or the key is missing. */
double cli_json_number_in(const char *dir, const char *file, const char *key, double fallback);

/* A file that goes with a model (tokenizer.json, vocab.txt): "<dir>/<name>", or for one checkpoint of a run
 * (RUN/checkpoints/step-N) the run's "RUN/<name>". NULL when neither exists. Free with tfm_free(p, strlen(p) + 1). */
char *cli_model_file(const char *dir, const char *name);

/* A BERT directory (a model, a run, one checkpoint) and its vocab.txt (lower-casing unless tokenizer_config.json
 * beside it says "do_lower_case": false); the vocabulary must have the model's vocab_size. */
struct tfm_wordpiece;
tfm_status cli_bert_load(const char *dir, tfm_bert **model, struct tfm_wordpiece **tokenizer);

/* The k most probable of logits[V] (k <= V), best first, ties to the lower index, with their softmax probabilities. */
void cli_top_k(const float *logits, int V, int k, int32_t *ids, float *probabilities);
/* The next line of text[size] from *at on (moved past it): 0 at the end. A final line without '\n' counts; "\r\n"
 * endings lose the '\r'. */
int cli_next_line(const char *text, size_t size, size_t *at, const char **line, size_t *length);

/* A line-by-line command's body: each(user, line, length, number, out) for every line of --input (or stdin), the
 * output written through cli_files (complete or not at all). Returns the exit code (after the message on failure). */
typedef tfm_status (*cli_line_function)(void *user, const char *line, size_t length, long number, FILE *out);
int cli_each_line(const char *command, const char *input, const char *output, cli_line_function each, void *user);

/* "3m05s" */
void cli_format_duration(double seconds, char *buf, int size);

int cli_train(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_init(int argc, char **argv);
int cli_bleu(int argc, char **argv);
int cli_embed(int argc, char **argv);
int cli_fill_mask(int argc, char **argv);
int cli_classify(int argc, char **argv);

#endif
