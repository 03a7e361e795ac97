#define _POSIX_C_SOURCE 200809L
/* tests/test_gpt.c: the GPT model end to end in C: gradients through the whole model, KV-cache equality,
 * sampling, no allocation in steady-state steps, allocation-failure handling, and input validation. */
#include <string.h>

#include "core/graph_internal.h" /* the arena's use, for the memory checks */
#include "test_util.h"
#include "tfm/decode.h"
#include "tfm/gpt.h"

static tfm_gpt_config small_config(void) {
    tfm_gpt_config c;
    tfm_gpt_config_default(&c);
    c.vocab_size = 61;
    c.context_length = 24;
    c.d_model = 16;
    c.n_layers = 2;
    c.n_heads = 4;
    c.d_ff = 40;
    c.dropout = c.attention_dropout = c.embedding_dropout = 0.0f;
    return c;
}

static void random_tokens(int32_t *t, int n, int V, tfm_rng *rng) {
    for (int i = 0; i < n; i++) t[i] = (int32_t)(tfm_rng_bits(rng) % (uint64_t)V);
}

static double loss_at(tfm_gpt *m, tfm_graph *g, const int32_t *x, const int32_t *y, int B, int T) {
    tfm_graph_begin(g, 0, 0);
    tfm_tensor *l = tfm_gpt_loss(m, g, x, y, B, T, 0.0f);
    return l ? l->data[0] : NAN;
}

/* Central differences on a few entries of every parameter tensor, against backprop through the whole model. */
static void test_gradients(int pre_layernorm) {
    tfm_gpt_config c = small_config();
    c.pre_layernorm = pre_layernorm;
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_gpt_init_weights(m, 7);
    /* larger weights than GPT-2's 0.02 so every path carries signal */
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] *= 5.0f;
    for (int i = 0; i < m->params.count; i++)
        if (m->params.entries[i].ndim == 1) tfm_init_constant(m->params.entries[i].tensor, 0.9f);
    enum { B = 2, T = 9 };
    int32_t x[B * T], y[B * T];
    tfm_rng rng;
    tfm_rng_init(&rng, 3);
    random_tokens(x, B * T, c.vocab_size, &rng);
    random_tokens(y, B * T, c.vocab_size, &rng);
    y[4] = TFM_IGNORE_INDEX;
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_graph_begin(g, 1, 0);
    tfm_params_zero_grad(&m->params);
    tfm_tensor *loss = tfm_gpt_loss(m, g, x, y, B, T, 0.0f);
    CHECK(loss != NULL, "%s", tfm_last_error());
    CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
    float *analytic = malloc(sizeof(float) * m->params.total);
    memcpy(analytic, m->params.grad, sizeof(float) * m->params.total);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        for (int k = 0; k < 3; k++) {
            size_t j = e->offset + (size_t)(tfm_rng_bits(&rng) % e->size);
            if (strcmp(e->name, "transformer.wte.weight") == 0) j = e->offset + (size_t)x[k] * c.d_model + (size_t)k; /* a used row */
            float saved = m->params.data[j], h = 1e-2f;
            m->params.data[j] = saved + h;
            double up = loss_at(m, g, x, y, B, T);
            m->params.data[j] = saved - h;
            double down = loss_at(m, g, x, y, B, T);
            m->params.data[j] = saved;
            double numeric = (up - down) / (2 * h);
            double err = fabs(numeric - analytic[j]) / fmax(fabs(numeric) + fabs(analytic[j]), 1e-2);
            if (err > worst) { worst = err; worst_name = e->name; }
        }
    }
    CHECK(worst < 2e-2, "pre_layernorm=%d: worst relative gradient error %.3g at %s", pre_layernorm, worst, worst_name);
    free(analytic);
    tfm_graph_free(g);
    tfm_gpt_free(m);
}

static int collect(int token, void *user) {
    int32_t **cursor = user;
    *(*cursor)++ = token;
    return 0;
}

