/* io/gguf.c: a GGUF (version 3) writer: metadata, then tensors as f32, f16 or q8_0, written atomically. */
#include "io/gguf.h"

#include <math.h>
#include <string.h>

#include "tfm/io.h"

/* The file, all little-endian (ggml's docs/gguf.md):
 *   "GGUF", u32 version 3, u64 tensor count, u64 metadata count
 *   metadata: string key, u32 value type, value (strings: u64 length + bytes; arrays: u32 type, u64 count, values)
 *   tensor infos: string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml type, u64 offset in the data
 *   padding to the alignment, then each tensor's data at its offset (offsets are multiples of the alignment) */
#define GGUF_ALIGNMENT 32
enum { VALUE_U32 = 4, VALUE_I32 = 5, VALUE_F32 = 6, VALUE_STRING = 8, VALUE_ARRAY = 9 };

typedef struct gguf_tensor {
    char *name;
    const float *data;      /* row-major [shape[0], ..., shape[ndim-1]] */
    int ndim;
    int64_t shape[4];
    int type;               /* TFM_GGUF_* */
    uint64_t offset, bytes;
} gguf_tensor;

struct tfm_gguf {
    unsigned char *metadata; /* the encoded key/value pairs */
    size_t metadata_length, metadata_capacity;
    uint64_t metadata_count;
    gguf_tensor *tensors;
    int tensor_count, tensor_capacity;
    uint64_t data_bytes;
    tfm_status status;       /* the first failure; later additions are no-ops */
};

tfm_status tfm_gguf_create(tfm_gguf **out) {
    *out = tfm_calloc(1, sizeof **out);
    return *out ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

void tfm_gguf_free(tfm_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->tensor_count; i++) tfm_free(g->tensors[i].name, strlen(g->tensors[i].name) + 1);
    tfm_free(g->tensors, sizeof *g->tensors * (size_t)g->tensor_capacity);
    tfm_free(g->metadata, g->metadata_capacity);
    tfm_free(g, sizeof *g);
}

static void put(tfm_gguf *g, const void *bytes, size_t n) {
    if (g->status) return;
    if (g->metadata_length + n > g->metadata_capacity) {
        size_t grown = 2 * (g->metadata_length + n) + 4096;
        unsigned char *m = tfm_realloc(g->metadata, g->metadata_capacity, grown);
        if (!m) { g->status = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building GGUF metadata"); return; }
        g->metadata = m, g->metadata_capacity = grown;
    }
    memcpy(g->metadata + g->metadata_length, bytes, n);
    g->metadata_length += n;
}

static void put_u32(tfm_gguf *g, uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(g, b, 4);
}

static void put_u64(tfm_gguf *g, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(g, b, 8);
}

static void put_string(tfm_gguf *g, const char *s, size_t n) {
    put_u64(g, n);
    put(g, s, n);
}

static void put_key(tfm_gguf *g, const char *key, uint32_t type) {
    put_string(g, key, strlen(key));
    put_u32(g, type);
    g->metadata_count++;
}

void tfm_gguf_add_u32(tfm_gguf *g, const char *key, uint32_t value) {
    put_key(g, key, VALUE_U32);
    put_u32(g, value);
}

void tfm_gguf_add_f32(tfm_gguf *g, const char *key, float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    put_key(g, key, VALUE_F32);
    put_u32(g, bits);
}

void tfm_gguf_add_string(tfm_gguf *g, const char *key, const char *value) {
    put_key(g, key, VALUE_STRING);
    put_string(g, value, strlen(value));
}

void tfm_gguf_add_strings(tfm_gguf *g, const char *key, size_t count, const char *(*item)(void *, size_t, size_t *), void *user) {
    put_key(g, key, VALUE_ARRAY);
    put_u32(g, VALUE_STRING);
    put_u64(g, count);
    for (size_t i = 0; i < count && !g->status; i++) {
        size_t n = 0;
        const char *s = item(user, i, &n);
        put_string(g, s, n);
    }
}

void tfm_gguf_add_i32s(tfm_gguf *g, const char *key, const int32_t *values, size_t count) {
    put_key(g, key, VALUE_ARRAY);
    put_u32(g, VALUE_I32);
    put_u64(g, count);
    for (size_t i = 0; i < count; i++) put_u32(g, (uint32_t)values[i]);
}

/* Bytes of a tensor of `elements` (q8_0: blocks of 32 as one f16 scale + 32 int8). */
static uint64_t tensor_bytes(int type, uint64_t elements) {
    return type == TFM_GGUF_F32 ? 4 * elements : type == TFM_GGUF_F16 ? 2 * elements : elements / 32 * 34;
}

void tfm_gguf_add_tensor(tfm_gguf *g, const char *name, const float *data, int ndim, const int *shape, int type) {
    if (g->status) return;
    if (ndim < 1 || ndim > 4 || (type != TFM_GGUF_F32 && type != TFM_GGUF_F16 && type != TFM_GGUF_Q8_0) ||
        (type == TFM_GGUF_Q8_0 && shape[ndim - 1] % 32 != 0)) {
        g->status = tfm_error(TFM_ERR_INVALID_ARGUMENT, "GGUF tensor %s: %d dimensions of type %d cannot be written (q8_0 needs rows of "
                                                        "a multiple of 32)", name, ndim, type);
        return;
    }
    if (g->tensor_count == g->tensor_capacity) {
        int grown = 2 * g->tensor_capacity + 16;
        gguf_tensor *t = tfm_realloc(g->tensors, sizeof *t * (size_t)g->tensor_capacity, sizeof *t * (size_t)grown);
        if (!t) { g->status = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building GGUF tensors"); return; }
        g->tensors = t, g->tensor_capacity = grown;
    }
    gguf_tensor *t = &g->tensors[g->tensor_count];
    memset(t, 0, sizeof *t);
    if (!(t->name = tfm_strdup(name))) { g->status = TFM_ERR_OUT_OF_MEMORY; return; }
    uint64_t elements = 1;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], elements *= (uint64_t)shape[d];
    t->data = data, t->ndim = ndim, t->type = type;
    t->offset = g->data_bytes;
    t->bytes = tensor_bytes(type, elements);
    g->data_bytes += (t->bytes + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT;
    g->tensor_count++;
}

/* IEEE half from single, rounded to nearest even (overflow to infinity, underflow through subnormals). */
uint16_t tfm_gguf_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exponent = (x >> 23) & 0xff, mantissa = x & 0x7fffff;
    if (exponent == 0xff) return (uint16_t)(sign | 0x7c00 | (mantissa ? 0x200 : 0));
    int e = (int)exponent - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal half: the 24-bit significand shifted right, rounded */
        if (e < -10) return (uint16_t)sign;
        uint32_t m = mantissa | 0x800000, shift = (uint32_t)(14 - e), half = m >> shift, rest = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (mantissa >> 13), rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++; /* a carry into the exponent is still right */
    return (uint16_t)half;
}

static tfm_status write_le16(tfm_atomic_file *f, const uint16_t *v, size_t n) {
    unsigned char b[2048];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k + 2 <= sizeof b; i++, k += 2) b[k] = (unsigned char)v[i], b[k + 1] = (unsigned char)(v[i] >> 8);
        tfm_atomic_file_write(f, b, k);
    }
    return f->status;
}

