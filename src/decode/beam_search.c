/* decode/beam_search.c: fairseq-style beam search and per-sentence sampling over the incremental seq2seq decoder. */
#include "tfm/beam_search.h"

#include <math.h>
#include <string.h>

#include "ops/activation.h" /* tfm_exp_fast */
#include "tfm/graph.h"


/* log sum_v exp(row[v]) (log_softmax(row)[v] = row[v] - log_sum_exp(row)): the largest logit plus the log of a
 * float sum of vectorised exponentials, which are within a few ulp of expf (ops/activation.h). */
static double log_sum_exp(const float *row, int V) {
    float max = -INFINITY;
    #pragma omp simd reduction(max : max)
    for (int v = 0; v < V; v++) max = row[v] > max ? row[v] : max;
    if (!isfinite(max)) return max;
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) sum += tfm_exp_fast(row[v] - max);
    return (double)max + log((double)sum);
}

static int token_allowed(const tfm_seq2seq_config *c, int v) {
    return v != c->pad_id && !(v == c->bos_id && c->bos_id != c->eos_id);
}

/* The n best allowed tokens of row[V] by logit (ties: lower id first) into best[n]; returns how many (< n only
 * when fewer than n tokens are allowed and not NaN). Within one beam a token's cumulative score is the beam's
 * score plus row[v] minus a constant, so a beam's best 2K candidates are its 2K best logits: the search ranks
 * only these instead of all V. */
static int best_tokens(const tfm_seq2seq_config *c, const float *row, int V, int n, int32_t *best, float *best_logit) {
    int count = 0;
    for (int v = 0; v < V; v++) {
        float x = row[v];
        if (count == n && !(x > best_logit[n - 1])) continue;   /* the common case: not among the best */
        if (x != x || !token_allowed(c, v)) continue;
        int i = count < n ? count++ : n - 1;
        while (i > 0 && x > best_logit[i - 1]) {
            best_logit[i] = best_logit[i - 1];
            best[i] = best[i - 1];
            i--;
        }
        best_logit[i] = x;
        best[i] = v;
    }
    return count;
}

static int length_limit(const tfm_seq2seq_config *c, float a, int b, int source_length) {
    double l = floor((double)a * source_length + b);
    if (l > c->max_target_length - 1) l = c->max_target_length - 1;
    return l < 0 ? 0 : (int)l;
}

/* The divisor of a finished hypothesis' log-probability (tfm_beam_search_options.length_penalty_form). */
static double length_penalty(int form, float x, int length) {
    if (x == 0) return 1.0;
    return form == TFM_LENGTH_PENALTY_POWER ? pow((double)length, (double)x) : pow((5.0 + length) / 6.0, (double)x);
}

typedef struct candidate {
    double score;
    int beam, token;
} candidate;

/* a ranks before b: higher score, then lower beam, then lower token. */
static int candidate_before(const candidate *a, const candidate *b) {
    if (a->score != b->score) return a->score > b->score;
    if (a->beam != b->beam) return a->beam < b->beam;
    return a->token < b->token;
}

/* Insert into the sorted top list (capacity n, *count filled). */
static void candidate_insert(candidate *top, int *count, int n, candidate c) {
    if (*count == n && !candidate_before(&c, &top[n - 1])) return;
    int i = *count < n ? (*count)++ : n - 1;
    while (i > 0 && candidate_before(&c, &top[i - 1])) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = c;
}

void tfm_seq2seq_workspace_free(tfm_seq2seq_workspace *w) {
    tfm_graph_free(w->graph);
    tfm_seq2seq_cache_free(&w->cache);
    memset(w, 0, sizeof *w);
}

/* Ready the workspace for `rows` decoder rows, growing (never shrinking) the cache. */
static tfm_status workspace_prepare(tfm_seq2seq *m, tfm_seq2seq_workspace *w, int rows) {
    tfm_status st;
    if (!w->graph && (st = tfm_graph_create(&w->graph, 0))) return st;
    if (w->cache.batch_capacity >= rows) return TFM_OK;
    int capacity = rows > w->cache.batch_capacity ? rows : w->cache.batch_capacity;
    /* Sources up to the longest the model takes: address space only (a batch touches its S positions). */
    tfm_seq2seq_cache_free(&w->cache);
    return tfm_seq2seq_cache_create(&w->cache, m, capacity, m->config.max_source_length);
}