static void test_kv_cache(int positions) {
    tfm_gpt_config c = small_config();
    c.positions = positions; /* rotary: each cached key was turned by its own position */
    c.relative_clip = 5;     /* relative: shorter than the context, so clipped distances occur */
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_gpt_init_weights(m, 11);
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] *= 10.0f; /* peaky, varied predictions */
    int32_t prompt[5] = {1, 2, 3, 4, 5};
    /* 60 new tokens: the sequence outgrows the 24-token context twice, so the window logic is covered */
    int32_t with_cache[60], without_cache[60], *cursor;
    tfm_sampler s;
    tfm_sampler_config greedy = {.temperature = 0, .top_k = 0, .top_p = 1};
    CHECK_OK(tfm_sampler_init(&s, c.vocab_size, &greedy, 1));
    cursor = with_cache;
    CHECK_OK(tfm_gpt_generate(m, prompt, 5, 60, &s, 1, collect, &cursor));
    cursor = without_cache;
    CHECK_OK(tfm_gpt_generate(m, prompt, 5, 60, &s, 0, collect, &cursor));
    CHECK(memcmp(with_cache, without_cache, sizeof with_cache) == 0, "greedy generation with and without the KV cache differ");
    int distinct = 0;
    for (int i = 1; i < 60; i++) distinct += with_cache[i] != with_cache[0];
    CHECK(distinct > 0, "generation produced one token repeatedly: the test would not see a difference");
    tfm_sampler_free(&s);

    /* Logits of an incremental pass equal those of the full pass. */
    enum { T = 12 };
    int32_t x[2 * T];
    tfm_rng rng;
    tfm_rng_init(&rng, 5);
    random_tokens(x, 2 * T, c.vocab_size, &rng);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_graph_begin(g, 0, 0);
    tfm_tensor *full = tfm_gpt_forward(m, g, x, 2, T, NULL, 0);
    float *expected = malloc(sizeof(float) * full->size);
    memcpy(expected, full->data, sizeof(float) * full->size);
    tfm_gpt_cache cache;
    CHECK_OK(tfm_gpt_cache_create(&cache, m, 2));
    double worst = 0;
    int32_t step_tokens[2];
    for (int t = 0; t < T; t++) {
        tfm_graph_begin(g, 0, 0);
        step_tokens[0] = x[t];
        step_tokens[1] = x[T + t];
        tfm_tensor *logits = tfm_gpt_forward(m, g, step_tokens, 2, 1, &cache, 0);
        CHECK(logits != NULL, "%s", tfm_last_error());
        if (!logits) break;
        for (int b = 0; b < 2; b++)
            for (int v = 0; v < c.vocab_size; v++) {
                double d = fabs(logits->data[b * c.vocab_size + v] - expected[((size_t)b * T + t) * c.vocab_size + v]);
                if (d > worst) worst = d;
            }
    }
    /* Relative to the logits' size (weights x10 here: logits reach ~14): the two passes sum in different
     * orders (a [T, T] GEMM vs one query row), float rounding that a LayerNorm of small variance amplifies. */
    double scale = 1.0;
    for (size_t i = 0; i < full->size; i++) scale = fmax(scale, fabs(expected[i]));
    CHECK(worst < 2e-5 * scale, "incremental logits differ from the full pass by %.3g (logits up to %.3g)", worst, scale);
    /* one more token than the context allows is an error, not garbage */
    cache.length = c.context_length;
    tfm_graph_begin(g, 0, 0);
    CHECK(tfm_gpt_forward(m, g, step_tokens, 2, 1, &cache, 0) == NULL, "forward past the context length succeeded");
    CHECK(strstr(tfm_last_error(), "context length") != NULL, "message: %s", tfm_last_error());
    tfm_gpt_cache_free(&cache);
    free(expected);
    tfm_graph_free(g);
    tfm_gpt_free(m);
}

