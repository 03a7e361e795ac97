#define _POSIX_C_SOURCE 200809L
/* tests/test_seq2seq.c: the encoder-decoder in C: position table, config JSON, torch-compatible parameter names, gradients
 * by finite differences, padding invariance, cached decoding = teacher forcing, cache reordering, greedy search (cached =
 * uncached, independent of the batch), dropout, and input validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/positional.h"
#include "test_util.h"
#include "tfm/seq2seq.h"
#include "train/optimizer.h"

static tfm_seq2seq_config small_config(int pre_layernorm, int share, int learned) {
    tfm_seq2seq_config c;
    tfm_seq2seq_config_default(&c);
    c.vocab_size = 29;
    c.max_source_length = 12;
    c.max_target_length = 10;
    c.d_model = 16;
    c.n_encoder_layers = 2;
    c.n_decoder_layers = 2;
    c.n_heads = 4;
    c.d_ff = 24;
    c.dropout = c.attention_dropout = c.activation_dropout = 0.0f;
    c.pre_layernorm = pre_layernorm;
    c.share_embeddings = share;
    c.positions = learned ? TFM_POSITIONS_LEARNED : TFM_POSITIONS_SINUSOIDAL;
    return c;
}

/* Ids in [3, V): never pad (0), bos (1) or eos (2). */
static void random_words(int32_t *t, int n, int V, tfm_rng *rng) {
    for (int i = 0; i < n; i++) t[i] = 3 + (int32_t)(tfm_rng_bits(rng) % (uint64_t)(V - 3));
}

/* ---- the sinusoidal table against the formula, written out independently ---- */
static void test_positional(void) {
    enum { ROWS = 300, C = 10, C_ODD = 7 };
    static float table[ROWS * C], odd[ROWS * C_ODD];
    tfm_positional_sinusoidal(table, ROWS, C);
    tfm_positional_sinusoidal(odd, ROWS, C_ODD);
    for (int d = 0; d < C; d++) CHECK(table[d] == (d % 2 ? 1.0f : 0.0f), "position 0, dim %d = %g", d, table[d]);
    double worst = 0;
    for (int pos = 0; pos < ROWS; pos++)
        for (int i = 0; 2 * i < C; i++) {
            double frequency = 1.0 / pow(10000.0, (2.0 * i) / C);
            worst = fmax(worst, fabs(table[pos * C + 2 * i] - sin(pos * frequency)));
            worst = fmax(worst, fabs(table[pos * C + 2 * i + 1] - cos(pos * frequency)));
        }
    CHECK(worst < 1e-7, "sinusoid table vs formula: %g", worst);
    /* spot values: PE(1, 0) = sin(1); PE(5, 3) = cos(5 / 10000^(2/10)); odd C ends with a sine */
    CHECK(fabs(table[1 * C + 0] - sin(1.0)) < 1e-7, "PE(1,0)");
    CHECK(fabs(table[5 * C + 3] - cos(5.0 / pow(10000.0, 0.2))) < 1e-7, "PE(5,3)");
    CHECK(fabs(odd[9 * C_ODD + 6] - sin(9.0 / pow(10000.0, 6.0 / 7))) < 1e-7, "PE(9,6) with C=7");
}

