/* io/activation_names.c: the activations' names in tfm's configs and in transformers' config.json files. */
#include "io/activation_names.h"

#include "tfm/config.h"

const char *const tfm_activation_names[] = {"gelu", "relu", "gelu_erf", "tanh", "sigmoid", "silu", "leaky_relu", "elu", "selu",
                                            "thresholded_relu", NULL};
const char *const tfm_ffn_activation_names[] = {"gelu", "relu", "gelu_erf", "tanh", "sigmoid", "silu", "leaky_relu", "elu", "selu",
                                                "thresholded_relu", "prelu", NULL};

/* transformers: "gelu" is the exact erf form, "gelu_new" and "gelu_pytorch_tanh" the tanh approximation */
const char *const tfm_hf_activation_names[] = {"gelu_new", "relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "elu", "selu",
                                               "thresholded_relu", "gelu_pytorch_tanh", "swish", "prelu", NULL};

int tfm_hf_activation_kind(int index) {
    if (index < TFM_ACTIVATION_COUNT) return index;
    if (index == TFM_ACTIVATION_COUNT) return TFM_ACTIVATION_GELU;
    return index == TFM_ACTIVATION_COUNT + 1 ? TFM_ACTIVATION_SILU : TFM_ACTIVATION_PRELU;
}

const char *tfm_hf_activation_name(int kind) { return kind == TFM_ACTIVATION_PRELU ? "prelu" : tfm_hf_activation_names[kind]; }
