/* Byte-level BPE training: count pre-tokenized words, then merge the most frequent adjacent pair until the vocabulary is full. */
#include <string.h>

#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretokenize.h"

/* ---- word counts ---- */

typedef struct word_slot {
    uint64_t hash;    /* 0 = empty */
    uint64_t count;
    uint32_t offset;  /* into trainer->bytes */
    uint32_t length;
} word_slot;

struct tfm_bpe_trainer {
    word_slot *slots;
    size_t slot_capacity, used;
    uint8_t *bytes;
    size_t bytes_length, bytes_capacity;
};

tfm_status tfm_bpe_trainer_create(tfm_bpe_trainer **out) {
    *out = NULL;
    tfm_bpe_trainer *t = tfm_calloc(1, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    t->slot_capacity = 1 << 14;
    t->slots = tfm_calloc(t->slot_capacity, sizeof *t->slots);
    if (!t->slots) { tfm_free(t, sizeof *t); return TFM_ERR_OUT_OF_MEMORY; }
    *out = t;
    return TFM_OK;
}

void tfm_bpe_trainer_free(tfm_bpe_trainer *t) {
    if (!t) return;
    tfm_free(t->slots, t->slot_capacity * sizeof *t->slots);
    tfm_free(t->bytes, t->bytes_capacity);
    tfm_free(t, sizeof *t);
}

static tfm_status word_table_grow(tfm_bpe_trainer *t) {
    size_t n = t->slot_capacity * 2;
    word_slot *slots = tfm_calloc(n, sizeof *slots);
    if (!slots) return TFM_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < t->slot_capacity; i++) {
        if (!t->slots[i].hash) continue;
        size_t j = t->slots[i].hash & (n - 1);
        while (slots[j].hash) j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
    }
    tfm_free(t->slots, t->slot_capacity * sizeof *t->slots);
    t->slots = slots;
    t->slot_capacity = n;
    return TFM_OK;
}

static tfm_status count_word(tfm_bpe_trainer *t, const uint8_t *w, size_t len) {
    uint64_t h = tfm_bpe_hash_bytes(w, len) | 1;
    size_t mask = t->slot_capacity - 1;
    size_t i = h & mask;
    for (;; i = (i + 1) & mask) {
        word_slot *s = &t->slots[i];
        if (!s->hash) break;
        if (s->hash == h && s->length == len && memcmp(t->bytes + s->offset, w, len) == 0) { s->count++; return TFM_OK; }
    }
    if (t->bytes_length + len > t->bytes_capacity) {
        size_t n = t->bytes_capacity ? t->bytes_capacity : 1 << 16;
        while (n < t->bytes_length + len) n *= 2;
        if (n > UINT32_MAX) return tfm_error(TFM_ERR_UNSUPPORTED, "BPE training: more than 4 GiB of distinct words");
        uint8_t *p = tfm_realloc(t->bytes, t->bytes_capacity, n);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        t->bytes = p;
        t->bytes_capacity = n;
    }
    memcpy(t->bytes + t->bytes_length, w, len);
    t->slots[i] = (word_slot){h, 1, (uint32_t)t->bytes_length, (uint32_t)len};
    t->bytes_length += len;
    if (++t->used * 2 > t->slot_capacity) return word_table_grow(t);
    return TFM_OK;
}