/* ---- config: defaults, JSON round trip, errors that name file and field ---- */
static void test_config(void) {
    tfm_seq2seq_config c, back;
    tfm_seq2seq_config_default(&c);
    CHECK_OK(tfm_seq2seq_config_validate(&c));
    CHECK(c.d_model == 512 && c.n_heads == 8 && c.d_ff == 2048 && c.n_encoder_layers == 6 && c.pre_layernorm == 0 &&
              c.activation == TFM_ACTIVATION_RELU && c.positions == TFM_POSITIONS_SINUSOIDAL && c.scale_embeddings &&
              c.share_embeddings,
          "defaults are the paper's base model");
    c = small_config(1, 0, 1);
    c.activation = TFM_ACTIVATION_GELU;
    c.dropout = 0.3f;
    c.attention_dropout = 0.1f;
    c.activation_dropout = 0.05f;
    c.scale_embeddings = 0;
    c.pad_id = 5;
    c.bos_id = 2;
    c.eos_id = 2;
    c.layernorm_eps = 1e-6f;
    char *json = NULL;
    CHECK_OK(tfm_seq2seq_config_to_json(&c, &json));
    CHECK(json && strstr(json, "\"model_type\":\t\"seq2seq\"") && strstr(json, "\"positions\":\t\"learned\"") &&
              strstr(json, "\"activation\":\t\"gelu\"") && strstr(json, "\"dropout\":\t0.3"),
          "config JSON: %s", json ? json : "(null)");
    CHECK_OK(tfm_seq2seq_config_from_json(json, "config.json", &back));
    CHECK(memcmp(&c, &back, sizeof c) == 0, "JSON round trip changes the config");
    tfm_free(json, strlen(json) + 1);

    /* absent fields keep defaults */
    CHECK_OK(tfm_seq2seq_config_from_json("{\"d_model\": 64, \"n_heads\": 4}", "x.json", &back));
    CHECK(back.d_model == 64 && back.n_heads == 4 && back.d_ff == 2048, "partial config");

    struct { const char *json, *expect; } bad[] = {
        {"{\"n_head\": 4}", "x.json: n_head: unknown field (did you mean \"n_heads\"?)"},
        {"{\"activation\": \"swish\"}", "x.json: activation"},
        {"{\"positions\": \"rotary\"}", "x.json: positions: expected one of \"sinusoidal\", \"learned\", \"rope\", \"alibi\", or \"relative\""},
        {"{\"attention_score\": \"luong\"}", "x.json: attention_score: expected one of \"scaled_dot\", \"dot\", \"general\", or \"additive\""},
        {"{\"attention_score\": \"additive\"}", "x.json: model.attention_dropout: the \"additive\" score has no dropout on the attention weights"},
        {"{\"attention_score\": \"general\", \"attention_dropout\": 0, \"positions\": \"alibi\"}",
         "x.json: model.positions: \"alibi\" acts on dot-product scores; the \"general\" score takes sinusoidal, learned or rope"},
        {"{\"norm\": \"groupnorm\"}", "x.json: norm: expected one of \"layernorm\", \"rmsnorm\", or \"batchnorm\", got \"groupnorm\""},
        {"{\"relative_clip\": 0}", "x.json: relative_clip: expected a positive integer"},
        {"{\"positions\": \"rope\", \"d_model\": 36, \"n_heads\": 4}", "x.json: model.positions: \"rope\" needs an even head size"},
        {"{\"model_type\": \"gpt2\"}", "x.json: model_type: expected \"seq2seq\""},
        {"{\"d_model\": 30, \"n_heads\": 4}", "x.json: model.d_model (30) must be a multiple of model.n_heads (4)"},
        {"{\"pad_id\": 2}", "x.json: model.pad_id (2) must differ"},
        {"{\"eos_id\": 9000}", "x.json: model.eos_id: expected an id in [0, vocab_size = 8000)"},
        {"{\"dropout\": 1.5}", "x.json: dropout"},
        {"{\"d_model\": \"big\"}", "x.json: d_model: expected a positive integer"},
        {"[1, 2]", "x.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tfm_status st = tfm_seq2seq_config_from_json(bad[i].json, "x.json", &back);
        CHECK(st != TFM_OK && strstr(tfm_last_error(), bad[i].expect), "%s -> '%s' (want '%s')", bad[i].json, tfm_last_error(),
              bad[i].expect);
    }
}

/* ---- parameter names and shapes are torch.nn.Transformer's ---- */
static void expect_param(tfm_seq2seq *m, const char *name, int d0, int d1) {
    tfm_param *e = tfm_params_find(&m->params, name);
    CHECK(e != NULL, "missing parameter %s", name);
    if (!e) return;
    CHECK(e->shape[0] == d0 && (d1 == 0 ? e->ndim == 1 : (e->ndim == 2 && e->shape[1] == d1)), "%s has the wrong shape", name);
}

static void test_parameters(void) {
    tfm_seq2seq_config c = small_config(0, 1, 0);
    int C = c.d_model, F = c.d_ff, V = c.vocab_size;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    expect_param(m, "encoder.layers.0.self_attn.in_proj_weight", 3 * C, C);
    expect_param(m, "encoder.layers.1.self_attn.in_proj_bias", 3 * C, 0);
    expect_param(m, "encoder.layers.0.self_attn.out_proj.weight", C, C);
    expect_param(m, "encoder.layers.0.self_attn.out_proj.bias", C, 0);
    expect_param(m, "encoder.layers.1.linear1.weight", F, C);
    expect_param(m, "encoder.layers.1.linear2.weight", C, F);
    expect_param(m, "encoder.layers.0.norm2.bias", C, 0);
    expect_param(m, "encoder.norm.weight", C, 0);
    expect_param(m, "decoder.layers.1.self_attn.in_proj_weight", 3 * C, C);
    expect_param(m, "decoder.layers.1.multihead_attn.in_proj_weight", 3 * C, C);
    expect_param(m, "decoder.layers.0.multihead_attn.out_proj.weight", C, C);
    expect_param(m, "decoder.layers.0.norm3.weight", C, 0);
    expect_param(m, "decoder.norm.bias", C, 0);
    expect_param(m, "embedding.weight", V, C);
    /* per encoder layer 12 tensors, per decoder layer 18, 2 final norms x 2, 1 shared table */
    CHECK(m->params.count == 2 * 12 + 2 * 18 + 4 + 1, "shared sinusoidal model has %d tensors", m->params.count);
    CHECK(tfm_params_find(&m->params, "source_position_embedding.weight") == NULL, "sinusoidal positions are not parameters");
    /* LayerNorm gains start at 1 even before init_weights */
    CHECK(m->encoder_norm.weight.data[0] == 1.0f && m->decoder_layers[1].norm3.weight.data[C - 1] == 1.0f, "LayerNorm gains");
    tfm_seq2seq_init_weights(m, 3);
    double bound = sqrt(6.0 / (4.0 * C)), seen = 0;
    tfm_tensor *w = &m->decoder_layers[0].cross_attn.in_proj_weight;
    for (size_t i = 0; i < w->size; i++) seen = fmax(seen, fabs(w->data[i]));
    CHECK(seen <= bound && seen > 0.8 * bound, "xavier_uniform bound %g, largest %g", bound, seen);
    int pad_zero = 1;
    for (int d = 0; d < C; d++) pad_zero &= m->source_embedding.data[c.pad_id * C + d] == 0.0f;
    CHECK(pad_zero, "the pad row of the embedding is zero");
    CHECK(m->decoder_layers[0].cross_attn.in_proj_bias.data[5] == 0.0f && m->decoder_norm.weight.data[3] == 1.0f, "biases 0, gains 1");
    /* the cross-attention views alias rows [0, C) and [C, 3C) of in_proj */
    tfm_seq2seq_attention *a = &m->decoder_layers[1].cross_attn;
    CHECK(a->q_weight.data == a->in_proj_weight.data && a->kv_weight.data == a->in_proj_weight.data + C * C &&
              a->kv_bias.grad == a->in_proj_bias.grad + C && a->kv_weight.shape[0] == 2 * C,
          "cross-attention views");
    tfm_seq2seq_free(m);

    /* relative positions: two [2R+1, C/H] tables per self-attention, none for cross-attention; BatchNorm: buffers */
    c = small_config(0, 1, 0);
    c.positions = TFM_POSITIONS_RELATIVE;
    c.relative_clip = 3;
    c.norm = TFM_NORM_BATCHNORM;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    expect_param(m, "encoder.layers.1.self_attn.relative_keys", 7, C / c.n_heads);
    expect_param(m, "decoder.layers.0.self_attn.relative_values", 7, C / c.n_heads);
    expect_param(m, "decoder.layers.0.norm3.running_var", C, 0);
    CHECK(tfm_params_find(&m->params, "decoder.layers.0.multihead_attn.relative_keys") == NULL, "cross-attention has no positions");
    tfm_seq2seq_init_weights(m, 3);
    CHECK(m->decoder_norm.running_var.data[0] == 1.0f && m->decoder_norm.running_mean.data[0] == 0.0f, "BatchNorm statistics reset");
    tfm_seq2seq_free(m);

    c = small_config(1, 0, 1);
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    expect_param(m, "source_embedding.weight", V, C);
    expect_param(m, "target_embedding.weight", V, C);
    expect_param(m, "output_projection.weight", V, C);
    expect_param(m, "source_position_embedding.weight", c.max_source_length, C);
    expect_param(m, "target_position_embedding.weight", c.max_target_length, C);
    CHECK(tfm_params_find(&m->params, "embedding.weight") == NULL, "no shared table when not sharing");
    tfm_seq2seq_free(m);
}

/* A padded batch of B sentences: source lengths and target lengths vary; target_output = next tokens, pad after. */
typedef struct batch {
    int B, S, T;
    int32_t source[4 * 12], target_input[4 * 10], target_output[4 * 10];
    int source_lengths[4], target_lengths[4];
} batch;

static void make_batch(batch *x, const tfm_seq2seq_config *c, int B, int S, int T, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    memset(x, 0, sizeof *x);
    x->B = B; x->S = S; x->T = T;
    for (int b = 0; b < B; b++) {
        x->source_lengths[b] = b == 0 ? S : 2 + (int)(tfm_rng_bits(&rng) % (uint64_t)(S - 1));
        x->target_lengths[b] = b == 0 ? T : 1 + (int)(tfm_rng_bits(&rng) % (uint64_t)T);
        int n = x->source_lengths[b], t = x->target_lengths[b];
        random_words(x->source + b * S, n - 1, c->vocab_size, &rng);
        x->source[b * S + n - 1] = c->eos_id;
        for (int i = n; i < S; i++) x->source[b * S + i] = c->pad_id;
        int32_t words[16] = {0};
        random_words(words, t, c->vocab_size, &rng);
        for (int i = 0; i < T; i++) {
            x->target_input[b * T + i] = i == 0 ? c->bos_id : i < t ? words[i - 1] : c->pad_id;
            x->target_output[b * T + i] = i < t - 1 ? words[i] : i == t - 1 ? c->eos_id : c->pad_id;
        }
    }
}

static double loss_at(tfm_seq2seq *m, tfm_graph *g, const batch *x) {
    tfm_graph_begin(g, 0, 0);
    tfm_tensor *l = tfm_seq2seq_loss(m, g, x->source, x->source_lengths, x->target_input, x->target_output, x->target_lengths, x->B,
                                     x->S, x->T, 0.1f, NULL);
    return l ? l->data[0] : NAN;
}

/* Scale up weights so that attention is far from uniform and every path carries signal. */
static void strengthen(tfm_seq2seq *m, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        for (size_t k = 0; k < e->size; k++) {
            if (e->ndim == 1) e->tensor->data[k] += 0.1f * tfm_rng_normal(&rng);
            else e->tensor->data[k] *= 2.0f;
        }
    }
}

