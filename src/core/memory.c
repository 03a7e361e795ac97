/* core/memory.c: the injectable allocator (default: 64-byte aligned malloc) that all tfm memory goes through. */
#define _POSIX_C_SOURCE 200809L
#include "tfm/base.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *default_alloc(void *user_data, void *pointer, size_t old_size, size_t size) {
    (void)user_data;
    if (size == 0) {
        free(pointer);
        return NULL;
    }
    /* Cache-line alignment for everything big enough to be a tensor. */
    void *fresh = NULL;
    if (posix_memalign(&fresh, 64, size) != 0) return NULL;
    if (pointer) {
        memcpy(fresh, pointer, old_size < size ? old_size : size);
        free(pointer);
    }
    return fresh;
}

static tfm_alloc_fn current_alloc = default_alloc;
static void *current_user_data = NULL;

void tfm_set_allocator(tfm_alloc_fn alloc, void *user_data) {
    current_alloc = alloc ? alloc : default_alloc;
    current_user_data = alloc ? user_data : NULL;
}

void *tfm_malloc(size_t size) {
    if (size == 0) size = 1;
    void *p = current_alloc(current_user_data, NULL, 0, size);
    if (!p) tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory: could not allocate %zu bytes", size);
    return p;
}

void *tfm_calloc(size_t count, size_t size) {
    if (size && count > (size_t)-1 / size) {
        tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory: %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = tfm_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *tfm_realloc(void *pointer, size_t old_size, size_t size) {
    if (size == 0) size = 1;
    void *p = current_alloc(current_user_data, pointer, old_size, size);
    if (!p) tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory: could not grow %zu to %zu bytes", old_size, size);
    return p;
}

void tfm_free(void *pointer, size_t size) {
    if (pointer) current_alloc(current_user_data, pointer, size, 0);
}

char *tfm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = tfm_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

tfm_status tfm_memory_check_request(double bytes, const char *what) {
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    double physical = pages > 0 && page_size > 0 ? (double)pages * (double)page_size : 0;
    if (physical <= 0 || bytes < physical) return TFM_OK; /* unknown: let the allocator decide */
    const double gib = 1024.0 * 1024.0 * 1024.0;
    return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s needs %.3g GiB, more than this machine's %.3g GiB of memory", what, bytes / gib,
                     physical / gib);
}
