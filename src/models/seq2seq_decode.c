/* models/seq2seq_decode.c: incremental decoding for the encoder-decoder: the per-layer K/V cache, one decoder step, greedy search. */
#include <math.h>
#include <string.h>

#include "models/seq2seq_internal.h"
#include "tfm/decode.h" /* tfm_logits_check_finite */

/* ---- Cache ---- */

static size_t self_floats(const tfm_seq2seq_cache *c) {
    return (size_t)c->layers * c->batch_capacity * c->target_capacity * c->channels;
}
static size_t cross_floats(const tfm_seq2seq_cache *c) {
    return (size_t)c->layers * c->batch_capacity * c->source_capacity * 2 * c->channels;
}

tfm_status tfm_seq2seq_cache_create(tfm_seq2seq_cache *cache, const tfm_seq2seq *m, int batch_capacity, int source_capacity) {
    memset(cache, 0, sizeof *cache);
    if (batch_capacity < 1) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache: batch capacity must be >= 1, got %d", batch_capacity);
    if (source_capacity < 1 || source_capacity > m->config.max_source_length)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache: source capacity %d is outside [1, max_source_length = %d]",
                         source_capacity, m->config.max_source_length);
    cache->batch_capacity = batch_capacity;
    cache->source_capacity = source_capacity;
    cache->target_capacity = m->config.max_target_length;
    cache->layers = m->config.n_decoder_layers;
    cache->channels = m->config.d_model;
    size_t sf = self_floats(cache), cf = cross_floats(cache), n = (size_t)batch_capacity;
    /* Only the pages a batch touches become resident: capacity beyond the sentences' lengths costs address space. */
    cache->self_keys = tfm_malloc(sizeof(float) * sf);
    cache->self_values = tfm_malloc(sizeof(float) * sf);
    cache->cross_kv = tfm_malloc(sizeof(float) * cf);
    cache->source_lengths = tfm_calloc(n, sizeof(int));
    cache->cross_item = tfm_calloc(n, sizeof(int));
    cache->self_slot = tfm_calloc(n, sizeof(int));
    cache->scratch = tfm_calloc(3 * n, sizeof(int));
    if (!cache->self_keys || !cache->self_values || !cache->cross_kv || !cache->source_lengths || !cache->cross_item ||
        !cache->self_slot || !cache->scratch) {
        tfm_seq2seq_cache_free(cache);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    return TFM_OK;
}

void tfm_seq2seq_cache_free(tfm_seq2seq_cache *cache) {
    size_t sf = self_floats(cache), cf = cross_floats(cache), n = (size_t)cache->batch_capacity;
    tfm_free(cache->self_keys, sizeof(float) * sf);
    tfm_free(cache->self_values, sizeof(float) * sf);
    tfm_free(cache->cross_kv, sizeof(float) * cf);
    tfm_free(cache->source_lengths, sizeof(int) * n);
    tfm_free(cache->cross_item, sizeof(int) * n);
    tfm_free(cache->self_slot, sizeof(int) * n);
    tfm_free(cache->scratch, sizeof(int) * 3 * n);
    memset(cache, 0, sizeof *cache);
}

/* Layer l's self-attention keys (or values): [batch_capacity slots, target_capacity, C]. */
static float *self_layer(const tfm_seq2seq_cache *c, float *base, int l) {
    return base + (size_t)l * c->batch_capacity * c->target_capacity * c->channels;
}
/* Layer l's cross-attention key|value rows: [sentences, S, 2C] for the current batch. */
static float *cross_layer(const tfm_seq2seq_cache *c, float *base, int l) {
    return base + (size_t)l * c->sentences * c->source_length * 2 * c->channels;
}

