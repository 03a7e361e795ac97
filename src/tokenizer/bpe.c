/* Byte-level BPE tokenizer: vocabulary and merge tables, byte alphabet, building, cloning, accessors. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/bpe_internal.h"

/* ---- byte alphabet ---- */

static int byte_is_printable(unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tfm_bpe_byte_to_unicode(uint8_t byte) {
    if (byte_is_printable(byte)) return byte;
    uint32_t n = 0;
    for (unsigned b = 0; b < byte; b++) n += !byte_is_printable(b);
    return 256 + n;
}

int tfm_bpe_unicode_to_byte(uint32_t codepoint) {
    if (codepoint < 256) return byte_is_printable(codepoint) ? (int)codepoint : -1;
    if (codepoint >= 256 + 68) return -1;
    uint32_t n = codepoint - 256;
    for (unsigned b = 0; b < 256; b++)
        if (!byte_is_printable(b) && n-- == 0) return (int)b;
    return -1;
}

long tfm_bpe_spelling_to_bytes(const char *spelled, size_t len, char *dst) {
    const uint8_t *s = (const uint8_t *)spelled;
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        if (s[i] < 0x80) { cp = s[i]; i += 1; }
        else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            cp = ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1; /* every alphabet character is at most U+0143: one or two bytes */
        }
        int b = tfm_bpe_unicode_to_byte(cp);
        if (b < 0) return -1;
        dst[n++] = (char)b;
    }
    return (long)n;
}

