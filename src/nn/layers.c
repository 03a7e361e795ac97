/* nn/layers.c: Linear and LayerNorm layers: declare their parameters, initialise them, run them on a graph. */
#include "tfm/nn.h"

#include <stdio.h>

tfm_status tfm_linear_declare(tfm_linear_layer *layer, tfm_params *p, const char *prefix, int in, int out, int has_bias,
                              int transposed_on_disk) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    tfm_status st = tfm_params_declare(p, name, 2, (int[]){out, in}, &layer->weight, 1);
    if (st) return st;
    p->entries[p->count - 1].stored_transposed = transposed_on_disk;
    layer->has_bias = has_bias;
    if (!has_bias) return TFM_OK;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return tfm_params_declare(p, name, 1, (int[]){out}, &layer->bias, 0);
}

tfm_tensor *tfm_linear_forward_graph(tfm_graph *g, tfm_linear_layer *layer, tfm_tensor *x) {
    return tfm_fn_linear(g, x, &layer->weight, layer->has_bias ? &layer->bias : NULL);
}

tfm_status tfm_layernorm_declare(tfm_layernorm_layer *layer, tfm_params *p, const char *prefix, int C, float eps) {
    char name[256];
    layer->eps = eps;
    snprintf(name, sizeof name, "%s.weight", prefix);
    tfm_status st = tfm_params_declare(p, name, 1, (int[]){C}, &layer->weight, 0);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return tfm_params_declare(p, name, 1, (int[]){C}, &layer->bias, 0);
}

tfm_tensor *tfm_layernorm_forward_graph(tfm_graph *g, tfm_layernorm_layer *layer, tfm_tensor *x) {
    return tfm_fn_layernorm(g, x, &layer->weight, &layer->bias, layer->eps);
}
