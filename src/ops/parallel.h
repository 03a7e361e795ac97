/* ops/parallel.h: run a kernel's loop on the OpenMP team only when the work is worth it. */
#ifndef TFM_OPS_PARALLEL_H
#define TFM_OPS_PARALLEL_H

#include <stddef.h>

/* TFM_PARALLEL_RANGES(n, min, call): runs `call`, an expression that uses `begin` and `end`, over
 * [0, n). Below `min` items it runs once on the calling thread, without entering OpenMP at all:
 * a parallel region costs about a microsecond even when its `if` clause makes it one thread
 * (libgomp still builds a team), and a decode step runs some fifty such ops on a single row.
 * From `min` up, each thread of the team takes one contiguous slice. `call` must compute every
 * item the same way wherever the slices fall (then results do not depend on the thread count).
 *
 *   static void relu_range(float *out, const float *inp, size_t begin, size_t end) { ... }
 *   TFM_PARALLEL_RANGES(n, 32768, relu_range(out, inp, begin, end));                          */
#ifdef _OPENMP
#include <omp.h>
#define TFM_PARALLEL_RANGES(n, min, call)                                                      \
    do {                                                                                       \
        const size_t tfm_items_ = (n);                                                         \
        if (tfm_items_ < (size_t)(min) || omp_get_max_threads() == 1) {                        \
            const size_t begin = 0, end = tfm_items_;                                          \
            call;                                                                              \
        } else {                                                                               \
            _Pragma("omp parallel") {                                                          \
                const size_t tfm_slices_ = (size_t)omp_get_num_threads();                      \
                const size_t tfm_slice_ = (size_t)omp_get_thread_num();                        \
                const size_t begin = tfm_items_ * tfm_slice_ / tfm_slices_;                    \
                const size_t end = tfm_items_ * (tfm_slice_ + 1) / tfm_slices_;                \
                call;                                                                          \
            }                                                                                  \
        }                                                                                      \
    } while (0)
#else
/* Built without OpenMP (the fuzz targets are): one slice on the calling thread. */
#define TFM_PARALLEL_RANGES(n, min, call)                                                      \
    do {                                                                                       \
        const size_t begin = 0, end = (n);                                                     \
        (void)(min);                                                                           \
        call;                                                                                  \
    } while (0)
#endif

#endif
