/* WordPiece (BERT) tokenizer: vocab.txt loading, greedy longest-match-first encoding, sentence pairs, decoding. */
#include "tfm/io.h" /* tfm_file_open_read, tfm_file_check_input */
#include "tfm/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tokenizer/basic_tokenizer.h"
#include "tokenizer/wordpiece_internal.h"

/* ---- Token buffers -------------------------------------------------------------------------------- */

tfm_status tfm_wordpiece_tokens_grow(tfm_tokens *tokens, size_t needed) {
    if (needed <= tokens->capacity) return TFM_OK;
    size_t capacity = tokens->capacity ? tokens->capacity : 256;
    while (capacity < needed) capacity *= 2;
    uint32_t *ids = tfm_realloc(tokens->ids, tokens->capacity * sizeof(uint32_t), capacity * sizeof(uint32_t));
    if (!ids) return TFM_ERR_OUT_OF_MEMORY;
    tokens->ids = ids;
    tokens->capacity = capacity;
    return TFM_OK;
}

static inline tfm_status push_id(tfm_tokens *tokens, uint32_t id) {
    if (tokens->count == tokens->capacity) {
        tfm_status status = tfm_wordpiece_tokens_grow(tokens, tokens->count + 1);
        if (status != TFM_OK) return status;
    }
    tokens->ids[tokens->count++] = id;
    return TFM_OK;
}

/* ---- The vocabulary hash table ------------------------------------------------------------------ */

/* Pieces are keyed by (kind, bytes): kind 1 for a continuation "##xyz" keyed by "xyz", kind 0 for the
 * rest, so that matching a continuation never has to build "##" + substring. */
static inline uint32_t piece_hash(const char *s, size_t n, unsigned kind) {
    uint32_t h = 2166136261u ^ (kind * 0x9E3779B9u);
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static int is_continuation(const char *s, size_t n) { return n > 2 && s[0] == '#' && s[1] == '#'; }

int64_t tfm_wordpiece_lookup(const tfm_wordpiece *tok, const char *s, size_t n, unsigned kind) {
    uint32_t h = piece_hash(s, n, kind);
    size_t mask = tok->slot_count - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t id = tok->slot_ids[i];
        if (id == UINT32_MAX) return -1;
        if (tok->slot_hashes[i] != h) continue;
        const char *p = tok->pool + tok->offsets[id];
        size_t len = tok->lengths[id];
        if (kind) {
            if (len == n + 2 && is_continuation(p, len) && memcmp(p + 2, s, n) == 0) return id;
        } else {
            if (len == n && !is_continuation(p, len) && memcmp(p, s, n) == 0) return id;
        }
    }
}

static tfm_status build_index(tfm_wordpiece *tok) {
    size_t slots = 16;
    while (slots < tok->count * 2 + 16) slots *= 2;
    tok->slot_count = slots;
    tok->slot_ids = tfm_malloc(slots * sizeof(uint32_t));
    tok->slot_hashes = tfm_malloc(slots * sizeof(uint32_t));
    if (!tok->slot_ids || !tok->slot_hashes) return TFM_ERR_OUT_OF_MEMORY;
    memset(tok->slot_ids, 0xFF, slots * sizeof(uint32_t));
    tok->max_initial = tok->max_continuation = 0;
    for (size_t id = 0; id < tok->count; id++) {
        const char *p = tok->pool + tok->offsets[id];
        size_t len = tok->lengths[id];
        unsigned kind = is_continuation(p, len);
        const char *key = kind ? p + 2 : p;
        size_t key_len = kind ? len - 2 : len;
        uint32_t h = piece_hash(key, key_len, kind);
        size_t mask = slots - 1, i = h & mask;
        /* A repeated piece: the later line wins, as in Hugging Face's HashMap insert. */
        for (;; i = (i + 1) & mask) {
            uint32_t other = tok->slot_ids[i];
            if (other == UINT32_MAX) break;
            if (tok->slot_hashes[i] == h && tok->lengths[other] == len &&
                memcmp(tok->pool + tok->offsets[other], p, len) == 0)
                break;
        }
        tok->slot_ids[i] = (uint32_t)id;
        tok->slot_hashes[i] = h;
        if (kind) {
            if (key_len > tok->max_continuation) tok->max_continuation = key_len;
        } else if (key_len > tok->max_initial) {
            tok->max_initial = key_len;
        }
    }
    static const char *const names[TFM_WORDPIECE_SPECIAL_KINDS] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int k = 0; k < TFM_WORDPIECE_SPECIAL_KINDS; k++) {
        tok->special[k] = tfm_wordpiece_lookup(tok, names[k], strlen(names[k]), 0);
    }
    return TFM_OK;
}