/* ---- backprop against central differences, on a few entries of every parameter ---- */
static void test_gradients(int pre_layernorm, int share, int learned) {
    tfm_seq2seq_config c = small_config(pre_layernorm, share, learned);
    c.activation = pre_layernorm ? TFM_ACTIVATION_GELU : TFM_ACTIVATION_RELU;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 11);
    strengthen(m, 12);
    batch x;
    make_batch(&x, &c, 3, 9, 7, 5);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    tfm_graph_begin(g, 1, 0);
    tfm_tensor *loss = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, x.B, x.S,
                                        x.T, 0.1f, NULL);
    CHECK(loss != NULL, "%s", tfm_last_error());
    if (!loss) { tfm_graph_free(g); tfm_seq2seq_free(m); return; }
    tfm_params_zero_grad(&m->params);
    CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
    float *grad = malloc(sizeof(float) * m->params.total);
    memcpy(grad, m->params.grad, sizeof(float) * m->params.total);
    double worst = 0;
    const char *worst_name = "";
    tfm_rng rng;
    tfm_rng_init(&rng, 99);
    for (int i = 0; i < m->params.count; i++) {
        tfm_param *e = &m->params.entries[i];
        /* the largest-gradient entry of the tensor and a few random ones */
        size_t pick[4], best = 0;
        for (size_t k = 0; k < e->size; k++)
            if (fabsf(grad[e->offset + k]) > fabsf(grad[e->offset + best])) best = k;
        pick[0] = best;
        for (int r = 1; r < 4; r++) pick[r] = tfm_rng_bits(&rng) % e->size;
        double scale = fabs(grad[e->offset + best]);
        if (strstr(e->name, "position") == NULL && strstr(e->name, "in_proj_bias") == NULL)
            CHECK(scale > 1e-5, "%s: no gradient reaches it (largest %g)", e->name, scale);
        for (int r = 0; r < 4; r++) {
            float *w = e->tensor->data + pick[r], saved = *w, h = 2e-3f;
            *w = saved + h;
            double up = loss_at(m, g, &x);
            *w = saved - h;
            double down = loss_at(m, g, &x);
            *w = saved;
            double numeric = (up - down) / (2.0 * h), analytic = grad[e->offset + pick[r]];
            double err = fabs(numeric - analytic) / fmax(scale, 1e-3);
            if (err > worst) { worst = err; worst_name = e->name; }
        }
    }
    CHECK(worst < 2e-2, "pre_ln=%d share=%d learned=%d: worst finite-difference error %.3g in %s", pre_layernorm, share, learned, worst,
          worst_name);
    free(grad);
    tfm_graph_free(g);
    tfm_seq2seq_free(m);
}

