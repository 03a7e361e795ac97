/* tests/tools/optimizer_steps.c: runs one optimizer of tfm for N steps on the chain-coupled quadratic model that
 * tests/test_optimizers_torch.py runs in PyTorch, and writes the final weights.
 *   usage: optimizer_steps TRAIN_JSON DIR STEPS
 * TRAIN_JSON is a "train" object as in a config file (optimizer, learning_rate, and its hyper-parameters); DIR holds
 * lambda.f64, center.f64 (float64 [n]) and start.f32 (float32 [n]); the result goes to DIR/result.f32. The model:
 *   loss(p) = sum_i lambda_i (p_i - c_i)^2 / 2 + KAPPA sum_i (p_{i+1} - p_i)^2 / 2  (KAPPA 0.05)
 * with its gradient formed in double from the float weights and rounded to float, as the Python side does. The
 * plain and the threaded update run side by side on two copies and must agree bit for bit (exit 1 otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/config.h"
#include "tools/tool_files.h"
#include "train/optimizer.h"

#define KAPPA 0.05

static void gradient(const float *p, const double *lambda, const double *center, size_t n, float *g) {
    for (size_t i = 0; i < n; i++) {
        double x = p[i], d = lambda[i] * (x - center[i]);
        if (i > 0) d += KAPPA * (x - (double)p[i - 1]);
        if (i + 1 < n) d += KAPPA * (x - (double)p[i + 1]);
        g[i] = (float)d;
    }
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc((size_t)size + 1, 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) text[0] = '\0';
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: optimizer_steps TRAIN_JSON DIR STEPS\n"); return 2; }
    char *json = read_text(argv[1]);
    tfm_train_config c;
    c.task = TFM_TASK_GPT;
    if (!json || tfm_train_config_from_json(json, argv[1], &c)) {
        fprintf(stderr, "optimizer_steps: %s\n", json ? tfm_last_error() : "cannot read the config");
        return 1;
    }
    free(json);
    char path[1024];
    snprintf(path, sizeof path, "%s/start.f32", argv[2]);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "optimizer_steps: %s missing\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f) / sizeof(float);
    fclose(f);
    long steps = atol(argv[3]);
    double *lambda = tool_read("optimizer_steps", argv[2], "lambda.f64", n * sizeof(double)), *center = tool_read("optimizer_steps", argv[2], "center.f64", n * sizeof(double));
    float *start = tool_read("optimizer_steps", argv[2], "start.f32", n * sizeof(float));
    if (!lambda || !center || !start) return 1;
    tfm_optimizer_settings s = tfm_optimizer_settings_of(&c);
    float *p[2], *state[2][3], *g = calloc(n, sizeof(float));
    for (int k = 0; k < 2; k++) {
        p[k] = malloc(n * sizeof(float));
        memcpy(p[k], start, n * sizeof(float));
        for (int j = 0; j < 3; j++) state[k][j] = calloc(n, sizeof(float));
    }
    for (long t = 1; t <= steps; t++)
        for (int k = 0; k < 2; k++) { /* k 0: the reference loop, 1: the threaded one */
            gradient(p[k], lambda, center, n, g);
            if (tfm_optimizer_update(&s, c.learning_rate, t, p[k], g, state[k][0], state[k][1], state[k][2], n, k == 0)) {
                fprintf(stderr, "optimizer_steps: %s\n", tfm_last_error());
                return 1;
            }
        }
    if (memcmp(p[0], p[1], n * sizeof(float)) != 0) {
        fprintf(stderr, "optimizer_steps: the threaded update differs from the reference loop\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/result.f32", argv[2]);
    f = fopen(path, "wb");
    if (!f || fwrite(p[0], sizeof(float), n, f) != n) return 1;
    fclose(f);
    for (int k = 0; k < 2; k++) {
        free(p[k]);
        for (int j = 0; j < 3; j++) free(state[k][j]);
    }
    free(g), free(lambda), free(center), free(start);
    printf("optimizer_steps: %s, %zu weights, %ld steps\n", argv[1], n, steps);
    return 0;
}
