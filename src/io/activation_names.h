/* io/activation_names.h: how configs name the activations: tfm's names, and transformers' (GPT-2, BERT config.json). */
#ifndef TFM_IO_ACTIVATION_NAMES_H
#define TFM_IO_ACTIVATION_NAMES_H

/* transformers' "activation_function" / "hidden_act" names, first one per TFM_ACTIVATION_* in enum order (what tfm
 * writes), then the aliases it also reads ("gelu_pytorch_tanh", "swish"). ELU, SELU and ThresholdedReLU have no
 * transformers name: tfm writes its own, which transformers will refuse to load. NULL-terminated. */
extern const char *const tfm_hf_activation_names[];
/* The TFM_ACTIVATION_* (or TFM_ACTIVATION_PRELU, "prelu", tfm's FFN-only name) of tfm_hf_activation_names[index]. */
int tfm_hf_activation_kind(int index);
/* The name tfm writes for an activation kind (TFM_ACTIVATION_* or _PRELU). */
const char *tfm_hf_activation_name(int kind);

#endif