static void test_sampling(void) {
    float logits[6] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, -3.0f};
    tfm_sampler s;
    tfm_sampler_config top1 = {.temperature = 1.0f, .top_k = 1, .top_p = 1};
    CHECK_OK(tfm_sampler_init(&s, 6, &top1, 9));
    for (int i = 0; i < 20; i++) CHECK(tfm_sampler_next(&s, logits) == 1, "top-k 1 must be greedy");
    tfm_sampler_free(&s);
    tfm_sampler_config nucleus = {.temperature = 1.0f, .top_k = 0, .top_p = 0.5f};
    CHECK_OK(tfm_sampler_init(&s, 6, &nucleus, 9));
    int counts[6] = {0};
    for (int i = 0; i < 2000; i++) counts[tfm_sampler_next(&s, logits)]++;
    /* p(1) = 0.43, p(3) = 0.39 of the full softmax: top-p 0.5 keeps exactly tokens 1 and 3 */
    CHECK(counts[1] + counts[3] == 2000 && counts[1] > 900 && counts[3] > 800, "top-p counts %d %d", counts[1], counts[3]);
    tfm_sampler_free(&s);
    /* top-k over a larger vocabulary with ties: samples stay within the k most likely (ties to the lower
     * id) and follow their renormalised probabilities */
    enum { V = 300, K = 17, DRAWS = 40000 };
    float big[V];
    tfm_rng rng;
    tfm_rng_init(&rng, 4);
    for (int i = 0; i < V; i++) big[i] = (float)(tfm_rng_bits(&rng) % 64) / 16.0f; /* many ties */
    int rank[V]; /* the K most likely by a plain selection: largest value, lowest id first */
    int in_top[V] = {0};
    for (int r = 0; r < K; r++) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!in_top[i] && (best < 0 || big[i] > big[best])) best = i;
        in_top[best] = 1;
        rank[r] = best;
    }
    double z = 0, expect[V] = {0};
    for (int r = 0; r < K; r++) z += exp((big[rank[r]] - big[rank[0]]) / 0.7);
    for (int r = 0; r < K; r++) expect[rank[r]] = exp((big[rank[r]] - big[rank[0]]) / 0.7) / z;
    tfm_sampler_config topk = {.temperature = 0.7f, .top_k = K, .top_p = 1};
    CHECK_OK(tfm_sampler_init(&s, V, &topk, 3));
    int draws[V] = {0}, outside = 0;
    for (int i = 0; i < DRAWS; i++) {
        int t = tfm_sampler_next(&s, big);
        draws[t]++;
        outside += !in_top[t];
    }
    double worst_sigma = 0;
    for (int i = 0; i < V; i++)
        if (in_top[i]) {
            double mean = DRAWS * expect[i], sd = sqrt(DRAWS * expect[i] * (1 - expect[i]));
            worst_sigma = fmax(worst_sigma, fabs(draws[i] - mean) / sd);
        }
    CHECK(outside == 0 && worst_sigma < 5, "top-k: %d draws outside the top %d, worst deviation %.1f sigma", outside, K, worst_sigma);
    tfm_sampler_free(&s);
    tfm_sampler_config bad = {.temperature = -1, .top_k = 0, .top_p = 1};
    CHECK(tfm_sampler_init(&s, 6, &bad, 1) == TFM_ERR_INVALID_ARGUMENT, "negative temperature accepted");
}

/* A counting allocator: tests that steady-state steps allocate nothing, and that failures are handled. */
static long allocations = 0, fail_at = -1;
static void *counting_alloc(void *user, void *p, size_t old_size, size_t size) {
    (void)user; (void)old_size;
    if (size == 0) { free(p); return NULL; }
    allocations++;
    if (fail_at >= 0 && allocations == fail_at) return NULL;
    void *q = NULL;
    if (posix_memalign(&q, 64, size)) return NULL;
    if (p) { memcpy(q, p, old_size < size ? old_size : size); free(p); }
    return q;
}

