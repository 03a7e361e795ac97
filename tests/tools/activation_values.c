/* tests/tools/activation_values.c: runs one activation's reference and fast kernels, forward and backward, for
 * tests/test_activations_torch.py to hold against torch.
 *   usage: activation_values NAME PARAMETER ROWS COLUMNS DIR
 * NAME is a tfm activation name (tfm_activation_names), "prelu", "softmax" or "log_softmax". DIR holds x.f32 and
 * dy.f32 (float32 [ROWS, COLUMNS]) and, for prelu, w.f32 (PARAMETER entries: 1 or COLUMNS). Writes y_reference.f32,
 * y_fast.f32, dx_reference.f32, dx_fast.f32 and, for prelu, dw_reference.f32 and dw_fast.f32 (the gradients of the
 * sum of dy * y). PARAMETER is the slope, alpha or theta of the activations that have one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/softmax.h"
#include "tfm/config.h"
#include "tools/tool_files.h"

static int kind_of(const char *name) {
    for (int k = 0; tfm_activation_names[k]; k++)
        if (strcmp(tfm_activation_names[k], name) == 0) return k;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: activation_values NAME PARAMETER ROWS COLUMNS DIR\n");
        return 2;
    }
    const char *name = argv[1], *dir = argv[5];
    float parameter = strtof(argv[2], NULL);
    size_t rows = strtoul(argv[3], NULL, 10), C = strtoul(argv[4], NULL, 10), n = rows * C;
    float *x = tool_read("activation_values", dir, "x.f32", n * sizeof(float)), *dy = tool_read("activation_values", dir, "dy.f32", n * sizeof(float));
    float *y[2], *dx[2], *dw[2] = {NULL, NULL}, *w = NULL;
    int channels = (int)parameter, kind = kind_of(name);
    int prelu = strcmp(name, "prelu") == 0, softmax = strcmp(name, "softmax") == 0, log_softmax = strcmp(name, "log_softmax") == 0;
    if (kind < 0 && !prelu && !softmax && !log_softmax) {
        fprintf(stderr, "activation_values: unknown activation %s\n", name);
        return 1;
    }
    if (prelu) w = tool_read("activation_values", dir, "w.f32", (size_t)channels * sizeof(float));
    for (int fast = 0; fast < 2; fast++) {
        y[fast] = calloc(n, sizeof(float));
        dx[fast] = calloc(n, sizeof(float));
        if (prelu) {
            dw[fast] = calloc((size_t)channels, sizeof(float));
            (fast ? tfm_prelu_forward : tfm_prelu_forward_reference)(y[fast], x, w, rows, (int)C, channels);
            (fast ? tfm_prelu_backward : tfm_prelu_backward_reference)(dx[fast], dw[fast], dy, x, w, rows, (int)C, channels);
        } else if (softmax || log_softmax) {
            if (softmax) (fast ? tfm_softmax_forward : tfm_softmax_forward_reference)(y[fast], x, (int)rows, (int)C);
            else (fast ? tfm_log_softmax_forward : tfm_log_softmax_forward_reference)(y[fast], x, (int)rows, (int)C);
            if (softmax) (fast ? tfm_softmax_backward : tfm_softmax_backward_reference)(dx[fast], dy, y[fast], (int)rows, (int)C);
            else (fast ? tfm_log_softmax_backward : tfm_log_softmax_backward_reference)(dx[fast], dy, y[fast], (int)rows, (int)C);
        } else {
            (fast ? tfm_activation_forward : tfm_activation_forward_reference)(kind, parameter, y[fast], x, n);
            (fast ? tfm_activation_backward : tfm_activation_backward_reference)(kind, parameter, dx[fast], dy, x, n);
        }
    }
    const char *suffix[2] = {"reference", "fast"};
    for (int fast = 0; fast < 2; fast++) {
        char file[64];
        snprintf(file, sizeof file, "y_%s.f32", suffix[fast]);
        tool_write("activation_values", dir, file, y[fast], n * sizeof(float));
        snprintf(file, sizeof file, "dx_%s.f32", suffix[fast]);
        tool_write("activation_values", dir, file, dx[fast], n * sizeof(float));
        if (prelu) {
            snprintf(file, sizeof file, "dw_%s.f32", suffix[fast]);
            tool_write("activation_values", dir, file, dw[fast], (size_t)channels * sizeof(float));
        }
        free(y[fast]), free(dx[fast]), free(dw[fast]);
    }
    free(x), free(dy), free(w);
    return 0;
}
