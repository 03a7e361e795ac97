/* core/error.c: the per-thread last-error message behind tfm_error() and tfm_last_error(). */
#include "tfm/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TFM_ERROR_CAPACITY 1024

static _Thread_local char error_message[TFM_ERROR_CAPACITY];

const char *tfm_last_error(void) { return error_message; }

void tfm_error_clear(void) { error_message[0] = '\0'; }

const char *tfm_status_name(tfm_status status) {
    switch (status) {
    case TFM_OK: return "ok";
    case TFM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TFM_ERR_OUT_OF_MEMORY: return "out of memory";
    case TFM_ERR_IO: return "i/o error";
    case TFM_ERR_FORMAT: return "format error";
    case TFM_ERR_CONFIG: return "configuration error";
    case TFM_ERR_NUMERIC: return "numeric error";
    case TFM_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

tfm_status tfm_error(tfm_status status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error_message, sizeof error_message, format, args);
    va_end(args);
    return status;
}

tfm_status tfm_error_prefix(tfm_status status, const char *format, ...) {
    char previous[TFM_ERROR_CAPACITY];
    memcpy(previous, error_message, sizeof previous);
    va_list args;
    va_start(args, format);
    int n = vsnprintf(error_message, sizeof error_message, format, args);
    va_end(args);
    if (n >= 0 && (size_t)n < sizeof error_message)
        snprintf(error_message + n, sizeof error_message - (size_t)n, "%s", previous);
    return status;
}
