/* bench/bench_ops.c: micro-benchmark of the non-GEMM kernels at GPT-2-small training sizes (reference vs fast, 1 and N threads).
 *
 * Not wired into CMake yet. Build by hand against a built libtfm.a, e.g.
 *   gcc -std=c11 -O3 -march=native -fopenmp -Isrc -Iinclude bench/bench_ops.c build/libtfm.a \
 *       -lopenblas -lcjson -lutf8proc -lm -o build/bench_ops && build/bench_ops
 * or in bench/CMakeLists.txt:
 *   add_executable(bench_ops ${CMAKE_CURRENT_SOURCE_DIR}/bench_ops.c)
 *   set_target_properties(bench_ops PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
 *   target_include_directories(bench_ops PRIVATE ${PROJECT_SOURCE_DIR}/src)
 *   target_link_libraries(bench_ops PRIVATE tfm)
 * Usage: bench_ops [scale]   (scale < 1 shrinks every size, e.g. 0.25 for a quick run) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/residual.h"
#include "ops/softmax.h"
#include "tfm/random.h"
#include "train/clip.h"
#include "train/optimizer.h"

static float *random_floats(size_t n, uint64_t seed) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * tfm_random_uniform_at(seed, i) - 1.0f;
    return x;
}

/* Median-free but warm: one untimed call, then repeat for >= 0.2 s; milliseconds per call. */
#define BENCH_MS(ms, stmt)                                                                         \
    do {                                                                                           \
        stmt;                                                                                      \
        int reps_ = 0;                                                                             \
        double t0_ = omp_get_wtime(), el_;                                                         \
        do { stmt; reps_++; el_ = omp_get_wtime() - t0_; } while (el_ < 0.2);                      \
        (ms) = el_ / reps_ * 1e3;                                                                  \
    } while (0)

/* Reference once, fast at 1 thread and at the default count; bytes = memory traffic per call. */
#define BENCH_ROW(name, bytes, ref_stmt, fast_stmt)                                                \
    do {                                                                                           \
        double r_, f1_, fn_;                                                                       \
        int threads_ = omp_get_max_threads();                                                      \
        BENCH_MS(r_, ref_stmt);                                                                    \
        omp_set_num_threads(1);                                                                    \
        BENCH_MS(f1_, fast_stmt);                                                                  \
        omp_set_num_threads(threads_);                                                             \
        BENCH_MS(fn_, fast_stmt);                                                                  \
        printf("%-26s ref %9.3f ms | fast 1t %8.3f ms (x%5.1f) | fast %dt %8.3f ms (x%5.1f, %5.1f GB/s)\n", name, r_, \
               f1_, r_ / f1_, threads_, fn_, r_ / fn_, (double)(bytes) / (fn_ * 1e-3) / 1e9);                \
    } while (0)