/* Logits of batch item b at its valid target positions [0, target_length). */
static double compare_item_logits(const tfm_tensor *a, int a_item, int a_T, const tfm_tensor *b, int b_item, int b_T, int length, int V) {
    return test_max_abs_diff(a->data + (size_t)a_item * a_T * V, b->data + (size_t)b_item * b_T * V, (size_t)length * V);
}

/* ---- a sentence's logits do not depend on the padding or on the other sentences in the batch ---- */
static void test_padding_invariance(int pre_layernorm) {
    tfm_seq2seq_config c = small_config(pre_layernorm, 1, 0);
    int V = c.vocab_size;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 21);
    strengthen(m, 22);
    batch x;
    make_batch(&x, &c, 4, 12, 10, 23);
    tfm_graph *g1 = NULL, *g2 = NULL;
    tfm_graph_create(&g1, 0);
    tfm_graph_create(&g2, 0);
    tfm_graph_begin(g1, 0, 0);
    tfm_tensor *all = tfm_seq2seq_forward(m, g1, x.source, x.source_lengths, x.target_input, x.target_lengths, 4, 12, 10);
    CHECK(all != NULL, "%s", tfm_last_error());
    double worst = 0;
    for (int b = 1; b < 4 && all; b++) {
        /* item b alone, with exactly its own lengths (no padding at all) */
        int n = x.source_lengths[b], t = x.target_lengths[b];
        int32_t source[12], target[10];
        memcpy(source, x.source + b * 12, sizeof(int32_t) * n);
        memcpy(target, x.target_input + b * 10, sizeof(int32_t) * t);
        tfm_graph_begin(g2, 0, 0);
        tfm_tensor *alone = tfm_seq2seq_forward(m, g2, source, &n, target, &t, 1, n, t);
        CHECK(alone != NULL, "%s", tfm_last_error());
        if (alone) worst = fmax(worst, compare_item_logits(all, b, 10, alone, 0, t, t, V));
    }
    CHECK(worst < 1e-5, "pre_ln=%d: logits of a sentence alone vs padded in a batch differ by %g", pre_layernorm, worst);
    /* the padding ids themselves do not matter either */
    batch y = x;
    for (int b = 0; b < 4; b++) {
        for (int i = y.source_lengths[b]; i < 12; i++) y.source[b * 12 + i] = 7 + b;
        for (int i = y.target_lengths[b]; i < 10; i++) y.target_input[b * 10 + i] = 9;
    }
    tfm_graph_begin(g2, 0, 0);
    tfm_tensor *junk = tfm_seq2seq_forward(m, g2, y.source, y.source_lengths, y.target_input, y.target_lengths, 4, 12, 10);
    worst = 0;
    for (int b = 0; b < 4 && junk && all; b++) worst = fmax(worst, compare_item_logits(all, b, 10, junk, b, 10, x.target_lengths[b], V));
    CHECK(junk && worst == 0.0, "other ids at padded positions change valid logits by %g", worst);
    tfm_graph_free(g1);
    tfm_graph_free(g2);
    tfm_seq2seq_free(m);
}

