/* tests/tools/bert_parity.c: runs tfm's BERT on a Hugging Face directory and inputs written by tests/test_bert_torch.py
 * and writes what it computed for comparison: last hidden states, pooled output, mean-pooled normalised embeddings and,
 * for a BertForPreTraining with labels, MLM logits at every position, NSP logits, the loss and every gradient.
 * For a BertForSequenceClassification / BertForTokenClassification with class_labels: the classifier's logits (at every
 * position for tokens), transformers' classification loss and every gradient.
 *   usage: bert_parity DIR   (reads DIR/{config.json,model.safetensors,inputs.safetensors}, writes DIR/actual.safetensors) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/bert.h"
#include "tfm/io.h"

static int fail(const char *what) {
    fprintf(stderr, "bert_parity: %s: %s\n", what, tfm_last_error());
    return 1;
}

/* inputs.safetensors: input_ids, token_type_ids [B, T], lengths [B]; optional mlm_labels [B, T] (-100: not
 * predicted) and nsp_labels [B]; optional class_labels ([B] for sequences, [B, T] with -100 for tokens). */
typedef struct inputs {
    int B, T, labelled, classes;
    int32_t *ids, *types, *lengths, *mlm_labels, *nsp_labels, *class_labels;
} inputs;

static int read_inputs(const char *dir, inputs *in) {
    char path[1024];
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    tfm_safetensors *f = NULL;
    if (tfm_safetensors_open(path, &f)) return fail("inputs");
    const tfm_safetensors_tensor *ids = tfm_safetensors_find(f, "input_ids");
    if (!ids || ids->ndim != 2) { fprintf(stderr, "bert_parity: inputs: need a 2-D \"input_ids\"\n"); return 1; }
    int B = in->B = (int)ids->shape[0], T = in->T = (int)ids->shape[1];
    size_t n = (size_t)B * T;
    in->ids = malloc(sizeof(int32_t) * n);
    in->types = malloc(sizeof(int32_t) * n);
    in->lengths = malloc(sizeof(int32_t) * (size_t)B);
    int bad = tfm_safetensors_read_i32(f, "input_ids", 2, (int[]){B, T}, in->ids) ||
              tfm_safetensors_read_i32(f, "token_type_ids", 2, (int[]){B, T}, in->types) ||
              tfm_safetensors_read_i32(f, "lengths", 1, (int[]){B}, in->lengths);
    in->labelled = tfm_safetensors_find(f, "mlm_labels") != NULL;
    if (!bad && in->labelled) {
        in->mlm_labels = malloc(sizeof(int32_t) * n);
        in->nsp_labels = malloc(sizeof(int32_t) * (size_t)B);
        bad = tfm_safetensors_read_i32(f, "mlm_labels", 2, (int[]){B, T}, in->mlm_labels) ||
              tfm_safetensors_read_i32(f, "nsp_labels", 1, (int[]){B}, in->nsp_labels);
    }
    const tfm_safetensors_tensor *classes = tfm_safetensors_find(f, "class_labels");
    in->classes = classes ? (int)classes->ndim : 0;
    if (!bad && classes) {
        in->class_labels = malloc(sizeof(int32_t) * n);
        bad = in->classes == 1 ? tfm_safetensors_read_i32(f, "class_labels", 1, (int[]){B}, in->class_labels)
                               : tfm_safetensors_read_i32(f, "class_labels", 2, (int[]){B, T}, in->class_labels);
    }
    tfm_safetensors_close(f);
    return bad ? fail("inputs") : 0;
}

/* "grad.<name>" entries for every parameter, after backward. */
static int add_gradients(const tfm_params *p, tfm_safetensors_entry *entries, int n, char **names) {
    for (int i = 0; i < p->count; i++) {
        const tfm_param *e = &p->entries[i];
        if (e->buffer) continue; /* BatchNorm's running statistics have no gradient */
        names[i] = malloc(strlen(e->name) + 6);
        sprintf(names[i], "grad.%s", e->name);
        entries[n] = (tfm_safetensors_entry){.name = names[i], .data = p->grad + e->offset, .ndim = e->ndim};
        memcpy(entries[n++].shape, e->shape, sizeof e->shape);
    }
    return n;
}

