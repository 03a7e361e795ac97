/* Byte-level BPE encoding (pre-tokenize, merge by rank, word cache) and decoding. */
#include <string.h>

#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretokenize.h"

static inline tfm_status push_id(tfm_tokens *out, uint32_t id) {
    if (out->count == out->capacity) {
        tfm_status st = tfm_tokens_reserve(out, out->count + 1);
        if (st) return st;
    }
    out->ids[out->count++] = id;
    return TFM_OK;
}

static tfm_status push_ids(tfm_tokens *out, const uint32_t *ids, size_t n) {
    if (n == 0) return TFM_OK;
    if (out->count + n > out->capacity) {
        tfm_status st = tfm_tokens_reserve(out, out->count + n);
        if (st) return st;
    }
    memcpy(out->ids + out->count, ids, n * sizeof(uint32_t));
    out->count += n;
    return TFM_OK;
}

static tfm_status ensure_scratch(tfm_bpe *tok, size_t n, int with_links) {
    if (n > tok->scratch_capacity || (with_links && !tok->scratch_prev)) {
        size_t old = tok->scratch_capacity, cap = old > n ? old : 256;
        while (cap < n) cap *= 2;
        uint32_t *ids = tfm_realloc(tok->scratch_ids, old * sizeof(uint32_t), cap * sizeof(uint32_t));
        if (!ids) return TFM_ERR_OUT_OF_MEMORY;
        tok->scratch_ids = ids;
        uint32_t *ranks = tfm_realloc(tok->scratch_ranks, old * sizeof(uint32_t), cap * sizeof(uint32_t));
        if (!ranks) return TFM_ERR_OUT_OF_MEMORY;
        tok->scratch_ranks = ranks;
        /* prev/next links only for long words; allocated together so sizes stay in step */
        int32_t *prev = tfm_realloc(tok->scratch_prev, tok->scratch_prev ? old * sizeof(int32_t) : 0, cap * sizeof(int32_t));
        if (!prev) return TFM_ERR_OUT_OF_MEMORY;
        tok->scratch_prev = prev;
        int32_t *next = tfm_realloc(tok->scratch_next, tok->scratch_next ? old * sizeof(int32_t) : 0, cap * sizeof(int32_t));
        if (!next) return TFM_ERR_OUT_OF_MEMORY;
        tok->scratch_next = next;
        tok->scratch_capacity = cap;
    }
    return TFM_OK;
}

/* Initial symbols of a piece: one per byte; a byte without a token becomes [UNK] if the vocabulary has
 * one, else is dropped (what Hugging Face's BPE does). Returns the symbol count. */
static size_t initial_symbols(const tfm_bpe *tok, const uint8_t *piece, size_t len, uint32_t *sym) {
    size_t m = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t id = tok->byte_id[piece[i]];
        if (id == TFM_BPE_NONE) id = tok->unk_id;
        if (id != TFM_BPE_NONE) sym[m++] = id;
    }
    return m;
}

/* Merge loop for short pieces: rank[i] is the rank of pair (sym[i], sym[i+1]); each step merges the
 * lowest rank, leftmost. O(m^2) but m is small and everything stays in L1. */
static size_t merge_small(const tfm_bpe *tok, uint32_t *sym, uint32_t *rank, size_t m) {
    uint32_t unused;
    for (size_t i = 0; i + 1 < m; i++) rank[i] = tfm_bpe_merge_rank(tok, sym[i], sym[i + 1], &unused);
    while (m > 1) {
        uint32_t best = TFM_BPE_NONE;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] < best) { best = rank[i]; at = i; }
        if (best == TFM_BPE_NONE) break;
        sym[at] = tok->merges[best].result;
        memmove(sym + at + 1, sym + at + 2, (m - at - 2) * sizeof(uint32_t));
        memmove(rank + at, rank + at + 1, (m - at - 2) * sizeof(uint32_t));
        m--;
        if (at > 0) rank[at - 1] = tfm_bpe_merge_rank(tok, sym[at - 1], sym[at], &unused);
        if (at + 1 < m) rank[at] = tfm_bpe_merge_rank(tok, sym[at], sym[at + 1], &unused);
    }
    return m;
}

/* Min-heap of (rank << 32 | position): lowest rank first, then leftmost. */
static void heap_push(uint64_t *heap, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p] <= v) break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = v;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n) {
    uint64_t top = heap[0], v = heap[--(*n)];
    size_t i = 0, count = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= count) break;
        if (c + 1 < count && heap[c + 1] < heap[c]) c++;
        if (v <= heap[c]) break;
        heap[i] = heap[c];
        i = c;
    }
    if (count) heap[i] = v;
    return top;
}

