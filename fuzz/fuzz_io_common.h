/* fuzz/fuzz_io_common.h: shared helpers for the file-format fuzz targets: checks, a size-checking allocator, temp files, a small parameter set. */
#ifndef TFM_FUZZ_IO_COMMON_H
#define TFM_FUZZ_IO_COMMON_H

#define _GNU_SOURCE /* nftw, symlink, memmem, posix_memalign */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfm/base.h"
#include "tfm/io.h"
#include "tfm/tensor.h"

#define IO_FUZZ_REQUIRE(cond, what)                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz check failed: %s (%s:%d); last error: %s\n", what, __FILE__, __LINE__,               \
                    tfm_last_error());                                                                                 \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* A failed call must say why. */
#define IO_FUZZ_FAILED_WITH_MESSAGE(status, what) IO_FUZZ_REQUIRE((status) == TFM_OK || tfm_last_error()[0] != '\0', what)

/* ---- An allocator that checks tfm_free / tfm_realloc are given the size that was allocated ----
 * base.h promises a user allocator the old size; a wrong one is a real bug for an embedding program's heap even
 * though the default allocator ignores it. Sizes live in a side table keyed by the bit-inverted pointer, so the
 * table holds no pointer LeakSanitizer would count as a reference (leaks stay visible). TFM_FUZZ_SIZE_CHECK=0
 * turns the check off (the allocator is still used). */

typedef struct io_fuzz_slot {
    uintptr_t key;  /* ~pointer; 0 = empty, 1 = deleted */
    size_t size;
} io_fuzz_slot;

static io_fuzz_slot *io_fuzz_slots;
static size_t io_fuzz_capacity, io_fuzz_used; /* used counts live and deleted slots */
static int io_fuzz_size_check = 1;

static inline size_t io_fuzz_hash(uintptr_t key, size_t capacity) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (capacity - 1);
}

static inline void io_fuzz_table_insert(uintptr_t key, size_t size);

static inline void io_fuzz_table_grow(void) {
    io_fuzz_slot *old = io_fuzz_slots;
    size_t old_capacity = io_fuzz_capacity;
    io_fuzz_capacity = old_capacity ? old_capacity * 2 : 4096;
    io_fuzz_slots = calloc(io_fuzz_capacity, sizeof *io_fuzz_slots);
    if (!io_fuzz_slots) {
        fprintf(stderr, "fuzz allocator: out of memory for its table\n");
        abort();
    }
    io_fuzz_used = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].key > 1) io_fuzz_table_insert(old[i].key, old[i].size);
    free(old);
}

static inline void io_fuzz_table_insert(uintptr_t key, size_t size) {
    if (2 * (io_fuzz_used + 1) > io_fuzz_capacity) io_fuzz_table_grow();
    size_t i = io_fuzz_hash(key, io_fuzz_capacity);
    while (io_fuzz_slots[i].key > 1) i = (i + 1) & (io_fuzz_capacity - 1);
    if (io_fuzz_slots[i].key == 0) io_fuzz_used++;
    io_fuzz_slots[i].key = key;
    io_fuzz_slots[i].size = size;
}

/* Remove `pointer`'s entry and return its size; aborts if tfm never allocated it. */
static inline size_t io_fuzz_table_remove(void *pointer) {
    uintptr_t key = ~(uintptr_t)pointer;
    if (io_fuzz_capacity) {
        for (size_t i = io_fuzz_hash(key, io_fuzz_capacity); io_fuzz_slots[i].key != 0; i = (i + 1) & (io_fuzz_capacity - 1))
            if (io_fuzz_slots[i].key == key) {
                io_fuzz_slots[i].key = 1;
                return io_fuzz_slots[i].size;
            }
    }
    fprintf(stderr, "fuzz allocator: tfm freed %p, which it did not allocate\n", pointer);
    abort();
}

static inline void *io_fuzz_alloc(void *user_data, void *pointer, size_t old_size, size_t size) {
    (void)user_data;
    if (pointer) {
        size_t recorded = io_fuzz_table_remove(pointer);
        if (io_fuzz_size_check && recorded != old_size) {
            fprintf(stderr, "fuzz allocator: tfm_%s of %p says %zu bytes, but %zu were allocated\n",
                    size ? "realloc" : "free", pointer, old_size, recorded);
            abort();
        }
        if (size == 0) {
            free(pointer);
            return NULL;
        }
    }
    void *fresh = NULL;
    if (posix_memalign(&fresh, 64, size) != 0) {
        if (pointer) io_fuzz_table_insert(~(uintptr_t)pointer, old_size); /* realloc failed: the old block stays */
        return NULL;
    }
    if (pointer) {
        memcpy(fresh, pointer, old_size < size ? old_size : size);
        free(pointer);
    }
    io_fuzz_table_insert(~(uintptr_t)fresh, size);
    return fresh;
}