static void test_no_allocation_in_steps(void) {
    tfm_set_allocator(counting_alloc, NULL);
    tfm_gpt_config c = small_config();
    c.dropout = 0.1f;
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_gpt_init_weights(m, 1);
    enum { B = 3, T = 16 };
    int32_t x[B * T], y[B * T];
    tfm_rng rng;
    tfm_rng_init(&rng, 2);
    random_tokens(x, B * T, c.vocab_size, &rng);
    random_tokens(y, B * T, c.vocab_size, &rng);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    long before = 0;
    for (int step = 0; step < 4; step++) {
        if (step == 2) before = allocations;
        tfm_graph_begin(g, 1, 1);
        tfm_tensor *loss = tfm_gpt_loss(m, g, x, y, B, T, 0.1f);
        CHECK(loss && tfm_graph_backward(g, loss, 1.0f) == TFM_OK, "%s", tfm_last_error());
    }
    CHECK(allocations == before, "steady-state training steps allocated %ld times", allocations - before);
    tfm_graph_free(g);
    tfm_gpt_free(m);

    /* Fail each of the first allocations of model creation in turn: always a clean error, never a crash. */
    int failures_seen = 0;
    for (long n = 1; n <= 40; n++) {
        allocations = 0;
        fail_at = n;
        tfm_gpt *mm = NULL;
        tfm_status st = tfm_gpt_create(&mm, &c);
        if (st == TFM_ERR_OUT_OF_MEMORY) failures_seen++;
        else CHECK(st == TFM_OK, "status %d", st);
        tfm_gpt_free(mm);
    }
    fail_at = -1;
    CHECK(failures_seen > 3, "allocation failures were not exercised (%d)", failures_seen);
    tfm_set_allocator(NULL, NULL);
}

/* Each of the three dropout rates acts where it should: a training forward with only that rate set differs from one
 * without dropout, and with every rate 0 it is the evaluation forward. */
static float training_loss(float residual, float attention, float embedding) {
    tfm_gpt_config c = small_config();
    c.dropout = residual, c.attention_dropout = attention, c.embedding_dropout = embedding;
    tfm_gpt *m = NULL;
    tfm_graph *g = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    CHECK_OK(tfm_graph_create(&g, 0));
    if (!m || !g) return NAN;
    tfm_gpt_init_weights(m, 1);
    int32_t x[32], y[32];
    tfm_rng rng;
    tfm_rng_init(&rng, 2);
    random_tokens(x, 32, c.vocab_size, &rng);
    random_tokens(y, 32, c.vocab_size, &rng);
    tfm_graph_begin(g, 0, 1);
    tfm_rng_init(tfm_graph_dropout_stream(g), 5);
    tfm_tensor *loss = tfm_gpt_loss(m, g, x, y, 2, 16, 0.0f);
    float value = loss ? loss->data[0] : NAN;
    tfm_graph_free(g);
    tfm_gpt_free(m);
    return value;
}

static void test_dropout_rates(void) {
    float none = training_loss(0, 0, 0), residual = training_loss(0.3f, 0, 0), attention = training_loss(0, 0.3f, 0),
          embedding = training_loss(0, 0, 0.3f);
    CHECK(isfinite(none) && residual != none && attention != none && embedding != none && attention != residual && embedding != residual,
          "dropout rates: none %.7g, residual %.7g, attention %.7g, embedding %.7g", (double)none, (double)residual, (double)attention,
          (double)embedding);
}

static void test_input_validation(void) {
    tfm_gpt_config c = small_config();
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    int32_t x[4] = {1, 2, 300, 4}, y[4] = {1, 2, 3, 4};
    tfm_graph_begin(g, 1, 0);
    CHECK(tfm_gpt_loss(m, g, x, y, 1, 4, 0) == NULL && strstr(tfm_last_error(), "outside the vocabulary"), "bad token accepted");
    int32_t long_seq[25] = {0};
    tfm_graph_begin(g, 1, 0);
    CHECK(tfm_gpt_forward(m, g, long_seq, 1, 25, NULL, 0) == NULL && strstr(tfm_last_error(), "context length"), "too long accepted");
    tfm_gpt_config bad = c;
    bad.n_heads = 3;
    tfm_gpt *mm = NULL;
    CHECK(tfm_gpt_create(&mm, &bad) != TFM_OK && mm == NULL, "d_model %% n_heads != 0 accepted");
    tfm_graph_free(g);
    tfm_gpt_free(m);
}

/* The cross-entropy backward writes the logits' gradient over the logits when it is their only reader,
 * and must give the same parameter gradients as with a separate buffer (a second reader forces one). */