/* Per-sentence search state; its arrays live in the search's one block (beam_buffers). */
typedef struct sentence_state {
    int active;
    int limit;
    int alive;                /* live beams (K normally) */
    double *scores;           /* [K] cumulative log-probabilities of the live beams */
    int32_t *history;         /* [K, max_target_length]: BOS then tokens */
    tfm_beam_hypothesis *finished;  /* [K], tokens in finished_tokens */
    int32_t *finished_tokens; /* [K, max_target_length] */
    int finished_count;
} sentence_state;

/* Every buffer of one search, carved from a single allocation: R = B*K decoder rows. */
typedef struct beam_buffers {
    sentence_state *states;       /* [B] */
    double *scores;               /* [R] */
    int32_t *history, *new_history; /* [R, Tmax] each */
    tfm_beam_hypothesis *finished;  /* [R] */
    int32_t *finished_tokens;     /* [R, Tmax] */
    double *row_log_sum;          /* [R]: each row's log-sum-exp this step */
    int32_t *row_best;            /* [R, 2K]: each row's best tokens this step */
    float *row_best_logit;        /* [R, 2K]: their logits */
    int *row_best_count;          /* [R] */
    candidate *top;               /* [2K] one sentence's best continuations */
    int32_t *tokens;              /* [R] the decoder's input this step */
    int *rows;                    /* [R] cache rows to keep */
    int *sentence_of_slot;        /* [B] */
    double *new_scores;           /* [K] */
    int *parents;                 /* [K] */
    void *block;
    size_t bytes;
} beam_buffers;

/* The next `bytes` of the block (16-byte aligned); with base NULL only counts. */
static void *carve(char *base, size_t *offset, size_t bytes) {
    size_t at = (*offset + 15) & ~(size_t)15;
    *offset = at + bytes;
    return base ? base + at : NULL;
}

static void beam_buffers_layout(beam_buffers *f, char *base, int B, int K, int Tmax) {
    size_t R = (size_t)B * K, at = 0;
    f->states = carve(base, &at, sizeof(sentence_state) * (size_t)B);
    f->scores = carve(base, &at, sizeof(double) * R);
    f->history = carve(base, &at, sizeof(int32_t) * R * Tmax);
    f->new_history = carve(base, &at, sizeof(int32_t) * R * Tmax);
    f->finished = carve(base, &at, sizeof(tfm_beam_hypothesis) * R);
    f->finished_tokens = carve(base, &at, sizeof(int32_t) * R * Tmax);
    f->row_log_sum = carve(base, &at, sizeof(double) * R);
    f->row_best = carve(base, &at, sizeof(int32_t) * R * 2 * K);
    f->row_best_logit = carve(base, &at, sizeof(float) * R * 2 * K);
    f->row_best_count = carve(base, &at, sizeof(int) * R);
    f->top = carve(base, &at, sizeof(candidate) * 2 * (size_t)K);
    f->tokens = carve(base, &at, sizeof(int32_t) * R);
    f->rows = carve(base, &at, sizeof(int) * R);
    f->sentence_of_slot = carve(base, &at, sizeof(int) * (size_t)B);
    f->new_scores = carve(base, &at, sizeof(double) * (size_t)K);
    f->parents = carve(base, &at, sizeof(int) * (size_t)K);
    f->bytes = at;
}

static tfm_status beam_buffers_allocate(beam_buffers *f, int B, int K, int Tmax) {
    beam_buffers_layout(f, NULL, B, K, Tmax);
    f->block = tfm_malloc(f->bytes);
    if (!f->block) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "beam search: out of memory for %zu bytes of search state", f->bytes);
    beam_buffers_layout(f, f->block, B, K, Tmax);
    memset(f->states, 0, sizeof(sentence_state) * (size_t)B); /* the rest is written before it is read */
    return TFM_OK;
}