/* The classifier: logits ([B, L], or [B, T, L] at every position for tokens) from the forward pass already made, then
 * tfm_bert_classification_loss on the labels (its own pass) and backward. Returns the entries added, -1 on failure. */
static int classification(tfm_bert *model, tfm_graph *graph, const inputs *in, tfm_tensor *hidden, tfm_tensor *pooled, float **copy,
                          float *loss_value, tfm_safetensors_entry *entries) {
    int B = in->B, T = in->T, L = model->config.num_labels, tokens = model->config.parts == TFM_BERT_TOKEN_CLASSIFICATION;
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)B * T), *labels = malloc(sizeof(int32_t) * (size_t)B * T);
    for (int i = 0; i < B * T; i++) rows[i] = i;
    tfm_tensor *logits = tokens ? tfm_bert_token_logits(model, graph, hidden, rows, B * T) : tfm_bert_sequence_logits(model, graph, pooled);
    if (!logits) return fail("classifier"), -1;
    *copy = malloc(sizeof(float) * logits->size);
    memcpy(*copy, logits->data, sizeof(float) * logits->size);
    int count = 0;
    for (int i = 0; i < (tokens ? B * T : B); i++)
        if (in->class_labels[i] != -100) rows[count] = i, labels[count++] = in->class_labels[i];
    tfm_bert_batch batch = {in->ids, in->types, in->lengths, B, T};
    tfm_tensor *loss = tfm_bert_classification_loss(model, graph, &batch, rows, labels, count, 0.0f, NULL);
    if (!loss) return fail("classification loss"), -1;
    *loss_value = loss->data[0];
    tfm_params_zero_grad(&model->params);
    if (tfm_graph_backward(graph, loss, 1.0f)) return fail("backward"), -1;
    free(rows); /* the tape reads rows and labels until backward is done */
    free(labels);
    entries[0] = (tfm_safetensors_entry){.name = "logits", .data = *copy, .ndim = tokens ? 3 : 2, .shape = {B, tokens ? T : L, L}};
    entries[1] = (tfm_safetensors_entry){.name = "loss", .data = loss_value, .ndim = 1, .shape = {1}};
    return 2;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: bert_parity DIR\n"); return 2; }
    const char *dir = argv[1];
    tfm_bert *model = NULL;
    if (tfm_bert_load(&model, dir, NULL)) return fail("model");
    inputs in = {0};
    if (read_inputs(dir, &in)) return 1;
    int B = in.B, T = in.T, C = model->config.d_model, V = model->config.vocab_size;
    int pretraining = model->config.parts == TFM_BERT_PRETRAINING && in.labelled;
    int classifying = model->config.parts >= TFM_BERT_SEQUENCE_CLASSIFICATION && in.classes;
    tfm_graph *graph = NULL;
    /* BatchNorm blocks: training mode, so that the statistics are the batch's real tokens' (those test models have no dropout) */
    int training = model->config.norm == TFM_NORM_BATCHNORM;
    if (tfm_graph_create(&graph, 0) || tfm_graph_begin(graph, pretraining || classifying, training)) return fail("graph");

    tfm_bert_batch batch = {in.ids, in.types, in.lengths, B, T};
    tfm_tensor *hidden = tfm_bert_encode(model, graph, &batch);
    tfm_tensor *pooled = model->config.parts == TFM_BERT_TOKEN_CLASSIFICATION ? hidden : tfm_bert_pool(model, graph, hidden, B, T);
    if (!pooled) return fail("forward");
    /* copies: backward reuses the buffers */
    float *hidden_copy = malloc(sizeof(float) * hidden->size), *pooled_copy = malloc(sizeof(float) * pooled->size);
    float *embeddings = malloc(sizeof(float) * (size_t)B * C);
    memcpy(hidden_copy, hidden->data, sizeof(float) * hidden->size);
    if (pooled != hidden) memcpy(pooled_copy, pooled->data, sizeof(float) * pooled->size);
    if (tfm_bert_mean_pool(hidden, in.lengths, B, T, 1, embeddings)) return fail("mean pooling");

    tfm_params *p = &model->params;
    int max_entries = 6 + p->count, n = 0;
    tfm_safetensors_entry *entries = calloc((size_t)max_entries, sizeof *entries);
    char **names = calloc((size_t)p->count, sizeof *names);
    entries[n++] = (tfm_safetensors_entry){.name = "hidden", .data = hidden_copy, .ndim = 3, .shape = {B, T, C}};
    if (pooled != hidden) entries[n++] = (tfm_safetensors_entry){.name = "pooled", .data = pooled_copy, .ndim = 2, .shape = {B, C}};
    entries[n++] = (tfm_safetensors_entry){.name = "embeddings", .data = embeddings, .ndim = 2, .shape = {B, C}};
    float *logits_copy = NULL, *nsp_copy = NULL, loss_value = 0;
    if (pretraining) {
        /* Logits at every position (compared with transformers' prediction_logits); the loss is the training path's,
         * tfm_bert_pretraining_loss on the labelled rows (its own encoder pass: the gradients come from it alone). */
        int32_t *rows = malloc(sizeof(int32_t) * (size_t)B * T), *labelled_rows = malloc(sizeof(int32_t) * (size_t)B * T);
        int32_t *row_labels = malloc(sizeof(int32_t) * (size_t)B * T);
        for (int i = 0; i < B * T; i++) rows[i] = i;
        tfm_tensor *logits = tfm_bert_mlm_logits(model, graph, hidden, rows, B * T);
        tfm_tensor *nsp = tfm_bert_nsp_logits(model, graph, pooled);
        int predictions = 0;
        for (int i = 0; i < B * T; i++)
            if (in.mlm_labels[i] != -100) labelled_rows[predictions] = i, row_labels[predictions++] = in.mlm_labels[i];
        tfm_bert_pretraining_batch labelled = {.input_ids = in.ids, .token_type_ids = in.types, .lengths = in.lengths, .rows = labelled_rows,
                                               .labels = row_labels, .pair_labels = in.nsp_labels, .has_pairs = 1, .batch = B,
                                               .length = T, .predictions = predictions};
        tfm_tensor *loss = logits && nsp ? tfm_bert_pretraining_loss(model, graph, &labelled, 0.0f, NULL) : NULL;
        if (!loss) return fail("pre-training heads");
        logits_copy = malloc(sizeof(float) * logits->size);
        nsp_copy = malloc(sizeof(float) * nsp->size);
        memcpy(logits_copy, logits->data, sizeof(float) * logits->size);
        memcpy(nsp_copy, nsp->data, sizeof(float) * nsp->size);
        loss_value = loss->data[0];
        tfm_params_zero_grad(p);
        if (tfm_graph_backward(graph, loss, 1.0f)) return fail("backward");
        entries[n++] = (tfm_safetensors_entry){.name = "logits", .data = logits_copy, .ndim = 3, .shape = {B, T, V}};
        entries[n++] = (tfm_safetensors_entry){.name = "nsp_logits", .data = nsp_copy, .ndim = 2, .shape = {B, 2}};
        entries[n++] = (tfm_safetensors_entry){.name = "loss", .data = &loss_value, .ndim = 1, .shape = {1}};
        n = add_gradients(p, entries, n, names);
        free(rows);
        free(labelled_rows);
        free(row_labels);
    }
    if (classifying) {
        int added = classification(model, graph, &in, hidden, pooled, &logits_copy, &loss_value, entries + n);
        if (added < 0) return 1;
        n = add_gradients(p, entries, n + added, names);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/actual.safetensors", dir);
    if (tfm_safetensors_write(path, entries, n, NULL)) return fail("write");
    printf("bert_parity: wrote %s (B=%d T=%d%s)\n", path, B, T, pretraining ? ", pre-training heads and gradients" : classifying ? ", classifier and gradients" : "");
    for (int i = 0; i < p->count; i++) free(names[i]);
    free(names); free(entries); free(hidden_copy); free(pooled_copy); free(embeddings); free(logits_copy); free(nsp_copy);
    free(in.ids); free(in.types); free(in.lengths); free(in.mlm_labels); free(in.nsp_labels); free(in.class_labels);
    tfm_graph_free(graph);
    tfm_bert_free(model);
    return 0;
}
