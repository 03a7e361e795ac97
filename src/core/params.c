/* core/params.c: the parameter store: named tensors laid out in one slab each for values, gradients, moments. */
#include "tfm/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t tfm_shape_size(int ndim, const int *shape) {
    if (ndim < 0 || ndim > TFM_MAX_DIMS) return 0;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || n > SIZE_MAX / 16 / (size_t)shape[i]) return 0; /* empty, or too large to address */
        n *= (size_t)shape[i];
    }
    return n;
}

void tfm_params_init(tfm_params *p) { memset(p, 0, sizeof *p); }

void tfm_params_free(tfm_params *p) {
    for (int i = 0; i < p->count; i++) tfm_free(p->entries[i].name, strlen(p->entries[i].name) + 1);
    tfm_free(p->entries, sizeof(tfm_param) * (size_t)p->capacity);
    tfm_free(p->data, sizeof(float) * p->total);
    tfm_free(p->grad, sizeof(float) * p->total);
    tfm_free(p->moment1, sizeof(float) * p->total);
    tfm_free(p->moment2, sizeof(float) * p->total);
    tfm_free(p->moment3, sizeof(float) * p->total);
    memset(p, 0, sizeof *p);
}

/* Each tensor starts on a 16-float (64-byte) boundary so kernels see cache-line-aligned rows. */
static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

tfm_status tfm_params_declare(tfm_params *p, const char *name, int ndim, const int *shape, tfm_tensor *tensor, int decay) {
    if (p->data) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "parameter '%s' declared after allocation", name);
    size_t size = tfm_shape_size(ndim, shape);
    if (size == 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "parameter '%s' has an empty or invalid shape", name);
    if (tfm_params_find(p, name)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "parameter '%s' declared twice", name);
    if (p->total > SIZE_MAX / 16 - size - 16) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "parameter '%s': the model is too large to address", name);
    if (p->count == p->capacity) {
        int cap = p->capacity ? p->capacity * 2 : 32;
        tfm_param *e = tfm_realloc(p->entries, sizeof(tfm_param) * (size_t)p->capacity, sizeof(tfm_param) * (size_t)cap);
        if (!e) return TFM_ERR_OUT_OF_MEMORY;
        p->entries = e;
        p->capacity = cap;
    }
    tfm_param *e = &p->entries[p->count];
    memset(e, 0, sizeof *e);
    e->name = tfm_strdup(name);
    if (!e->name) return TFM_ERR_OUT_OF_MEMORY;
    e->tensor = tensor;
    e->ndim = ndim;
    memcpy(e->shape, shape, sizeof(int) * (size_t)ndim);
    e->size = size;
    e->offset = p->total;
    e->no_weight_decay = !decay;
    p->total = align16(p->total + size);
    p->count++;
    return TFM_OK;
}

tfm_status tfm_params_declare_buffer(tfm_params *p, const char *name, int ndim, const int *shape, tfm_tensor *tensor) {
    tfm_status st = tfm_params_declare(p, name, ndim, shape, tensor, 0);
    if (!st) p->entries[p->count - 1].buffer = 1;
    return st;
}

size_t tfm_params_count_values(const tfm_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->count; i++) n += p->entries[i].size;
    return n;
}

tfm_status tfm_params_allocate(tfm_params *p) {
    if (p->data) return TFM_OK;
    char what[96];
    double count = (double)p->total;
    snprintf(what, sizeof what, "%.3g %s parameters (values and gradients, fp32)", count >= 1e9 ? count / 1e9 : count / 1e6,
             count >= 1e9 ? "billion" : "million");
    tfm_status st = tfm_memory_check_request(8.0 * (double)p->total, what);
    if (st) return st;
    p->data = tfm_calloc(p->total ? p->total : 1, sizeof(float));
    p->grad = tfm_calloc(p->total ? p->total : 1, sizeof(float));
    if (!p->data || !p->grad) return TFM_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < p->count; i++) {
        tfm_param *e = &p->entries[i];
        tfm_tensor *t = e->tensor;
        memset(t, 0, sizeof *t);
        t->ndim = e->ndim;
        memcpy(t->shape, e->shape, sizeof e->shape);
        t->size = e->size;
        t->data = p->data + e->offset;
        t->grad = p->grad + e->offset;
        t->requires_grad = !e->buffer;
    }
    return TFM_OK;
}

tfm_status tfm_params_allocate_moments(tfm_params *p) { return tfm_params_allocate_moments_n(p, 0); }

tfm_status tfm_params_allocate_moments_n(tfm_params *p, int three) {
    if (!p->moment1) p->moment1 = tfm_calloc(p->total ? p->total : 1, sizeof(float));
    if (!p->moment2) p->moment2 = tfm_calloc(p->total ? p->total : 1, sizeof(float));
    if (three && !p->moment3) p->moment3 = tfm_calloc(p->total ? p->total : 1, sizeof(float));
    return (p->moment1 && p->moment2 && (!three || p->moment3)) ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

void tfm_params_free_gradients(tfm_params *p) {
    tfm_free(p->grad, sizeof(float) * (p->total ? p->total : 1));
    p->grad = NULL;
    for (int i = 0; i < p->count; i++) {
        p->entries[i].tensor->grad = NULL;
        p->entries[i].tensor->requires_grad = 0;
    }
}

void tfm_params_zero_grad(tfm_params *p) {
    if (p->grad) memset(p->grad, 0, sizeof(float) * p->total);
}

tfm_param *tfm_params_find(tfm_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->entries[i].name, name) == 0) return &p->entries[i];
    return NULL;
}