/* A finished hypothesis: the beam's tokens after BOS, copied into the sentence's own slot. */
static void finalize(sentence_state *s, const int32_t *history, int length, double log_prob, const tfm_beam_search_options *o, int Tmax) {
    tfm_beam_hypothesis *h = &s->finished[s->finished_count];
    h->tokens = s->finished_tokens + (size_t)s->finished_count * Tmax;
    memcpy(h->tokens, history + 1, sizeof(int32_t) * (size_t)length);
    h->length = length;
    h->log_prob = (float)log_prob;
    h->score = (float)(log_prob / length_penalty(o->length_penalty_form, o->length_penalty, length + 1));
    s->finished_count++;
}

static tfm_status check_search_arguments(const int *source_lengths, int B, int S, const tfm_beam_search_options *o,
                                         const int32_t *source, tfm_beam_result *results) {
    if (B < 1 || S < 1 || !source || !source_lengths || !results) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "beam search: empty batch");
    if (o->beam_size < 1 || o->nbest < 1 || o->nbest > o->beam_size)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "beam search: beam size %d and nbest %d: need 1 <= nbest <= beam size", o->beam_size,
                         o->nbest);
    if (!(isfinite(o->max_length_a) && o->max_length_a >= 0) || !isfinite(o->length_penalty))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "beam search: max_length_a and the length penalty must be finite (a >= 0)");
    if (o->length_penalty_form != TFM_LENGTH_PENALTY_GNMT && o->length_penalty_form != TFM_LENGTH_PENALTY_POWER)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "beam search: length_penalty_form %d is neither TFM_LENGTH_PENALTY_GNMT nor _POWER",
                         o->length_penalty_form);
    for (int b = 0; b < B; b++) {
        results[b].count = 0;
        results[b].hypotheses = NULL;
        if (source_lengths[b] < 1 || source_lengths[b] > S)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "beam search: source_lengths[%d] = %d is outside [1, %d]", b, source_lengths[b], S);
    }
    return TFM_OK;
}

/* Every sentence starts with one live beam holding BOS (step 0 expands only beam 0, so beams are distinct). */
static void start_sentences(beam_buffers *f, const tfm_seq2seq_config *c, const int *source_lengths, int B, int K,
                            const tfm_beam_search_options *o) {
    int Tmax = c->max_target_length;
    for (int b = 0; b < B; b++) {
        sentence_state *s = &f->states[b];
        s->active = 1;
        s->limit = length_limit(c, o->max_length_a, o->max_length_b, source_lengths[b]);
        s->alive = 1;
        s->scores = f->scores + (size_t)b * K;
        s->history = f->history + (size_t)b * K * Tmax;
        s->finished = f->finished + (size_t)b * K;
        s->finished_tokens = f->finished_tokens + (size_t)b * K * Tmax;
        for (int k = 0; k < K; k++) {
            s->scores[k] = 0;
            s->history[(size_t)k * Tmax] = c->bos_id;
        }
        f->sentence_of_slot[b] = b;
    }
}

/* Expand: every live row's normaliser and best 2K tokens at once, on all threads: the O(V) part of the search. */
static void expand(beam_buffers *f, const tfm_seq2seq_config *c, const tfm_tensor *logits, int slots, int K, int t) {
    int V = c->vocab_size;
    #pragma omp parallel for schedule(static) if (slots * K >= 4)
    for (int r = 0; r < slots * K; r++) {
        const sentence_state *s = &f->states[f->sentence_of_slot[r / K]];
        const float *row = logits->data + (size_t)r * V;
        f->row_best_count[r] = 0;
        if (r % K >= s->alive) continue;
        f->row_log_sum[r] = log_sum_exp(row, V);
        if (t < s->limit)
            f->row_best_count[r] = best_tokens(c, row, V, 2 * K, f->row_best + (size_t)r * 2 * K, f->row_best_logit + (size_t)r * 2 * K);
    }
}

/* Select, for the sentence in slot i: rank its beams' continuations, finish those that end in EOS among the first
 * K, keep the first K others as the next beams. Returns the beams kept (0: the sentence is done). */
