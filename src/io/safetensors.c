/* io/safetensors.c: the Hugging Face safetensors format: checked reading through a read-only mmap, atomic writing, parameter load/save. */
#define _POSIX_C_SOURCE 200809L
#include "io/json.h"
#include "tfm/io.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB; so do we. */
#define TFM_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

struct tfm_safetensors {
    char *path;
    unsigned char *map;          /* whole file, read-only */
    size_t file_size;
    const unsigned char *data;   /* data section: map + 8 + header length */
    size_t data_size;
    tfm_safetensors_tensor *tensors; /* sorted by data_begin */
    int count, capacity;
    const tfm_safetensors_tensor **by_name; /* sorted by name, for binary search */
    char **metadata;             /* alternating key, value */
    int metadata_count, metadata_capacity; /* pairs */
};

/* ---- dtypes ---- */

static const struct {
    const char *name;
    tfm_dtype dtype;
    size_t size;
} dtype_table[] = {
    {"F32", TFM_DTYPE_F32, 4},   {"F16", TFM_DTYPE_F16, 2},   {"BF16", TFM_DTYPE_BF16, 2},
    {"F64", TFM_DTYPE_F64, 8},   {"I8", TFM_DTYPE_I8, 1},     {"I16", TFM_DTYPE_I16, 2},
    {"I32", TFM_DTYPE_I32, 4},   {"I64", TFM_DTYPE_I64, 8},   {"U8", TFM_DTYPE_U8, 1},
    {"U16", TFM_DTYPE_U16, 2},   {"U32", TFM_DTYPE_U32, 4},   {"U64", TFM_DTYPE_U64, 8},
    {"BOOL", TFM_DTYPE_BOOL, 1}, {"F8_E4M3", TFM_DTYPE_F8_E4M3, 1}, {"F8_E5M2", TFM_DTYPE_F8_E5M2, 1},
};
#define DTYPE_COUNT ((int)(sizeof dtype_table / sizeof dtype_table[0]))

const char *tfm_dtype_name(tfm_dtype dtype) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].name;
    return "unknown";
}

size_t tfm_dtype_size(tfm_dtype dtype) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].size;
    return 0;
}

static int dtype_index(const char *name) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) return i;
    return -1;
}

/* ---- Little-endian element access (files are little-endian whatever the host) ---- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TFM_HOST_LITTLE_ENDIAN 0
#else
#define TFM_HOST_LITTLE_ENDIAN 1
#endif

static uint64_t load_u64_le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t load_u32_le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half to single, exact (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        if (mantissa == 0) return bits_to_float(sign);
        /* Subnormal: value = mantissa * 2^-24. */
        float v = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/* Decode n elements of `dtype` starting at `src` into fp32. */
static void decode_f32(tfm_dtype dtype, const unsigned char *src, size_t n, float *out) {
    if (dtype == TFM_DTYPE_F32) {
        if (TFM_HOST_LITTLE_ENDIAN) {
            memcpy(out, src, n * sizeof(float));
        } else {
            for (size_t i = 0; i < n; i++) out[i] = bits_to_float(load_u32_le(src + 4 * i));
        }
    } else if (dtype == TFM_DTYPE_F16) {
        for (size_t i = 0; i < n; i++) out[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    } else { /* BF16: the top half of an fp32 */
        for (size_t i = 0; i < n; i++) out[i] = bits_to_float((uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16);
    }
}

/* ---- Describing files that are not safetensors ---- */

static void describe_foreign(const unsigned char *p, size_t n, char *buf, size_t size) {
#define STARTS(magic) (n >= sizeof(magic) - 1 && memcmp(p, magic, sizeof(magic) - 1) == 0)
    if (STARTS("PK\x03\x04")) {
        snprintf(buf, size, "it is a zip archive (a PyTorch .bin/.pt checkpoint?)");
    } else if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) {
        snprintf(buf, size, "it is a Python pickle (a legacy PyTorch checkpoint?)");
    } else if (STARTS("\x89HDF\r\n\x1a\n")) {
        snprintf(buf, size, "it is an HDF5 file (a Keras .h5 model?)");
    } else if (STARTS("GGUF")) {
        snprintf(buf, size, "it is a GGUF file (llama.cpp)");
    } else if (STARTS("\x93NUMPY")) {
        snprintf(buf, size, "it is a NumPy .npy array");
    } else if (STARTS("\x1f\x8b")) {
        snprintf(buf, size, "it is gzip-compressed data");
    } else if (STARTS("version https://git-lfs")) {
        snprintf(buf, size, "it is a Git LFS pointer (the real file was never downloaded)");
    } else {
        size_t printable = 0, look = n < 256 ? n : 256;
        for (size_t i = 0; i < look; i++)
            if (isprint(p[i]) || p[i] == '\n' || p[i] == '\r' || p[i] == '\t') printable++;
        if (look > 0 && printable == look) {
            char quote[48];
            size_t q = 0;
            while (q < look && q < 40 && p[q] != '\n' && p[q] != '\r') {
                quote[q] = (char)p[q];
                q++;
            }
            quote[q] = '\0';
            const char *kind = (p[0] == '{' || p[0] == '[') ? "JSON text" : "text";
            snprintf(buf, size, "it looks like %s: \"%s%s\"", kind, quote, q < look && q == 40 ? "..." : "");
        } else {
            snprintf(buf, size, "unrecognised binary data");
        }
    }
#undef STARTS
}

/* ---- Opening ---- */

void tfm_safetensors_close(tfm_safetensors *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->file_size);
    for (int i = 0; i < f->count; i++) {
        tfm_free((char *)f->tensors[i].name, strlen(f->tensors[i].name) + 1);
        tfm_free((char *)f->tensors[i].dtype_name, strlen(f->tensors[i].dtype_name) + 1);
    }
    tfm_free(f->tensors, sizeof(tfm_safetensors_tensor) * (size_t)f->capacity);
    tfm_free(f->by_name, sizeof(*f->by_name) * (size_t)f->capacity);
    for (int i = 0; i < 2 * f->metadata_count; i++) tfm_free(f->metadata[i], strlen(f->metadata[i]) + 1);
    tfm_free(f->metadata, sizeof(char *) * (size_t)(2 * f->metadata_capacity));
    if (f->path) tfm_free(f->path, strlen(f->path) + 1);
    tfm_free(f, sizeof *f);
}

