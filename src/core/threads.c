/* core/threads.c: keeps OpenMP's and OpenBLAS's thread counts in step (OpenBLAS is the OpenMP build). */
#include "tfm/base.h"

#include <cblas.h>
#include <omp.h>

void tfm_threads_set(int threads) {
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    /* The OpenMP build of OpenBLAS keeps its own count as well; a GEMM called outside a parallel
     * region uses it, a GEMM called inside one runs single-threaded. */
    openblas_set_num_threads(threads);
}

int tfm_threads_get(void) { return omp_get_max_threads(); }