static int select_beams(beam_buffers *f, const tfm_seq2seq_config *c, const tfm_tensor *logits, int i, int K, int t,
                        const tfm_beam_search_options *o) {
    int V = c->vocab_size, Tmax = c->max_target_length;
    sentence_state *s = &f->states[f->sentence_of_slot[i]];
    int count = 0, forced = t >= s->limit;
    for (int k = 0; k < s->alive; k++) {
        const size_t r = (size_t)i * K + k;
        const float *row = logits->data + r * V;   /* log P(v) = row[v] - log_sum */
        const double log_sum = f->row_log_sum[r];
        if (forced) {
            candidate_insert(f->top, &count, 2 * K, (candidate){s->scores[k] + ((double)row[c->eos_id] - log_sum), k, c->eos_id});
            continue;
        }
        for (int j = 0; j < f->row_best_count[r]; j++) {
            int v = f->row_best[r * 2 * K + j];
            candidate_insert(f->top, &count, 2 * K, (candidate){s->scores[k] + ((double)row[v] - log_sum), k, v});
        }
    }
    int kept = 0;
    for (int j = 0; j < count; j++) {
        const candidate *cand = &f->top[j];
        if (cand->token == c->eos_id) {
            if (j < K && s->finished_count < K) finalize(s, s->history + (size_t)cand->beam * Tmax, t, cand->score, o, Tmax);
        } else if (kept < K) {
            f->new_scores[kept] = cand->score;
            f->parents[kept] = cand->beam;
            int32_t *h = f->new_history + (size_t)kept * Tmax;
            memcpy(h, s->history + (size_t)cand->beam * Tmax, sizeof(int32_t) * (size_t)(t + 1));
            h[t + 1] = cand->token;
            kept++;
        }
    }
    if (s->finished_count >= K || kept == 0) {
        s->active = 0;
        return 0;
    }
    s->alive = kept;
    for (int k = 0; k < kept; k++) {
        s->scores[k] = f->new_scores[k];
        memcpy(s->history + (size_t)k * Tmax, f->new_history + (size_t)k * Tmax, sizeof(int32_t) * (size_t)(t + 2));
    }
    return kept;
}

/* Results for n hypotheses of the given lengths: one block (the array, then every hypothesis' tokens), which is
 * what tfm_beam_result_free gives back. */
static size_t result_bytes(int n, const tfm_beam_hypothesis *h) {
    size_t tokens = 0;
    for (int i = 0; i < n; i++) tokens += (size_t)h[i].length;
    return sizeof(tfm_beam_hypothesis) * (size_t)(n ? n : 1) + sizeof(int32_t) * tokens;
}

static tfm_status result_copy(tfm_beam_result *r, const tfm_beam_hypothesis *from, int n) {
    r->hypotheses = tfm_malloc(result_bytes(n, from));
    if (!r->hypotheses) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "beam search: out of memory for the results");
    int32_t *tokens = (int32_t *)(r->hypotheses + (n ? n : 1));
    for (int i = 0; i < n; i++) {
        r->hypotheses[i] = from[i];
        r->hypotheses[i].tokens = tokens;
        memcpy(tokens, from[i].tokens, sizeof(int32_t) * (size_t)from[i].length);
        tokens += from[i].length;
    }
    r->count = n;
    return TFM_OK;
}

/* Finish: rank a sentence's finished hypotheses by score (stable: earlier-finished first on ties), keep nbest. */
static tfm_status rank_results(sentence_state *s, int nbest, tfm_beam_result *result) {
    for (int i = 1; i < s->finished_count; i++) {
        tfm_beam_hypothesis h = s->finished[i];
        int j = i;
        while (j > 0 && s->finished[j - 1].score < h.score) {
            s->finished[j] = s->finished[j - 1];
            j--;
        }
        s->finished[j] = h;
    }
    return result_copy(result, s->finished, s->finished_count < nbest ? s->finished_count : nbest);
}

void tfm_beam_result_free(tfm_beam_result *r) {
    if (!r || !r->hypotheses) return;
    tfm_free(r->hypotheses, result_bytes(r->count, r->hypotheses));
    r->hypotheses = NULL;
    r->count = 0;
}