static int compare_by_offset(const void *a, const void *b) {
    const tfm_safetensors_tensor *x = a, *y = b;
    if (x->data_begin != y->data_begin) return x->data_begin < y->data_begin ? -1 : 1;
    return x->data_end < y->data_end ? -1 : (x->data_end > y->data_end);
}
static int compare_by_name(const void *a, const void *b) {
    const tfm_safetensors_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* A non-negative integer JSON number that fits in size_t exactly. */
static int json_size(const cJSON *item, size_t *value) {
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return 0;
    *value = (size_t)d;
    return 1;
}

/* Read one tensor's header entry. */
static tfm_status parse_tensor(const char *path, const cJSON *item, tfm_safetensors_tensor *t) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object", path, name);
    const cJSON *dtype = tfm_json_field(item, "dtype"), *shape = tfm_json_field(item, "shape"),
                *offsets = tfm_json_field(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"", path, name);
    int d = dtype_index(dtype->valuestring);
    if (d < 0) return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", path, name, dtype->valuestring);
    t->dtype = dtype_table[d].dtype;
    if (!cJSON_IsArray(shape))
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TFM_MAX_DIMS)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: tensor \"%s\" has %d dimensions; tfm supports at most %d", path, name,
                         ndim, TFM_MAX_DIMS);
    t->ndim = ndim;
    size_t elements = 1;
    int i = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, i++) {
        size_t v;
        if (!json_size(dim, &v) || v > (size_t)INT32_MAX)
            return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": shape entries must be non-negative integers", path, name);
        t->shape[i] = (int64_t)v;
        if (v && elements > SIZE_MAX / v)
            return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": shape overflows", path, name);
        elements *= v;
    }
    t->elements = elements;
    size_t begin = 0, end = 0;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_size(offsets->child, &begin) ||
        !json_size(offsets->child->next, &end))
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be two non-negative integers", path, name);
    if (end < begin)
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] end before they begin", path, name,
                         begin, end);
    size_t need = elements * dtype_table[d].size;
    if (need / dtype_table[d].size != elements || end - begin != need)
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] span %zu bytes, but %s with %zu elements needs %zu",
                         path, name, begin, end, end - begin, dtype_table[d].name, elements, need);
    t->data_begin = begin;
    t->data_end = end;
    char *name_copy = tfm_strdup(name), *dtype_copy = tfm_strdup(dtype_table[d].name);
    if (!name_copy || !dtype_copy) {
        if (name_copy) tfm_free(name_copy, strlen(name_copy) + 1);
        if (dtype_copy) tfm_free(dtype_copy, strlen(dtype_copy) + 1);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    t->name = name_copy;
    t->dtype_name = dtype_copy;
    return TFM_OK;
}

