/* cli/fill_mask_command.c: "tfm fill-mask": each input line's [MASK] tokens predicted by a BERT's masked-LM head, the top k with their probabilities, as JSON lines. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bert.h"
#include "tfm/io.h"
#include "tfm/wordpiece.h"

/* What one line needs, allocated once. */
typedef struct fill_job {
    tfm_bert *model;
    tfm_wordpiece *tokenizer;
    tfm_graph *graph;
    int max_length, top_k;
    uint32_t *ids, *types, *attention;   /* [max_length] */
    int32_t *input_ids, *token_types;    /* [max_length] */
    int32_t *rows;                       /* [max_length]: the [MASK] positions */
} fill_job;

static void job_free(fill_job *j) {
    size_t n = (size_t)j->max_length;
    tfm_free(j->ids, sizeof(uint32_t) * n);
    tfm_free(j->types, sizeof(uint32_t) * n);
    tfm_free(j->attention, sizeof(uint32_t) * n);
    tfm_free(j->input_ids, sizeof(int32_t) * n);
    tfm_free(j->token_types, sizeof(int32_t) * n);
    tfm_free(j->rows, sizeof(int32_t) * n);
    tfm_graph_free(j->graph);
    tfm_wordpiece_free(j->tokenizer);
    tfm_bert_free(j->model);
}

static tfm_status job_load(fill_job *j, const char *dir) {
    tfm_status st = cli_bert_load(dir, &j->model, &j->tokenizer);
    if (st) return st;
    if (j->model->config.parts != TFM_BERT_PRETRAINING)
        return tfm_error(TFM_ERR_CONFIG, "%s: a BertModel has no masked-LM head; fill-mask needs a BertForPreTraining (such as a tfm "
                                         "pre-training run)", dir);
    if (tfm_wordpiece_mask_id(j->tokenizer) < 0) return tfm_error(TFM_ERR_FORMAT, "%s: vocab.txt has no [MASK]", dir);
    tfm_params_free_gradients(&j->model->params); /* inference only */
    size_t n = (size_t)(j->max_length = j->model->config.max_positions);
    j->ids = tfm_malloc(sizeof(uint32_t) * n);
    j->types = tfm_malloc(sizeof(uint32_t) * n);
    j->attention = tfm_malloc(sizeof(uint32_t) * n);
    j->input_ids = tfm_malloc(sizeof(int32_t) * n);
    j->token_types = tfm_malloc(sizeof(int32_t) * n);
    j->rows = tfm_malloc(sizeof(int32_t) * n);
    if (!j->ids || !j->types || !j->attention || !j->input_ids || !j->token_types || !j->rows) return TFM_ERR_OUT_OF_MEMORY;
    return tfm_graph_create(&j->graph, 0);
}

/* One line -> {"line": N, "masks": [[{"token", "id", "score"}, ...], ...]} (one list per [MASK], in order). */
static tfm_status fill_line(void *user, const char *text, size_t length, long line, FILE *out) {
    fill_job *j = user;
    size_t T = 0;
    tfm_status st = tfm_wordpiece_encode_pair(j->tokenizer, text, length, NULL, 0, TFM_WORDPIECE_ALLOW_SPECIAL, (size_t)j->max_length, j->ids,
                                              j->types, j->attention, &T);
    if (st) return tfm_error_prefix(st, "line %ld: ", line);
    int32_t mask = (int32_t)tfm_wordpiece_mask_id(j->tokenizer);
    int masks = 0;
    for (size_t t = 0; t < T; t++) {
        j->input_ids[t] = (int32_t)j->ids[t], j->token_types[t] = (int32_t)j->types[t];
        if (j->input_ids[t] == mask) j->rows[masks++] = (int32_t)t;
    }
    if (masks == 0)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "line %ld: no [MASK] token%s", line,
                         memmem(text, length, "[MASK]", 6) ? " within the model's max_position_embeddings" : "");
    if ((st = tfm_graph_begin(j->graph, 0, 0)) != TFM_OK) return st;
    int lengths[1] = {(int)T};
    tfm_bert_batch batch = {j->input_ids, j->token_types, lengths, 1, (int)T};
    tfm_tensor *logits = tfm_bert_mlm_logits(j->model, j->graph, tfm_bert_encode(j->model, j->graph, &batch), j->rows, masks);
    if (!logits) return tfm_last_error()[0] ? TFM_ERR_INVALID_ARGUMENT : TFM_ERR_OUT_OF_MEMORY;
    int V = logits->shape[1], k = j->top_k < V ? j->top_k : V;
    int32_t ids[64];
    float scores[64];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "line", (double)line);
    cJSON *all = cJSON_AddArrayToObject(root, "masks");
    for (int m = 0; m < masks && all; m++) {
        cli_top_k(logits->data + (size_t)m * V, V, k, ids, scores);
        cJSON *list = cJSON_CreateArray();
        for (int i = 0; i < k && list; i++) {
            size_t piece_length = 0;
            const char *piece = tfm_wordpiece_id_to_token(j->tokenizer, (uint32_t)ids[i], &piece_length);
            char token[256];
            snprintf(token, sizeof token, "%.*s", (int)(piece_length < 255 ? piece_length : 255), piece ? piece : "");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "token", token);
            cJSON_AddNumberToObject(o, "id", ids[i]);
            cJSON_AddNumberToObject(o, "score", (double)scores[i]);
            cJSON_AddItemToArray(list, o);
        }
        cJSON_AddItemToArray(all, list);
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory writing line %ld", line);
    fprintf(out, "%s\n", json);
    cJSON_free(json);
    return TFM_OK;
}

int cli_fill_mask(int argc, char **argv) {
    const char *model_dir = NULL, *input = NULL, *output = NULL;
    int top = 5, threads = 0, help = 0;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "a BERT with its masked-LM head: a tfm pre-training run (or one checkpoint) or a Hugging Face "
                                                "BertForPreTraining directory (config.json, model.safetensors, vocab.txt)", 0},
        {"input", CLI_STRING, &input, 0, 0, "text, one sentence per line with one or more [MASK] (default: stdin)", 0},
        {"output", CLI_STRING, &output, 0, 0, "JSON lines (default: stdout)", 0},
        {"top-k", CLI_INT, &top, 1, 64, "predictions per [MASK] (default 5)", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("fill-mask", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm fill-mask --model DIR [--input FILE] [--top-k N]\n"
                               "  one JSON line per input line: {\"line\": N, \"masks\": [[{\"token\", \"id\", \"score\"}, ...], ...]},\n"
                               "  the k most probable pieces for each [MASK] with their softmax probabilities", options);
        return 0;
    }
    if (!model_dir) {
        fprintf(stderr, "tfm fill-mask: needs --model DIR; see tfm fill-mask --help\n");
        return 2;
    }
    cli_set_threads(threads);
    fill_job job = {.top_k = top};
    if (job_load(&job, model_dir) != TFM_OK) {
        job_free(&job);
        return cli_fail("fill-mask");
    }
    int code = cli_each_line("fill-mask", input, output, fill_line, &job);
    job_free(&job);
    return code;
}