/* One tensor's data in its type: f32 as it is (little-endian host), f16 rounded, q8_0 by blocks of 32 values x:
 * scale d = max |x| / 127 (stored as f16), q = round(x / d) as int8, as ggml's quantize_row_q8_0_ref. */
static void write_tensor(tfm_atomic_file *f, const gguf_tensor *t) {
    size_t n = (size_t)(t->type == TFM_GGUF_Q8_0 ? t->bytes / 34 * 32 : t->type == TFM_GGUF_F16 ? t->bytes / 2 : t->bytes / 4);
    if (t->type == TFM_GGUF_F32) {
        tfm_atomic_file_write(f, t->data, n * sizeof(float));
    } else if (t->type == TFM_GGUF_F16) {
        uint16_t chunk[1024];
        for (size_t i = 0; i < n; i += 1024) {
            size_t k = n - i < 1024 ? n - i : 1024;
            for (size_t j = 0; j < k; j++) chunk[j] = tfm_gguf_half(t->data[i + j]);
            write_le16(f, chunk, k);
        }
    } else {
        for (size_t block = 0; block < n; block += 32) {
            const float *x = t->data + block;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f, inverse = d ? 1.0f / d : 0.0f;
            uint16_t scale = tfm_gguf_half(d);
            unsigned char out[34] = {(unsigned char)scale, (unsigned char)(scale >> 8)};
            for (int j = 0; j < 32; j++) out[2 + j] = (unsigned char)(int8_t)roundf(x[j] * inverse);
            tfm_atomic_file_write(f, out, sizeof out);
        }
    }
    static const unsigned char zeros[GGUF_ALIGNMENT] = {0};
    size_t pad = (size_t)((GGUF_ALIGNMENT - t->bytes % GGUF_ALIGNMENT) % GGUF_ALIGNMENT);
    tfm_atomic_file_write(f, zeros, pad);
}

tfm_status tfm_gguf_write(tfm_gguf *g, const char *path) {
    if (g->status) return g->status;
    /* The header and the tensor infos go after the metadata in the same buffer: one write for everything but the data. */
    size_t metadata_end = g->metadata_length;
    for (int i = 0; i < g->tensor_count; i++) {
        const gguf_tensor *t = &g->tensors[i];
        put_string(g, t->name, strlen(t->name));
        put_u32(g, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) put_u64(g, (uint64_t)t->shape[d]); /* ggml's ne: innermost first */
        put_u32(g, (uint32_t)t->type);
        put_u64(g, t->offset);
    }
    if (g->status) return g->status;
    unsigned char header[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    for (int i = 0; i < 8; i++) header[8 + i] = (unsigned char)((uint64_t)g->tensor_count >> (8 * i));
    for (int i = 0; i < 8; i++) header[16 + i] = (unsigned char)(g->metadata_count >> (8 * i));
    tfm_atomic_file f;
    tfm_status st = tfm_atomic_file_open(&f, path);
    if (st) return st;
    tfm_atomic_file_write(&f, header, sizeof header);
    tfm_atomic_file_write(&f, g->metadata, g->metadata_length);
    static const unsigned char zeros[GGUF_ALIGNMENT] = {0};
    size_t before_data = sizeof header + g->metadata_length;
    tfm_atomic_file_write(&f, zeros, (GGUF_ALIGNMENT - before_data % GGUF_ALIGNMENT) % GGUF_ALIGNMENT);
    for (int i = 0; i < g->tensor_count && !f.status; i++) write_tensor(&f, &g->tensors[i]);
    g->metadata_length = metadata_end; /* the writer can take more and write again */
    return tfm_atomic_file_commit(&f);
}