/* ---- Creating and freeing ------------------------------------------------------------------------ */

void tfm_wordpiece_free(tfm_wordpiece *tok) {
    if (!tok) return;
    tfm_free(tok->pool, tok->pool_size);
    tfm_free(tok->offsets, (tok->count ? tok->count : 1) * sizeof(uint32_t));
    tfm_free(tok->lengths, (tok->count ? tok->count : 1) * sizeof(uint32_t));
    tfm_free(tok->slot_ids, tok->slot_count * sizeof(uint32_t));
    tfm_free(tok->slot_hashes, tok->slot_count * sizeof(uint32_t));
    tfm_free(tok->scratch_a.ids, tok->scratch_a.capacity * sizeof(uint32_t));
    tfm_free(tok->scratch_b.ids, tok->scratch_b.capacity * sizeof(uint32_t));
    tfm_basic_splitter_release(&tok->splitter);
    tfm_free(tok, sizeof *tok);
}

/* Takes ownership of pool (pool_size bytes holding `count` NUL-terminated pieces back to back). */
tfm_status tfm_wordpiece_create(tfm_wordpiece **out, char *pool, size_t pool_size, size_t count, int lowercase,
                                const char *name) {
    *out = NULL;
    tfm_wordpiece *tok = tfm_calloc(1, sizeof *tok);
    if (!tok) {
        tfm_free(pool, pool_size);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    tok->pool = pool;
    tok->pool_size = pool_size;
    tok->count = count;
    tok->lowercase = lowercase != 0;
    tok->max_chars = 100;
    tok->offsets = tfm_malloc((count ? count : 1) * sizeof(uint32_t));
    tok->lengths = tfm_malloc((count ? count : 1) * sizeof(uint32_t));
    if (!tok->offsets || !tok->lengths) goto oom;
    size_t at = 0;
    for (size_t id = 0; id < count; id++) {
        size_t len = strlen(pool + at);
        tok->offsets[id] = (uint32_t)at;
        tok->lengths[id] = (uint32_t)len;
        at += len + 1;
    }
    if (build_index(tok) != TFM_OK) goto oom;
    unsigned flags = TFM_BASIC_CLEAN_TEXT | TFM_BASIC_CHINESE_CHARS;
    if (lowercase) flags |= TFM_BASIC_STRIP_ACCENTS | TFM_BASIC_LOWERCASE;
    if (!tfm_basic_splitter_init(&tok->splitter, flags, tok->max_chars)) goto oom;
    if (tok->special[TFM_WORDPIECE_UNK] < 0) {
        tfm_wordpiece_free(tok);
        return tfm_error(TFM_ERR_FORMAT, "%s: the vocabulary has no [UNK] token (needed for unknown words)", name);
    }
    *out = tok;
    return TFM_OK;
oom:
    tfm_wordpiece_free(tok);
    return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory building the vocabulary", name);
}

static int valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t before = i;
        int32_t cp = tfm_utf8_decode((const unsigned char *)s, n, &i);
        if (cp == 0xFFFD && !(i - before == 3 && (unsigned char)s[before] == 0xEF)) return 0;
    }
    return 1;
}

tfm_status tfm_wordpiece_load_text(tfm_wordpiece **out, const char *text, size_t len, const char *name,
                                   int lowercase) {
    if (!out || (!text && len)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_load_text: NULL argument");
    *out = NULL;
    if (!name) name = "vocab.txt";
    if (len == 0) return tfm_error(TFM_ERR_FORMAT, "%s: empty vocabulary file", name);
    if (len >= UINT32_MAX / 2) return tfm_error(TFM_ERR_FORMAT, "%s: vocabulary file too large", name);
    /* The pool is the file with each line's trailing whitespace cut and a NUL per line. */
    size_t pool_size = len + 1;
    char *pool = tfm_malloc(pool_size);
    if (!pool) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    size_t count = 0, at = 0, line_start = 0;
    while (line_start < len) {
        const char *nl = memchr(text + line_start, '\n', len - line_start);
        size_t line_end = nl ? (size_t)(nl - text) : len;
        size_t end = line_end;
        while (end > line_start && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r' ||
                                    text[end - 1] == '\v' || text[end - 1] == '\f'))
            end--;
        size_t n = end - line_start;
        if (memchr(text + line_start, '\0', n) || !valid_utf8(text + line_start, n)) {
            tfm_free(pool, pool_size);
            return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: not valid UTF-8 text", name, count + 1);
        }
        memcpy(pool + at, text + line_start, n);
        at += n;
        pool[at++] = '\0';
        count++;
        line_start = line_end + 1;
    }
    return tfm_wordpiece_create(out, pool, pool_size, count, lowercase, name);
}

