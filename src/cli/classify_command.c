/* cli/classify_command.c: "tfm classify": each input line's label (or sentence pair's, or each word's) from a fine-tuned BERT classifier, with softmax probabilities, as JSON lines. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bert.h"
#include "tfm/bert_labeled.h"
#include "tfm/io.h"
#include "tfm/wordpiece.h"

#define CLASSIFY_MAX_TOP 64

/* What one line needs, allocated once. */
typedef struct classify_job {
    tfm_bert *model;
    tfm_wordpiece *tokenizer;
    tfm_graph *graph;
    int kind;                    /* TFM_BERT_LABEL_SEQUENCES or _TOKENS, from the model's architecture */
    int max_length, top_k;
    int32_t *ids, *types;        /* [max_length] */
    int32_t *first;              /* [words_capacity]: each word's first piece (tokens) */
    int words_capacity;
    long truncated;              /* lines cut to max_length */
} classify_job;

static void job_free(classify_job *j) {
    tfm_free(j->ids, sizeof(int32_t) * (size_t)j->max_length);
    tfm_free(j->types, sizeof(int32_t) * (size_t)j->max_length);
    tfm_free(j->first, sizeof(int32_t) * (size_t)j->words_capacity);
    tfm_graph_free(j->graph);
    tfm_wordpiece_free(j->tokenizer);
    tfm_bert_free(j->model);
}

/* max_length: --max-length, else the model's max_position_embeddings. */
static tfm_status job_load(classify_job *j, const char *dir, int max_length) {
    tfm_status st = cli_bert_load(dir, &j->model, &j->tokenizer);
    if (st) return st;
    int parts = j->model->config.parts, positions = j->model->config.max_positions;
    if (parts != TFM_BERT_SEQUENCE_CLASSIFICATION && parts != TFM_BERT_TOKEN_CLASSIFICATION)
        return tfm_error(TFM_ERR_CONFIG, "%s: not a classifier; classify needs architectures [\"BertForSequenceClassification\"] or "
                                         "[\"BertForTokenClassification\"] (fine-tune one with tfm train and train.objective "
                                         "\"sequence_classification\" or \"token_classification\")", dir);
    j->kind = parts == TFM_BERT_TOKEN_CLASSIFICATION ? TFM_BERT_LABEL_TOKENS : TFM_BERT_LABEL_SEQUENCES;
    j->max_length = max_length ? max_length : positions;
    if (j->max_length < 5 || j->max_length > positions)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "--max-length %d: expected 5 to the model's max_position_embeddings %d", j->max_length, positions);
    tfm_params_free_gradients(&j->model->params); /* inference only */
    j->ids = tfm_malloc(sizeof(int32_t) * (size_t)j->max_length);
    j->types = tfm_malloc(sizeof(int32_t) * (size_t)j->max_length);
    if (!j->ids || !j->types) return TFM_ERR_OUT_OF_MEMORY;
    return tfm_graph_create(&j->graph, 0);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n'; }

/* Room for one entry per word of the line (token classification). */
static tfm_status reserve_words(classify_job *j, const char *text, size_t length, int *words) {
    size_t n = 0;
    for (size_t i = 0; i < length; i++) n += !is_space(text[i]) && (i == 0 || is_space(text[i - 1]));
    if (n > (size_t)1 << 30) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%zu words on one line", n);
    *words = (int)n;
    if ((int)n <= j->words_capacity) return TFM_OK;
    int32_t *p = tfm_realloc(j->first, sizeof(int32_t) * (size_t)j->words_capacity, sizeof(int32_t) * n);
    if (!p) return TFM_ERR_OUT_OF_MEMORY;
    j->first = p;
    j->words_capacity = (int)n;
    return TFM_OK;
}

/* {"label": name, "probability": p} of the best label, and with --top-k > 1 "top": [{"label", "probability"}, ...]. */
static void add_prediction(const classify_job *j, cJSON *o, const float *logits) {
    int L = j->model->config.num_labels, k = j->top_k < L ? j->top_k : L;
    int32_t ids[CLASSIFY_MAX_TOP];
    float probabilities[CLASSIFY_MAX_TOP];
    cli_top_k(logits, L, k, ids, probabilities);
    cJSON_AddStringToObject(o, "label", j->model->label_names[ids[0]]);
    cJSON_AddNumberToObject(o, "probability", round((double)probabilities[0] * 1e6) / 1e6);
    if (k < 2) return;
    cJSON *top = cJSON_AddArrayToObject(o, "top");
    for (int i = 0; i < k && top; i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "label", j->model->label_names[ids[i]]);
        cJSON_AddNumberToObject(item, "probability", round((double)probabilities[i] * 1e6) / 1e6);
        cJSON_AddItemToArray(top, item);
    }
}

/* Token classification: "words": [{"word", "label", "probability"}, ...]; a word truncation dropped has label null. */
static void add_words(const classify_job *j, cJSON *o, const char *text, size_t length, int words, const float *logits) {
    cJSON *list = cJSON_AddArrayToObject(o, "words");
    int L = j->model->config.num_labels, row = 0;
    size_t at = 0;
    for (int w = 0; w < words && list; w++) {
        while (at < length && is_space(text[at])) at++;
        size_t start = at;
        while (at < length && !is_space(text[at])) at++;
        char word[512];
        snprintf(word, sizeof word, "%.*s", (int)(at - start < 511 ? at - start : 511), text + start);
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "word", word);
        if (j->first[w] >= 0) add_prediction(j, item, logits + (size_t)row++ * L);
        else cJSON_AddNullToObject(item, "label");
        cJSON_AddItemToArray(list, item);
    }
}

