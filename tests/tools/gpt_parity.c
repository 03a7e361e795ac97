/* tests/tools/gpt_parity.c: runs tfm's GPT on weights + inputs written by the PyTorch side (tests/test_gpt_torch.py)
 * and writes what it computed (logits, loss, every gradient, the losses of N AdamW steps) for comparison; with
 * "generate": N in parity.json also the N tokens greedy generation (KV cache) continues row 0 of the tokens with, at the
 * given weights ("generated"); with "save_to": "DIR2" the model's matrices are first multiplied by "scale_matrices" and
 * the model written to DIR2 by tfm_gpt_save (tests/test_gpt_hf.py then reads DIR2 with transformers).
 *   usage: gpt_parity DIR   (reads DIR/{config.json,model.safetensors,inputs.safetensors,parity.json}, writes DIR/actual.safetensors) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/decode.h"
#include "tfm/gpt.h"
#include "tfm/io.h"
#include "train/clip.h"
#include "train/optimizer.h"

static int fail(const char *what) {
    fprintf(stderr, "gpt_parity: %s: %s\n", what, tfm_last_error());
    return 1;
}

/* Generated token ids, as floats for the safetensors file. */
typedef struct collected {
    float *ids;
    int count, capacity;
} collected;

static int collect(int token, void *user_data) {
    collected *c = user_data;
    if (c->count < c->capacity) c->ids[c->count++] = (float)token;
    return 0;
}