tfm_status tfm_seq2seq_cache_start(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_cache *cache, const tfm_tensor *memory,
                                   const int *source_lengths, int B, int S) {
    int C = m->config.d_model;
    if (!memory) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache start: no encoder output");
    if (B < 1 || B > cache->batch_capacity || S < 1 || S > cache->source_capacity)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache start: batch %d x source %d exceeds the cache's %d x %d", B, S,
                         cache->batch_capacity, cache->source_capacity);
    if (memory->size != (size_t)B * S * C)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache start: memory has %zu values, expected B*S*C = %d*%d*%d",
                         memory->size, B, S, C);
    tfm_status st = tfm_seq2seq_check_lengths(source_lengths, B, S, "source");
    if (st) return st;
    cache->batch = cache->sentences = B;
    cache->source_length = S;
    cache->length = 0;
    for (int b = 0; b < B; b++) {
        cache->source_lengths[b] = source_lengths ? source_lengths[b] : S;
        cache->cross_item[b] = cache->self_slot[b] = b;
    }
    /* A constant view of the memory, so the projection records nothing even on a recording graph. */
    tfm_tensor input = {.data = memory->data, .ndim = 3, .shape = {B, S, C}, .size = memory->size};
    for (int l = 0; l < cache->layers; l++) {
        tfm_seq2seq_attention *a = &m->decoder_layers[l].cross_attn;
        tfm_graph_mark mark = tfm_graph_mark_now(g);
        tfm_tensor *kv = tfm_fn_linear(g, &input, &a->kv_weight, &a->kv_bias);   /* [B, S, 2C] */
        if (!kv) return tfm_error_prefix(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache start: ");
        memcpy(cross_layer(cache, cache->cross_kv, l), kv->data, sizeof(float) * kv->size);
        tfm_graph_keep(g, mark, NULL); /* the product is copied: its arena space is free again */
    }
    return TFM_OK;
}

tfm_status tfm_seq2seq_cache_select(tfm_seq2seq_cache *cache, const int *rows, int count) {
    if (count < 1 || count > cache->batch_capacity)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache select: %d rows, capacity %d", count, cache->batch_capacity);
    for (int i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= cache->batch)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq cache select: row %d is outside [0, %d)", rows[i], cache->batch);
    const int capacity = cache->batch_capacity;
    int *claimed = cache->scratch;                  /* [capacity slots]: 1 once a new row owns the slot */
    int *new_slot = cache->scratch + capacity;      /* [count] */
    int *new_values = cache->scratch + 2 * capacity; /* [count]: cross items, then source lengths */
    memset(claimed, 0, sizeof(int) * (size_t)capacity);
    /* First pass: the first new row descending from an old row keeps that row's slot. */
    for (int i = 0; i < count; i++) {
        int slot = cache->self_slot[rows[i]];
        new_slot[i] = claimed[slot] ? -1 : slot;
        claimed[slot] = 1;
    }
    /* Second pass: every further descendant gets a free slot and a copy of the positions decoded so far. */
    size_t C = (size_t)cache->channels, item = (size_t)cache->target_capacity * C, used = (size_t)cache->length * C;
    int free_slot = 0;
    for (int i = 0; i < count; i++) {
        if (new_slot[i] >= 0) continue;
        while (claimed[free_slot]) free_slot++;  /* count <= capacity, so a free slot exists */
        claimed[free_slot] = 1;
        int from = cache->self_slot[rows[i]];
        for (int l = 0; l < cache->layers && used > 0; l++) {
            float *keys = self_layer(cache, cache->self_keys, l), *values = self_layer(cache, cache->self_values, l);
            memcpy(keys + (size_t)free_slot * item, keys + (size_t)from * item, sizeof(float) * used);
            memcpy(values + (size_t)free_slot * item, values + (size_t)from * item, sizeof(float) * used);
        }
        new_slot[i] = free_slot;
    }
    memcpy(cache->self_slot, new_slot, sizeof(int) * (size_t)count);
    for (int i = 0; i < count; i++) new_values[i] = cache->cross_item[rows[i]];
    memcpy(cache->cross_item, new_values, sizeof(int) * (size_t)count);
    for (int i = 0; i < count; i++) new_values[i] = cache->source_lengths[rows[i]];
    memcpy(cache->source_lengths, new_values, sizeof(int) * (size_t)count);
    cache->batch = count;
    return TFM_OK;
}

/* ---- One decoder step against the cache ---- */