/* ---- incremental decoding (one position per step, and several at once) equals teacher forcing; select reorders ---- */
static void test_cached_decoding(int pre_layernorm, int learned) {
    tfm_seq2seq_config c = small_config(pre_layernorm, 0, learned);
    int V = c.vocab_size, B = 3, S = 12, T = 10;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 31);
    strengthen(m, 32);
    batch x;
    make_batch(&x, &c, B, S, T, 33);
    int full[3] = {T, T, T};   /* every target position is a real token here: compare all of them */
    tfm_graph *g = NULL, *h = NULL;
    tfm_graph_create(&g, 0);
    tfm_graph_create(&h, 0);
    tfm_graph_begin(g, 0, 0);
    tfm_tensor *reference = tfm_seq2seq_forward(m, g, x.source, x.source_lengths, x.target_input, full, B, S, T);
    CHECK(reference != NULL, "%s", tfm_last_error());
    tfm_seq2seq_cache cache;
    CHECK_OK(tfm_seq2seq_cache_create(&cache, m, 4, S));
    tfm_graph_begin(h, 0, 0);
    tfm_tensor *memory = tfm_seq2seq_encode(m, h, x.source, x.source_lengths, B, S);
    CHECK_OK(tfm_seq2seq_cache_start(m, h, &cache, memory, x.source_lengths, B, S));
    /* positions 0..2 in one call, then one at a time */
    double worst = 0;
    int32_t tokens[3 * 10];
    for (int t = 0; t < T && reference;) {
        int n = t == 0 ? 3 : 1;
        for (int b = 0; b < B; b++) memcpy(tokens + b * n, x.target_input + b * T + t, sizeof(int32_t) * n);
        tfm_graph_begin(h, 0, 0);
        tfm_tensor *logits = tfm_seq2seq_decode_step(m, h, &cache, tokens, n, 0);
        CHECK(logits != NULL, "step %d: %s", t, tfm_last_error());
        if (!logits) break;
        for (int b = 0; b < B; b++)
            worst = fmax(worst, test_max_abs_diff(logits->data + (size_t)b * n * V, reference->data + ((size_t)b * T + t) * V, (size_t)n * V));
        t += n;
    }
    CHECK(cache.length == T, "cache length %d", cache.length);
    CHECK(worst < 1e-5, "pre_ln=%d learned=%d: cached decoding vs teacher forcing differ by %g", pre_layernorm, learned, worst);
    tfm_graph_begin(h, 0, 0);
    CHECK(tfm_seq2seq_decode_step(m, h, &cache, tokens, 1, 1) == NULL && strstr(tfm_last_error(), "max_target_length"),
          "a step past max_target_length is an error: %s", tfm_last_error());

    /* select: decode 4 positions, reorder to {2, 0, 0}, continue; must equal teacher forcing of the reordered batch */
    int rows[3] = {2, 0, 0};
    tfm_graph_begin(h, 0, 0);
    memory = tfm_seq2seq_encode(m, h, x.source, x.source_lengths, B, S);
    CHECK_OK(tfm_seq2seq_cache_start(m, h, &cache, memory, x.source_lengths, B, S));
    for (int b = 0; b < B; b++) memcpy(tokens + b * 4, x.target_input + b * T, sizeof(int32_t) * 4);
    tfm_graph_begin(h, 0, 0);
    CHECK(tfm_seq2seq_decode_step(m, h, &cache, tokens, 4, 1) != NULL, "%s", tfm_last_error());
    CHECK_OK(tfm_seq2seq_cache_select(&cache, rows, 3));
    /* at position 6 a second select over the selected rows: {1, 2, 1, 0} -> original rows {0, 0, 0, 2} */
    int origin[4] = {rows[0], rows[1], rows[2], 0}, count = 3;
    worst = 0;
    for (int t = 4; t < T && reference; t++) {
        if (t == 6) {
            int again[4] = {1, 2, 1, 0};
            int next[4] = {origin[1], origin[2], origin[1], origin[0]};
            CHECK_OK(tfm_seq2seq_cache_select(&cache, again, 4));
            memcpy(origin, next, sizeof next);
            count = 4;
        }
        for (int i = 0; i < count; i++) tokens[i] = x.target_input[origin[i] * T + t];
        tfm_graph_begin(h, 0, 0);
        tfm_tensor *logits = tfm_seq2seq_decode_step(m, h, &cache, tokens, 1, 1);
        if (!logits) { CHECK(0, "%s", tfm_last_error()); break; }
        for (int i = 0; i < count; i++)
            worst = fmax(worst, test_max_abs_diff(logits->data + (size_t)i * V, reference->data + ((size_t)origin[i] * T + t) * V, V));
    }
    CHECK(worst < 1e-5, "after cache_select (twice, with repeated rows): %g", worst);
    CHECK(tfm_seq2seq_cache_select(&cache, (int[]){4}, 1) != TFM_OK, "selecting a row beyond the batch is an error");
    tfm_seq2seq_cache_free(&cache);
    tfm_graph_free(g);
    tfm_graph_free(h);
    tfm_seq2seq_free(m);
}