tfm_status tfm_wordpiece_read_file(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = NULL;
    tfm_status opened = tfm_file_open_read(path, &f); /* a regular file: a FIFO or directory is refused */
    if (opened) return opened;
    size_t capacity = 1 << 16, n = 0;
    char *buf = tfm_malloc(capacity);
    if (!buf) {
        fclose(f);
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (;;) {
        if (n == capacity) {
            char *bigger = tfm_realloc(buf, capacity, capacity * 2);
            if (!bigger) {
                tfm_free(buf, capacity);
                fclose(f);
                return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = bigger;
            capacity *= 2;
        }
        size_t got = fread(buf + n, 1, capacity - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        tfm_free(buf, capacity);
        return tfm_error(TFM_ERR_IO, "%s: read error", path);
    }
    /* Shrink to the exact size so that the caller frees (data, size). */
    char *exact = tfm_malloc(n ? n : 1);
    if (!exact) {
        tfm_free(buf, capacity);
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(exact, buf, n);
    tfm_free(buf, capacity);
    *data = exact;
    *size = n;
    return TFM_OK;
}

tfm_status tfm_wordpiece_load(tfm_wordpiece **out, const char *path, int lowercase) {
    if (!out || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_load: NULL argument");
    *out = NULL;
    char *data;
    size_t size;
    tfm_status status = tfm_wordpiece_read_file(path, &data, &size);
    if (status != TFM_OK) return status;
    status = tfm_wordpiece_load_text(out, data, size, path, lowercase);
    tfm_free(data, size ? size : 1);
    return status;
}

tfm_status tfm_wordpiece_clone(tfm_wordpiece **out, const tfm_wordpiece *tok) {
    if (!out || !tok) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_clone: NULL argument");
    char *pool = tfm_malloc(tok->pool_size);
    if (!pool) return TFM_ERR_OUT_OF_MEMORY;
    memcpy(pool, tok->pool, tok->pool_size);
    return tfm_wordpiece_create(out, pool, tok->pool_size, tok->count, tok->lowercase, "clone");
}

tfm_status tfm_wordpiece_save(const tfm_wordpiece *tok, const char *path) {
    if (!tok || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_save: NULL argument");
    size_t tmp_len = strlen(path) + 16;
    char *tmp = tfm_malloc(tmp_len);
    if (!tmp) return TFM_ERR_OUT_OF_MEMORY;
    snprintf(tmp, tmp_len, "%s.tmp", path);
    tfm_status status = TFM_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        status = tfm_error(TFM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        for (size_t id = 0; id < tok->count; id++) {
            fwrite(tok->pool + tok->offsets[id], 1, tok->lengths[id], f);
            fputc('\n', f);
        }
        int failed = ferror(f);
        if (fclose(f) != 0 || failed) {
            status = tfm_error(TFM_ERR_IO, "%s: write error", tmp);
        } else if (rename(tmp, path) != 0) {
            status = tfm_error(TFM_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        }
        if (status != TFM_OK) remove(tmp);
    }
    tfm_free(tmp, tmp_len);
    return status;
}

/* ---- Encoding -------------------------------------------------------------------------------------- */

/* Greedy longest-match-first on one normalized word: the longest vocabulary piece that starts the rest
 * of the word, "##"-prefixed after the first; if some position matches nothing, the whole word is [UNK]. */
static int encode_word(void *user, const char *w, size_t n, size_t chars) {
    tfm_wordpiece *tok = user;
    tfm_tokens *out = tok->out;
    uint32_t unk = (uint32_t)tok->special[TFM_WORDPIECE_UNK];
    if (chars > tok->max_chars) {
        tok->status = push_id(out, unk);
        return tok->status != TFM_OK;
    }
    size_t mark = out->count, start = 0;
    while (start < n) {
        unsigned kind = start > 0;
        size_t longest = kind ? tok->max_continuation : tok->max_initial;
        size_t end = n - start > longest ? start + longest : n;
        while (end > start && end < n && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        int64_t id = -1;
        while (end > start) {
            id = tfm_wordpiece_lookup(tok, w + start, end - start, kind);
            if (id >= 0) break;
            end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        }
        if (id < 0) {
            out->count = mark;
            tok->status = push_id(out, unk);
            return tok->status != TFM_OK;
        }
        tok->status = push_id(out, (uint32_t)id);
        if (tok->status != TFM_OK) return 1;
        start = end;
    }
    return 0;
}

/* Encode a piece of a stream; returns the bytes consumed (see tfm_basic_split_chunk). */
static tfm_status encode_plain(tfm_wordpiece *tok, const char *text, size_t len, int last, tfm_tokens *out,
                               size_t *consumed) {
    tok->out = out;
    tok->status = TFM_OK;
    size_t used = tfm_basic_split_chunk(&tok->splitter, text, len, last, encode_word, tok);
    tok->out = NULL;
    if (consumed) *consumed = used;
    if (tok->status != TFM_OK) {
        tok->splitter.in_stream = 0;
        return tfm_error(tok->status, "tfm_wordpiece_encode: out of memory");
    }
    return TFM_OK;
}

/* The special token (longest) that text[i..len) starts with: its id and length, or -1. When `partial`
 * is set, also reports (as -2) text that is a proper prefix of a special token and so may become one. */
static int64_t special_at(const tfm_wordpiece *tok, const char *text, size_t len, size_t i, size_t *match_len) {
    int64_t best = -1;
    size_t best_len = 0;
    int prefix = 0;
    for (int k = 0; k < TFM_WORDPIECE_SPECIAL_KINDS; k++) {
        int64_t id = tok->special[k];
        if (id < 0) continue;
        size_t n = tok->lengths[id];
        const char *p = tok->pool + tok->offsets[id];
        if (n <= len - i) {
            if (n > best_len && memcmp(text + i, p, n) == 0) {
                best = id;
                best_len = n;
            }
        } else if (memcmp(text + i, p, len - i) == 0) {
            prefix = 1;
        }
    }
    *match_len = best_len;
    if (best < 0 && prefix) return -2;
    return best;
}

/* With TFM_WORDPIECE_ALLOW_SPECIAL: the text is cut at each literal special token (leftmost, longest
 * first), each piece between them encoded on its own, as the reference's added-token split does. */
static tfm_status encode_with_specials(tfm_wordpiece *tok, const char *text, size_t len, int last, tfm_tokens *out,
                                       size_t *consumed) {
    size_t start = 0, i = 0;
    while (i < len) {
        const char *open = memchr(text + i, '[', len - i);
        if (!open) break;
        i = (size_t)(open - text);
        size_t n;
        int64_t id = special_at(tok, text, len, i, &n);
        if (id == -2 && !last) { /* may be a special token cut by the chunk's end: wait for more text */
            size_t used;
            tfm_status status = encode_plain(tok, text + start, i - start, 0, out, &used);
            if (consumed) *consumed = start + used;
            return status;
        }
        if (id < 0) {
            i++;
            continue;
        }
        tfm_status status = encode_plain(tok, text + start, i - start, 1, out, NULL);
        if (status == TFM_OK) status = push_id(out, (uint32_t)id);
        if (status != TFM_OK) return status;
        i += n;
        start = i;
    }
    size_t used;
    tfm_status status = encode_plain(tok, text + start, len - start, last, out, &used);
    if (consumed) *consumed = start + used;
    return status;
}

tfm_status tfm_wordpiece_encode_chunk(tfm_wordpiece *tok, const char *text, size_t len, unsigned flags, int last,
                                      tfm_tokens *out, size_t *consumed) {
    if (!tok || !out || (!text && len))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_encode: NULL argument");
    if (!text) text = "";
    if (flags & TFM_WORDPIECE_ALLOW_SPECIAL) return encode_with_specials(tok, text, len, last, out, consumed);
    return encode_plain(tok, text, len, last, out, consumed);
}

tfm_status tfm_wordpiece_encode(tfm_wordpiece *tok, const char *text, size_t len, unsigned flags, tfm_tokens *out) {
    if (tok) tok->splitter.in_stream = 0; /* a plain call never continues an unfinished stream */
    return tfm_wordpiece_encode_chunk(tok, text, len, flags, 1, out, NULL);
}

tfm_status tfm_wordpiece_encode_pair(tfm_wordpiece *tok, const char *a, size_t a_len, const char *b, size_t b_len,
                                     unsigned flags, size_t max_length, uint32_t *input_ids,
                                     uint32_t *token_type_ids, uint32_t *attention_mask, size_t *length) {
    if (!tok || !input_ids || (!a && a_len) || (!b && b_len))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_encode_pair: NULL argument");
    const char *need[] = {"[CLS]", "[SEP]", "[PAD]"};
    const int kinds[] = {TFM_WORDPIECE_CLS, TFM_WORDPIECE_SEP, TFM_WORDPIECE_PAD};
    for (int k = 0; k < 3; k++) {
        if (tok->special[kinds[k]] < 0)
            return tfm_error(TFM_ERR_UNSUPPORTED, "tfm_wordpiece_encode_pair: the vocabulary has no %s token", need[k]);
    }
    int pair = b != NULL;
    size_t added = pair ? 3 : 2;
    if (max_length < added)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "tfm_wordpiece_encode_pair: max_length %zu cannot hold the %zu special tokens", max_length,
                         added);
    tok->scratch_a.count = 0;
    tok->scratch_b.count = 0;
    tfm_status status = tfm_wordpiece_encode(tok, a, a_len, flags, &tok->scratch_a);
    if (status == TFM_OK && pair) status = tfm_wordpiece_encode(tok, b, b_len, flags, &tok->scratch_b);
    if (status != TFM_OK) return status;
    size_t budget = max_length - added;
    size_t n1 = tok->scratch_a.count, n2 = pair ? tok->scratch_b.count : 0;
    if (n1 + n2 > budget) {
        if (!pair) {
            n1 = budget;
        } else {
            /* Longest first: the shorter side keeps min(its length, budget / 2) and the longer one the rest;
             * on a tie the second sequence counts as the longer (so it keeps the odd token), as the
             * reference does. */
            if (n1 > n2) {
                size_t kept = n2 < budget / 2 ? n2 : budget / 2;
                n1 = budget - kept;
                n2 = kept;
            } else {
                size_t kept = n1 < budget / 2 ? n1 : budget / 2;
                n2 = budget - kept;
                n1 = kept;
            }
        }
    }
    uint32_t cls = (uint32_t)tok->special[TFM_WORDPIECE_CLS], sep = (uint32_t)tok->special[TFM_WORDPIECE_SEP];
    uint32_t pad = (uint32_t)tok->special[TFM_WORDPIECE_PAD];
    size_t at = 0;
    input_ids[at++] = cls;
    if (n1) memcpy(input_ids + at, tok->scratch_a.ids, n1 * sizeof(uint32_t));
    at += n1;
    input_ids[at++] = sep;
    size_t first_end = at;
    if (pair) {
        if (n2) memcpy(input_ids + at, tok->scratch_b.ids, n2 * sizeof(uint32_t));
        at += n2;
        input_ids[at++] = sep;
    }
    size_t used = at;
    for (; at < max_length; at++) input_ids[at] = pad;
    for (size_t i = 0; i < max_length; i++) {
        if (token_type_ids) token_type_ids[i] = (i >= first_end && i < used) ? 1 : 0;
        if (attention_mask) attention_mask[i] = i < used ? 1 : 0;
    }
    if (length) *length = used;
    return TFM_OK;
}

/* ---- Decoding ------------------------------------------------------------------------------------- */

static tfm_status append_bytes(char **text, size_t *len, size_t *capacity, const char *s, size_t n) {
    if (*len + n + 1 > *capacity) {
        size_t bigger = *capacity ? *capacity : 64;
        while (bigger < *len + n + 1) bigger *= 2;
        char *grown = tfm_realloc(*text, *capacity, bigger);
        if (!grown) return TFM_ERR_OUT_OF_MEMORY;
        *text = grown;
        *capacity = bigger;
    }
    memcpy(*text + *len, s, n);
    *len += n;
    (*text)[*len] = '\0';
    return TFM_OK;
}

/* The reference's cleanup, applied to each (space-prefixed) piece in this order. */
static const char *const cleanup_from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
static const char *const cleanup_to[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};

tfm_status tfm_wordpiece_decode(const tfm_wordpiece *tok, const uint32_t *ids, size_t count, int skip_special,
                                char **text, size_t *text_len, size_t *text_capacity) {
    if (!tok || (!ids && count) || !text || !text_len || !text_capacity)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_decode: NULL argument");
    char piece[512];
    size_t emitted = 0;
    if (!*text) {
        tfm_status status = append_bytes(text, text_len, text_capacity, "", 0);
        if (status != TFM_OK) return tfm_error(status, "tfm_wordpiece_decode: out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        if (ids[i] >= tok->count)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_decode: id %u at position %zu is outside the "
                             "vocabulary (size %zu)", ids[i], i, tok->count);
        if (skip_special && tfm_wordpiece_is_special(tok, ids[i])) continue;
        const char *p = tok->pool + tok->offsets[ids[i]];
        size_t n = tok->lengths[ids[i]];
        size_t m = 0;
        if (emitted > 0 && n >= 2 && p[0] == '#' && p[1] == '#') {
            p += 2;
            n -= 2;
        } else if (emitted > 0) {
            piece[m++] = ' ';
        }
        emitted++;
        if (n + m >= sizeof piece) { /* a very long piece: no cleanup pattern can be a concern for it */
            tfm_status status = append_bytes(text, text_len, text_capacity, piece, m);
            if (status == TFM_OK) status = append_bytes(text, text_len, text_capacity, p, n);
            if (status != TFM_OK) return tfm_error(status, "tfm_wordpiece_decode: out of memory");
            continue;
        }
        memcpy(piece + m, p, n);
        m += n;
        piece[m] = '\0';
        for (size_t r = 0; r < sizeof cleanup_from / sizeof cleanup_from[0]; r++) {
            size_t fl = strlen(cleanup_from[r]), tl = strlen(cleanup_to[r]);
            char *hit;
            size_t from = 0;
            while ((hit = strstr(piece + from, cleanup_from[r])) != NULL) {
                size_t at = (size_t)(hit - piece);
                memmove(piece + at + tl, piece + at + fl, m - at - fl + 1);
                memcpy(piece + at, cleanup_to[r], tl);
                m = m - fl + tl;
                from = at + tl;
            }
        }
        tfm_status status = append_bytes(text, text_len, text_capacity, piece, m);
        if (status != TFM_OK) return tfm_error(status, "tfm_wordpiece_decode: out of memory");
    }
    return TFM_OK;
}

/* ---- Accessors ------------------------------------------------------------------------------------- */

size_t tfm_wordpiece_vocab_size(const tfm_wordpiece *tok) { return tok ? tok->count : 0; }

int64_t tfm_wordpiece_token_to_id(const tfm_wordpiece *tok, const char *token, size_t len) {
    if (!tok || !token) return -1;
    if (is_continuation(token, len)) return tfm_wordpiece_lookup(tok, token + 2, len - 2, 1);
    return tfm_wordpiece_lookup(tok, token, len, 0);
}

const char *tfm_wordpiece_id_to_token(const tfm_wordpiece *tok, uint32_t id, size_t *len) {
    if (!tok || id >= tok->count) return NULL;
    if (len) *len = tok->lengths[id];
    return tok->pool + tok->offsets[id];
}

int tfm_wordpiece_is_special(const tfm_wordpiece *tok, uint32_t id) {
    if (!tok) return 0;
    for (int k = 0; k < TFM_WORDPIECE_SPECIAL_KINDS; k++) {
        if (tok->special[k] == (int64_t)id) return 1;
    }
    return 0;
}

int64_t tfm_wordpiece_unk_id(const tfm_wordpiece *tok) { return tok ? tok->special[TFM_WORDPIECE_UNK] : -1; }
int64_t tfm_wordpiece_cls_id(const tfm_wordpiece *tok) { return tok ? tok->special[TFM_WORDPIECE_CLS] : -1; }
int64_t tfm_wordpiece_sep_id(const tfm_wordpiece *tok) { return tok ? tok->special[TFM_WORDPIECE_SEP] : -1; }
int64_t tfm_wordpiece_pad_id(const tfm_wordpiece *tok) { return tok ? tok->special[TFM_WORDPIECE_PAD] : -1; }
int64_t tfm_wordpiece_mask_id(const tfm_wordpiece *tok) { return tok ? tok->special[TFM_WORDPIECE_MASK] : -1; }
int tfm_wordpiece_lowercase(const tfm_wordpiece *tok) { return tok ? tok->lowercase : 0; }
