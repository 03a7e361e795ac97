/* io/gguf.h: the GGUF writer behind the model exporters (internal; the file types are in tfm/io.h). */
#ifndef TFM_IO_GGUF_H
#define TFM_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/io.h"

/* Collects metadata and tensors (not copied: they must live until tfm_gguf_write), then writes the file atomically.
 * Additions after a failure do nothing; the first failure comes back from tfm_gguf_write. */
typedef struct tfm_gguf tfm_gguf;
tfm_status tfm_gguf_create(tfm_gguf **out);
void tfm_gguf_free(tfm_gguf *g);
void tfm_gguf_add_u32(tfm_gguf *g, const char *key, uint32_t value);
void tfm_gguf_add_f32(tfm_gguf *g, const char *key, float value);
void tfm_gguf_add_string(tfm_gguf *g, const char *key, const char *value);
/* An array of `count` strings, the i-th given by item(user, i, &length). */
void tfm_gguf_add_strings(tfm_gguf *g, const char *key, size_t count, const char *(*item)(void *user, size_t i, size_t *length), void *user);
void tfm_gguf_add_i32s(tfm_gguf *g, const char *key, const int32_t *values, size_t count);
/* data: row-major [shape[0], ..., shape[ndim-1]] (PyTorch's order; GGUF gets ggml's reversed ne). type: TFM_GGUF_*. */
void tfm_gguf_add_tensor(tfm_gguf *g, const char *name, const float *data, int ndim, const int *shape, int type);
tfm_status tfm_gguf_write(tfm_gguf *g, const char *path);
/* IEEE half of a float, rounded to nearest even. */
uint16_t tfm_gguf_half(float f);

#endif