/* ---- greedy search: cached = uncached, batch-independent, stops at EOS and at the length limit ---- */
static void test_greedy(void) {
    tfm_seq2seq_config c = small_config(0, 1, 0);
    int B = 4, S = 12, T = 10;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 41);
    /* Teach it a toy task (copy the source) for a few Adam steps, so it emits EOS at different steps. */
    batch x;
    make_batch(&x, &c, B, S, T, 42);
    static const int lengths[4] = {11, 4, 6, 8};
    for (int b = 0; b < B; b++) {
        x.source_lengths[b] = lengths[b];
        x.source[b * S + lengths[b] - 1] = c.eos_id;
        for (int i = lengths[b]; i < S; i++) x.source[b * S + i] = c.pad_id;
        int n = x.source_lengths[b] < T ? x.source_lengths[b] : T;   /* source = w.. EOS; copy = BOS w.. -> w.. EOS */
        x.target_lengths[b] = n;
        for (int i = 0; i < T; i++) {
            x.target_input[b * T + i] = i == 0 ? c.bos_id : i < n ? x.source[b * S + i - 1] : c.pad_id;
            x.target_output[b * T + i] = i < n ? x.source[b * S + i] : c.pad_id;
        }
        x.target_output[b * T + n - 1] = c.eos_id;
    }
    tfm_graph *g = NULL;
    tfm_graph_create(&g, 0);
    CHECK_OK(tfm_params_allocate_moments(&m->params));
    double first = 0, last = 0;
    for (int step = 1; step <= 60; step++) {
        tfm_graph_begin(g, 1, 0);
        tfm_tensor *l = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, B, S, T,
                                         0.0f, NULL);
        if (!l) { CHECK(0, "%s", tfm_last_error()); break; }
        if (step == 1) first = l->data[0];
        last = l->data[0];
        tfm_params_zero_grad(&m->params);
        tfm_graph_backward(g, l, 1.0f);
        tfm_adamw_step_params(&m->params, 3e-3f, 0.9f, 0.98f, 1e-9f, 0.0f, step);
    }
    CHECK(last < 0.5 * first, "the toy task trains: loss %g -> %g", first, last);

    int32_t cached[4 * 16], uncached[4 * 16], alone[16];
    int cached_len[4], uncached_len[4], alone_len;
    tfm_seq2seq_greedy_args args = {.source = x.source, .source_lengths = x.source_lengths, .batch = B, .source_length = S,
                                    .max_length_a = 1.0f, .max_length_b = 2, .use_cache = 1, .output = cached,
                                    .output_lengths = cached_len, .max_output = 16};
    CHECK_OK(tfm_seq2seq_greedy(m, &args));
    args.use_cache = 0;
    args.output = uncached;
    args.output_lengths = uncached_len;
    CHECK_OK(tfm_seq2seq_greedy(m, &args));
    int stopped_early = 0;
    for (int b = 0; b < B; b++) {
        int limit = x.source_lengths[b] + 2 < T - 1 ? x.source_lengths[b] + 2 : c.max_target_length - 1;
        CHECK(cached_len[b] == uncached_len[b] && memcmp(cached + b * 16, uncached + b * 16, sizeof(int32_t) * cached_len[b]) == 0,
              "sentence %d: cached and uncached greedy differ", b);
        CHECK(cached_len[b] <= limit, "sentence %d: %d tokens, limit %d", b, cached_len[b], limit);
        stopped_early += cached_len[b] < limit;
        for (int i = 0; i < cached_len[b]; i++)
            CHECK(cached[b * 16 + i] != c.pad_id && cached[b * 16 + i] != c.bos_id && cached[b * 16 + i] != c.eos_id,
                  "sentence %d emits a special token", b);
        /* the same sentence alone, unpadded */
        int n = x.source_lengths[b];
        tfm_seq2seq_greedy_args one = {.source = x.source + b * S, .source_lengths = &n, .batch = 1, .source_length = n,
                                       .max_length_a = 1.0f, .max_length_b = 2, .use_cache = 1, .output = alone,
                                       .output_lengths = &alone_len, .max_output = 16};
        CHECK_OK(tfm_seq2seq_greedy(m, &one));
        CHECK(alone_len == cached_len[b] && memcmp(alone, cached + b * 16, sizeof(int32_t) * alone_len) == 0,
              "sentence %d: output alone differs from output in the batch", b);
    }
    CHECK(stopped_early >= 3, "EOS ends the three short sentences before the limit (%d did)", stopped_early);
    /* a tight limit: max_length_b tokens at most, and 0 allowed */
    args.use_cache = 1;
    args.max_length_a = 0;
    args.max_length_b = 2;
    CHECK_OK(tfm_seq2seq_greedy(m, &args));
    for (int b = 0; b < B; b++) CHECK(uncached_len[b] <= 2, "limit of 2 tokens: got %d", uncached_len[b]);
    args.max_length_b = 0;
    CHECK_OK(tfm_seq2seq_greedy(m, &args));
    for (int b = 0; b < B; b++) CHECK(uncached_len[b] == 0, "limit of 0 tokens: got %d", uncached_len[b]);
    tfm_graph_free(g);
    tfm_seq2seq_free(m);
}