/* Merge loop for long pieces: linked list of symbols and a heap of candidate pairs, O(m log m). Same
 * order as merge_small. Result compacted into sym[0, return). */
static tfm_status merge_long(tfm_bpe *tok, size_t m, size_t *out_m) {
    uint32_t *sym = tok->scratch_ids;
    int32_t *prev = tok->scratch_prev, *next = tok->scratch_next;
    /* each merge pushes at most two pairs: m - 1 initial + 2 (m - 1) */
    size_t need = 3 * m + 1;
    if (need > tok->heap_capacity) {
        uint64_t *h = tfm_realloc(tok->scratch_heap, tok->heap_capacity * sizeof(uint64_t), need * sizeof(uint64_t));
        if (!h) return TFM_ERR_OUT_OF_MEMORY;
        tok->scratch_heap = h;
        tok->heap_capacity = need;
    }
    uint64_t *heap = tok->scratch_heap;
    size_t hn = 0;
    uint32_t result;
    for (size_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)(i + 1) : -1;
        if (i + 1 < m) {
            uint32_t r = tfm_bpe_merge_rank(tok, sym[i], sym[i + 1], &result);
            if (r != TFM_BPE_NONE) heap_push(heap, &hn, ((uint64_t)r << 32) | i);
        }
    }
    while (hn > 0) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t r = (uint32_t)(top >> 32);
        int32_t i = (int32_t)(uint32_t)top;
        if (sym[i] == TFM_BPE_NONE) continue; /* merged away */
        int32_t j = next[i];
        if (j < 0) continue;
        if (tfm_bpe_merge_rank(tok, sym[i], sym[j], &result) != r) continue; /* stale */
        sym[i] = result;
        sym[j] = TFM_BPE_NONE;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0) {
            uint32_t rp = tfm_bpe_merge_rank(tok, sym[prev[i]], sym[i], &result);
            if (rp != TFM_BPE_NONE) heap_push(heap, &hn, ((uint64_t)rp << 32) | (uint32_t)prev[i]);
        }
        if (next[i] >= 0) {
            uint32_t rn = tfm_bpe_merge_rank(tok, sym[i], sym[next[i]], &result);
            if (rn != TFM_BPE_NONE) heap_push(heap, &hn, ((uint64_t)rn << 32) | (uint32_t)i);
        }
    }
    size_t k = 0;
    for (int32_t i = m ? 0 : -1; i >= 0; i = next[i]) sym[k++] = sym[i];
    *out_m = k;
    return TFM_OK;
}

#define TFM_BPE_SMALL_PIECE 128

static void cache_clear(tfm_bpe *tok) {
    memset(tok->cache, 0, TFM_BPE_CACHE_SLOTS * sizeof *tok->cache);
    tok->cache_used = tok->cache_words_used = tok->cache_ids_used = 0;
}