/* Decoder self-attention of new positions x [B, T, C]: their keys/values are appended at cache->length ..
 * of each row's slot, then the queries attend causally to every cached position. -> [B, T, C] */
static tfm_tensor *cached_self_attention(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_cache *cache, int l, tfm_tensor *x, int T) {
    int C = m->config.d_model, B = cache->batch, start = cache->length;
    tfm_seq2seq_attention *a = &m->decoder_layers[l].self_attn;
    tfm_tensor *qkv = tfm_seq2seq_self_qkv(m, g, a, x, start);   /* [B, T, 3C] */
    if (!qkv) return NULL;
    float *keys = self_layer(cache, cache->self_keys, l), *values = self_layer(cache, cache->self_values, l);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = qkv->data + ((size_t)b * T + t) * 3 * C;
            size_t at = ((size_t)cache->self_slot[b] * cache->target_capacity + start + t) * C;
            memcpy(keys + at, row + C, sizeof(float) * C);
            memcpy(values + at, row + 2 * C, sizeof(float) * C);
        }
    size_t floats = (size_t)cache->batch_capacity * cache->target_capacity * C;
    tfm_tensor k = {.data = keys, .ndim = 2, .shape = {cache->batch_capacity * cache->target_capacity, C}, .size = floats};
    tfm_tensor v = {.data = values, .ndim = 2, .shape = {cache->batch_capacity * cache->target_capacity, C}, .size = floats};
    tfm_attention_args args = {.q = qkv, .k = &k, .v = &v, .q_column = 0, .k_column = 0, .v_column = 0, .batch = B,
                               .query_length = T, .key_length = start + T, .heads = m->config.n_heads,
                               .head_dim = C / m->config.n_heads, .causal = 1,
                               .kv_batch_stride = (size_t)cache->target_capacity * C, .kv_index = cache->self_slot};
    return tfm_linear_forward_graph(g, &a->out_proj, tfm_fn_attention(g, tfm_seq2seq_attention_options(m, a, &args, 1)));
}

/* Cross-attention of new positions x [B, T, C] to the encoder output: row b reads the keys|values its sentence
 * (cross_item[b]) got in tfm_seq2seq_cache_start, shared by the sentence's beams. -> [B, T, C] */
static tfm_tensor *cached_cross_attention(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_cache *cache, int l, tfm_tensor *x, int T) {
    int C = m->config.d_model, S = cache->source_length;
    tfm_tensor kv = {.data = cross_layer(cache, cache->cross_kv, l), .ndim = 3, .shape = {cache->sentences, S, 2 * C},
                     .size = (size_t)cache->sentences * S * 2 * C};
    return tfm_seq2seq_cross_attention(m, g, &m->decoder_layers[l].cross_attn, x, &kv, cache->source_lengths, cache->cross_item,
                                       cache->batch, T, S);
}

