/* tests/test_beam_search.c: beam search against a plain reference beam search, beam 1 == greedy, batch independence, sampling, data batching. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/beam_search.h"
#include "ops/linear_packed.h"
#include "test_util.h"
#include "tfm/graph.h"
#include "tfm/random.h"
#include "tfm/seq2seq.h"
#include "train/optimizer.h"

enum { V = 14, MAX_LEN = 8, SOURCE_CAP = 12, TARGET_CAP = 14 };

static tfm_seq2seq_config task_config(void) {
    tfm_seq2seq_config c;
    tfm_seq2seq_config_default(&c);
    c.vocab_size = V;
    c.max_source_length = SOURCE_CAP;
    c.max_target_length = TARGET_CAP;
    c.d_model = 32;
    c.n_encoder_layers = 1;
    c.n_decoder_layers = 1;
    c.n_heads = 4;
    c.d_ff = 64;
    c.dropout = c.attention_dropout = c.activation_dropout = 0.0f;
    return c;
}

/* A random source of 2..MAX_LEN words in [3, V) + EOS, right-padded to S; returns its length (EOS included). */
static int random_source(int32_t *row, int S, tfm_rng *rng) {
    int n = 2 + (int)(tfm_rng_bits(rng) % (MAX_LEN - 1));
    for (int i = 0; i < n; i++) row[i] = 3 + (int32_t)(tfm_rng_bits(rng) % (V - 3));
    row[n] = 2;
    for (int i = n + 1; i < S; i++) row[i] = 0;
    return n + 1;
}

/* Train briefly on "reverse the words": a model that is confident on some sentences and unsure on others,
 * so beams genuinely compete. */
static tfm_seq2seq *train_reverse_model(void) {
    tfm_seq2seq_config c = task_config();
    tfm_seq2seq *m = NULL;
    CHECK_OK(tfm_seq2seq_create(&m, &c));
    if (!m) return NULL;
    tfm_seq2seq_init_weights(m, 7);
    CHECK_OK(tfm_params_allocate_moments(&m->params));
    enum { B = 32, S = MAX_LEN + 1, T = MAX_LEN + 1 };
    int32_t src[B * S], in[B * T], out[B * T];
    int src_len[B], tgt_len[B];
    tfm_rng rng;
    tfm_rng_init(&rng, 11);
    tfm_graph *g = NULL;
    CHECK_OK(tfm_graph_create(&g, 0));
    float first = 0, last = 0;
    for (int step = 1; step <= 150; step++) {
        for (int b = 0; b < B; b++) {
            src_len[b] = random_source(src + b * S, S, &rng);
            int n = src_len[b] - 1;
            in[b * T] = 1;
            for (int i = 0; i < n; i++) in[b * T + 1 + i] = out[b * T + i] = src[b * S + n - 1 - i];
            out[b * T + n] = 2;
            for (int i = n + 1; i < T; i++) in[b * T + i] = out[b * T + i] = 0;
            tgt_len[b] = n + 1;
        }
        tfm_params_zero_grad(&m->params);
        CHECK_OK(tfm_graph_begin(g, 1, 1));
        tfm_tensor *loss = tfm_seq2seq_loss(m, g, src, src_len, in, out, tgt_len, B, S, T, 0.1f, NULL);
        if (!loss) break;
        if (step == 1) first = loss->data[0];
        last = loss->data[0];
        CHECK_OK(tfm_graph_backward(g, loss, 1.0f));
        CHECK_OK(tfm_adamw_step_params(&m->params, 3e-3f, 0.9f, 0.98f, 1e-9f, 0.0f, step));
    }
    tfm_graph_free(g);
    CHECK(last < 0.7f * first, "the reverse task should train: loss %g -> %g", first, last);
    return m;
}

/* ---- A straightforward reference: one sentence, every step re-runs the whole decoder on each beam's prefix. ---- */
typedef struct ref_hyp {
    int32_t tokens[TARGET_CAP + 1];   /* BOS + tokens */
    int length;                       /* tokens besides BOS */
    double score;                     /* cumulative log-probability */
} ref_hyp;

typedef struct ref_candidate {
    double score;
    int beam, token;
} ref_candidate;

static int ref_candidate_order(const void *pa, const void *pb) {
    const ref_candidate *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->beam != b->beam) return a->beam - b->beam;
    return a->token - b->token;
}

