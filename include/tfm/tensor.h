/* tfm/tensor.h: fp32 tensors, and the parameter store that keeps every weight, gradient and optimizer moment in one slab each. */
#ifndef TFM_TENSOR_H
#define TFM_TENSOR_H

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFM_MAX_DIMS 4

/* A dense, row-major fp32 tensor. It never owns its memory: `data` and `grad` point into a parameter
 * slab (weights) or into a graph's arena (activations). `grad` is NULL when no gradient is kept. */
typedef struct tfm_tensor {
    float *data;                 /* [shape[0], ..., shape[ndim-1]] values */
    float *grad;                 /* same shape: d(loss)/d(data), or NULL */
    int ndim;
    int shape[TFM_MAX_DIMS];
    size_t size;                 /* product of shape */
    int requires_grad;           /* 1: backward accumulates into grad */
    int in_graph;                /* 1: an activation in a graph's arena (its grad is freed once consumed) */
    int readers;                 /* recorded ops that take it as an input (graph tensors only) */
    int read_by_producer;        /* 1: the op that produced it reads its values in backward (nothing may overwrite them) */
    int packed;                  /* 1: a linear weight [OC, C] stored in ops/linear_packed.h's panel layout (inference only) */
} tfm_tensor;

/* Number of elements for a shape; 0 for an empty or invalid shape. */
size_t tfm_shape_size(int ndim, const int *shape);

/* ---- Parameters: one slab each for values, gradients, and the optimizer's two moments ----
 *
 * A model declares its parameters by name and shape, then allocates once:
 *   tfm_params_declare(p, "transformer.wte.weight", 2, (int[]){vocab, d_model}, &model->wte, 1);
 *   tfm_params_declare(p, "transformer.ln_f.bias", 1, (int[]){d_model}, &model->ln_f_bias, 0);  // 0: no decay
 *   tfm_params_allocate(p);  // now every declared tensor points into p->data / p->grad
 * Names follow Hugging Face where a mapping exists, so checkpoints interoperate. */
typedef struct tfm_param {
    char *name;                  /* e.g. "transformer.h.0.attn.c_attn.weight" */
    tfm_tensor *tensor;          /* the model's tensor that this entry fills in */
    int ndim;
    int shape[TFM_MAX_DIMS];
    size_t offset;               /* in floats, into the slabs */
    size_t size;
    int no_weight_decay;         /* 1 for biases and LayerNorm parameters: AdamW skips their decay */
    int stored_transposed;       /* 1: on disk as [in, out] (Hugging Face GPT-2 Conv1D), in memory [out, in] */
    int frozen;                  /* 1: the optimizer leaves it and its moments alone (requires_grad = False) */
    long steps_frozen;           /* optimizer steps it sat out: Adam's bias correction counts only the others */
    int buffer;                  /* 1: state saved with the model but never trained (BatchNorm's running statistics) */
} tfm_param;

typedef struct tfm_params {
    tfm_param *entries;
    int count, capacity;
    size_t total;                /* floats in each slab */
    float *data;                 /* [total] values */
    float *grad;                 /* [total] gradients (zeroed by tfm_params_zero_grad) */
    float *moment1;              /* [total] optimizer state (Adam m / SGD velocity); NULL until an optimizer asks */
    float *moment2;              /* [total] optimizer state (Adam v); NULL until an optimizer asks */
    float *moment3;              /* [total] a third state (RMSprop's momentum buffer); NULL unless the optimizer has one */
} tfm_params;

void tfm_params_init(tfm_params *p);
void tfm_params_free(tfm_params *p);
/* Declare a tensor; `decay` = 1 if weight decay applies (matrices), 0 for biases and norms. */
tfm_status tfm_params_declare(tfm_params *p, const char *name, int ndim, const int *shape, tfm_tensor *tensor, int decay);
/* A buffer: saved and loaded with the parameters, never given a gradient or touched by the optimizer. */
tfm_status tfm_params_declare_buffer(tfm_params *p, const char *name, int ndim, const int *shape, tfm_tensor *tensor);
/* Allocate the value and gradient slabs (zeroed) and point every declared tensor into them. */
tfm_status tfm_params_allocate(tfm_params *p);
/* Allocate the optimizer-state slabs (zeroed), once: moment1 and moment2, and moment3 when `three` is set. */
tfm_status tfm_params_allocate_moments(tfm_params *p);
tfm_status tfm_params_allocate_moments_n(tfm_params *p, int three);
void tfm_params_zero_grad(tfm_params *p);
/* Inference only: free the gradient slab (as large as the weights) and mark every parameter as not
 * requiring a gradient, so graphs record nothing for them. */
void tfm_params_free_gradients(tfm_params *p);
/* How many parameters the model has (the entries' sizes; the slabs add alignment padding). */
size_t tfm_params_count_values(const tfm_params *p);
/* The entry with this name, or NULL. */
tfm_param *tfm_params_find(tfm_params *p, const char *name);

#ifdef __cplusplus
}
#endif
#endif