tfm_status tfm_bpe_trainer_add_text(tfm_bpe_trainer *t, const char *text, size_t len) {
    if (!t || (len && !text)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_trainer_add_text: NULL argument");
    const uint8_t *s = (const uint8_t *)text;
    for (size_t pos = 0; pos < len;) {
        size_t end = tfm_pretokenize_next(s, len, pos);
        if (end - pos > (1u << 16)) {
            /* A single piece this long (e.g. a megabyte of one letter) is left out of training. */
            pos = end;
            continue;
        }
        tfm_status st = count_word(t, s + pos, end - pos);
        if (st) return st;
        pos = end;
    }
    return TFM_OK;
}

/* ---- pairs ---- */

typedef struct pair_info {
    uint32_t left, right;
    int64_t count;
    uint32_t *where;   /* words that contain (or contained) the pair; may hold stale entries */
    uint32_t where_count, where_capacity;
    uint32_t pushed_step; /* last step at which this pair was queued for a heap push */
} pair_info;

typedef struct heap_entry {
    int64_t count;
    uint32_t pair;
} heap_entry;

typedef struct train_state {
    pair_info *pairs;
    size_t pair_count, pair_capacity;
    uint32_t *pair_table; /* open addressing, pair index + 1; 0 = empty */
    size_t table_capacity;
    heap_entry *heap;
    size_t heap_count, heap_capacity;
    uint32_t *touched;
    size_t touched_count, touched_capacity;
} train_state;

static size_t pair_hash(uint32_t l, uint32_t r, size_t mask) {
    uint64_t h = (((uint64_t)l << 32) | r) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31)) & mask;
}

static tfm_status pair_table_grow(train_state *s) {
    size_t n = s->table_capacity ? s->table_capacity * 2 : 1 << 16;
    uint32_t *t = tfm_calloc(n, sizeof *t);
    if (!t) return TFM_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < s->pair_count; i++) {
        size_t j = pair_hash(s->pairs[i].left, s->pairs[i].right, n - 1);
        while (t[j]) j = (j + 1) & (n - 1);
        t[j] = (uint32_t)i + 1;
    }
    tfm_free(s->pair_table, s->table_capacity * sizeof *t);
    s->pair_table = t;
    s->table_capacity = n;
    return TFM_OK;
}

/* Index of pair (l, r), created with count 0 if new. */
static tfm_status pair_get(train_state *s, uint32_t l, uint32_t r, uint32_t *index) {
    size_t mask = s->table_capacity - 1;
    size_t j = pair_hash(l, r, mask);
    for (; s->pair_table[j]; j = (j + 1) & mask) {
        pair_info *p = &s->pairs[s->pair_table[j] - 1];
        if (p->left == l && p->right == r) { *index = s->pair_table[j] - 1; return TFM_OK; }
    }
    if (s->pair_count == s->pair_capacity) {
        size_t n = s->pair_capacity ? s->pair_capacity * 2 : 1 << 14;
        pair_info *p = tfm_realloc(s->pairs, s->pair_capacity * sizeof *p, n * sizeof *p);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        s->pairs = p;
        s->pair_capacity = n;
    }
    *index = (uint32_t)s->pair_count;
    s->pairs[s->pair_count++] = (pair_info){l, r, 0, NULL, 0, 0, UINT32_MAX};
    s->pair_table[j] = *index + 1;
    if (s->pair_count * 2 > s->table_capacity) return pair_table_grow(s);
    return TFM_OK;
}

static tfm_status pair_add_word(pair_info *p, uint32_t word) {
    if (p->where_count && p->where[p->where_count - 1] == word) return TFM_OK;
    if (p->where_count == p->where_capacity) {
        uint32_t n = p->where_capacity ? p->where_capacity * 2 : 4;
        uint32_t *w = tfm_realloc(p->where, p->where_capacity * sizeof *w, n * sizeof *w);
        if (!w) return TFM_ERR_OUT_OF_MEMORY;
        p->where = w;
        p->where_capacity = n;
    }
    p->where[p->where_count++] = word;
    return TFM_OK;
}

/* Heap order: higher count first; ties to the smaller (left, right). */
static int heap_before(const train_state *s, heap_entry a, heap_entry b) {
    if (a.count != b.count) return a.count > b.count;
    const pair_info *x = &s->pairs[a.pair], *y = &s->pairs[b.pair];
    if (x->left != y->left) return x->left < y->left;
    return x->right < y->right;
}