static inline void io_fuzz_install_allocator(void) {
    const char *check = getenv("TFM_FUZZ_SIZE_CHECK");
    io_fuzz_size_check = !(check && strcmp(check, "0") == 0);
    tfm_set_allocator(io_fuzz_alloc, NULL);
}

/* ---- Temporary files: one per process (libFuzzer -jobs/-fork run several at once) ---- */

static inline const char *io_fuzz_temp_root(void) {
    const char *dir = getenv("TMPDIR");
    return dir && dir[0] ? dir : "/tmp";
}

/* "<tmp>/fuzz_<name>.<pid>" into buffer. */
static inline void io_fuzz_temp_path(char *buffer, size_t size, const char *name) {
    snprintf(buffer, size, "%s/fuzz_%s.%ld", io_fuzz_temp_root(), name, (long)getpid());
}

static inline void io_fuzz_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    IO_FUZZ_REQUIRE(f != NULL, "create a temporary file");
    IO_FUZZ_REQUIRE(size == 0 || fwrite(data, 1, size, f) == size, "write a temporary file");
    IO_FUZZ_REQUIRE(fclose(f) == 0, "close a temporary file");
}

static inline int io_fuzz_remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -rf path (links are removed, never followed). */
static inline void io_fuzz_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    IO_FUZZ_REQUIRE(nftw(path, io_fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "remove a temporary directory");
}

/* The input as a NUL-terminated string (an embedded NUL ends it, as it would for a C caller). */
static inline char *io_fuzz_text(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    IO_FUZZ_REQUIRE(text != NULL, "copy the input");
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* ---- A small parameter set: every loader path (2-D transposed, 1-D, 4-D) on a few dozen floats ----
 * fuzz/make_seeds.py writes seed files with exactly these names and shapes. */

typedef struct io_fuzz_model {
    tfm_params params;
    tfm_tensor embed, proj, proj_bias, grid;
} io_fuzz_model;

static inline void io_fuzz_model_create(io_fuzz_model *m) {
    memset(m, 0, sizeof *m);
    tfm_params_init(&m->params);
    IO_FUZZ_REQUIRE(tfm_params_declare(&m->params, "embed.weight", 2, (int[]){5, 3}, &m->embed, 1) == TFM_OK, "declare");
    IO_FUZZ_REQUIRE(tfm_params_declare(&m->params, "proj.weight", 2, (int[]){2, 3}, &m->proj, 1) == TFM_OK, "declare");
    IO_FUZZ_REQUIRE(tfm_params_declare(&m->params, "proj.bias", 1, (int[]){2}, &m->proj_bias, 0) == TFM_OK, "declare");
    IO_FUZZ_REQUIRE(tfm_params_declare(&m->params, "grid", 4, (int[]){1, 2, 1, 2}, &m->grid, 1) == TFM_OK, "declare");
    tfm_params_find(&m->params, "proj.weight")->stored_transposed = 1; /* on disk [3, 2], as GPT-2's Conv1D */
    IO_FUZZ_REQUIRE(tfm_params_allocate(&m->params) == TFM_OK, "allocate the small parameters");
}

/* Fill the values (and moments, when allocated) with a recognisable pattern. */
static inline void io_fuzz_model_mark(io_fuzz_model *m, float base) {
    for (size_t i = 0; i < m->params.total; i++) {
        m->params.data[i] = base + (float)i;
        if (m->params.moment1) m->params.moment1[i] = -base - (float)i;
        if (m->params.moment2) m->params.moment2[i] = base * 2 + (float)i;
    }
}

static inline int io_fuzz_model_is_marked(const io_fuzz_model *m, float base) {
    for (size_t i = 0; i < m->params.total; i++) {
        if (m->params.data[i] != base + (float)i) return 0;
        if (m->params.moment1 && m->params.moment1[i] != -base - (float)i) return 0;
        if (m->params.moment2 && m->params.moment2[i] != base * 2 + (float)i) return 0;
    }
    return 1;
}

#endif