tfm_status tfm_beam_search(tfm_seq2seq *m, const int32_t *source, const int *source_lengths, int B, int S,
                           const tfm_beam_search_options *o, tfm_beam_result *results) {
    const tfm_seq2seq_config *c = &m->config;
    int K = o->beam_size, Tmax = c->max_target_length;
    tfm_status st = check_search_arguments(source_lengths, B, S, o, source, results);
    if (st) return st;
    size_t R = (size_t)B * K;
    beam_buffers f = {0};
    tfm_seq2seq_workspace local = {0}, *w = o->workspace ? o->workspace : &local;
    if ((st = beam_buffers_allocate(&f, B, K, Tmax))) goto done;
    start_sentences(&f, c, source_lengths, B, K, o);
    /* Encode once; each sentence's cross-attention keys/values, repeated for its K beams: row b*K + k. */
    if ((st = workspace_prepare(m, w, (int)R)) || (st = tfm_graph_begin(w->graph, 0, 0))) goto done;
    tfm_tensor *memory = tfm_seq2seq_encode(m, w->graph, source, source_lengths, B, S);
    if (!memory) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
    if ((st = tfm_seq2seq_cache_start(m, w->graph, &w->cache, memory, source_lengths, B, S))) goto done;
    for (size_t r = 0; r < R; r++) f.rows[r] = (int)(r / K);
    if ((st = tfm_seq2seq_cache_select(&w->cache, f.rows, (int)R))) goto done;
    int slots = B;   /* active sentences in the cache, in sentence_of_slot order, K rows each */
    for (int t = 0; slots > 0; t++) {
        for (int i = 0; i < slots; i++) {
            const sentence_state *s = &f.states[f.sentence_of_slot[i]];
            for (int k = 0; k < K; k++) f.tokens[(size_t)i * K + k] = k < s->alive ? s->history[(size_t)k * Tmax + t] : c->pad_id;
        }
        if ((st = tfm_graph_begin(w->graph, 0, 0))) goto done;
        tfm_tensor *logits = tfm_seq2seq_decode_step(m, w->graph, &w->cache, f.tokens, 1, 1);   /* [slots*K, 1, V] */
        if (!logits) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
        if ((st = tfm_logits_check_finite(logits->data, (size_t)slots * K * c->vocab_size, t + 1))) goto done;
        expand(&f, c, logits, slots, K, t);
        int next_slots = 0;
        for (int i = 0; i < slots; i++) {
            int b = f.sentence_of_slot[i], kept = select_beams(&f, c, logits, i, K, t, o);
            if (!kept) continue;
            /* The next cache rows of this sentence: its beams' parents (dead beams repeat beam 0). */
            for (int k = 0; k < K; k++) f.rows[(size_t)next_slots * K + k] = i * K + (k < kept ? f.parents[k] : f.parents[0]);
            f.sentence_of_slot[next_slots++] = b;
        }
        if (next_slots > 0 && (st = tfm_seq2seq_cache_select(&w->cache, f.rows, next_slots * K))) goto done;
        slots = next_slots;
    }
    for (int b = 0; b < B && !st; b++) st = rank_results(&f.states[b], o->nbest, &results[b]);
done:
    if (st)
        for (int b = 0; b < B; b++) tfm_beam_result_free(&results[b]);
    if (w == &local) tfm_seq2seq_workspace_free(&local);
    if (f.block) tfm_free(f.block, f.bytes);
    return st;
}

