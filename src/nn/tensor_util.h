/* nn/tensor_util.h: the two questions every graph function asks of a tensor. */
#ifndef TFM_NN_TENSOR_UTIL_H
#define TFM_NN_TENSOR_UTIL_H

#include "tfm/tensor.h"

/* Gradient buffer of an input if it wants one, else NULL (kernels skip NULL gradients). */
static inline float *grad_of(tfm_tensor *t) { return (t && t->requires_grad) ? t->grad : NULL; }

/* All leading dimensions flattened: the rows of the last (feature) dimension. */
static inline size_t rows_of(const tfm_tensor *t) { return t->size / (size_t)t->shape[t->ndim - 1]; }

#endif