typedef struct ref_final {
    int32_t tokens[TARGET_CAP];
    int length;
    double log_prob, score;
} ref_final;

/* -> number of finished hypotheses, sorted best first (stable). */
static int reference_beam_search(tfm_seq2seq *m, const int32_t *source, int source_length, int K, int form, float alpha, float a,
                                 int b_len, ref_final *finals) {
    const tfm_seq2seq_config *c = &m->config;
    double limit_d = (double)a * source_length + b_len;
    int limit = (int)limit_d;
    if (limit > c->max_target_length - 1) limit = c->max_target_length - 1;
    ref_hyp beams[8], next[8];
    int alive = 1, nfinal = 0;
    beams[0].tokens[0] = c->bos_id;
    beams[0].length = 0;
    beams[0].score = 0;
    tfm_graph *g = NULL;
    tfm_graph_create(&g, 0);
    ref_candidate *cands = malloc(sizeof(ref_candidate) * 8 * V);
    for (int t = 0; nfinal < K && alive > 0; t++) {
        int nc = 0;
        for (int k = 0; k < alive; k++) {
            tfm_graph_begin(g, 0, 0);
            tfm_tensor *logits = tfm_seq2seq_forward(m, g, source, &source_length, beams[k].tokens, NULL, 1, source_length, t + 1);
            const float *row = logits->data + (size_t)t * V;
            double mx = row[0], sum = 0;
            for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++) sum += exp((double)row[v] - mx);
            for (int v = 0; v < V; v++) {
                if (v == c->pad_id || (v == c->bos_id && c->bos_id != c->eos_id)) continue;
                if (t >= limit && v != c->eos_id) continue;
                cands[nc++] = (ref_candidate){beams[k].score + (double)row[v] - mx - log(sum), k, v};
            }
        }
        qsort(cands, (size_t)nc, sizeof *cands, ref_candidate_order);
        if (nc > 2 * K) nc = 2 * K;
        int kept = 0;
        for (int j = 0; j < nc; j++) {
            if (cands[j].token == c->eos_id) {
                if (j < K && nfinal < K) {
                    ref_final *f = &finals[nfinal++];
                    f->length = t;
                    memcpy(f->tokens, beams[cands[j].beam].tokens + 1, sizeof(int32_t) * (size_t)t);
                    f->log_prob = cands[j].score;
                    f->score = cands[j].score / (form == TFM_LENGTH_PENALTY_POWER ? pow(t + 1.0, alpha) : pow((5.0 + t + 1) / 6.0, alpha));
                }
            } else if (kept < K) {
                next[kept] = beams[cands[j].beam];
                next[kept].tokens[t + 1] = cands[j].token;
                next[kept].length = t + 1;
                next[kept].score = cands[j].score;
                kept++;
            }
        }
        memcpy(beams, next, sizeof(ref_hyp) * (size_t)kept);
        alive = kept;
    }
    free(cands);
    tfm_graph_free(g);
    /* Stable insertion sort by score, best first. */
    for (int i = 1; i < nfinal; i++) {
        ref_final f = finals[i];
        int j = i;
        while (j > 0 && finals[j - 1].score < f.score) { finals[j] = finals[j - 1]; j--; }
        finals[j] = f;
    }
    return nfinal;
}

enum { NS = 8, S_MAX = MAX_LEN + 1 };

static void make_sources(int32_t *src, int *len, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (int b = 0; b < NS; b++) len[b] = random_source(src + b * S_MAX, S_MAX, &rng);
}