static tfm_status parse_metadata(const char *path, const cJSON *item, tfm_safetensors *f) {
    if (!cJSON_IsObject(item))
        return tfm_error(TFM_ERR_FORMAT, "%s: \"__metadata__\" must be an object of strings", path);
    int n = cJSON_GetArraySize(item);
    int capacity = n > 0 ? n : 1;
    f->metadata = tfm_calloc(2 * (size_t)capacity, sizeof(char *));
    if (!f->metadata) return TFM_ERR_OUT_OF_MEMORY;
    f->metadata_capacity = capacity;
    for (const cJSON *c = item->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return tfm_error(TFM_ERR_FORMAT, "%s: \"__metadata__\".\"%s\": expected a string value", path, c->string);
        char *k = tfm_strdup(c->string), *v = tfm_strdup(c->valuestring);
        if (!k || !v) {
            if (k) tfm_free(k, strlen(k) + 1);
            if (v) tfm_free(v, strlen(v) + 1);
            return TFM_ERR_OUT_OF_MEMORY;
        }
        f->metadata[2 * f->metadata_count] = k;
        f->metadata[2 * f->metadata_count + 1] = v;
        f->metadata_count++;
    }
    return TFM_OK;
}

/* Everything after mapping: header length, JSON, entries, layout of the data section. */
static tfm_status parse_file(tfm_safetensors *f) {
    const char *path = f->path;
    char what[160];
    const unsigned char *p = f->map;
    uint64_t header_length = load_u64_le(p);
    size_t after = f->file_size - 8;
    if (header_length > TFM_SAFETENSORS_MAX_HEADER || header_length == 0) {
        describe_foreign(p, f->file_size, what, sizeof what);
        if (strcmp(what, "unrecognised binary data") == 0)
            return tfm_error(TFM_ERR_FORMAT, "%s: not a safetensors file: header length %llu is %s", path,
                             (unsigned long long)header_length, header_length ? "absurd (more than 100 MB)" : "zero");
        return tfm_error(TFM_ERR_FORMAT, "%s: not a safetensors file: %s", path, what);
    }
    if (header_length > after)
        return tfm_error(TFM_ERR_FORMAT, "%s: truncated: the header length says %llu bytes but only %zu follow", path,
                         (unsigned long long)header_length, after);
    const char *header = (const char *)p + 8;
    if (header[0] != '{') {
        describe_foreign(p, f->file_size, what, sizeof what);
        return tfm_error(TFM_ERR_FORMAT, "%s: not a safetensors file: the header does not start with '{' (%s)", path, what);
    }
    f->data = p + 8 + header_length;
    f->data_size = after - (size_t)header_length;

    char source[1200];
    snprintf(source, sizeof source, "%s: safetensors header", path);
    cJSON *root = NULL;
    tfm_status s = tfm_json_parse(header, (size_t)header_length, source, &root);
    if (s != TFM_OK) return s;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tfm_error(TFM_ERR_FORMAT, "%s: the header is JSON but not an object", source);
    }
    int n = 0;
    for (const cJSON *c = root->child; c; c = c->next)
        if (strcmp(c->string, "__metadata__") != 0) n++;
    f->capacity = n ? n : 1;
    f->tensors = tfm_calloc((size_t)f->capacity, sizeof(tfm_safetensors_tensor));
    f->by_name = tfm_calloc((size_t)f->capacity, sizeof(*f->by_name));
    if (!f->tensors || !f->by_name) s = TFM_ERR_OUT_OF_MEMORY;
    for (const cJSON *c = root->child; c && s == TFM_OK; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            s = parse_metadata(path, c, f);
        } else {
            s = parse_tensor(path, c, &f->tensors[f->count]);
            if (s == TFM_OK) f->count++; /* only complete entries own strings */
        }
    }
    cJSON_Delete(root);
    if (s != TFM_OK) return s;

    /* The data section must be exactly the tensors, back to back, in some order. */
    qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, compare_by_offset);
    size_t expected = 0;
    for (int i = 0; i < f->count; i++) {
        const tfm_safetensors_tensor *t = &f->tensors[i];
        if (t->data_begin < expected)
            return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\" (bytes %zu..%zu) overlaps \"%s\" (bytes %zu..%zu)", path,
                             t->name, t->data_begin, t->data_end, f->tensors[i - 1].name, f->tensors[i - 1].data_begin,
                             f->tensors[i - 1].data_end);
        if (t->data_begin > expected)
            return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\" starts at byte %zu, leaving a gap of %zu bytes after %s",
                             path, t->name, t->data_begin, t->data_begin - expected,
                             i ? f->tensors[i - 1].name : "the header");
        expected = t->data_end;
    }
    if (expected > f->data_size)
        return tfm_error(TFM_ERR_FORMAT, "%s: truncated: header says %zu bytes of tensor data, file has %zu", path, expected,
                         f->data_size);
    if (expected < f->data_size)
        return tfm_error(TFM_ERR_FORMAT, "%s: %zu bytes of data after the last tensor (the header describes %zu, file has %zu)",
                         path, f->data_size - expected, expected, f->data_size);
    for (int i = 0; i < f->count; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->count, sizeof(*f->by_name), compare_by_name);
    return TFM_OK;
}