tfm_tensor *tfm_seq2seq_decode_step(tfm_seq2seq *m, tfm_graph *g, tfm_seq2seq_cache *cache, const int32_t *tokens, int T, int last_only) {
    const tfm_seq2seq_config *c = &m->config;
    int B = cache->batch, C = c->d_model;
    if (tfm_graph_recording(g)) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq decode step: the cache is for inference (graph must not be recording)");
        return NULL;
    }
    if (B < 1 || T < 1) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq decode step: empty batch (B=%d, T=%d; was tfm_seq2seq_cache_start called?)", B, T);
        return NULL;
    }
    if (cache->length + T > cache->target_capacity) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq decode step: %d target positions exceed max_target_length %d",
                  cache->length + T, cache->target_capacity);
        return NULL;
    }
    if (tfm_seq2seq_check_ids(m, tokens, B, T, "target")) return NULL;
    tfm_tensor *x = tfm_seq2seq_embed(m, g, &m->target_embedding, &m->target_positions, tokens, B, T, cache->length, m->config.zero_start_embedding);
    for (int l = 0; l < c->n_decoder_layers && x; l++) {
        tfm_seq2seq_decoder_layer *d = &m->decoder_layers[l];
        tfm_graph_mark layer_start = tfm_graph_mark_now(g); /* the layer's intermediates die with it */
        /* inference: BatchNorm uses its running statistics, so no row mask */
        tfm_tensor *h = cached_self_attention(m, g, cache, l, tfm_seq2seq_sublayer_input(m, g, &d->norm1, x, NULL), T);
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm1, x, h, NULL);
        h = cached_cross_attention(m, g, cache, l, tfm_seq2seq_sublayer_input(m, g, &d->norm2, x, NULL), T);
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm2, x, h, NULL);
        h = tfm_seq2seq_feed_forward(m, g, &d->linear1, &d->linear2, &d->prelu, tfm_seq2seq_sublayer_input(m, g, &d->norm3, x, NULL));
        x = tfm_seq2seq_sublayer_output(m, g, &d->norm3, x, h, NULL);
        x = tfm_graph_keep(g, layer_start, x);
    }
    if (!x) return NULL;
    cache->length += T;
    if (last_only && T > 1) {
        /* [B, T, C] -> [B, 1, C]: only the newest position's logits are needed to choose the next token. */
        tfm_tensor *last = tfm_graph_tensor(g, 3, (int[]){B, 1, C});
        if (!last) return NULL;
        for (int b = 0; b < B; b++) memcpy(last->data + (size_t)b * C, x->data + ((size_t)b * T + T - 1) * C, sizeof(float) * C);
        x = last;
    }
    if (m->config.final_norm) x = tfm_norm_forward_graph(g, &m->decoder_norm, x);
    return tfm_fn_linear(g, x, &m->output_projection, NULL);
}

/* ---- Greedy search ---- */

/* Arg-max of logits[V] with pad (and bos unless it doubles as eos) excluded; ties go to the lowest id. */
static int32_t choose_token(const tfm_seq2seq_config *c, const float *logits) {
    int32_t best = -1;
    for (int v = 0; v < c->vocab_size; v++) {
        if (v == c->pad_id || (v == c->bos_id && c->bos_id != c->eos_id)) continue;
        if (best < 0 || logits[v] > logits[best]) best = v;
    }
    return best;
}