static void test_against_reference(tfm_seq2seq *m, int K, int form, float alpha, float a, int b_len) {
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 100 + (uint64_t)K);
    tfm_beam_search_options o = {K, K, alpha, form, a, b_len, NULL};
    tfm_beam_result results[NS];
    CHECK_OK(tfm_beam_search(m, src, len, NS, S_MAX, &o, results));
    int differing_orders = 0;
    for (int s = 0; s < NS; s++) {
        ref_final finals[8];
        /* The reference sees the sentence alone, unpadded. */
        int n = reference_beam_search(m, src + s * S_MAX, len[s], K, form, alpha, a, b_len, finals);
        CHECK(results[s].count == n, "K=%d sentence %d: %d hypotheses, reference %d", K, s, results[s].count, n);
        for (int i = 0; i < n && i < results[s].count; i++) {
            const tfm_beam_hypothesis *h = &results[s].hypotheses[i];
            int same = h->length == finals[i].length && memcmp(h->tokens, finals[i].tokens, sizeof(int32_t) * (size_t)h->length) == 0;
            CHECK(same, "K=%d alpha=%g sentence %d hypothesis %d: tokens differ from the reference (length %d vs %d)", K, alpha, s, i,
                  h->length, finals[i].length);
            CHECK(fabs(h->score - finals[i].score) < 1e-4 && fabs(h->log_prob - finals[i].log_prob) < 1e-4,
                  "K=%d sentence %d hypothesis %d: score %.6f / log P %.6f, reference %.6f / %.6f", K, s, i, h->score, h->log_prob,
                  finals[i].score, finals[i].log_prob);
            if (i > 0) CHECK(h->score <= results[s].hypotheses[i - 1].score, "n-best is ranked best first");
        }
        if (results[s].count > 1 && results[s].hypotheses[0].log_prob < results[s].hypotheses[1].log_prob) differing_orders++;
        tfm_beam_result_free(&results[s]);
    }
    (void)differing_orders;
}

static void test_beam_one_is_greedy(tfm_seq2seq *m) {
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 5);
    int32_t out[NS * TARGET_CAP];
    int out_len[NS];
    tfm_seq2seq_greedy_args ga = {src, len, NS, S_MAX, 1.0f, 2, 1, out, out_len, TARGET_CAP};
    CHECK_OK(tfm_seq2seq_greedy(m, &ga));
    tfm_beam_search_options o = {1, 1, 0.6f, TFM_LENGTH_PENALTY_GNMT, 1.0f, 2, NULL};
    tfm_beam_result results[NS];
    CHECK_OK(tfm_beam_search(m, src, len, NS, S_MAX, &o, results));
    int correct = 0;
    for (int s = 0; s < NS; s++) {
        const tfm_beam_hypothesis *h = &results[s].hypotheses[0];
        CHECK(results[s].count == 1 && h->length == out_len[s] && memcmp(h->tokens, out + s * TARGET_CAP, sizeof(int32_t) * (size_t)h->length) == 0,
              "sentence %d: beam 1 gives %d tokens, greedy %d", s, h->length, out_len[s]);
        /* The model learned the task for most sentences (so the comparisons above are about real outputs). */
        int n = len[s] - 1, ok = h->length == n;
        for (int i = 0; ok && i < n; i++) ok = h->tokens[i] == src[s * S_MAX + n - 1 - i];
        correct += ok;
        tfm_beam_result_free(&results[s]);
    }
    CHECK(correct >= 2, "the trained model reverses at least some sentences (%d of %d)", correct, NS);
}

static void test_batch_independence(tfm_seq2seq *m) {
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 77);
    tfm_beam_search_options o = {4, 3, 0.6f, TFM_LENGTH_PENALTY_GNMT, 1.2f, 3, NULL};
    tfm_beam_result together[NS];
    CHECK_OK(tfm_beam_search(m, src, len, NS, S_MAX, &o, together));
    /* The sentences alone share one workspace: memory kept from call to call must not leak into results. */
    tfm_seq2seq_workspace workspace = {0};
    tfm_beam_search_options reused = o;
    reused.workspace = &workspace;
    for (int s = 0; s < NS; s++) {
        /* Alone and trimmed to its own length: no padding at all. */
        tfm_beam_result alone;
        CHECK_OK(tfm_beam_search(m, src + s * S_MAX, &len[s], 1, len[s], &reused, &alone));
        CHECK(alone.count == together[s].count, "sentence %d: %d vs %d hypotheses", s, alone.count, together[s].count);
        for (int i = 0; i < alone.count && i < together[s].count; i++) {
            const tfm_beam_hypothesis *x = &alone.hypotheses[i], *y = &together[s].hypotheses[i];
            CHECK(x->length == y->length && memcmp(x->tokens, y->tokens, sizeof(int32_t) * (size_t)x->length) == 0 &&
                      fabs(x->score - y->score) < 1e-5,
                  "sentence %d hypothesis %d differs between batch and alone", s, i);
        }
        tfm_beam_result_free(&alone);
        tfm_beam_result_free(&together[s]);
    }
    tfm_seq2seq_workspace_free(&workspace);
}