tfm_status tfm_safetensors_open(const char *path, tfm_safetensors **out) {
    *out = NULL;
    tfm_safetensors *f = tfm_calloc(1, sizeof *f);
    if (!f) return TFM_ERR_OUT_OF_MEMORY;
    f->path = tfm_strdup(path);
    if (!f->path) {
        tfm_safetensors_close(f);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    int fd = -1;
    tfm_status s = tfm_file_open_regular(path, &fd);
    if (s != TFM_OK) {
        tfm_safetensors_close(f);
        return s;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        s = tfm_error(TFM_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    } else if (st.st_size < 8) {
        unsigned char head[8] = {0};
        ssize_t n = st.st_size > 0 ? read(fd, head, (size_t)st.st_size) : 0;
        char what[160] = "";
        if (n > 0) describe_foreign(head, (size_t)n, what, sizeof what);
        s = tfm_error(TFM_ERR_FORMAT, "%s: not a safetensors file: only %lld bytes long%s%s", path,
                      (long long)st.st_size, n > 0 ? "; " : "", what);
    } else {
        f->file_size = (size_t)st.st_size;
        void *map = mmap(NULL, f->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
            s = tfm_error(TFM_ERR_IO, "cannot map %s: %s", path, strerror(errno));
        else
            f->map = map;
    }
    close(fd);
    if (s == TFM_OK) s = parse_file(f);
    if (s != TFM_OK) {
        if (s == TFM_ERR_OUT_OF_MEMORY) tfm_error_prefix(s, "%s: ", path);
        tfm_safetensors_close(f);
        return s;
    }
    *out = f;
    return TFM_OK;
}

int tfm_safetensors_count(const tfm_safetensors *f) { return f->count; }
const char *tfm_safetensors_path(const tfm_safetensors *f) { return f->path; }

const tfm_safetensors_tensor *tfm_safetensors_tensor_at(const tfm_safetensors *f, int index) {
    return index >= 0 && index < f->count ? &f->tensors[index] : NULL;
}

const tfm_safetensors_tensor *tfm_safetensors_find(const tfm_safetensors *f, const char *name) {
    int lo = 0, hi = f->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const tfm_safetensors_tensor *t = f->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *tfm_safetensors_metadata(const tfm_safetensors *f, const char *key) {
    for (int i = 0; i < f->metadata_count; i++)
        if (strcmp(f->metadata[2 * i], key) == 0) return f->metadata[2 * i + 1];
    return NULL;
}

/* ---- Reading tensors ---- */

static void format_shape(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* The on-disk shape a caller's in-memory shape corresponds to. */
static void file_shape_of(int ndim, const int *shape, int transpose, int64_t *out) {
    for (int i = 0; i < ndim; i++) out[i] = shape[i];
    if (transpose && ndim == 2) {
        out[0] = shape[1];
        out[1] = shape[0];
    }
}

/* Does the stored shape match `ndim`/`shape` (transposed)? Leaves the error message if not. */
static tfm_status check_shape(const tfm_safetensors *f, const tfm_safetensors_tensor *t, int ndim, const int *shape,
                              int transpose) {
    if (transpose && ndim != 2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\": only 2-D tensors can be read transposed", f->path, t->name);
    int64_t want[TFM_MAX_DIMS];
    file_shape_of(ndim, shape, transpose, want);
    int same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) same = want[i] == t->shape[i];
    if (!same) {
        char have_text[96], want_text[96], memory_text[96];
        format_shape(t->ndim, t->shape, have_text, sizeof have_text);
        format_shape(ndim, want, want_text, sizeof want_text);
        if (transpose) {
            int64_t memory[2] = {shape[0], shape[1]};
            format_shape(2, memory, memory_text, sizeof memory_text);
            int untransposed = t->ndim == 2 && t->shape[0] == shape[0] && t->shape[1] == shape[1];
            return tfm_error(TFM_ERR_FORMAT,
                             "%s: tensor \"%s\": shape mismatch: the file has %s, the model expects %s (its %s stored transposed, "
                             "Conv1D layout)%s",
                             f->path, t->name, have_text, want_text, memory_text,
                             untransposed ? "; the file holds it untransposed" : "");
        }
        return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": shape mismatch: the file has %s, the model expects %s", f->path,
                         t->name, have_text, want_text);
    }
    return TFM_OK;
}

/* Can this tensor be read as fp32 into `ndim`/`shape` (transposed)? */
static tfm_status check_readable(const tfm_safetensors *f, const tfm_safetensors_tensor *t, int ndim, const int *shape,
                                 int transpose) {
    tfm_status s = check_shape(f, t, ndim, shape, transpose);
    if (s != TFM_OK) return s;
    if (t->dtype != TFM_DTYPE_F32 && t->dtype != TFM_DTYPE_F16 && t->dtype != TFM_DTYPE_BF16)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: tensor \"%s\": unsupported dtype %s (tfm reads F32, F16 and BF16)", f->path,
                         t->name, t->dtype_name);
    return TFM_OK;
}

/* Copy a checked tensor into `out` ([rows, cols] in memory when transposed; the file holds [cols, rows]). */
static void copy_tensor(const tfm_safetensors *f, const tfm_safetensors_tensor *t, int transpose, float *out) {
    const unsigned char *src = f->data + t->data_begin;
    if (!transpose) {
        decode_f32(t->dtype, src, t->elements, out);
        return;
    }
    size_t rows_in_file = (size_t)t->shape[0], cols_in_file = (size_t)t->shape[1];
    size_t element = tfm_dtype_size(t->dtype);
    /* Blocked transpose: decode a band of file rows, scatter it into columns of `out`. */
    enum { BAND = 32, WIDTH = 256 };
    float tile[BAND * WIDTH];
    for (size_t r0 = 0; r0 < rows_in_file; r0 += BAND) {
        size_t rn = rows_in_file - r0 < BAND ? rows_in_file - r0 : BAND;
        for (size_t c0 = 0; c0 < cols_in_file; c0 += WIDTH) {
            size_t cn = cols_in_file - c0 < WIDTH ? cols_in_file - c0 : WIDTH;
            for (size_t r = 0; r < rn; r++)
                decode_f32(t->dtype, src + ((r0 + r) * cols_in_file + c0) * element, cn, tile + r * WIDTH);
            /* file [r, c] -> memory [c, r]; memory has rows_in_file columns */
            for (size_t c = 0; c < cn; c++)
                for (size_t r = 0; r < rn; r++) out[(c0 + c) * rows_in_file + r0 + r] = tile[r * WIDTH + c];
        }
    }
}

size_t tfm_safetensors_first_nonfinite(const tfm_safetensors *f, const tfm_safetensors_tensor *t) {
    const unsigned char *src = f->data + t->data_begin;
    /* An all-ones exponent is infinity or NaN in every floating-point dtype read here. */
    if (t->dtype == TFM_DTYPE_F32) {
        for (size_t i = 0; i < t->elements; i++)
            if ((load_u32_le(src + 4 * i) & 0x7F800000u) == 0x7F800000u) return i;
    } else if (t->dtype == TFM_DTYPE_F16 || t->dtype == TFM_DTYPE_BF16) {
        unsigned mask = t->dtype == TFM_DTYPE_F16 ? 0x7C00u : 0x7F80u;
        for (size_t i = 0; i < t->elements; i++)
            if (((unsigned)(src[2 * i] | src[2 * i + 1] << 8) & mask) == mask) return i;
    }
    return SIZE_MAX;
}

static tfm_status nonfinite_error(const tfm_safetensors *f, const tfm_safetensors_tensor *t, size_t at, const char *hint) {
    float value = 0.0f;
    decode_f32(t->dtype, f->data + t->data_begin + at * tfm_dtype_size(t->dtype), 1, &value);
    return tfm_error(TFM_ERR_NUMERIC, "%s: tensor \"%s\" holds %s (first at element %zu of %zu)%s", f->path, t->name,
                     isnan(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity", at, t->elements, hint);
}

tfm_status tfm_safetensors_check_finite(const tfm_safetensors *f, const tfm_safetensors_tensor *t) {
    size_t at = tfm_safetensors_first_nonfinite(f, t);
    return at == SIZE_MAX ? TFM_OK : nonfinite_error(f, t, at, "");
}

tfm_status tfm_safetensors_read_f32(const tfm_safetensors *f, const char *name, int ndim, const int *shape,
                                    int transpose, float *out) {
    const tfm_safetensors_tensor *t = tfm_safetensors_find(f, name);
    if (!t) return tfm_error(TFM_ERR_FORMAT, "%s: missing tensor \"%s\"", f->path, name);
    tfm_status s = check_readable(f, t, ndim, shape, transpose);
    if (s != TFM_OK) return s;
    if (out) copy_tensor(f, t, transpose, out);
    return TFM_OK;
}

const void *tfm_safetensors_raw(const tfm_safetensors *f, const tfm_safetensors_tensor *t) { return f->data + t->data_begin; }

tfm_status tfm_safetensors_read_i32(const tfm_safetensors *f, const char *name, int ndim, const int *shape, int32_t *out) {
    const tfm_safetensors_tensor *t = tfm_safetensors_find(f, name);
    if (!t) return tfm_error(TFM_ERR_FORMAT, "%s: missing tensor \"%s\"", f->path, name);
    tfm_status s = check_shape(f, t, ndim, shape, 0);
    if (s != TFM_OK) return s;
    if (t->dtype == TFM_DTYPE_F32 || t->dtype == TFM_DTYPE_F16 || t->dtype == TFM_DTYPE_BF16 || t->dtype == TFM_DTYPE_F64 ||
        t->dtype == TFM_DTYPE_BOOL || t->dtype == TFM_DTYPE_F8_E4M3 || t->dtype == TFM_DTYPE_F8_E5M2) /* also when empty */
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is not an integer type", f->path, name, t->dtype_name);
    const unsigned char *p = f->data + t->data_begin;
    for (size_t i = 0; i < t->elements; i++) {
        int64_t v;
        switch (t->dtype) {
        case TFM_DTYPE_I32: v = (int32_t)load_u32_le(p + 4 * i); break;
        case TFM_DTYPE_U32: v = (int64_t)load_u32_le(p + 4 * i); break;
        case TFM_DTYPE_I64: v = (int64_t)load_u64_le(p + 8 * i); break;
        case TFM_DTYPE_U64: {
            uint64_t u = load_u64_le(p + 8 * i);
            v = u > (uint64_t)INT32_MAX ? (int64_t)INT32_MAX + 1 : (int64_t)u;
            break;
        }
        case TFM_DTYPE_I16: v = (int16_t)(uint16_t)(p[2 * i] | p[2 * i + 1] << 8); break;
        case TFM_DTYPE_U16: v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8); break;
        case TFM_DTYPE_I8: v = (int8_t)p[i]; break;
        case TFM_DTYPE_U8: v = p[i]; break;
        default:
            return tfm_error(TFM_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is not an integer type", f->path, name,
                             t->dtype_name);
        }
        if (v < INT32_MIN || v > INT32_MAX)
            return tfm_error(TFM_ERR_FORMAT, "%s: tensor \"%s\": element %zu does not fit in 32 bits", f->path, name, i);
        if (out) out[i] = (int32_t)v;
    }
    return TFM_OK;
}

/* ---- Writing ---- */

/* Write n floats (NULL: zeros) little-endian. */
static void write_floats(tfm_atomic_file *file, const float *data, size_t n) {
    static const float zeros[1024];
    if (data && TFM_HOST_LITTLE_ENDIAN) {
        tfm_atomic_file_write(file, data, n * sizeof(float));
        return;
    }
    unsigned char buffer[4096];
    for (size_t i = 0; i < n;) {
        size_t m = n - i < 1024 ? n - i : 1024;
        if (!data) {
            tfm_atomic_file_write(file, zeros, m * sizeof(float));
        } else {
            for (size_t k = 0; k < m; k++) {
                uint32_t bits;
                memcpy(&bits, &data[i + k], 4);
                for (int b = 0; b < 4; b++) buffer[4 * k + (size_t)b] = (unsigned char)(bits >> (8 * b));
            }
            tfm_atomic_file_write(file, buffer, m * 4);
        }
        i += m;
    }
}

/* data is [rows, cols]; write its transpose [cols, rows] in bands. */
static void write_transposed(tfm_atomic_file *file, const float *data, size_t rows, size_t cols) {
    enum { BAND = 64 };
    float *band = tfm_malloc(sizeof(float) * BAND * rows);
    if (!band) {
        if (file->status == TFM_OK) file->status = TFM_ERR_OUT_OF_MEMORY;
        return;
    }
    for (size_t c0 = 0; c0 < cols; c0 += BAND) {
        size_t cn = cols - c0 < BAND ? cols - c0 : BAND;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cn; c++) band[c * rows + r] = data[r * cols + c0 + c];
        write_floats(file, band, cn * rows);
    }
    tfm_free(band, sizeof(float) * BAND * rows);
}

static tfm_status check_entries(const char *path, const tfm_safetensors_entry *entries, int count) {
    for (int i = 0; i < count; i++) {
        const tfm_safetensors_entry *e = &entries[i];
        if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: entry %d has an empty or reserved name", path, i);
        if (e->ndim < 0 || e->ndim > TFM_MAX_DIMS)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: tensor \"%s\" has %d dimensions", path, e->name, e->ndim);
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0)
                return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: tensor \"%s\" has a negative dimension", path, e->name);
        if (e->transpose && e->ndim != 2)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: tensor \"%s\": only 2-D tensors can be transposed", path,
                             e->name);
        for (int j = 0; j < i; j++)
            if (strcmp(entries[j].name, e->name) == 0)
                return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: tensor \"%s\" appears twice", path, e->name);
    }
    return TFM_OK;
}

