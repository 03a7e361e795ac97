/* sgemm_peak: single-precision GEMM throughput (GFLOPS) on large square matrices, for two GEMMs: tfm's own
 * (src/ops/gemm.c, tfm_gemm: the kernel every linear layer of tfm runs, AVX-512 where the CPU has it) and
 * OpenBLAS's cblas_sgemm (whose kernels follow CPU detection or OPENBLAS_CORETYPE). tfm's figure is the
 * denominator of the model-FLOPs utilisation in bench/bench_gpt.py: MFU is measured against the GEMM tfm runs.
 *
 *   sgemm_peak [--threads N] [--repeats R] [SIZE ...]     (defaults: 2 threads, 5 repeats, sizes 1024 2048 3072)
 *
 * For each GEMM and size it times R calls of C = A B (n x n, row-major, 2 n^3 flops each) after one warm-up call
 * and keeps the best; the last stdout line is machine-readable ("gflops" is tfm's; the best size of each, which on
 * a shared machine is the least disturbed):
 *   sgemm_peak {"threads":2,"n":2048,"gflops":300.1,"tfm_gflops":300.1,"tfm_n":2048,"tfm_fast":1,
 *               "openblas_gflops":190.2,"openblas_n":3072,"openblas_config":"..."} */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/gemm.h"

#define MAX_SIZES 16

enum { GEMM_TFM, GEMM_OPENBLAS };

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_positive(const char *text, const char *what, int *out) {
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v <= 0 || v > 1000000) {
        fprintf(stderr, "sgemm_peak: %s: expected a positive integer, got '%s'\n", what, text);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static void run_gemm(int which, int n, const float *a, const float *b, float *c) {
    if (which == GEMM_TFM)
        tfm_gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}

/* Best GFLOPS over `repeats` timed calls for n x n matrices; < 0 if memory ran out. */
static double measure(int which, int n, int repeats) {
    size_t count = (size_t)n * (size_t)n;
    float *a = malloc(count * sizeof(float));
    float *b = malloc(count * sizeof(float));
    float *c = malloc(count * sizeof(float));
    double best = -1.0;
    if (a && b && c) {
        /* Deterministic values in [-1, 1): denormals or NaNs would distort the timing. */
        unsigned int state = 12345u;
        for (size_t i = 0; i < count; i++) {
            state = state * 1664525u + 1013904223u;
            a[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
            state = state * 1664525u + 1013904223u;
            b[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
        }
        memset(c, 0, count * sizeof(float));
        run_gemm(which, n, a, b, c); /* warm-up (tfm: allocates its per-thread packing buffers) */
        for (int r = 0; r < repeats; r++) {
            double t0 = now_seconds();
            run_gemm(which, n, a, b, c);
            double gflops = 2.0 * (double)n * (double)n * (double)n / (now_seconds() - t0) / 1e9;
            if (gflops > best) best = gflops;
        }
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* Best GFLOPS over the sizes (and its size in *best_n); < 0 on failure. */
static double measure_all(int which, const char *name, const int *sizes, int n_sizes, int repeats, int *best_n) {
    double best = -1.0;
    for (int s = 0; s < n_sizes; s++) {
        double g = measure(which, sizes[s], repeats);
        if (g < 0) {
            fprintf(stderr, "sgemm_peak: out of memory for n = %d\n", sizes[s]);
            return -1.0;
        }
        printf("%-8s n = %5d: %8.1f GFLOPS (best of %d)\n", name, sizes[s], g, repeats);
        fflush(stdout);
        if (g > best) {
            best = g;
            *best_n = sizes[s];
        }
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = 2, repeats = 5, sizes[MAX_SIZES], n_sizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!parse_positive(argv[++i], "--threads", &threads)) return 2;
        } else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            if (!parse_positive(argv[++i], "--repeats", &repeats)) return 2;
        } else if (argv[i][0] != '-' && n_sizes < MAX_SIZES) {
            if (!parse_positive(argv[i], "SIZE", &sizes[n_sizes++])) return 2;
        } else {
            fprintf(stderr, "usage: sgemm_peak [--threads N] [--repeats R] [SIZE ...] (at most %d sizes)\n", MAX_SIZES);
            return 2;
        }
    }
    if (n_sizes == 0) {
        sizes[0] = 1024;
        sizes[1] = 2048;
        sizes[2] = 3072;
        n_sizes = 3;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    const char *config = openblas_get_config();
    printf("tfm GEMM: %s; OpenBLAS: %s (OPENBLAS_CORETYPE=%s); threads %d (OpenBLAS reports %d)\n",
           tfm_gemm_is_fast() ? "AVX-512 kernel" : "no AVX-512 in this build: calls OpenBLAS", config,
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset", threads, openblas_get_num_threads());
    int tfm_n = 0, blas_n = 0;
    double tfm = measure_all(GEMM_TFM, "tfm", sizes, n_sizes, repeats, &tfm_n);
    if (tfm < 0) return 1;
    double blas = measure_all(GEMM_OPENBLAS, "OpenBLAS", sizes, n_sizes, repeats, &blas_n);
    if (blas < 0) return 1;
    /* The config string is printed inside JSON quotes: keep it to characters that need no escaping. */
    char safe[256];
    size_t j = 0;
    for (const char *p = config; *p && j + 1 < sizeof safe; p++) safe[j++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 32) ? ' ' : *p;
    safe[j] = '\0';
    printf("sgemm_peak {\"threads\":%d,\"n\":%d,\"gflops\":%.1f,\"tfm_gflops\":%.1f,\"tfm_n\":%d,\"tfm_fast\":%d,"
           "\"openblas_gflops\":%.1f,\"openblas_n\":%d,\"openblas_config\":\"%s\"}\n",
           threads, tfm_n, tfm, tfm, tfm_n, tfm_gemm_is_fast(), blas, blas_n, safe);
    return 0;
}