tfm_status tfm_seq2seq_sample(tfm_seq2seq *m, const int32_t *source, const int *source_lengths, int B, int S,
                              const tfm_sampler_config *sampler_config, const uint64_t *seeds, float max_length_a, int max_length_b,
                              tfm_seq2seq_workspace *workspace, tfm_beam_result *results) {
    const tfm_seq2seq_config *c = &m->config;
    int V = c->vocab_size, Tmax = c->max_target_length;
    if (B < 1 || S < 1 || !source || !source_lengths || !results || !seeds)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "sampling: empty batch or missing buffers");
    tfm_status st = tfm_sampler_config_validate(sampler_config);
    if (st) return st;
    for (int b = 0; b < B; b++) {
        results[b].count = 0;
        results[b].hypotheses = NULL;
        if (source_lengths[b] < 1 || source_lengths[b] > S)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "sampling: source_lengths[%d] = %d is outside [1, %d]", b, source_lengths[b], S);
    }
    tfm_sampler *samplers = tfm_calloc((size_t)B, sizeof(tfm_sampler));
    int32_t *history = tfm_malloc(sizeof(int32_t) * (size_t)B * Tmax);
    int *done_flags = tfm_calloc((size_t)B, sizeof(int)), *lengths = tfm_calloc((size_t)B, sizeof(int));
    double *log_probs = tfm_calloc((size_t)B, sizeof(double));
    float *masked = tfm_malloc(sizeof(float) * V);
    int32_t *tokens = tfm_malloc(sizeof(int32_t) * (size_t)B);
    int samplers_ready = 0, longest = 0;
    tfm_seq2seq_workspace local = {0}, *w = workspace ? workspace : &local;
    tfm_graph *graph = NULL;   /* the workspace's, once prepared */
    tfm_seq2seq_cache *cache = &w->cache;
    if (!samplers || !history || !done_flags || !lengths || !log_probs || !masked || !tokens) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    for (int b = 0; b < B; b++) {
        if ((st = tfm_sampler_init(&samplers[b], V, sampler_config, seeds[b]))) goto done;
        samplers_ready = b + 1;
        history[(size_t)b * Tmax] = c->bos_id;
        int l = length_limit(c, max_length_a, max_length_b, source_lengths[b]);
        if (l + 1 > longest) longest = l + 1;
    }
    if ((st = workspace_prepare(m, w, B))) goto done;
    graph = w->graph;
    if ((st = tfm_graph_begin(graph, 0, 0))) goto done;
    tfm_tensor *memory = tfm_seq2seq_encode(m, graph, source, source_lengths, B, S);
    if (!memory) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
    if ((st = tfm_seq2seq_cache_start(m, graph, cache, memory, source_lengths, B, S))) goto done;
    for (int t = 0; t < longest; t++) {
        int active = 0;
        for (int b = 0; b < B; b++) active += !done_flags[b];
        if (!active) break;
        for (int b = 0; b < B; b++) tokens[b] = done_flags[b] ? c->pad_id : history[(size_t)b * Tmax + t];
        if ((st = tfm_graph_begin(graph, 0, 0))) goto done;
        tfm_tensor *logits = tfm_seq2seq_decode_step(m, graph, cache, tokens, 1, 1);
        if (!logits) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
        for (int b = 0; b < B; b++) {
            if (done_flags[b]) continue;
            const float *row = logits->data + (size_t)b * V;
            if ((st = tfm_logits_check_finite(row, (size_t)V, t + 1))) goto done;
            int next;
            if (t >= length_limit(c, max_length_a, max_length_b, source_lengths[b])) {
                next = c->eos_id;
            } else {
                /* Never sample padding (or a BOS that is not EOS). */
                for (int v = 0; v < V; v++) masked[v] = token_allowed(c, v) ? row[v] : -INFINITY;
                next = tfm_sampler_next(&samplers[b], masked);
            }
            log_probs[b] += (double)row[next] - log_sum_exp(row, V);
            if (next == c->eos_id) {
                done_flags[b] = 1;
            } else {
                history[(size_t)b * Tmax + t + 1] = next;
                lengths[b]++;
            }
        }
    }
    for (int b = 0; b < B && !st; b++) {
        tfm_beam_hypothesis h = {history + (size_t)b * Tmax + 1, lengths[b], (float)log_probs[b], (float)log_probs[b]};
        st = result_copy(&results[b], &h, 1);
    }
done:
    if (st)
        for (int b = 0; b < B; b++) tfm_beam_result_free(&results[b]);
    for (int b = 0; b < samplers_ready; b++) tfm_sampler_free(&samplers[b]);
    if (w == &local) tfm_seq2seq_workspace_free(&local);
    tfm_free(samplers, sizeof(tfm_sampler) * (size_t)B);
    tfm_free(history, sizeof(int32_t) * (size_t)B * Tmax);
    tfm_free(done_flags, sizeof(int) * (size_t)B);
    tfm_free(lengths, sizeof(int) * (size_t)B);
    tfm_free(log_probs, sizeof(double) * (size_t)B);
    tfm_free(masked, sizeof(float) * V);
    tfm_free(tokens, sizeof(int32_t) * (size_t)B);
    return st;
}