static tfm_status heap_push(train_state *s, heap_entry e) {
    if (s->heap_count == s->heap_capacity) {
        size_t n = s->heap_capacity ? s->heap_capacity * 2 : 1 << 14;
        heap_entry *h = tfm_realloc(s->heap, s->heap_capacity * sizeof *h, n * sizeof *h);
        if (!h) return TFM_ERR_OUT_OF_MEMORY;
        s->heap = h;
        s->heap_capacity = n;
    }
    size_t i = s->heap_count++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(s, e, s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return TFM_OK;
}

static heap_entry heap_pop(train_state *s) {
    heap_entry top = s->heap[0], e = s->heap[--s->heap_count];
    size_t i = 0, n = s->heap_count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(s, s->heap[c + 1], s->heap[c])) c++;
        if (!heap_before(s, s->heap[c], e)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = e;
    return top;
}

/* Adjust pair (l, r) by delta for word w; pairs that gain are remembered for a heap push. */
static tfm_status pair_change(train_state *s, uint32_t l, uint32_t r, int64_t delta, uint32_t w, uint32_t step) {
    uint32_t index;
    tfm_status st = pair_get(s, l, r, &index);
    if (st) return st;
    pair_info *p = &s->pairs[index];
    p->count += delta;
    if (delta > 0) {
        if ((st = pair_add_word(p, w))) return st;
        if (p->pushed_step != step) {
            p->pushed_step = step;
            if (s->touched_count == s->touched_capacity) {
                size_t n = s->touched_capacity ? s->touched_capacity * 2 : 1024;
                uint32_t *t = tfm_realloc(s->touched, s->touched_capacity * sizeof *t, n * sizeof *t);
                if (!t) return TFM_ERR_OUT_OF_MEMORY;
                s->touched = t;
                s->touched_capacity = n;
            }
            s->touched[s->touched_count++] = index;
        }
    }
    return TFM_OK;
}

static void train_state_free(train_state *s) {
    for (size_t i = 0; i < s->pair_count; i++) tfm_free(s->pairs[i].where, s->pairs[i].where_capacity * sizeof(uint32_t));
    tfm_free(s->pairs, s->pair_capacity * sizeof *s->pairs);
    tfm_free(s->pair_table, s->table_capacity * sizeof *s->pair_table);
    tfm_free(s->heap, s->heap_capacity * sizeof *s->heap);
    tfm_free(s->touched, s->touched_capacity * sizeof *s->touched);
}

static int valid_utf8(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        size_t k = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++) if ((p[i + j] & 0xC0) != 0x80) return 0;
        if (k == 3 && ((b == 0xE0 && p[i + 1] < 0xA0) || (b == 0xED && p[i + 1] > 0x9F))) return 0;
        if (k == 4 && ((b == 0xF0 && p[i + 1] < 0x90) || (b == 0xF4 && p[i + 1] > 0x8F))) return 0;
        i += k;
    }
    return 1;
}

/* The 256 byte tokens in the order of their byte-level spelling's code point (what Hugging Face's
 * trainer does: its alphabet is sorted by character), i.e. GPT-2's own order. */
static void byte_order(uint8_t order[256]) {
    int n = 0;
    for (uint32_t cp = 0; cp < 256 + 68; cp++) {
        int b = tfm_bpe_unicode_to_byte(cp);
        if (b >= 0) order[n++] = (uint8_t)b;
    }
}

