/* io/file.h: library-internal parts of the file helpers: fault injection so tests can make an atomic write fail. */
#ifndef TFM_IO_FILE_H
#define TFM_IO_FILE_H

#include "tfm/io.h"

/* Where an injected failure strikes (tests only; process-wide, not thread-safe). */
typedef enum tfm_file_fault {
    TFM_FILE_FAULT_NONE = 0,
    TFM_FILE_FAULT_WRITE,   /* a write fails once more than `after_bytes` bytes have been accepted */
    TFM_FILE_FAULT_FSYNC,   /* fsync of the temporary fails */
    TFM_FILE_FAULT_RENAME,  /* the final rename fails */
} tfm_file_fault;

/* Arm a fault for the next atomic writes (it stays armed until set to TFM_FILE_FAULT_NONE); `skip` atomic
 * files are let through first, so a test can fail the n-th file of a multi-file save. */
void tfm_file_set_fault(tfm_file_fault fault, size_t after_bytes, int skip);

#endif