static size_t entry_elements(const tfm_safetensors_entry *e) {
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

/* The JSON header (unpadded). */
static tfm_status build_header(const tfm_safetensors_entry *entries, int count, const char *const *metadata, char **text) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && metadata && metadata[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && metadata[i]; i += 2) ok = metadata[i + 1] && cJSON_AddStringToObject(m, metadata[i], metadata[i + 1]);
    }
    size_t offset = 0;
    for (int i = 0; ok && i < count; i++) {
        const tfm_safetensors_entry *e = &entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_AddArrayToObject(t, "shape") : NULL;
        cJSON *offsets = NULL;
        ok = t && cJSON_AddStringToObject(t, "dtype", "F32") && shape;
        for (int d = 0; ok && d < e->ndim; d++) {
            int dim = e->shape[e->transpose ? 1 - d : d];
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber(dim));
        }
        size_t bytes = entry_elements(e) * sizeof(float);
        if (ok) offsets = cJSON_AddArrayToObject(t, "data_offsets");
        ok = ok && offsets && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    tfm_status s = ok ? tfm_json_print(root, 0, text) : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building a safetensors header");
    cJSON_Delete(root);
    return s;
}

tfm_status tfm_safetensors_write(const char *path, const tfm_safetensors_entry *entries, int count, const char *const *metadata) {
    tfm_status s = check_entries(path, entries, count);
    if (s != TFM_OK) return s;
    if (metadata)
        for (int i = 0; metadata[i]; i += 2)
            if (!metadata[i + 1])
                return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: metadata key \"%s\" has no value", path, metadata[i]);
    char *header = NULL;
    s = build_header(entries, count, metadata, &header);
    if (s != TFM_OK) return s;
    size_t length = strlen(header);
    size_t padded = (length + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    unsigned char prefix[8];
    for (int b = 0; b < 8; b++) prefix[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    tfm_atomic_file file;
    s = tfm_atomic_file_open(&file, path);
    if (s != TFM_OK) {
        tfm_free(header, length + 1);
        return s;
    }
    tfm_atomic_file_write(&file, prefix, 8);
    tfm_atomic_file_write(&file, header, length);
    tfm_atomic_file_write(&file, "        ", padded - length);
    tfm_free(header, length + 1);
    for (int i = 0; i < count && file.status == TFM_OK; i++) {
        const tfm_safetensors_entry *e = &entries[i];
        if (e->transpose && e->data)
            write_transposed(&file, e->data, (size_t)e->shape[0], (size_t)e->shape[1]);
        else
            write_floats(&file, e->data, entry_elements(e));
    }
    return tfm_atomic_file_commit(&file);
}

/* ---- Parameters ---- */

tfm_status tfm_safetensors_save_params(const char *path, const tfm_params *params, const char *const *metadata) {
    if (!params->data) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "writing %s: parameters are not allocated", path);
    tfm_safetensors_entry *entries = tfm_calloc((size_t)(params->count ? params->count : 1), sizeof *entries);
    int pairs = 0;
    int has_format = 0;
    for (int i = 0; metadata && metadata[i]; i += 2) {
        pairs++;
        if (strcmp(metadata[i], "format") == 0) has_format = 1;
    }
    size_t meta_size = sizeof(char *) * (size_t)(2 * pairs + 3);
    const char **meta = tfm_calloc(1, meta_size);
    if (!entries || !meta) {
        tfm_free(entries, sizeof *entries * (size_t)(params->count ? params->count : 1));
        tfm_free(meta, meta_size);
        return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "writing %s: ", path);
    }
    int m = 0;
    if (!has_format) {
        /* transformers checks this key before loading. */
        meta[m++] = "format";
        meta[m++] = "pt";
    }
    for (int i = 0; i < 2 * pairs; i++) meta[m++] = metadata[i];
    meta[m] = NULL;
    for (int i = 0; i < params->count; i++) {
        const tfm_param *p = &params->entries[i];
        entries[i].name = p->name;
        entries[i].data = params->data + p->offset;
        entries[i].ndim = p->ndim;
        memcpy(entries[i].shape, p->shape, sizeof p->shape);
        entries[i].transpose = p->stored_transposed && p->ndim == 2;
    }
    tfm_status s = tfm_safetensors_write(path, entries, params->count, meta);
    tfm_free(entries, sizeof *entries * (size_t)(params->count ? params->count : 1));
    tfm_free(meta, meta_size);
    return s;
}