static double json_number(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: gpt_parity DIR\n"); return 2; }
    const char *dir = argv[1];
    char path[1024];

    char *config_json = NULL;
    if (tfm_checkpoint_load_config(dir, &config_json)) return fail("config");
    tfm_gpt_config config;
    if (tfm_gpt_config_from_json(config_json, "config.json", &config)) return fail("config");
    tfm_free(config_json, strlen(config_json) + 1);
    tfm_gpt *model = NULL;
    if (tfm_gpt_create(&model, &config) || tfm_checkpoint_load_params(dir, &model->params)) return fail("model");

    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    tfm_safetensors *inputs = NULL;
    if (tfm_safetensors_open(path, &inputs)) return fail("inputs");
    const tfm_safetensors_tensor *tok = tfm_safetensors_find(inputs, "tokens");
    if (!tok || tok->ndim != 2) { fprintf(stderr, "gpt_parity: inputs: need a 2-D \"tokens\" tensor\n"); return 1; }
    int B = (int)tok->shape[0], T = (int)tok->shape[1];
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * T), *targets = malloc(sizeof(int32_t) * (size_t)B * T);
    if (tfm_safetensors_read_i32(inputs, "tokens", 2, (int[]){B, T}, tokens)) return fail("tokens");
    if (tfm_safetensors_read_i32(inputs, "targets", 2, (int[]){B, T}, targets)) return fail("targets");
    tfm_safetensors_close(inputs);

    snprintf(path, sizeof path, "%s/parity.json", dir);
    char *parity_text = NULL;
    size_t parity_size = 0;
    if (tfm_file_read(path, &parity_text, &parity_size)) return fail("parity.json");
    cJSON *parity = cJSON_ParseWithLength(parity_text, parity_size);
    if (!parity) { fprintf(stderr, "gpt_parity: %s: not JSON\n", path); return 1; }
    int steps = (int)json_number(parity, "steps", 10);
    float lr = (float)json_number(parity, "learning_rate", 1e-3), beta1 = (float)json_number(parity, "beta1", 0.9);
    float beta2 = (float)json_number(parity, "beta2", 0.999), eps = (float)json_number(parity, "eps", 1e-8);
    float weight_decay = (float)json_number(parity, "weight_decay", 0), clip = (float)json_number(parity, "grad_clip", 0);
    int generate = (int)json_number(parity, "generate", 0);
    float repetition_penalty = (float)json_number(parity, "repetition_penalty", 1);
    float scale_matrices = (float)json_number(parity, "scale_matrices", 1);
    const cJSON *save_to = cJSON_GetObjectItemCaseSensitive(parity, "save_to");
    if (cJSON_IsString(save_to)) {
        for (int i = 0; i < model->params.count; i++)
            if (model->params.entries[i].ndim == 2) {
                tfm_tensor *t = model->params.entries[i].tensor;
                for (size_t k = 0; k < t->size; k++) t->data[k] *= scale_matrices;
            }
        if (tfm_gpt_save(model, save_to->valuestring)) return fail("save");
    }
    cJSON_Delete(parity);

    tfm_params *p = &model->params;
    if (tfm_params_allocate_moments(p)) return fail("moments");
    tfm_graph *graph = NULL;
    if (tfm_graph_create(&graph, 0)) return fail("graph");

    /* 1. logits, loss and gradients at the given weights */
    tfm_graph_begin(graph, 1, 1); /* training: BatchNorm takes batch statistics (every dropout rate is 0 here) */
    tfm_tensor *logits = tfm_gpt_forward(model, graph, tokens, B, T, NULL, 0);
    tfm_tensor *loss = tfm_fn_cross_entropy(graph, logits, targets, TFM_IGNORE_INDEX, 0.0f, NULL);
    if (!loss) return fail("forward");
    /* keep the logits: the backward writes their gradient over them, and the arena is reused below */
    float *logits_copy = malloc(sizeof(float) * logits->size);
    memcpy(logits_copy, logits->data, sizeof(float) * logits->size);
    tfm_params_zero_grad(p);
    if (tfm_graph_backward(graph, loss, 1.0f)) return fail("backward");

    int n_entries = p->count + 4;
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
        entries[2 + written] = (tfm_safetensors_entry){.name = names[i], .data = grads + e->offset, .ndim = e->ndim, .transpose = e->stored_transposed};
        memcpy(entries[2 + written].shape, e->shape, sizeof e->shape);
        written++;
    }
    n_entries = written + 3;

    /* 1b. greedy generation from row 0, before the steps change the weights */
    float *generated = malloc(sizeof(float) * (size_t)(generate > 0 ? generate : 1));
    if (generate > 0) {
        tfm_sampler sampler;
        tfm_sampler_config greedy = {.temperature = 0, .top_k = 0, .top_p = 1, .repetition_penalty = repetition_penalty};
        collected sink = {generated, 0, generate};
        if (tfm_sampler_init(&sampler, config.vocab_size, &greedy, 1) ||
            tfm_gpt_generate(model, tokens, T, generate, &sampler, 1, collect, &sink))
            return fail("generate");
        tfm_sampler_free(&sampler);
        entries[n_entries++] = (tfm_safetensors_entry){.name = "generated", .data = generated, .ndim = 1, .shape = {generate}};
    }

    /* 2. N AdamW steps on the same batch; record the loss before each */
    float *step_losses = malloc(sizeof(float) * (size_t)(steps > 0 ? steps : 1));
    for (int s = 0; s < steps; s++) {
        tfm_graph_begin(graph, 1, 1); /* training: BatchNorm takes batch statistics (every dropout rate is 0 here) */
        tfm_tensor *l = tfm_gpt_loss(model, graph, tokens, targets, B, T, 0.0f);
        if (!l) return fail("step forward");
        step_losses[s] = l->data[0];
        tfm_params_zero_grad(p);
        if (tfm_graph_backward(graph, l, 1.0f)) return fail("step backward");
        float norm = (float)tfm_clip_global_norm(p->grad, p->total);
        if (clip > 0) tfm_clip_scale(p->grad, p->total, norm, clip);
        if (tfm_adamw_step_params(p, lr, beta1, beta2, eps, weight_decay, s + 1)) return fail("adamw");
    }
    entries[2 + written] = (tfm_safetensors_entry){.name = "step_losses", .data = step_losses, .ndim = 1, .shape = {steps > 0 ? steps : 1}};

    snprintf(path, sizeof path, "%s/actual.safetensors", dir);
    if (tfm_safetensors_write(path, entries, n_entries, NULL)) return fail("write");
    printf("gpt_parity: wrote %s (B=%d T=%d, loss %.6f, %d steps)\n", path, B, T, loss_value, steps);

    for (int i = 0; i < p->count; i++) free(names[i]);
    free(names); free(entries); free(grads); free(logits_copy); free(step_losses);
    free(tokens); free(targets); free(generated);
    tfm_free(parity_text, parity_size + 1);
    tfm_graph_free(graph);
    tfm_gpt_free(model);
    return 0;
}
