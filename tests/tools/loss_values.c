/* tests/tools/loss_values.c: one loss's value and gradient three ways (reference kernel, fast kernel, and the graph
 * function tfm_fn_loss / tfm_fn_nll with backward), for tests/test_losses_torch.py to hold against torch.
 *   usage: loss_values NAME DELTA ROWS COLUMNS DIR
 * NAME is one of tfm_loss_names or "nll". DIR holds pred.f32 (float32 [ROWS, COLUMNS]) and target.f32 (the same
 * shape; for nll target.i32, int32 [ROWS], -100 ignored). Writes value.f64 (3 doubles: the mean loss by each way)
 * and grad_reference.f32, grad_fast.f32, grad_graph.f32 (the mean's gradient). Exit 1 with the library's message
 * when the graph function refuses the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/loss.h"
#include "tfm/graph.h"
#include "tfm/nn.h"
#include "tfm/tensor.h"
#include "tools/tool_files.h"

/* The graph way: pred as a parameter, the loss, backward. */
static int graph_way(int kind, float delta, const float *pred, const void *target, int rows, int C, double *value, float *grad) {
    tfm_params params;
    tfm_tensor p;
    tfm_graph *g = NULL;
    tfm_params_init(&params);
    if (tfm_params_declare(&params, "pred", 2, (int[]){rows, C}, &p, 0) || tfm_params_allocate(&params) || tfm_graph_create(&g, 0)) return 1;
    memcpy(p.data, pred, (size_t)rows * C * sizeof(float));
    tfm_params_zero_grad(&params);
    tfm_graph_begin(g, 1, 0);
    tfm_tensor *loss = kind < 0 ? tfm_fn_nll(g, &p, target, -100, NULL) : tfm_fn_loss(g, kind, &p, target, TFM_REDUCTION_MEAN, delta);
    int failed = !loss || tfm_graph_backward(g, loss, 1.0f) != TFM_OK;
    if (failed) {
        fprintf(stderr, "loss_values: %s\n", tfm_last_error());
    } else {
        *value = loss->data[0];
        memcpy(grad, p.grad, (size_t)rows * C * sizeof(float));
    }
    tfm_graph_free(g);
    tfm_params_free(&params);
    return failed;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: loss_values NAME DELTA ROWS COLUMNS DIR\n");
        return 2;
    }
    const char *name = argv[1], *dir = argv[5];
    float delta = strtof(argv[2], NULL);
    int rows = atoi(argv[3]), C = atoi(argv[4]), kind = -1;
    size_t n = (size_t)rows * C;
    for (int k = 0; tfm_loss_names[k]; k++)
        if (strcmp(tfm_loss_names[k], name) == 0) kind = k;
    if (kind < 0 && strcmp(name, "nll") != 0) {
        fprintf(stderr, "loss_values: unknown loss %s\n", name);
        return 1;
    }
    float *pred = tool_read("loss_values", dir, "pred.f32", n * sizeof(float));
    void *target = kind < 0 ? tool_read("loss_values", dir, "target.i32", (size_t)rows * sizeof(int32_t)) : tool_read("loss_values", dir, "target.f32", n * sizeof(float));
    double value[3] = {0, 0, 0};
    float *grad[3];
    for (int way = 0; way < 3; way++) grad[way] = calloc(n, sizeof(float));
    if (kind < 0) { /* nll has one kernel: reference and fast are the same call */
        int count = 0;
        for (int way = 0; way < 2; way++) {
            value[way] = tfm_nll_forward(pred, target, rows, C, -100, &count) / (count ? count : 1);
            tfm_nll_backward(grad[way], target, rows, C, -100, 1.0f / (float)(count ? count : 1));
        }
    } else {
        double terms = tfm_loss_per_row(kind) ? rows : (double)n;
        value[0] = tfm_loss_forward_reference(kind, pred, target, (size_t)rows, C, delta) / terms;
        value[1] = tfm_loss_forward(kind, pred, target, (size_t)rows, C, delta) / terms;
        tfm_loss_backward_reference(kind, grad[0], pred, target, (size_t)rows, C, delta, (float)(1.0 / terms));
        tfm_loss_backward(kind, grad[1], pred, target, (size_t)rows, C, delta, (float)(1.0 / terms));
    }
    if (graph_way(kind, delta, pred, target, rows, C, &value[2], grad[2])) return 1;
    tool_write("loss_values", dir, "value.f64", value, sizeof value);
    const char *ways[3] = {"reference", "fast", "graph"};
    for (int way = 0; way < 3; way++) {
        char file[64];
        snprintf(file, sizeof file, "grad_%s.f32", ways[way]);
        tool_write("loss_values", dir, file, grad[way], n * sizeof(float));
        free(grad[way]);
    }
    free(pred), free(target);
    return 0;
}
