/* sgemm_peak: measures OpenBLAS single-precision GEMM throughput (GFLOPS) on large square matrices, the
 * denominator of tfm's model-FLOPs utilisation in bench/bench_gpt.py.
 *
 *   sgemm_peak [--threads N] [--repeats R] [SIZE ...]     (defaults: 2 threads, 5 repeats, sizes 1024 2048 3072)
 *
 * For each size it times R calls of C = A B (n x n, row-major, 2 n^3 flops each) after one warm-up call and keeps
 * the best; the last stdout line is machine-readable:
 *   sgemm_peak {"threads":2,"n":2048,"gflops":123.4}     (the best size; on a shared machine, the least disturbed) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SIZES 16

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

/* Best GFLOPS over `repeats` timed calls for n x n matrices; < 0 if memory ran out. */
static double measure(int n, int repeats) {
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
        for (int r = 0; r < repeats; r++) {
            double t0 = now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double gflops = 2.0 * (double)n * (double)n * (double)n / (now_seconds() - t0) / 1e9;
            if (gflops > best) best = gflops;
        }
    }
    free(a);
    free(b);
    free(c);
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
    printf("OpenBLAS: %s; threads %d (OpenBLAS reports %d)\n", openblas_get_config(), threads,
           openblas_get_num_threads());
    double best = -1.0;
    int best_n = 0;
    for (int s = 0; s < n_sizes; s++) {
        double g = measure(sizes[s], repeats);
        if (g < 0) {
            fprintf(stderr, "sgemm_peak: out of memory for n = %d\n", sizes[s]);
            return 1;
        }
        printf("n = %5d: %8.1f GFLOPS (best of %d)\n", sizes[s], g, repeats);
        if (g > best) {
            best = g;
            best_n = sizes[s];
        }
    }
    printf("sgemm_peak {\"threads\":%d,\"n\":%d,\"gflops\":%.1f}\n", threads, best_n, best);
    return 0;
}