/* ---- dropout is active only when training, and reproducible from the graph's stream ---- */
static void test_dropout(void) {
    tfm_seq2seq_config c = small_config(0, 1, 0);
    c.dropout = c.attention_dropout = c.activation_dropout = 0.2f;
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 51);
    batch x;
    make_batch(&x, &c, 2, 8, 6, 52);
    tfm_graph *g = NULL;
    tfm_graph_create(&g, 0);
    float eval1, eval2, train1, train2;
    tfm_graph_begin(g, 0, 0);
    eval1 = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6, 0.1f, NULL)->data[0];
    tfm_graph_begin(g, 1, 1);
    tfm_tensor *l = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6, 0.1f, NULL);
    train1 = l->data[0];
    tfm_params_zero_grad(&m->params);
    CHECK_OK(tfm_graph_backward(g, l, 1.0f));
    tfm_graph_begin(g, 1, 1);
    train2 = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6, 0.1f, NULL)->data[0];
    tfm_graph_begin(g, 0, 0);
    eval2 = tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6, 0.1f, NULL)->data[0];
    CHECK(eval1 == eval2, "evaluation is deterministic (%.9g vs %.9g)", eval1, eval2);
    CHECK(train1 != eval1 && train2 != train1, "dropout changes training losses (%g, %g vs %g)", train1, train2, eval1);
    c.dropout = c.attention_dropout = c.activation_dropout = 0.0f;
    tfm_seq2seq *plain = NULL;
    CHECK_OK(tfm_seq2seq_create(&plain, &c));
    memcpy(plain->params.data, m->params.data, sizeof(float) * m->params.total);
    tfm_graph_begin(g, 0, 0);
    float eval_plain = tfm_seq2seq_loss(plain, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6,
                                        0.1f, NULL)->data[0];
    CHECK(eval_plain == eval1, "dropout is off at inference (%g vs %g)", eval_plain, eval1);
    tfm_seq2seq_free(plain);
    tfm_graph_free(g);
    tfm_seq2seq_free(m);
}