/* The logits of one encoded line: [1, L] for a sequence, [rows, L] for the words that kept a piece. */
static tfm_tensor *forward(classify_job *j, int T, int words) {
    if (tfm_graph_begin(j->graph, 0, 0) != TFM_OK) return NULL;
    int lengths[1] = {T};
    tfm_bert_batch batch = {j->ids, j->types, lengths, 1, T};
    tfm_tensor *hidden = tfm_bert_encode(j->model, j->graph, &batch);
    if (j->kind == TFM_BERT_LABEL_SEQUENCES) return hidden ? tfm_bert_sequence_logits(j->model, j->graph, tfm_bert_pool(j->model, j->graph, hidden, 1, T)) : NULL;
    int32_t *rows = tfm_graph_alloc(j->graph, sizeof(int32_t) * (size_t)(words ? words : 1));
    int count = 0;
    for (int w = 0; rows && w < words; w++)
        if (j->first[w] >= 0) rows[count++] = j->first[w];
    if (count == 0) return hidden; /* nothing to label: no logits needed */
    return hidden && rows ? tfm_bert_token_logits(j->model, j->graph, hidden, rows, count) : NULL;
}

/* One line (text, or text_a<TAB>text_b for a sequence classifier) -> one JSON line. */
static tfm_status classify_line(void *user, const char *text, size_t length, long line, FILE *out) {
    classify_job *j = user;
    const char *tab = j->kind == TFM_BERT_LABEL_SEQUENCES ? memchr(text, '\t', length) : NULL;
    if (tab && memchr(tab + 1, '\t', length - (size_t)(tab + 1 - text)))
        return tfm_error(TFM_ERR_FORMAT, "line %ld: more than two tab-separated texts; expected text or text_a<TAB>text_b", line);
    int T = 0, words = 0, truncated = 0;
    tfm_status st = j->kind == TFM_BERT_LABEL_TOKENS ? reserve_words(j, text, length, &words) : TFM_OK;
    size_t a_length = tab ? (size_t)(tab - text) : length;
    if (!st) st = tfm_bert_labeled_encode(j->tokenizer, j->kind, text, a_length, tab ? tab + 1 : NULL, tab ? length - a_length - 1 : 0,
                                          j->max_length, j->ids, j->types, &T, j->first, words, &words, &truncated);
    if (st) return tfm_error_prefix(st, "line %ld: ", line);
    if (truncated && j->truncated++ < 5) fprintf(stderr, "tfm classify: line %ld: truncated to --max-length %d tokens\n", line, j->max_length);
    tfm_tensor *logits = forward(j, T, words);
    if (!logits) return tfm_last_error()[0] ? tfm_error_prefix(TFM_ERR_INVALID_ARGUMENT, "line %ld: ", line) : TFM_ERR_OUT_OF_MEMORY;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "line", (double)line);
    if (j->kind == TFM_BERT_LABEL_SEQUENCES) add_prediction(j, root, logits->data);
    else add_words(j, root, text, length, words, logits->data);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory writing line %ld", line);
    fprintf(out, "%s\n", json);
    cJSON_free(json);
    return TFM_OK;
}

int cli_classify(int argc, char **argv) {
    const char *model_dir = NULL, *input = NULL, *output = NULL;
    int top = 1, max_length = 0, threads = 0, help = 0;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "a fine-tuned BERT classifier: a tfm fine-tuning run (its best/ or one checkpoint) or a "
                                                "Hugging Face BertForSequenceClassification / BertForTokenClassification directory", 0},
        {"input", CLI_STRING, &input, 0, 0, "text, one example per line: text, or text_a<TAB>text_b for a pair (default: stdin)", 0},
        {"output", CLI_STRING, &output, 0, 0, "JSON lines (default: stdout); written complete or not at all", 0},
        {"top-k", CLI_INT, &top, 1, CLASSIFY_MAX_TOP, "also list the k most probable labels (default 1: only the best)", 0},
        {"max-length", CLI_INT, &max_length, 5, 1e6, "tokens per example with [CLS] and [SEP]s, longer ones truncated (default: the model's "
                                                     "max_position_embeddings)", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("classify", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm classify --model DIR [--input FILE] [--output FILE] [--top-k N]\n"
                               "  one JSON line per input line: {\"line\": N, \"label\", \"probability\"} (softmax), or for a token\n"
                               "  classifier {\"line\": N, \"words\": [{\"word\", \"label\", \"probability\"}, ...]}", options);
        return 0;
    }
    if (!model_dir) {
        fprintf(stderr, "tfm classify: needs --model DIR; see tfm classify --help\n");
        return 2;
    }
    cli_set_threads(threads);
    classify_job job = {.top_k = top};
    if (job_load(&job, model_dir, max_length) != TFM_OK) {
        job_free(&job);
        return cli_fail("classify");
    }
    int code = cli_each_line("classify", input, output, classify_line, &job);
    if (job.truncated > 5) fprintf(stderr, "tfm classify: %ld lines truncated in all\n", job.truncated);
    job_free(&job);
    return code;
}