size_t tfm_bpe_bytes_to_spelling(const char *bytes, size_t len, char *dst) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = tfm_bpe_byte_to_unicode((uint8_t)bytes[i]);
        if (cp < 0x80) dst[n++] = (char)cp;
        else {
            dst[n++] = (char)(0xC0 | (cp >> 6));
            dst[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return n;
}

/* ---- building ---- */

tfm_status tfm_bpe_create_empty(tfm_bpe **out) {
    *out = NULL;
    tfm_bpe *tok = tfm_calloc(1, sizeof *tok);
    if (!tok) return TFM_ERR_OUT_OF_MEMORY;
    tok->use_regex = 1;
    tok->unk_id = TFM_BPE_NONE;
    for (int b = 0; b < 256; b++) tok->byte_id[b] = TFM_BPE_NONE;
    *out = tok;
    return TFM_OK;
}

static uint64_t token_hash(const char *bytes, size_t len) { return tfm_bpe_hash_bytes((const uint8_t *)bytes, len); }

static uint32_t token_lookup(const tfm_bpe *tok, const char *bytes, size_t len) {
    if (!tok->token_table_capacity) return TFM_BPE_NONE;
    size_t mask = tok->token_table_capacity - 1;
    for (size_t i = token_hash(bytes, len) & mask;; i = (i + 1) & mask) {
        uint32_t id = tok->token_table[i];
        if (id == TFM_BPE_NONE) return TFM_BPE_NONE;
        if (tok->token_length[id] == len && memcmp(tok->token_bytes + tok->token_offset[id], bytes, len) == 0) return id;
    }
}

static tfm_status token_table_insert(tfm_bpe *tok, uint32_t id);

static tfm_status token_table_grow(tfm_bpe *tok) {
    size_t old = tok->token_table_capacity, n = old ? old * 2 : 1024;
    uint32_t *table = tfm_malloc(n * sizeof(uint32_t));
    if (!table) return TFM_ERR_OUT_OF_MEMORY;
    memset(table, 0xFF, n * sizeof(uint32_t));
    uint32_t *old_table = tok->token_table;
    tok->token_table = table;
    tok->token_table_capacity = n;
    for (size_t i = 0; i < old; i++)
        if (old_table[i] != TFM_BPE_NONE) token_table_insert(tok, old_table[i]);
    tfm_free(old_table, old * sizeof(uint32_t));
    return TFM_OK;
}

static tfm_status token_table_insert(tfm_bpe *tok, uint32_t id) {
    size_t mask = tok->token_table_capacity - 1;
    size_t i = token_hash(tok->token_bytes + tok->token_offset[id], tok->token_length[id]) & mask;
    while (tok->token_table[i] != TFM_BPE_NONE) i = (i + 1) & mask;
    tok->token_table[i] = id;
    return TFM_OK;
}

tfm_status tfm_bpe_set_token(tfm_bpe *tok, uint32_t id, const char *bytes, size_t len) {
    if (id >= (1u << 24)) return tfm_error(TFM_ERR_FORMAT, "token id %u is too large (limit 2^24)", id);
    if (len > (1u << 20)) return tfm_error(TFM_ERR_FORMAT, "token %u is %zu bytes long (limit 1 MiB)", id, len);
    if (id >= tok->vocab_size) {
        size_t old = tok->vocab_size, n = old ? old : 256;
        while (n <= id) n *= 2;
        /* Arrays are kept at exactly vocab_size entries after finalize; grow geometrically meanwhile. */
        uint32_t *off = tfm_realloc(tok->token_offset, old * sizeof(uint32_t), n * sizeof(uint32_t));
        if (!off) return TFM_ERR_OUT_OF_MEMORY;
        tok->token_offset = off;
        uint32_t *length = tfm_realloc(tok->token_length, old * sizeof(uint32_t), n * sizeof(uint32_t));
        if (!length) return TFM_ERR_OUT_OF_MEMORY;
        tok->token_length = length;
        for (size_t i = old; i < n; i++) { off[i] = 0; length[i] = UINT32_MAX; }
        tok->vocab_size = (uint32_t)n;
    }
    if (tok->token_length[id] != UINT32_MAX) return tfm_error(TFM_ERR_FORMAT, "token id %u is used twice", id);
    uint32_t other = token_lookup(tok, bytes, len);
    if (other != TFM_BPE_NONE)
        return tfm_error(TFM_ERR_FORMAT, "tokens %u and %u have the same text", other, id);
    if (!tok->token_bytes || tok->token_bytes_length + len > tok->token_bytes_capacity) {
        size_t n = tok->token_bytes_capacity ? tok->token_bytes_capacity : 4096;
        while (n < tok->token_bytes_length + len) n *= 2;
        if (n > UINT32_MAX) return tfm_error(TFM_ERR_FORMAT, "vocabulary text exceeds 4 GiB");
        char *p = tfm_realloc(tok->token_bytes, tok->token_bytes_capacity, n);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        tok->token_bytes = p;
        tok->token_bytes_capacity = n;
    }
    if (len) memcpy(tok->token_bytes + tok->token_bytes_length, bytes, len);
    tok->token_offset[id] = (uint32_t)tok->token_bytes_length;
    tok->token_length[id] = (uint32_t)len;
    tok->token_bytes_length += len;
    /* The table holds at most vocab_size ids (the id-space capacity): keep it at <= 50% load. */
    while (tok->token_table_capacity < 2 * (size_t)tok->vocab_size) {
        tfm_status st = token_table_grow(tok);
        if (st) return st;
    }
    return token_table_insert(tok, id);
}

static size_t merges_capacity(size_t count);

tfm_status tfm_bpe_add_merge(tfm_bpe *tok, uint32_t left, uint32_t right, uint32_t result) {
    size_t cap = merges_capacity(tok->merge_count);
    if (tok->merge_count == cap) { /* full: capacities are 0, 256, 512, ... */
        size_t n = cap ? cap * 2 : 256;
        tfm_bpe_merge *p = tfm_realloc(tok->merges, cap * sizeof *p, n * sizeof *p);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        tok->merges = p;
    }
    tok->merges[tok->merge_count++] = (tfm_bpe_merge){left, right, result};
    return TFM_OK;
}

tfm_status tfm_bpe_add_added(tfm_bpe *tok, uint32_t id, int special) {
    size_t n = tok->added_count;
    tfm_bpe_added *p = tfm_realloc(tok->added, n * sizeof *p, (n + 1) * sizeof *p);
    if (!p) return TFM_ERR_OUT_OF_MEMORY;
    tok->added = p;
    p[n] = (tfm_bpe_added){id, special ? 1 : 0};
    tok->added_count = n + 1;
    return TFM_OK;
}

static size_t merge_slot(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & mask;
}

uint32_t tfm_bpe_merge_rank(const tfm_bpe *tok, uint32_t left, uint32_t right, uint32_t *result) {
    uint64_t key = ((uint64_t)left << 32) | right;
    size_t mask = tok->merge_table_capacity - 1;
    for (size_t i = merge_slot(key, mask);; i = (i + 1) & mask) {
        const tfm_bpe_merge_slot *s = &tok->merge_table[i];
        if (s->key == key) { *result = s->result; return s->rank; }
        if (s->key == UINT64_MAX) return TFM_BPE_NONE;
    }
}

static const tfm_bpe *sort_tok; /* qsort context: only used inside finalize */
static int added_by_length_desc(const void *a, const void *b) {
    const tfm_bpe_added *x = a, *y = b;
    uint32_t lx = sort_tok->token_length[x->id], ly = sort_tok->token_length[y->id];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static size_t merges_capacity(size_t count) {
    if (!count) return 0;
    size_t n = 256;
    while (n < count) n *= 2;
    return n;
}

tfm_status tfm_bpe_finalize(tfm_bpe *tok) {
    /* Shrink the id space to one past the largest set id, exactly. */
    uint32_t size = tok->vocab_size;
    while (size > 0 && tok->token_length[size - 1] == UINT32_MAX) size--;
    if (size == 0) return tfm_error(TFM_ERR_FORMAT, "the vocabulary is empty");
    if (size != tok->vocab_size) {
        uint32_t *off = tfm_realloc(tok->token_offset, tok->vocab_size * sizeof(uint32_t), size * sizeof(uint32_t));
        if (!off) return TFM_ERR_OUT_OF_MEMORY;
        tok->token_offset = off;
        uint32_t *length = tfm_realloc(tok->token_length, tok->vocab_size * sizeof(uint32_t), size * sizeof(uint32_t));
        if (!length) return TFM_ERR_OUT_OF_MEMORY;
        tok->token_length = length;
        tok->vocab_size = size;
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tok->byte_id[b] = token_lookup(tok, &c, 1);
    }
    /* Merge table at <= 50% load. Later duplicates of a pair are ignored (the first rank wins). */
    size_t cap = 16;
    while (cap < 2 * tok->merge_count + 2) cap *= 2;
    tok->merge_table = tfm_malloc(cap * sizeof *tok->merge_table);
    if (!tok->merge_table) return TFM_ERR_OUT_OF_MEMORY;
    tok->merge_table_capacity = cap;
    for (size_t i = 0; i < cap; i++) tok->merge_table[i].key = UINT64_MAX;
    for (size_t r = 0; r < tok->merge_count; r++) {
        const tfm_bpe_merge *m = &tok->merges[r];
        uint64_t key = ((uint64_t)m->left << 32) | m->right;
        size_t i = merge_slot(key, cap - 1);
        while (tok->merge_table[i].key != UINT64_MAX && tok->merge_table[i].key != key) i = (i + 1) & (cap - 1);
        if (tok->merge_table[i].key == key) continue;
        tok->merge_table[i] = (tfm_bpe_merge_slot){key, (uint32_t)r, m->result};
    }
    /* Added tokens: longest first, so that matching is leftmost-longest. */
    tok->is_special = tfm_calloc(tok->vocab_size, 1);
    if (!tok->is_special) return TFM_ERR_OUT_OF_MEMORY;
    memset(tok->added_first_byte, 0, sizeof tok->added_first_byte);
    tok->added_max_length = 0;
    size_t kept = 0;
    for (size_t i = 0; i < tok->added_count; i++) {
        tfm_bpe_added a = tok->added[i];
        if (a.id >= tok->vocab_size || tok->token_length[a.id] == UINT32_MAX)
            return tfm_error(TFM_ERR_FORMAT, "added token id %u has no text", a.id);
        if (tok->token_length[a.id] == 0) return tfm_error(TFM_ERR_FORMAT, "added token id %u is empty", a.id);
        int dup = 0;
        for (size_t j = 0; j < kept; j++) dup |= tok->added[j].id == a.id;
        if (dup) continue;
        tok->added[kept++] = a;
        tok->is_special[a.id] = (uint8_t)(a.special ? 1 : 2);
        uint8_t first = (uint8_t)tok->token_bytes[tok->token_offset[a.id]];
        tok->added_first_byte[first] |= (uint8_t)(a.special ? 1 : 2);
        if (tok->token_length[a.id] > tok->added_max_length) tok->added_max_length = tok->token_length[a.id];
    }
    tok->added_count = kept;
    sort_tok = tok;
    if (kept > 1) qsort(tok->added, kept, sizeof *tok->added, added_by_length_desc);
    sort_tok = NULL;
    /* The word cache is allocated by the first encode call. */
    return TFM_OK;
}

void tfm_bpe_free(tfm_bpe *tok) {
    if (!tok) return;
    size_t vocab = tok->vocab_size;
    tfm_free(tok->token_offset, vocab * sizeof(uint32_t));
    tfm_free(tok->token_length, vocab * sizeof(uint32_t));
    tfm_free(tok->token_bytes, tok->token_bytes_capacity);
    tfm_free(tok->token_table, tok->token_table_capacity * sizeof(uint32_t));
    tfm_free(tok->merges, merges_capacity(tok->merge_count) * sizeof(tfm_bpe_merge));
    tfm_free(tok->merge_table, tok->merge_table_capacity * sizeof(tfm_bpe_merge_slot));
    tfm_free(tok->added, tok->added_count * sizeof(tfm_bpe_added));
    tfm_free(tok->is_special, tok->is_special ? vocab : 0);
    tfm_free(tok->scratch_ids, tok->scratch_capacity * sizeof(uint32_t));
    tfm_free(tok->scratch_ranks, tok->scratch_capacity * sizeof(uint32_t));
    tfm_free(tok->scratch_prev, tok->scratch_capacity * sizeof(int32_t));
    tfm_free(tok->scratch_next, tok->scratch_capacity * sizeof(int32_t));
    tfm_free(tok->scratch_heap, tok->heap_capacity * sizeof(uint64_t));
    tfm_free(tok->prefix_buffer, tok->prefix_capacity);
    tfm_free(tok->cache, tok->cache ? TFM_BPE_CACHE_SLOTS * sizeof *tok->cache : 0);
    tfm_free(tok->cache_words, tok->cache_words ? TFM_BPE_CACHE_WORDS_BYTES : 0);
    tfm_free(tok->cache_ids, tok->cache_ids ? TFM_BPE_CACHE_IDS * sizeof(uint32_t) : 0);
    tfm_free(tok, sizeof *tok);
}

tfm_status tfm_bpe_clone(tfm_bpe **out, const tfm_bpe *src) {
    tfm_bpe *tok;
    tfm_status st = tfm_bpe_create_empty(&tok);
    if (st) return st;
    for (uint32_t id = 0; id < src->vocab_size && !st; id++)
        if (src->token_length[id] != UINT32_MAX)
            st = tfm_bpe_set_token(tok, id, src->token_bytes + src->token_offset[id], src->token_length[id]);
    for (size_t r = 0; r < src->merge_count && !st; r++)
        st = tfm_bpe_add_merge(tok, src->merges[r].left, src->merges[r].right, src->merges[r].result);
    for (size_t i = 0; i < src->added_count && !st; i++) st = tfm_bpe_add_added(tok, src->added[i].id, src->added[i].special);
    tok->add_prefix_space = src->add_prefix_space;
    tok->use_regex = src->use_regex;
    tok->ignore_merges = src->ignore_merges;
    tok->unk_id = src->unk_id;
    if (!st) st = tfm_bpe_finalize(tok);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}

/* ---- accessors ---- */

size_t tfm_bpe_vocab_size(const tfm_bpe *tok) { return tok->vocab_size; }
size_t tfm_bpe_merge_count(const tfm_bpe *tok) { return tok->merge_count; }

int64_t tfm_bpe_token_to_id(const tfm_bpe *tok, const char *token, size_t len) {
    uint32_t id = token_lookup(tok, token, len);
    return id == TFM_BPE_NONE ? -1 : (int64_t)id;
}

const char *tfm_bpe_id_to_token(const tfm_bpe *tok, uint32_t id, size_t *len) {
    if (id >= tok->vocab_size || tok->token_length[id] == UINT32_MAX) { *len = 0; return NULL; }
    *len = tok->token_length[id];
    return tok->token_bytes + tok->token_offset[id];
}

int tfm_bpe_is_special(const tfm_bpe *tok, uint32_t id) {
    return id < tok->vocab_size && tok->is_special && tok->is_special[id] == 1;
}

size_t tfm_bpe_special_count(const tfm_bpe *tok) { return tok->added_count; }

const char *tfm_bpe_special(const tfm_bpe *tok, size_t i, uint32_t *id) {
    if (i >= tok->added_count) return NULL;
    *id = tok->added[i].id;
    return tok->token_bytes + tok->token_offset[*id];
}