static void test_cross_entropy_in_place(void) {
    tfm_gpt_config c = small_config();
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_gpt_init_weights(m, 11);
    enum { B = 2, T = 7 };
    int32_t x[B * T], y[B * T];
    tfm_rng rng;
    tfm_rng_init(&rng, 5);
    random_tokens(x, B * T, c.vocab_size, &rng);
    random_tokens(y, B * T, c.vocab_size, &rng);
    y[3] = TFM_IGNORE_INDEX;
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    float *grads[2];
    for (int second_reader = 0; second_reader < 2; second_reader++) {
        tfm_graph_begin(g, 1, 0);
        tfm_params_zero_grad(&m->params);
        tfm_tensor *logits = tfm_gpt_forward(m, g, x, B, T, NULL, 0);
        if (second_reader) CHECK(tfm_fn_add(g, logits, logits) != NULL, "second reader");
        tfm_tensor *loss = tfm_fn_cross_entropy(g, logits, y, TFM_IGNORE_INDEX, 0.1f, NULL);
        CHECK(loss != NULL, "%s", tfm_last_error());
        float *before = malloc(sizeof(float) * logits->size);
        memcpy(before, logits->data, sizeof(float) * logits->size);
        CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
        int overwritten = memcmp(before, logits->data, sizeof(float) * logits->size) != 0;
        CHECK(overwritten == !second_reader, "in place only when the loss is the sole reader (second reader %d)", second_reader);
        free(before);
        grads[second_reader] = malloc(sizeof(float) * m->params.total);
        memcpy(grads[second_reader], m->params.grad, sizeof(float) * m->params.total);
    }
    CHECK(memcmp(grads[0], grads[1], sizeof(float) * m->params.total) == 0, "in-place cross-entropy changed the gradients");
    free(grads[0]); free(grads[1]);
    tfm_graph_free(g);
    tfm_gpt_free(m);
}

/* Inference reuses the arena layer by layer (tfm_graph_keep): same logits as a recording pass, in the
 * first pass (overflow chunk) and later ones (one block), with a fraction of the memory. */
static void test_inference_arena_reuse(void) {
    tfm_gpt_config c = small_config();
    c.n_layers = 4;
    tfm_gpt *m = NULL;
    CHECK_OK(tfm_gpt_create(&m, &c));
    tfm_gpt_init_weights(m, 12);
    enum { B = 3, T = 20 };
    int32_t x[B * T];
    tfm_rng rng;
    tfm_rng_init(&rng, 6);
    random_tokens(x, B * T, c.vocab_size, &rng);
    tfm_graph *recording = NULL, *inference = NULL;
    CHECK_OK(tfm_graph_create(&recording, 0));
    CHECK_OK(tfm_graph_create(&inference, 0));
    tfm_graph_begin(recording, 1, 0);
    tfm_tensor *expected = tfm_gpt_forward(m, recording, x, B, T, NULL, 0);
    CHECK(expected != NULL, "%s", tfm_last_error());
    size_t recording_bytes = recording->block_used + recording->overflow_bytes;
    for (int pass = 0; pass < 2; pass++) {
        tfm_graph_begin(inference, 0, 0);
        tfm_tensor *logits = tfm_gpt_forward(m, inference, x, B, T, NULL, 0);
        CHECK(logits && memcmp(logits->data, expected->data, sizeof(float) * expected->size) == 0,
              "pass %d: inference logits differ from the recording pass", pass);
        size_t bytes = inference->block_used + inference->overflow_bytes;
        CHECK(bytes * 2 < recording_bytes, "pass %d: inference used %zu arena bytes, recording %zu", pass, bytes, recording_bytes);
    }
    tfm_graph_free(recording);
    tfm_graph_free(inference);
    tfm_gpt_free(m);
}

int main(void) {
    test_inference_arena_reuse();
    test_cross_entropy_in_place();
    test_gradients(1);
    test_gradients(0);
    test_kv_cache(TFM_POSITIONS_LEARNED);
    test_kv_cache(TFM_POSITIONS_ROPE);
    test_kv_cache(TFM_POSITIONS_ALIBI);
    test_kv_cache(TFM_POSITIONS_SINUSOIDAL);
    test_kv_cache(TFM_POSITIONS_RELATIVE);
    test_sampling();
    test_no_allocation_in_steps();
    test_input_validation();
    test_dropout_rates();
    return test_summary();
}