/* Buffers Hugging Face files carry that are not parameters (GPT-2's causal mask, BERT's position ids). */
static int ignorable_extra(const char *name) {
    /* GPT-2's mask buffers, BERT's position ids, torch BatchNorm's step counter: none of them a parameter */
    static const char *const suffixes[] = {".attn.bias", ".attn.masked_bias", "embeddings.position_ids", ".num_batches_tracked", NULL};
    size_t n = strlen(name);
    for (int i = 0; suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcmp(name + n - k, suffixes[i]) == 0) return 1;
    }
    return 0;
}

/* "a.b.c" ends with ".b.c"-style suffix match on a dot boundary. */
static int ends_with_component(const char *longer, const char *shorter) {
    size_t a = strlen(longer), b = strlen(shorter);
    return a > b && longer[a - b - 1] == '.' && strcmp(longer + a - b, shorter) == 0;
}

/* Explain a missing parameter: a prefix difference, a different model, or just one absent tensor. */
static tfm_status missing_error(const tfm_safetensors *f, const tfm_params *params, const char *name) {
    int present = 0;
    for (int i = 0; i < params->count; i++) present += tfm_safetensors_find(f, params->entries[i].name) != NULL;
    for (int i = 0; i < f->count; i++) {
        const char *other = f->tensors[i].name;
        if (ends_with_component(name, other))
            return tfm_error(TFM_ERR_FORMAT,
                             "%s: missing tensor \"%s\"; the file has \"%s\": its names lack the prefix \"%.*s\" (saved from a "
                             "base model without the language-model head?)",
                             f->path, name, other, (int)(strlen(name) - strlen(other)), name);
        if (ends_with_component(other, name))
            return tfm_error(TFM_ERR_FORMAT, "%s: missing tensor \"%s\"; the file has \"%s\": its names carry an extra prefix \"%.*s\"",
                             f->path, name, other, (int)(strlen(other) - strlen(name)), other);
    }
    if (present == 0)
        return tfm_error(TFM_ERR_FORMAT,
                         "%s: missing tensor \"%s\": none of the model's %d parameters are in the file (it holds %d tensors%s%s%s): "
                         "it looks like a checkpoint of a different model",
                         f->path, name, params->count, f->count, f->count ? ", e.g. \"" : "",
                         f->count ? f->tensors[0].name : "", f->count ? "\"" : "");
    return tfm_error(TFM_ERR_FORMAT, "%s: missing tensor \"%s\" (the file has %d of the model's %d parameters)", f->path, name,
                     present, params->count);
}