/* All three parts or none. */
static tfm_status cache_create(tfm_bpe *tok) {
    tfm_bpe_cache_slot *slots = tfm_calloc(TFM_BPE_CACHE_SLOTS, sizeof *slots);
    uint8_t *words = tfm_malloc(TFM_BPE_CACHE_WORDS_BYTES);
    uint32_t *ids = tfm_malloc(TFM_BPE_CACHE_IDS * sizeof(uint32_t));
    if (!slots || !words || !ids) {
        tfm_free(slots, slots ? TFM_BPE_CACHE_SLOTS * sizeof *slots : 0);
        tfm_free(words, words ? TFM_BPE_CACHE_WORDS_BYTES : 0);
        tfm_free(ids, ids ? TFM_BPE_CACHE_IDS * sizeof(uint32_t) : 0);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    tok->cache = slots;
    tok->cache_words = words;
    tok->cache_ids = ids;
    tok->cache_used = tok->cache_words_used = tok->cache_ids_used = 0;
    return TFM_OK;
}

tfm_status tfm_bpe_encode_piece(tfm_bpe *tok, const uint8_t *piece, size_t len, tfm_tokens *out) {
    if (len == 1 && tok->byte_id[piece[0]] != TFM_BPE_NONE) return push_id(out, tok->byte_id[piece[0]]);
    tfm_bpe_cache_slot *slot = NULL;
    uint64_t hash = 0;
    if (len <= TFM_BPE_CACHE_MAX_WORD && !tok->cache) {
        tfm_status st = cache_create(tok);
        if (st) return st;
    }
    if (len <= TFM_BPE_CACHE_MAX_WORD) {
        hash = tfm_bpe_hash_bytes(piece, len) | 1;
        size_t mask = TFM_BPE_CACHE_SLOTS - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask) {
            tfm_bpe_cache_slot *s = &tok->cache[i];
            if (s->hash == 0) { slot = s; break; }
            if (s->hash == hash && s->word_length == len && memcmp(tok->cache_words + s->word_offset, piece, len) == 0)
                return push_ids(out, tok->cache_ids + s->ids_offset, s->id_count);
        }
    }
    tfm_status st = ensure_scratch(tok, len, len > TFM_BPE_SMALL_PIECE);
    if (st) return st;
    size_t m;
    uint32_t whole = TFM_BPE_NONE;
    if (tok->ignore_merges) whole = (uint32_t)tfm_bpe_token_to_id(tok, (const char *)piece, len);
    if (whole != TFM_BPE_NONE) {
        tok->scratch_ids[0] = whole;
        m = 1;
    } else {
        m = initial_symbols(tok, piece, len, tok->scratch_ids);
        if (m <= TFM_BPE_SMALL_PIECE) m = merge_small(tok, tok->scratch_ids, tok->scratch_ranks, m);
        else if ((st = merge_long(tok, m, &m))) return st;
    }
    if (slot) {
        if (tok->cache_used + 1 > TFM_BPE_CACHE_SLOTS / 2 || tok->cache_words_used + len > TFM_BPE_CACHE_WORDS_BYTES ||
            tok->cache_ids_used + m > TFM_BPE_CACHE_IDS) {
            cache_clear(tok); /* bounded memory: start over rather than grow */
        } else {
            memcpy(tok->cache_words + tok->cache_words_used, piece, len);
            memcpy(tok->cache_ids + tok->cache_ids_used, tok->scratch_ids, m * sizeof(uint32_t));
            *slot = (tfm_bpe_cache_slot){hash, (uint32_t)tok->cache_words_used, (uint32_t)tok->cache_ids_used,
                                         (uint16_t)len, (uint16_t)m};
            tok->cache_words_used += len;
            tok->cache_ids_used += m;
            tok->cache_used++;
        }
    }
    return push_ids(out, tok->scratch_ids, m);
}

tfm_status tfm_bpe_encode_piece_reference(const tfm_bpe *tok, const uint8_t *piece, size_t len, tfm_tokens *out) {
    if (len == 0) return TFM_OK;
    if (tok->ignore_merges) {
        int64_t id = tfm_bpe_token_to_id(tok, (const char *)piece, len);
        if (id >= 0) return push_id(out, (uint32_t)id);
    }
    uint32_t *sym = tfm_malloc(len * sizeof(uint32_t));
    if (!sym) return TFM_ERR_OUT_OF_MEMORY;
    size_t m = initial_symbols(tok, piece, len, sym);
    for (;;) {
        uint32_t best = TFM_BPE_NONE, result = 0, r;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            uint32_t res;
            r = tfm_bpe_merge_rank(tok, sym[i], sym[i + 1], &res);
            if (r < best) { best = r; at = i; result = res; }
        }
        if (best == TFM_BPE_NONE) break;
        sym[at] = result;
        for (size_t i = at + 1; i + 1 < m; i++) sym[i] = sym[i + 1];
        m--;
    }
    tfm_status st = push_ids(out, sym, m);
    tfm_free(sym, len * sizeof(uint32_t));
    return st;
}

/* Pre-tokenize text[start, end) and encode each piece; pieces must end at or before `limit` (else
 * encoding stops before them: more text may change them). *stop = where encoding stopped. */
static tfm_status encode_span(tfm_bpe *tok, const uint8_t *s, size_t start, size_t end, size_t limit, tfm_tokens *out,
                              size_t *stop) {
    tfm_status st;
    if (!tok->use_regex) {
        if (limit < end) { *stop = start; return TFM_OK; }
        *stop = end;
        return end > start ? tfm_bpe_encode_piece(tok, s + start, end - start, out) : TFM_OK;
    }
    size_t pos = start;
    const uint8_t *base = s + start;
    size_t n = end - start;
    while (pos < end) {
        size_t e = start + tfm_pretokenize_next(base, n, pos - start);
        if (e > limit) break;
        if ((st = tfm_bpe_encode_piece(tok, s + pos, e - pos, out))) { *stop = pos; return st; }
        pos = e;
    }
    *stop = pos;
    return TFM_OK;
}

/* One segment between added tokens; Hugging Face's ByteLevel(add_prefix_space) prepends a space to
 * every segment that does not start with one. */