int main(int argc, char **argv) {
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    if (scale <= 0) scale = 1.0;
    int N = (int)(2048 * scale), C = 768, V = 50257, Nce = (int)(512 * scale);
    if (N < 1) N = 1;
    if (Nce < 1) Nce = 1;
    size_t nc = (size_t)N * C, ff = nc * 4;
    printf("N = B*T = %d, C = %d, V = %d, cross-entropy rows %d, threads %d\n", N, C, V, Nce, omp_get_max_threads());

    float *x = random_floats(ff, 1), *y = random_floats(ff, 2), *g = random_floats(ff, 3), *d = random_floats(ff, 4);
    float *w = random_floats(C, 5), *b = random_floats(C, 6), *dw = random_floats(C, 7), *db = random_floats(C, 8);
    float *mean = random_floats(N, 9), *rstd = random_floats(N, 10);
    BENCH_ROW("gelu forward [N,4C]", ff * 8, tfm_gelu_forward_reference(y, x, ff), tfm_gelu_forward(y, x, ff));
    BENCH_ROW("gelu backward [N,4C]", ff * 12, tfm_gelu_backward_reference(d, g, x, ff), tfm_gelu_backward(d, g, x, ff));
    BENCH_ROW("gelu_erf forward [N,4C]", ff * 8, tfm_gelu_erf_forward_reference(y, x, ff), tfm_gelu_erf_forward(y, x, ff));
    BENCH_ROW("layernorm forward [N,C]", nc * 8, tfm_layernorm_forward_reference(y, mean, rstd, x, w, b, N, C, 1e-5f),
              tfm_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f));
    BENCH_ROW("layernorm backward [N,C]", nc * 12, tfm_layernorm_backward_reference(d, dw, db, g, x, w, mean, rstd, N, C),
              tfm_layernorm_backward(d, dw, db, g, x, w, mean, rstd, N, C));
    BENCH_ROW("residual forward [N,C]", nc * 12, tfm_residual_forward_reference(y, x, g, nc), tfm_residual_forward(y, x, g, nc));
    BENCH_ROW("dropout forward p=0.1", nc * 8, tfm_dropout_forward_reference(y, x, nc, 0.1f, 1, 0),
              tfm_dropout_forward(y, x, nc, 0.1f, 1, 0));
    int heads_rows = (int)(12 * 512 * scale), T = 512;
    if (heads_rows < 1) heads_rows = 1;
    float *att = random_floats((size_t)heads_rows * T, 11), *att_out = random_floats((size_t)heads_rows * T, 12);
    BENCH_ROW("softmax [12*512, 512]", (size_t)heads_rows * T * 8, tfm_softmax_forward_reference(att_out, att, heads_rows, T),
              tfm_softmax_forward(att_out, att, heads_rows, T));
    free(att); free(att_out);

    int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
    for (int n = 0; n < N; n++) ids[n] = (int32_t)(tfm_random_bits_at(13, n) % (uint64_t)V);
    float *table = random_floats((size_t)V * C, 14);
    BENCH_ROW("embedding forward", nc * 8, tfm_embedding_forward_reference(y, table, ids, N, C), tfm_embedding_forward(y, table, ids, N, C));
    BENCH_ROW("embedding backward", nc * 12, tfm_embedding_backward_reference(table, g, ids, N, C),
              tfm_embedding_backward(table, g, ids, N, C));
    free(table);

    size_t nv = (size_t)Nce * V;
    float *logits = random_floats(nv, 15), *dlogits = random_floats(nv, 16), *losses = random_floats(Nce, 17), *lse = random_floats(Nce, 18);
    for (size_t i = 0; i < nv; i++) logits[i] *= 8.0f;
    int32_t *targets = malloc(sizeof(int32_t) * (size_t)Nce);
    for (int n = 0; n < Nce; n++) targets[n] = (int32_t)(tfm_random_bits_at(19, n) % (uint64_t)V);
    BENCH_ROW("cross-entropy forward", nv * 4,
              tfm_cross_entropy_forward_reference(losses, lse, logits, targets, Nce, V, -100, 0.0f, NULL),
              tfm_cross_entropy_forward(losses, lse, logits, targets, Nce, V, -100, 0.0f, NULL));
    BENCH_ROW("cross-entropy backward", nv * 12,
              tfm_cross_entropy_backward_reference(dlogits, logits, lse, targets, Nce, V, -100, 0.0f, 1e-3f),
              tfm_cross_entropy_backward(dlogits, logits, lse, targets, Nce, V, -100, 0.0f, 1e-3f));
    free(logits); free(dlogits); free(losses); free(lse); free(targets);

    size_t np = (size_t)(16 * 1024 * 1024 * scale);
    float *p = random_floats(np, 20), *pg = random_floats(np, 21), *m = calloc(np, 4), *v = calloc(np, 4);
    long step = 1;
    BENCH_ROW("adamw update (16M)", np * 28,
              tfm_adamw_update_reference(p, pg, m, v, np, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step++),
              tfm_adamw_update(p, pg, m, v, np, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step++));
    volatile double sink = 0;
    BENCH_ROW("global norm (16M)", np * 4, sink += tfm_clip_global_norm_reference(pg, np), sink += tfm_clip_global_norm(pg, np));
    (void)sink;
    free(p); free(pg); free(m); free(v);
    free(x); free(y); free(g); free(d); free(w); free(b); free(dw); free(db); free(mean); free(rstd); free(ids);
    return 0;
}