/* All checks first (so a failed load leaves the parameters untouched), then the copies. */
static tfm_status load_params_from(const tfm_safetensors *f, tfm_params *params, const tfm_load_options *options) {
    for (int i = 0; i < params->count; i++) {
        const tfm_param *p = &params->entries[i];
        const tfm_safetensors_tensor *t = tfm_safetensors_find(f, p->name);
        if (!t) return missing_error(f, params, p->name);
        tfm_status s = check_readable(f, t, p->ndim, p->shape, p->stored_transposed && p->ndim == 2);
        if (s != TFM_OK) return s;
        size_t at = options && options->allow_nonfinite ? SIZE_MAX : tfm_safetensors_first_nonfinite(f, t);
        if (at != SIZE_MAX)
            return nonfinite_error(f, t, at, ": a model with non-finite weights computes only NaN (--allow-nonfinite loads it anyway)");
    }
    for (int i = 0; i < f->count; i++) {
        const char *name = f->tensors[i].name;
        if (!tfm_params_find(params, name) && !ignorable_extra(name))
            return tfm_error(TFM_ERR_FORMAT, "%s: unexpected tensor \"%s\": not a parameter of this model", f->path, name);
    }
    for (int i = 0; i < params->count; i++) {
        const tfm_param *p = &params->entries[i];
        copy_tensor(f, tfm_safetensors_find(f, p->name), p->stored_transposed && p->ndim == 2, params->data + p->offset);
    }
    return TFM_OK;
}

tfm_status tfm_safetensors_load_params(const char *path, tfm_params *params) {
    return tfm_safetensors_load_params_with(path, params, NULL);
}

tfm_status tfm_safetensors_load_params_with(const char *path, tfm_params *params, const tfm_load_options *options) {
    if (!params->data) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "loading %s: parameters are not allocated", path);
    tfm_safetensors *f = NULL;
    tfm_status s = tfm_safetensors_open(path, &f);
    if (s != TFM_OK) return s;
    s = load_params_from(f, params, options);
    tfm_safetensors_close(f);
    return s;
}