static tfm_status encode_segment(tfm_bpe *tok, const uint8_t *s, size_t start, size_t end, size_t limit, int at_start,
                                 tfm_tokens *out, size_t *stop) {
    if (limit < start) { *stop = start; return TFM_OK; }
    if (!(tok->add_prefix_space && at_start && end > start && s[start] != ' '))
        return encode_span(tok, s, start, end, limit, out, stop);
    size_t n = end - start + 1;
    if (n > tok->prefix_capacity) {
        char *p = tfm_realloc(tok->prefix_buffer, tok->prefix_capacity, n);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        tok->prefix_buffer = p;
        tok->prefix_capacity = n;
    }
    tok->prefix_buffer[0] = ' ';
    memcpy(tok->prefix_buffer + 1, s + start, end - start);
    size_t buffer_stop;
    tfm_status st = encode_span(tok, (const uint8_t *)tok->prefix_buffer, 0, n, limit - start + 1, out, &buffer_stop);
    *stop = buffer_stop ? start + buffer_stop - 1 : start;
    return st;
}

/* Leftmost-longest added token in s[pos, len) whose kind is in `mask`: position, id and length. */
static int find_added(const tfm_bpe *tok, const uint8_t *s, size_t pos, size_t len, uint8_t mask, size_t *at,
                      uint32_t *id, size_t *length) {
    for (size_t p = pos; p < len; p++) {
        if (!(tok->added_first_byte[s[p]] & mask)) continue;
        for (size_t i = 0; i < tok->added_count; i++) { /* longest first */
            const tfm_bpe_added *a = &tok->added[i];
            if (!((a->special ? 1 : 2) & mask)) continue;
            size_t n = tok->token_length[a->id];
            if (n <= len - p && memcmp(s + p, tok->token_bytes + tok->token_offset[a->id], n) == 0) {
                *at = p;
                *id = a->id;
                *length = n;
                return 1;
            }
        }
    }
    return 0;
}

tfm_status tfm_bpe_encode(tfm_bpe *tok, const char *text, size_t len, unsigned flags, tfm_tokens *out,
                          size_t *consumed) {
    if (consumed) *consumed = 0;
    if (!tok || !out || (len && !text)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_encode: NULL argument");
    if ((flags & TFM_BPE_PARTIAL) && !consumed)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_encode: TFM_BPE_PARTIAL needs `consumed`");
    const uint8_t *s = (const uint8_t *)text;
    int partial = (flags & TFM_BPE_PARTIAL) != 0;
    uint8_t mask = (uint8_t)(2 | ((flags & TFM_BPE_ALLOW_SPECIAL) ? 1 : 0));
    int any_added = 0;
    for (size_t i = 0; i < tok->added_count; i++) any_added |= ((tok->added[i].special ? 1 : 2) & mask) != 0;
    size_t margin = TFM_PRETOKENIZE_LOOKAHEAD + (any_added ? tok->added_max_length : 0);
    size_t safe = !partial ? len : len > margin ? len - margin : 0;
    size_t pos = 0;
    int at_start = !(flags & TFM_BPE_CONTINUATION);
    tfm_status st = TFM_OK;
    while (pos < len) {
        size_t at = len, n = 0;
        uint32_t id = 0;
        int found = any_added && find_added(tok, s, pos, len, mask, &at, &id, &n);
        /* In partial mode a match is final only if no longer added token could still start before it. */
        if (found && partial && at + tok->added_max_length > len) { found = 0; at = len; }
        size_t stop;
        if (!found && partial) {
            st = encode_segment(tok, s, pos, len, safe, at_start, out, &stop);
            pos = stop;
            break;
        }
        if ((st = encode_segment(tok, s, pos, at, at, at_start, out, &stop))) { pos = stop; break; }
        pos = at;
        if (found) {
            if ((st = push_id(out, id))) break;
            pos = at + n;
            at_start = 1;
        }
    }
    if (consumed) *consumed = pos;
    return st;
}

tfm_status tfm_bpe_decode(const tfm_bpe *tok, const uint32_t *ids, size_t count, int skip_special, char **bytes,
                          size_t *bytes_len, size_t *bytes_capacity) {
    for (size_t i = 0; i < count; i++) {
        uint32_t id = ids[i];
        if (id >= tok->vocab_size || tok->token_length[id] == UINT32_MAX)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "decode: id %u at position %zu is not in the vocabulary (size %u)",
                             id, i, tok->vocab_size);
        if (skip_special && tok->is_special[id] == 1) continue;
        size_t n = tok->token_length[id];
        if (*bytes_len + n > *bytes_capacity) {
            size_t cap = *bytes_capacity ? *bytes_capacity : 256;
            while (cap < *bytes_len + n) cap *= 2;
            char *p = tfm_realloc(*bytes, *bytes_capacity, cap);
            if (!p) return TFM_ERR_OUT_OF_MEMORY;
            *bytes = p;
            *bytes_capacity = cap;
        }
        memcpy(*bytes + *bytes_len, tok->token_bytes + tok->token_offset[id], n);
        *bytes_len += n;
    }
    return TFM_OK;
}