static void test_limits_and_errors(tfm_seq2seq *m) {
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 9);
    tfm_beam_search_options o = {3, 2, 0.0f, TFM_LENGTH_PENALTY_GNMT, 0.0f, 2, NULL};
    tfm_beam_result r[NS];
    CHECK_OK(tfm_beam_search(m, src, len, NS, S_MAX, &o, r));
    for (int s = 0; s < NS; s++) {
        CHECK(r[s].count == 2, "nbest 2: got %d", r[s].count);
        for (int i = 0; i < r[s].count; i++) CHECK(r[s].hypotheses[i].length <= 2, "max length b=2: got %d", r[s].hypotheses[i].length);
        tfm_beam_result_free(&r[s]);
    }
    tfm_beam_search_options zero = {2, 1, 0.0f, TFM_LENGTH_PENALTY_GNMT, 0.0f, 0, NULL};
    CHECK_OK(tfm_beam_search(m, src, len, 1, S_MAX, &zero, r));
    CHECK(r[0].count == 1 && r[0].hypotheses[0].length == 0, "max length 0: one empty hypothesis");
    tfm_beam_result_free(&r[0]);
    tfm_beam_search_options bad = {2, 3, 0.0f, TFM_LENGTH_PENALTY_GNMT, 1.0f, 5, NULL};
    CHECK(tfm_beam_search(m, src, len, 1, S_MAX, &bad, r) == TFM_ERR_INVALID_ARGUMENT && strstr(tfm_last_error(), "nbest"),
          "nbest > beam is an error: %s", tfm_last_error());
    tfm_beam_search_options bad_form = {2, 1, 1.0f, 7, 1.0f, 5, NULL};
    CHECK(tfm_beam_search(m, src, len, 1, S_MAX, &bad_form, r) == TFM_ERR_INVALID_ARGUMENT && strstr(tfm_last_error(), "length_penalty_form"),
          "an unknown length penalty form is an error: %s", tfm_last_error());
}

static void test_sampling(tfm_seq2seq *m) {
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 5);
    uint64_t seeds[NS];
    for (int s = 0; s < NS; s++) seeds[s] = 1000 + (uint64_t)s;
    /* top-k 1 is greedy. */
    tfm_sampler_config top1 = {.temperature = 1.0f, .top_k = 1, .top_p = 1.0f};
    tfm_beam_result r[NS];
    CHECK_OK(tfm_seq2seq_sample(m, src, len, NS, S_MAX, &top1, seeds, 1.0f, 2, NULL, r));
    int32_t out[NS * TARGET_CAP];
    int out_len[NS];
    tfm_seq2seq_greedy_args ga = {src, len, NS, S_MAX, 1.0f, 2, 1, out, out_len, TARGET_CAP};
    CHECK_OK(tfm_seq2seq_greedy(m, &ga));
    for (int s = 0; s < NS; s++) {
        CHECK(r[s].hypotheses[0].length == out_len[s] && memcmp(r[s].hypotheses[0].tokens, out + s * TARGET_CAP, sizeof(int32_t) * (size_t)out_len[s]) == 0,
              "top-k 1 sampling equals greedy (sentence %d)", s);
        tfm_beam_result_free(&r[s]);
    }
    /* Hot sampling: each sentence's draw depends only on its source and seed (alone: with a reused workspace). */
    tfm_sampler_config hot = {.temperature = 1.5f, .top_k = 0, .top_p = 0.95f};
    tfm_seq2seq_workspace workspace = {0};
    tfm_beam_result together[NS];
    CHECK_OK(tfm_seq2seq_sample(m, src, len, NS, S_MAX, &hot, seeds, 1.0f, 2, NULL, together));
    int differs_from_greedy = 0;
    for (int s = 0; s < NS; s++) {
        tfm_beam_result alone;
        CHECK_OK(tfm_seq2seq_sample(m, src + s * S_MAX, &len[s], 1, len[s], &hot, &seeds[s], 1.0f, 2, &workspace, &alone));
        const tfm_beam_hypothesis *x = &alone.hypotheses[0], *y = &together[s].hypotheses[0];
        CHECK(x->length == y->length && memcmp(x->tokens, y->tokens, sizeof(int32_t) * (size_t)x->length) == 0,
              "sampling: sentence %d differs between batch and alone", s);
        differs_from_greedy += y->length != out_len[s] || memcmp(y->tokens, out + s * TARGET_CAP, sizeof(int32_t) * (size_t)y->length) != 0;
        tfm_beam_result_free(&alone);
        tfm_beam_result_free(&together[s]);
    }
    CHECK(differs_from_greedy > 0, "temperature 1.5 sampling should differ from greedy somewhere");
    tfm_seq2seq_workspace_free(&workspace);
}

