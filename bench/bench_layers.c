/* bench/bench_layers.c: tfm's LSTM, GRU and BatchNorm, forward + backward on the graph, timed for bench/bench_layers.py.
 *   usage: bench_layers lstm|gru B T I H [SECONDS]     one layer, batch-first x [B, T, I]
 *          bench_layers batchnorm N C [SECONDS]        training mode, x [N, C]
 *          bench_layers copy                           the machine's memory copy rate (BatchNorm's limit)
 * Each step: a fresh tape, the forward, loss = sum(out * w) with w fixed, backward (gradients of x and every weight).
 * The first step is not timed; prints one line: summary {"seconds_per_step": ..., "steps": ...}. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm.h"

static double now(void) { return omp_get_wtime(); }

static int fail(const char *what) {
    fprintf(stderr, "bench_layers: %s: %s\n", what, tfm_last_error());
    return 1;
}

static void fill(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * tfm_random_uniform_at(seed, i) - 1.0f;
}

/* Largest sustained memcpy rate (bytes read + written per second) over 256 MB buffers, all threads. */
static int copy_rate(void) {
    size_t n = (size_t)64 << 20;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    if (!a || !b) return 1;
    fill(a, n, 1);
    memset(b, 0, n * sizeof(float));
    double best = 0;
    for (int rep = 0; rep < 8; rep++) {
        double t0 = now();
        #pragma omp parallel
        {
            int threads = omp_get_num_threads(), me = omp_get_thread_num();
            size_t chunk = n / (size_t)threads, begin = chunk * (size_t)me, end = me == threads - 1 ? n : begin + chunk;
            memcpy(b + begin, a + begin, (end - begin) * sizeof(float));
        }
        double rate = 2.0 * (double)n * sizeof(float) / (now() - t0);
        if (rate > best) best = rate;
    }
    printf("summary {\"copy_bytes_per_second\": %.6g, \"threads\": %d}\n", best, omp_get_max_threads());
    free(a), free(b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "copy") == 0) return copy_rate();
    int recurrent = argc >= 6 && (strcmp(argv[1], "lstm") == 0 || strcmp(argv[1], "gru") == 0);
    int batchnorm = argc >= 4 && strcmp(argv[1], "batchnorm") == 0;
    if (!recurrent && !batchnorm) {
        fprintf(stderr, "usage: bench_layers lstm|gru B T I H [SECONDS] | batchnorm N C [SECONDS] | copy\n");
        return 2;
    }
    double seconds = atof(argc > (recurrent ? 6 : 4) ? argv[recurrent ? 6 : 4] : "3");
    tfm_params params;
    tfm_params_init(&params);
    tfm_recurrent_layer *rnn = calloc(1, sizeof *rnn);
    tfm_norm_layer bn;
    tfm_tensor x;
    int B = atoi(argv[2]), T = recurrent ? atoi(argv[3]) : 0, I = recurrent ? atoi(argv[4]) : atoi(argv[3]);
    int H = recurrent ? atoi(argv[5]) : 0;
    tfm_status st;
    if (recurrent) {
        tfm_recurrent_config c = {.kind = strcmp(argv[1], "lstm") == 0 ? TFM_RECURRENT_LSTM : TFM_RECURRENT_GRU, .input_size = I,
                                  .hidden_size = H, .num_layers = 1, .bias = 1};
        st = tfm_recurrent_declare(rnn, &params, "rnn", &c);
        if (!st) st = tfm_params_declare(&params, "x", 3, (int[]){B, T, I}, &x, 0);
    } else {
        st = tfm_norm_declare(&bn, &params, "bn", I, TFM_NORM_BATCHNORM, 1e-5f);
        if (!st) st = tfm_params_declare(&params, "x", 2, (int[]){B, I}, &x, 0);
    }
    if (st || tfm_params_allocate(&params)) return fail("set-up");
    fill(params.data, params.total, 7);
    if (recurrent) {
        tfm_rng rng;
        tfm_rng_init(&rng, 3);
        tfm_recurrent_init(rnn, &rng);
    } else {
        tfm_norm_reset(&bn);
    }
    size_t out_size = recurrent ? (size_t)B * T * H : (size_t)B * I;
    float *w = malloc(out_size * sizeof(float));
    fill(w, out_size, 9);
    tfm_graph *g = NULL;
    if (tfm_graph_create(&g, 0)) return fail("graph");
    int steps = 0;
    double start = 0;
    for (;;) {
        tfm_graph_begin(g, 1, 1);
        tfm_params_zero_grad(&params);
        tfm_tensor *out = recurrent ? tfm_recurrent_forward_graph(g, rnn, &x, NULL, NULL, NULL, NULL, NULL) : tfm_norm_forward_graph(g, &bn, &x);
        tfm_tensor *loss = tfm_fn_weighted_sum(g, out, w);
        if (!loss || tfm_graph_backward(g, loss, 1.0f)) return fail("step");
        if (steps++ == 0) start = now(); /* the first step warms up (arena, packing buffers) */
        else if (now() - start >= seconds && steps > 3) break;
    }
    double per_step = (now() - start) / (steps - 1);
    printf("summary {\"seconds_per_step\": %.6g, \"steps\": %d, \"threads\": %d}\n", per_step, steps - 1, omp_get_max_threads());
    tfm_graph_free(g);
    tfm_params_free(&params);
    free(rnn), free(w);
    return 0;
}
