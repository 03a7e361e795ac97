/* tests/tools/seq2seq_parity.c: runs tfm's encoder-decoder on weights + inputs written by tests/test_seq2seq_torch.py and writes
 * what it computed (logits, loss, every gradient, the losses of N Adam steps under the paper's warm-up schedule, greedy output
 * before and after those steps).
 *   usage: seq2seq_parity DIR   (reads DIR/{config.json,model.safetensors,inputs.safetensors,parity.json}, writes DIR/actual.safetensors) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/io.h"
#include "tfm/seq2seq.h"
#include "tfm/train.h"
#include "train/optimizer.h"

static int fail(const char *what) {
    fprintf(stderr, "seq2seq_parity: %s: %s\n", what, tfm_last_error());
    return 1;
}

static double json_number(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static int32_t *read_ids(tfm_safetensors *f, const char *name, int ndim, const int *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    int32_t *out = malloc(sizeof(int32_t) * n);
    if (tfm_safetensors_read_i32(f, name, ndim, shape, out)) { free(out); return NULL; }
    return out;
}

/* Greedy decoding (cached) of every source; tokens as floats, -1 after each sentence's end. */
static int run_greedy(tfm_seq2seq *model, const int32_t *source, const int *source_lengths, int B, int S, int max_output,
                      float *out) {
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * max_output);
    int *lengths = malloc(sizeof(int) * (size_t)B);
    tfm_seq2seq_greedy_args args = {.source = source, .source_lengths = source_lengths, .batch = B, .source_length = S,
                                    .max_length_a = 0, .max_length_b = max_output, .use_cache = 1, .output = tokens,
                                    .output_lengths = lengths, .max_output = max_output};
    tfm_status st = tfm_seq2seq_greedy(model, &args);
    for (int b = 0; b < B && !st; b++)
        for (int i = 0; i < max_output; i++)
            out[(size_t)b * max_output + i] = i < lengths[b] ? (float)tokens[(size_t)b * max_output + i] : -1.0f;
    free(tokens);
    free(lengths);
    return st != TFM_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: seq2seq_parity DIR\n"); return 2; }
    const char *dir = argv[1];
    char path[1024];

    tfm_seq2seq *model = NULL;
    if (tfm_seq2seq_load(&model, dir)) return fail("model");
    tfm_seq2seq_config config = model->config;

    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    tfm_safetensors *inputs = NULL;
    if (tfm_safetensors_open(path, &inputs)) return fail("inputs");
    const tfm_safetensors_tensor *src = tfm_safetensors_find(inputs, "source");
    const tfm_safetensors_tensor *tgt = tfm_safetensors_find(inputs, "target_input");
    if (!src || src->ndim != 2 || !tgt || tgt->ndim != 2) {
        fprintf(stderr, "seq2seq_parity: inputs: need 2-D \"source\" and \"target_input\" tensors\n");
        return 1;
    }
    int B = (int)src->shape[0], S = (int)src->shape[1], T = (int)tgt->shape[1];
    int32_t *source = read_ids(inputs, "source", 2, (int[]){B, S});
    int32_t *source_lengths = read_ids(inputs, "source_lengths", 1, (int[]){B});
    int32_t *target_input = read_ids(inputs, "target_input", 2, (int[]){B, T});
    int32_t *target_output = read_ids(inputs, "target_output", 2, (int[]){B, T});
    int32_t *target_lengths = read_ids(inputs, "target_lengths", 1, (int[]){B});
    if (!source || !source_lengths || !target_input || !target_output || !target_lengths) return fail("inputs");
    tfm_safetensors_close(inputs);

    snprintf(path, sizeof path, "%s/parity.json", dir);
    char *parity_text = NULL;
    size_t parity_size = 0;
    if (tfm_file_read(path, &parity_text, &parity_size)) return fail("parity.json");
    cJSON *parity = cJSON_ParseWithLength(parity_text, parity_size);
    if (!parity) { fprintf(stderr, "seq2seq_parity: %s: not JSON\n", path); return 1; }
    int steps = (int)json_number(parity, "steps", 10);
    float smoothing = (float)json_number(parity, "label_smoothing", 0.1);
    int greedy_max = (int)json_number(parity, "greedy_max_length_b", 0);
    tfm_train_config schedule;
    tfm_train_config_default(&schedule);
    schedule.schedule = TFM_SCHEDULE_NOAM;
    schedule.learning_rate = (float)json_number(parity, "lr_factor", 1.0);
    schedule.warmup_steps = (int)json_number(parity, "warmup_steps", 4000);
    float beta1 = (float)json_number(parity, "beta1", 0.9), beta2 = (float)json_number(parity, "beta2", 0.98);
    float eps = (float)json_number(parity, "eps", 1e-9);
    cJSON_Delete(parity);

    tfm_params *p = &model->params;
    if (tfm_params_allocate_moments(p)) return fail("moments");
    tfm_graph *graph = NULL;
    if (tfm_graph_create(&graph, 0)) return fail("graph");

    /* 1. logits, loss and gradients at the given weights */
    tfm_graph_begin(graph, 1, 1); /* training: BatchNorm takes batch statistics (every dropout rate is 0 here) */
    tfm_tensor *logits = tfm_seq2seq_forward(model, graph, source, source_lengths, target_input, target_lengths, B, S, T);
    tfm_tensor *loss = tfm_fn_cross_entropy(graph, logits, target_output, config.pad_id, smoothing, NULL);
    if (!loss) return fail("forward");
    /* keep the logits: the backward writes their gradient over them, and the arena is reused below */
    float *logits_copy = malloc(sizeof(float) * logits->size);
    memcpy(logits_copy, logits->data, sizeof(float) * logits->size);
    tfm_params_zero_grad(p);
    if (tfm_graph_backward(graph, loss, 1.0f)) return fail("backward");

    int n_entries = p->count + 5;
    tfm_safetensors_entry *entries = calloc((size_t)n_entries, sizeof *entries);
    char **names = calloc((size_t)p->count, sizeof *names);
    float *grads = malloc(sizeof(float) * p->total);
    memcpy(grads, p->grad, sizeof(float) * p->total);
    float loss_value = loss->data[0];
    entries[0] = (tfm_safetensors_entry){.name = "logits", .data = logits_copy, .ndim = 3, .shape = {B, T, config.vocab_size}};
    entries[1] = (tfm_safetensors_entry){.name = "loss", .data = &loss_value, .ndim = 1, .shape = {1}};
    int written = 0; /* every parameter's gradient; BatchNorm's running statistics are buffers, without one */
    for (int i = 0; i < p->count; i++) {
        tfm_param *e = &p->entries[i];
        if (e->buffer) continue;
        names[i] = malloc(strlen(e->name) + 6);
        sprintf(names[i], "grad.%s", e->name);
        entries[2 + written] = (tfm_safetensors_entry){.name = names[i], .data = grads + e->offset, .ndim = e->ndim};
        memcpy(entries[2 + written].shape, e->shape, sizeof e->shape);
        written++;
    }
    n_entries = written + 5;

    /* 2. greedy decoding with the initial weights (no EOS in sight: sentences run to the length limit) */
    int max_output = greedy_max > 0 ? greedy_max : 1;
    float *greedy_initial = malloc(sizeof(float) * (size_t)B * max_output), *greedy_trained = malloc(sizeof(float) * (size_t)B * max_output);
    if (run_greedy(model, source, source_lengths, B, S, max_output, greedy_initial)) return fail("greedy");
    entries[2 + written] = (tfm_safetensors_entry){.name = "greedy_initial", .data = greedy_initial, .ndim = 2, .shape = {B, max_output}};

    /* 3. N Adam steps (no weight decay) on the same batch with the paper's schedule; record the loss before each */
    float *step_losses = malloc(sizeof(float) * (size_t)(steps > 0 ? steps : 1));
    for (int s = 0; s < steps; s++) {
        tfm_graph_begin(graph, 1, 1); /* training: BatchNorm takes batch statistics (every dropout rate is 0 here) */
        tfm_tensor *l = tfm_seq2seq_loss(model, graph, source, source_lengths, target_input, target_output, target_lengths, B, S, T,
                                         smoothing, NULL);
        if (!l) return fail("step forward");
        step_losses[s] = l->data[0];
        tfm_params_zero_grad(p);
        if (tfm_graph_backward(graph, l, 1.0f)) return fail("step backward");
        float lr = tfm_schedule_learning_rate(&schedule, config.d_model, s + 1, 0);
        if (tfm_adamw_step_params(p, lr, beta1, beta2, eps, 0.0f, s + 1)) return fail("adam");
    }
    entries[3 + written] = (tfm_safetensors_entry){.name = "step_losses", .data = step_losses, .ndim = 1, .shape = {steps > 0 ? steps : 1}};

    /* 4. greedy decoding with the trained weights (they have learnt where EOS goes) */
    if (run_greedy(model, source, source_lengths, B, S, max_output, greedy_trained)) return fail("greedy");
    entries[4 + written] = (tfm_safetensors_entry){.name = "greedy_trained", .data = greedy_trained, .ndim = 2, .shape = {B, max_output}};

    snprintf(path, sizeof path, "%s/actual.safetensors", dir);
    if (tfm_safetensors_write(path, entries, n_entries, NULL)) return fail("write");
    printf("seq2seq_parity: wrote %s (B=%d S=%d T=%d, loss %.6f, %d steps)\n", path, B, S, T, loss_value, steps);

    for (int i = 0; i < p->count; i++) free(names[i]);
    free(names); free(entries); free(grads); free(logits_copy); free(step_losses);
    free(greedy_initial); free(greedy_trained);
    free(source); free(source_lengths); free(target_input); free(target_output); free(target_lengths);
    tfm_free(parity_text, parity_size + 1);
    tfm_graph_free(graph);
    tfm_seq2seq_free(model);
    return 0;
}
