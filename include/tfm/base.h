/* tfm/base.h: status codes, the last-error message, and the injectable allocator every module uses. */
#ifndef TFM_BASE_H
#define TFM_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible tfm call returns a tfm_status. On failure it also leaves a readable, specific message
 * in tfm_last_error() (per thread), e.g.
 *   "runs/gpt/model.safetensors: truncated: header says 1048576 bytes of tensor data, file has 4096". */
typedef enum tfm_status {
    TFM_OK = 0,
    TFM_ERR_INVALID_ARGUMENT = 1, /* a caller passed a value outside what the function accepts */
    TFM_ERR_OUT_OF_MEMORY = 2,    /* the allocator returned NULL */
    TFM_ERR_IO = 3,               /* a file could not be opened, read, written or renamed */
    TFM_ERR_FORMAT = 4,           /* a file's contents are malformed, truncated or of a foreign kind */
    TFM_ERR_CONFIG = 5,           /* a configuration field is missing, of the wrong type or out of range */
    TFM_ERR_NUMERIC = 6,          /* NaN or infinity where a finite number is required (e.g. the loss) */
    TFM_ERR_UNSUPPORTED = 7,      /* a valid request this build or model cannot serve */
} tfm_status;

/* The message left by the last failing call on this thread ("" if none). */
const char *tfm_last_error(void);

/* A short name for a status, e.g. "format error". */
const char *tfm_status_name(tfm_status status);
/* Record a message (printf-style) and return `status`, so library code can write
 *   return tfm_error(TFM_ERR_FORMAT, "%s: expected 8-byte header length", path); */
tfm_status tfm_error(tfm_status status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefix the current message with more context: "loading runs/gpt: " + previous message. */
tfm_status tfm_error_prefix(tfm_status status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void tfm_error_clear(void);

/* The allocator. All library memory goes through it, so an embedding program can route it to its own
 * heap and tests can make the n-th allocation fail. `size == 0` with a non-NULL `pointer` means free.
 * Returned memory must be aligned to at least 64 bytes when `size >= 64` (tfm asks for cache lines). */
typedef void *(*tfm_alloc_fn)(void *user_data, void *pointer, size_t old_size, size_t size);
void tfm_set_allocator(tfm_alloc_fn alloc, void *user_data); /* NULL restores the default */

/* Library-internal helpers (public so that user-defined ops can use them). tfm_malloc sets an
 * out-of-memory message when it fails; tfm_free(NULL, n) is a no-op. */
void *tfm_malloc(size_t size);
void *tfm_calloc(size_t count, size_t size);
void *tfm_realloc(void *pointer, size_t old_size, size_t size);
void tfm_free(void *pointer, size_t size);
char *tfm_strdup(const char *s);
/* Before a large allocation sized by a file or config: `bytes` (computed in double, so that no product of
 * counts can wrap) must be below this machine's physical memory, else TFM_ERR_OUT_OF_MEMORY with a message
 * "<what> needs X GiB, more than this machine's Y GiB of memory" (`what` names the fields that size it). */
tfm_status tfm_memory_check_request(double bytes, const char *what);

/* ---- Threads ---- */
/* Use `threads` threads for every later parallel kernel on the calling thread: sets OpenMP's
 * default team size and OpenBLAS's thread count together. `threads` <= 0 means all cores
 * (omp_get_num_procs()). Without any call, OpenMP's default applies (OMP_NUM_THREADS, else all cores). */
void tfm_threads_set(int threads);

/* The team size a parallel kernel started now would use (omp_get_max_threads()). */
int tfm_threads_get(void);

#ifdef __cplusplus
}
#endif
#endif