tfm_status tfm_seq2seq_greedy(tfm_seq2seq *m, const tfm_seq2seq_greedy_args *a) {
    const tfm_seq2seq_config *c = &m->config;
    int B = a->batch, S = a->source_length, C = c->d_model, V = c->vocab_size;
    if (B < 1 || S < 1 || !a->source || !a->output || !a->output_lengths || a->max_output < 0)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq greedy: empty batch or missing buffers");
    if (!(isfinite(a->max_length_a) && a->max_length_a >= 0))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "seq2seq greedy: max_length_a must be a non-negative number");
    tfm_status st = tfm_seq2seq_check_lengths(a->source_lengths, B, S, "source");
    if (st) return st;
    /* Per sentence: at most `limit` tokens besides EOS (fairseq's max_len_a * src_len + max_len_b), within the
     * target positions (BOS takes position 0). */
    int *limit = tfm_malloc(sizeof(int) * (size_t)B);
    int *finished = tfm_calloc((size_t)B, sizeof(int));
    int32_t *history = tfm_malloc(sizeof(int32_t) * (size_t)B * c->max_target_length);   /* [B, max_target_length] */
    int32_t *step_tokens = tfm_malloc(sizeof(int32_t) * (size_t)B);
    float *memory_copy = NULL;
    size_t memory_floats = (size_t)B * S * C;
    tfm_graph *graph = NULL;
    int cache_ready = 0;
    tfm_seq2seq_cache cache;
    memset(&cache, 0, sizeof cache);
    if (!limit || !finished || !history || !step_tokens) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    int longest = 0;
    for (int b = 0; b < B; b++) {
        int source_length = a->source_lengths ? a->source_lengths[b] : S;
        double l = floor((double)a->max_length_a * source_length + a->max_length_b);
        if (l > c->max_target_length - 1) l = c->max_target_length - 1;
        limit[b] = l < 0 ? 0 : (int)l;
        if (limit[b] > longest) longest = limit[b];
        a->output_lengths[b] = 0;
        finished[b] = limit[b] == 0;
        history[(size_t)b * c->max_target_length] = c->bos_id;
    }
    if ((st = tfm_graph_create(&graph, 0))) goto done;
    if ((st = tfm_graph_begin(graph, 0, 0))) goto done;
    tfm_tensor *memory = tfm_seq2seq_encode(m, graph, a->source, a->source_lengths, B, S);
    if (!memory) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
    if (a->use_cache) {
        if ((st = tfm_seq2seq_cache_create(&cache, m, B, S))) goto done;
        cache_ready = 1;
        if ((st = tfm_seq2seq_cache_start(m, graph, &cache, memory, a->source_lengths, B, S))) goto done;
    } else {
        /* The arena is recycled every step: keep the encoder output outside it. */
        memory_copy = tfm_malloc(sizeof(float) * memory_floats);
        if (!memory_copy) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
        memcpy(memory_copy, memory->data, sizeof(float) * memory_floats);
    }
    for (int t = 0; t < longest; t++) {
        int active = 0;
        for (int b = 0; b < B; b++) active += !finished[b];
        if (!active) break;
        if ((st = tfm_graph_begin(graph, 0, 0))) goto done;
        tfm_tensor *logits;   /* rows of V: [B, 1, V] (cached) or [B, t+1, V] (uncached) */
        size_t row_of_last, rows_per_item;
        if (a->use_cache) {
            for (int b = 0; b < B; b++) step_tokens[b] = history[(size_t)b * c->max_target_length + t];
            logits = tfm_seq2seq_decode_step(m, graph, &cache, step_tokens, 1, 1);
            row_of_last = 0;
            rows_per_item = 1;
        } else {
            /* The whole prefix [B, t+1] again, decoder self- and cross-attention recomputed from scratch. */
            int32_t *prefix = tfm_graph_alloc(graph, sizeof(int32_t) * (size_t)B * (t + 1));
            if (!prefix) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
            for (int b = 0; b < B; b++) memcpy(prefix + (size_t)b * (t + 1), history + (size_t)b * c->max_target_length, sizeof(int32_t) * (t + 1));
            tfm_tensor memory_view = {.data = memory_copy, .ndim = 3, .shape = {B, S, C}, .size = memory_floats};
            logits = tfm_seq2seq_decode(m, graph, &memory_view, a->source_lengths, prefix, NULL, B, S, t + 1);
            row_of_last = (size_t)t;
            rows_per_item = (size_t)t + 1;
        }
        if (!logits) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
        for (int b = 0; b < B; b++) {
            int32_t next = c->pad_id;   /* finished sentences keep feeding padding; their rows are ignored */
            if (!finished[b]) {
                const float *row = logits->data + ((size_t)b * rows_per_item + row_of_last) * V;
                if ((st = tfm_logits_check_finite(row, (size_t)V, t + 1))) goto done;
                next = choose_token(c, row);
                if (next == c->eos_id) {
                    finished[b] = 1;
                } else {
                    if (a->output_lengths[b] < a->max_output) a->output[(size_t)b * a->max_output + a->output_lengths[b]] = next;
                    a->output_lengths[b]++;
                    if (a->output_lengths[b] >= limit[b]) finished[b] = 1;
                }
            }
            history[(size_t)b * c->max_target_length + t + 1] = next;
        }
    }
    for (int b = 0; b < B; b++)
        if (a->output_lengths[b] > a->max_output) a->output_lengths[b] = a->max_output;
done:
    if (cache_ready) tfm_seq2seq_cache_free(&cache);
    tfm_graph_free(graph);
    tfm_free(memory_copy, sizeof(float) * memory_floats);
    tfm_free(limit, sizeof(int) * (size_t)B);
    tfm_free(finished, sizeof(int) * (size_t)B);
    tfm_free(history, sizeof(int32_t) * (size_t)B * c->max_target_length);
    tfm_free(step_tokens, sizeof(int32_t) * (size_t)B);
    return st;
}
