/* io/activation_names.c: the activations' names in tfm's configs and in transformers' config.json files. */
#include "io/activation_names.h"

#include "tfm/config.h"

const char *const tfm_activation_names[] = {"gelu", "relu", "gelu_erf", "tanh", "sigmoid", "silu", "leaky_relu", "elu", "selu",
                                            "thresholded_relu", NULL};

/* transformers: "gelu" is the exact erf form, "gelu_new" and "gelu_pytorch_tanh" the tanh approximation */
const char *const tfm_hf_activation_names[] = {"gelu_new", "relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "elu", "selu",
                                               "thresholded_relu", "gelu_pytorch_tanh", "swish", NULL};

int tfm_hf_activation_kind(int index) {
    if (index < TFM_ACTIVATION_COUNT) return index;
    return index == TFM_ACTIVATION_COUNT ? TFM_ACTIVATION_GELU : TFM_ACTIVATION_SILU;
}