tfm_status tfm_bpe_trainer_finish(tfm_bpe_trainer *t, const tfm_bpe_train_options *o, tfm_bpe **out) {
    if (!t || !o || !out) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_trainer_finish: NULL argument");
    *out = NULL;
    if (o->special_count && !o->special_tokens)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BPE training: special_tokens is NULL");
    if (o->vocab_size < 256 + o->special_count || o->vocab_size > (1u << 24))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BPE training: vocab_size %zu must be in [256 + %zu special tokens, 2^24]",
                         o->vocab_size, o->special_count);
    uint64_t min_frequency = o->min_frequency ? o->min_frequency : 1;
    tfm_bpe *tok;
    tfm_status st = tfm_bpe_create_empty(&tok);
    if (st) return st;
    train_state s = {0};
    uint32_t *symbols = NULL, *word_offset = NULL, *word_length = NULL, *stamp = NULL;
    uint64_t *word_count = NULL;
    size_t words = t->used, symbol_total = t->bytes_length;
    uint32_t next_id = 0;
    for (size_t i = 0; i < o->special_count; i++) {
        const char *sp = o->special_tokens[i];
        size_t n = sp ? strlen(sp) : 0;
        if (!n || !valid_utf8(sp, n)) {
            st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "BPE training: special token %zu is empty or not valid UTF-8", i);
            goto done;
        }
        if (n == 1) {
            st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "BPE training: special token \"%s\" is a single byte, already a token", sp);
            goto done;
        }
        if ((st = tfm_bpe_set_token(tok, next_id, sp, n))) {
            st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "BPE training: special token \"%s\" is given twice", sp);
            goto done;
        }
        if ((st = tfm_bpe_add_added(tok, next_id, 1))) goto done;
        next_id++;
    }
    uint8_t order[256];
    byte_order(order);
    for (int i = 0; i < 256; i++) {
        char c = (char)order[i];
        if ((st = tfm_bpe_set_token(tok, next_id++, &c, 1))) goto done;
    }
    uint32_t byte_token[256];
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        byte_token[b] = (uint32_t)tfm_bpe_token_to_id(tok, &c, 1);
    }
    /* Words as symbol sequences. */
    symbols = tfm_malloc((symbol_total ? symbol_total : 1) * sizeof *symbols);
    word_offset = tfm_malloc((words ? words : 1) * sizeof *word_offset);
    word_length = tfm_malloc((words ? words : 1) * sizeof *word_length);
    word_count = tfm_malloc((words ? words : 1) * sizeof *word_count);
    stamp = tfm_malloc((words ? words : 1) * sizeof *stamp);
    if (!symbols || !word_offset || !word_length || !word_count || !stamp) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    if ((st = pair_table_grow(&s))) goto done;
    size_t w = 0, filled = 0;
    for (size_t i = 0; i < t->slot_capacity; i++) {
        const word_slot *ws = &t->slots[i];
        if (!ws->hash) continue;
        word_offset[w] = (uint32_t)filled;
        word_length[w] = ws->length;
        word_count[w] = ws->count;
        stamp[w] = UINT32_MAX;
        for (uint32_t k = 0; k < ws->length; k++) symbols[filled + k] = byte_token[t->bytes[ws->offset + k]];
        for (uint32_t k = 0; k + 1 < ws->length; k++)
            if ((st = pair_change(&s, symbols[filled + k], symbols[filled + k + 1], (int64_t)ws->count, (uint32_t)w, 0)))
                goto done;
        filled += ws->length;
        w++;
    }
    for (size_t i = 0; i < s.touched_count; i++)
        if ((st = heap_push(&s, (heap_entry){s.pairs[s.touched[i]].count, s.touched[i]}))) goto done;
    s.touched_count = 0;

    char *joined = NULL;
    size_t joined_cap = 0;
    for (uint32_t step = 1; next_id < o->vocab_size && s.heap_count > 0;) {
        heap_entry top = heap_pop(&s);
        pair_info *p = &s.pairs[top.pair];
        if (top.count != p->count) { /* stale: re-queue with the current count */
            if (p->count > 0 && (st = heap_push(&s, (heap_entry){p->count, top.pair}))) break;
            continue;
        }
        if (p->count <= 0 || (uint64_t)p->count < min_frequency) break;
        uint32_t a = p->left, b = p->right;
        size_t la, lb;
        const char *ta = tfm_bpe_id_to_token(tok, a, &la), *tb = tfm_bpe_id_to_token(tok, b, &lb);
        if (la + lb > joined_cap) {
            size_t n = (la + lb) * 2;
            char *j = tfm_realloc(joined, joined_cap, n);
            if (!j) { st = TFM_ERR_OUT_OF_MEMORY; break; }
            joined = j;
            joined_cap = n;
        }
        memcpy(joined, ta, la);
        memcpy(joined + la, tb, lb);
        int64_t existing = tfm_bpe_token_to_id(tok, joined, la + lb);
        uint32_t c = existing >= 0 ? (uint32_t)existing : next_id;
        if (existing < 0) {
            if ((st = tfm_bpe_set_token(tok, c, joined, la + lb))) break;
            next_id++;
        }
        if ((st = tfm_bpe_add_merge(tok, a, b, c))) break;
        /* Merge (a, b) -> c in every word that holds it, left to right, and update the neighbours' pairs
         * (Hugging Face's Word::merge). `where` may grow while we walk it (c's pairs are new), so copy
         * its length first; pair pointers are re-fetched because pair_change may reallocate. */
        uint32_t where_count = p->where_count;
        for (uint32_t k = 0; k < where_count && !st; k++) {
            uint32_t word = s.pairs[top.pair].where[k];
            if (stamp[word] == step) continue;
            stamp[word] = step;
            uint32_t *sym = symbols + word_offset[word];
            uint32_t n = word_length[word];
            int64_t wc = (int64_t)word_count[word];
            uint32_t i = 0, m = 0; /* read index, write index */
            while (i < n && !st) {
                if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                    if (m > 0) {
                        st = pair_change(&s, sym[m - 1], a, -wc, word, step);
                        if (!st) st = pair_change(&s, sym[m - 1], c, wc, word, step);
                    }
                    if (!st && i + 2 < n) {
                        st = pair_change(&s, b, sym[i + 2], -wc, word, step);
                        if (!st) st = pair_change(&s, c, sym[i + 2], wc, word, step);
                    }
                    s.pairs[top.pair].count -= wc;
                    sym[m++] = c;
                    i += 2;
                } else {
                    sym[m++] = sym[i++];
                }
            }
            word_length[word] = m;
        }
        if (st) break;
        /* (a, b) is gone everywhere; a pair like (c, a) may have been counted down and up again.
         * Queue every pair that gained. */
        s.pairs[top.pair].count = 0;
        for (size_t i = 0; i < s.touched_count && !st; i++) {
            pair_info *q = &s.pairs[s.touched[i]];
            if (q->count > 0) st = heap_push(&s, (heap_entry){q->count, s.touched[i]});
        }
        s.touched_count = 0;
        step++;
    }
    tfm_free(joined, joined_cap);
    if (st) goto done;
    st = tfm_bpe_finalize(tok);
done:
    train_state_free(&s);
    tfm_free(symbols, (symbol_total ? symbol_total : 1) * sizeof *symbols);
    tfm_free(word_offset, (words ? words : 1) * sizeof *word_offset);
    tfm_free(word_length, (words ? words : 1) * sizeof *word_length);
    tfm_free(word_count, (words ? words : 1) * sizeof *word_count);
    tfm_free(stamp, (words ? words : 1) * sizeof *stamp);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}

tfm_status tfm_bpe_train(tfm_bpe **out, const char *const *texts, const size_t *lengths, size_t text_count,
                         const tfm_bpe_train_options *options) {
    if (!out || (text_count && (!texts || !lengths)))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_train: NULL argument");
    tfm_bpe_trainer *t;
    tfm_status st = tfm_bpe_trainer_create(&t);
    for (size_t i = 0; !st && i < text_count; i++) st = tfm_bpe_trainer_add_text(t, texts[i], lengths[i]);
    if (!st) st = tfm_bpe_trainer_finish(t, options, out);
    tfm_bpe_trainer_free(t);
    return st;
}
