/* core/threads.h: one knob for the number of compute threads, shared by OpenMP loops and OpenBLAS. */
#ifndef TFM_CORE_THREADS_H
#define TFM_CORE_THREADS_H

/* Use `threads` threads for every later parallel kernel on the calling thread: sets OpenMP's
 * default team size and OpenBLAS's thread count together. `threads` <= 0 means all cores
 * (omp_get_num_procs()). Without any call, OpenMP's default applies (OMP_NUM_THREADS, else all cores). */
void tfm_threads_set(int threads);

/* The team size a parallel kernel started now would use (omp_get_max_threads()). */
int tfm_threads_get(void);

#endif