/* A copy of the model prepared for inference (packed weights, no gradients) decodes as the original does
 * and still matches the reference search and its own batch independence; it refuses to be saved. */
static void test_inference_model(tfm_seq2seq *m) {
    tfm_seq2seq *p = NULL;
    CHECK_OK(tfm_seq2seq_create(&p, &m->config));
    if (!p) return;
    memcpy(p->params.data, m->params.data, sizeof(float) * m->params.total);
    CHECK_OK(tfm_seq2seq_prepare_inference(p));
    CHECK(p->inference && p->params.grad == NULL, "prepare_inference frees the gradients");
    if (tfm_linear_packed_is_fast()) { /* builds without the AVX2+FMA kernel keep the weights for OpenBLAS */
        CHECK(p->decoder_layers[0].linear1.weight.packed && p->decoder_layers[0].cross_attn.q_weight.packed &&
                  p->encoder_layers[0].self_attn.in_proj_weight.packed,
              "prepare_inference packs the linear weights");
        CHECK(memcmp(p->decoder_layers[0].linear1.weight.data, m->decoder_layers[0].linear1.weight.data,
                     sizeof(float) * m->decoder_layers[0].linear1.weight.size) != 0, "the packed layout differs from the plain one");
    }
    int32_t src[NS * S_MAX];
    int len[NS];
    make_sources(src, len, 31);
    tfm_beam_search_options o = {4, 2, 0.6f, TFM_LENGTH_PENALTY_GNMT, 1.2f, 3, NULL};
    tfm_beam_result plain[NS], packed[NS];
    CHECK_OK(tfm_beam_search(m, src, len, NS, S_MAX, &o, plain));
    CHECK_OK(tfm_beam_search(p, src, len, NS, S_MAX, &o, packed));
    for (int s = 0; s < NS; s++) {
        CHECK(plain[s].count == packed[s].count, "inference model: sentence %d has %d hypotheses, plain %d", s, packed[s].count, plain[s].count);
        for (int i = 0; i < plain[s].count && i < packed[s].count; i++) {
            const tfm_beam_hypothesis *x = &plain[s].hypotheses[i], *y = &packed[s].hypotheses[i];
            CHECK(x->length == y->length && memcmp(x->tokens, y->tokens, sizeof(int32_t) * (size_t)x->length) == 0 && fabs(x->score - y->score) < 1e-4,
                  "inference model: sentence %d hypothesis %d differs from the plain model's (score %.6f vs %.6f)", s, i, y->score, x->score);
        }
        tfm_beam_result_free(&plain[s]);
        tfm_beam_result_free(&packed[s]);
    }
    test_against_reference(p, 4, TFM_LENGTH_PENALTY_GNMT, 0.6f, 1.2f, 3);
    test_batch_independence(p);
    CHECK(tfm_seq2seq_save(p, "/nonexistent/tfm-test") != TFM_OK && strstr(tfm_last_error(), "inference"),
          "saving an inference model fails with a clear error (got: %s)", tfm_last_error());
    tfm_seq2seq_free(p);
}

int main(void) {
    tfm_seq2seq *m = train_reverse_model();
    if (!m) return test_summary();
    test_beam_one_is_greedy(m);
    test_against_reference(m, 1, TFM_LENGTH_PENALTY_GNMT, 0.0f, 1.0f, 2);
    test_against_reference(m, 2, TFM_LENGTH_PENALTY_GNMT, 0.6f, 1.0f, 2);
    test_against_reference(m, 4, TFM_LENGTH_PENALTY_GNMT, 0.6f, 1.2f, 3);
    test_against_reference(m, 5, TFM_LENGTH_PENALTY_GNMT, 1.0f, 0.5f, 1);
    test_against_reference(m, 4, TFM_LENGTH_PENALTY_POWER, 1.0f, 1.2f, 3);
    test_against_reference(m, 3, TFM_LENGTH_PENALTY_POWER, 2.0f, 1.0f, 2);
    test_batch_independence(m);
    test_limits_and_errors(m);
    test_sampling(m);
    test_inference_model(m);
    tfm_seq2seq_free(m);
    return test_summary();
}