/* ---- save + load gives the same model; a directory of another kind is refused with its file named ---- */
static void test_checkpoint(void) {
    tfm_seq2seq_config c = small_config(1, 0, 1);
    tfm_seq2seq *m = NULL, *back = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    tfm_seq2seq_init_weights(m, 71);
    char dir[] = "/tmp/tfm_test_seq2seq_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK_OK(tfm_seq2seq_save(m, dir));
    CHECK_OK(tfm_seq2seq_load(&back, dir));
    if (back) {
        CHECK(memcmp(&back->config, &m->config, sizeof c) == 0, "config survives the round trip");
        CHECK(back->params.total == m->params.total &&
                  memcmp(back->params.data, m->params.data, sizeof(float) * m->params.total) == 0,
              "parameters survive the round trip");
        tfm_seq2seq_free(back);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) { fputs("{\"model_type\": \"gpt2\", \"n_embd\": 16}\n", f); fclose(f); }
    back = NULL;
    CHECK(tfm_seq2seq_load(&back, dir) != TFM_OK && back == NULL && strstr(tfm_last_error(), "config.json") &&
              strstr(tfm_last_error(), "model_type"),
          "loading a GPT config: %s", tfm_last_error());
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    remove(dir);
    tfm_seq2seq_free(m);
}

/* ---- bad input: clear errors, never a crash ---- */
static void test_errors(void) {
    tfm_seq2seq_config c = small_config(0, 1, 0);
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return;
    batch x;
    make_batch(&x, &c, 2, 8, 6, 61);
    tfm_graph *g = NULL;
    tfm_graph_create(&g, 0);
    tfm_graph_begin(g, 0, 0);
    x.source[3] = 29;
    CHECK(tfm_seq2seq_forward(m, g, x.source, x.source_lengths, x.target_input, x.target_lengths, 2, 8, 6) == NULL &&
              strstr(tfm_last_error(), "source id 29 at [0, 3] is outside the vocabulary [0, 29)"),
          "%s", tfm_last_error());
    x.source[3] = 4;
    x.target_input[7] = -1;
    CHECK(tfm_seq2seq_forward(m, g, x.source, x.source_lengths, x.target_input, x.target_lengths, 2, 8, 6) == NULL &&
              strstr(tfm_last_error(), "target id -1 at [1, 1]"),
          "%s", tfm_last_error());
    x.target_input[7] = 4;
    x.source_lengths[1] = 0;
    CHECK(tfm_seq2seq_forward(m, g, x.source, x.source_lengths, x.target_input, x.target_lengths, 2, 8, 6) == NULL &&
              strstr(tfm_last_error(), "source length 0 of sentence 1 is outside [1, 8]"),
          "%s", tfm_last_error());
    x.source_lengths[1] = 3;
    int32_t long_source[13] = {0};
    int thirteen = 13;
    CHECK(tfm_seq2seq_encode(m, g, long_source, &thirteen, 1, 13) == NULL && strstr(tfm_last_error(), "max_source_length 12"),
          "%s", tfm_last_error());
    x.target_output[2] = 40;
    CHECK(tfm_seq2seq_loss(m, g, x.source, x.source_lengths, x.target_input, x.target_output, x.target_lengths, 2, 8, 6, 0.1f, NULL) == NULL &&
              strstr(tfm_last_error(), "target output id 40"),
          "%s", tfm_last_error());
    tfm_seq2seq_cache cache;
    CHECK(tfm_seq2seq_cache_create(&cache, m, 2, 13) != TFM_OK, "cache longer than max_source_length");
    CHECK_OK(tfm_seq2seq_cache_create(&cache, m, 2, 8));
    tfm_graph_begin(g, 0, 0);
    tfm_tensor *memory = tfm_seq2seq_encode(m, g, x.source, x.source_lengths, 2, 8);
    CHECK(tfm_seq2seq_cache_start(m, g, &cache, memory, x.source_lengths, 3, 8) != TFM_OK, "batch beyond the cache's capacity");
    tfm_graph_begin(g, 1, 0);
    CHECK(tfm_seq2seq_decode_step(m, g, &cache, x.target_input, 1, 1) == NULL, "decode step on a recording graph");
    tfm_seq2seq_cache_free(&cache);
    tfm_seq2seq_config bad = c;
    bad.n_heads = 5;
    tfm_seq2seq *none = NULL;
    CHECK(tfm_seq2seq_create(&none, &bad) == TFM_ERR_CONFIG && none == NULL, "invalid config rejected");
    tfm_graph_free(g);
    tfm_seq2seq_free(m);
}

int main(void) {
    test_positional();
    test_config();
    test_parameters();
    test_gradients(0, 1, 0);
    test_gradients(1, 0, 1);
    test_padding_invariance(0);
    test_padding_invariance(1);
    test_cached_decoding(0, 0);
    test_cached_decoding(1, 1);
    test_greedy();
    test_dropout();
    test_checkpoint();
    test_errors();
    return test_summary();
}
