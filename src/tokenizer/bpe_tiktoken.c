/* Byte-level BPE as tiktoken keeps it (a .tiktoken rank file) and GPT-2's own files written out: the two
 * conversions between ranks and merges. */
#include <stdio.h>
#include <string.h>

#include "tfm/io.h"
#include "tokenizer/bpe_internal.h"

/* ---- base64 (RFC 4648, standard alphabet, '=' padding) ---- */

static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode `len` characters into dst (room for 3 * len / 4 bytes). Returns the byte count, -1 if malformed. */
static long base64_decode(const char *src, size_t len, char *dst) {
    if (len == 0 || len % 4) return -1;
    size_t out = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)src[i + k];
            if (c == '=' && i + 4 == len && k >= 2) { v[k] = 0; pad++; continue; }
            if (pad || (v[k] = base64_value(c)) < 0) return -1;
        }
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        dst[out++] = (char)(bits >> 16);
        if (pad < 2) dst[out++] = (char)(bits >> 8 & 0xFF);
        if (pad < 1) dst[out++] = (char)(bits & 0xFF);
    }
    return (long)out;
}

static void base64_encode(const unsigned char *src, size_t len, char *dst) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t bits = (uint32_t)src[i] << 16;
        if (i + 1 < len) bits |= (uint32_t)src[i + 1] << 8;
        if (i + 2 < len) bits |= src[i + 2];
        dst[o++] = alphabet[bits >> 18];
        dst[o++] = alphabet[bits >> 12 & 63];
        dst[o++] = i + 1 < len ? alphabet[bits >> 6 & 63] : '=';
        dst[o++] = i + 2 < len ? alphabet[bits & 63] : '=';
    }
    dst[o] = '\0';
}

/* ---- ranks -> merges ---- */

/* The rank of the concatenation of parts a and b of `word`, if that is a token ranked below `limit`. */
static uint32_t pair_rank(const tfm_bpe *tok, const char *word, const size_t *start, size_t a, uint32_t limit) {
    int64_t id = tfm_bpe_token_to_id(tok, word + start[a], start[a + 2] - start[a]);
    return id >= 0 && (uint32_t)id < limit ? (uint32_t)id : TFM_BPE_NONE;
}

/* tiktoken's rule run on the bytes of token `id` with only the tokens ranked below it: repeatedly join the
 * adjacent pair whose concatenation has the lowest rank. A token made by one merge ends as exactly two parts,
 * which are that merge. `start` has room for length + 1 offsets. */
static tfm_status recover_merge(tfm_bpe *tok, uint32_t id, size_t *start, const char *path) {
    const char *word = tok->token_bytes + tok->token_offset[id];
    size_t length = tok->token_length[id], parts = length;
    for (size_t i = 0; i <= length; i++) start[i] = i;
    while (parts > 2) {
        uint32_t best = TFM_BPE_NONE;
        size_t at = 0;
        for (size_t p = 0; p + 1 < parts; p++) {
            uint32_t r = pair_rank(tok, word, start, p, id);
            if (r < best) { best = r; at = p; }
        }
        if (best == TFM_BPE_NONE) break;
        memmove(start + at + 1, start + at + 2, (parts - at - 1) * sizeof *start);
        parts--;
    }
    int64_t left = parts == 2 ? tfm_bpe_token_to_id(tok, word, start[1]) : -1;
    int64_t right = parts == 2 ? tfm_bpe_token_to_id(tok, word + start[1], length - start[1]) : -1;
    if (left < 0 || right < 0 || (uint32_t)left >= id || (uint32_t)right >= id)
        return tfm_error(TFM_ERR_FORMAT, "%s: the token of rank %u is not the merge of two lower-ranked tokens "
                         "(not a byte-pair rank file)", path, id);
    return tfm_bpe_add_merge(tok, (uint32_t)left, (uint32_t)right, id);
}

/* "BASE64 RANK" lines into tokens with id = rank. */
static tfm_status read_ranks(tfm_bpe *tok, const char *path, const char *text, size_t size) {
    char bytes[1024];
    size_t line = 0;
    for (size_t pos = 0; pos < size;) {
        size_t end = pos;
        while (end < size && text[end] != '\n') end++;
        size_t stop = end > pos && text[end - 1] == '\r' ? end - 1 : end;
        line++;
        const char *s = text + pos, *space = memchr(s, ' ', stop - pos);
        pos = end + 1;
        if (stop == (size_t)(s - text)) continue; /* blank lines, as tiktoken skips them */
        if (!space) return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: expected \"BASE64 RANK\"", path, line);
        size_t b64 = (size_t)(space - s);
        long n = b64 <= 4 * (sizeof bytes / 3) ? base64_decode(s, b64, bytes) : -1;
        if (n < 0) return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: \"%.*s\" is not base64 of at most %zu bytes", path,
                                    line, (int)(b64 < 60 ? b64 : 60), s, sizeof bytes);
        uint64_t rank = 0;
        const char *d = space + 1, *last = text + stop;
        if (d == last) return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: the rank is missing", path, line);
        for (; d < last; d++) {
            if (*d < '0' || *d > '9' || rank >= (1u << 24))
                return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: the rank is not an integer in [0, 2^24)", path, line);
            rank = rank * 10 + (uint64_t)(*d - '0');
        }
        if (rank >= (1u << 24))
            return tfm_error(TFM_ERR_FORMAT, "%s: line %zu: the rank is not an integer in [0, 2^24)", path, line);
        tfm_status st = tfm_bpe_set_token(tok, (uint32_t)rank, bytes, (size_t)n);
        if (st) return tfm_error_prefix(st, "%s: line %zu: ", path, line);
    }
    return TFM_OK;
}

static tfm_status build_from_ranks(tfm_bpe *tok, const char *path, const tfm_bpe_special_token *specials,
                                   size_t special_count) {
    if (tok->vocab_size == 0) return tfm_error(TFM_ERR_FORMAT, "%s: no ranks in the file", path);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (tfm_bpe_token_to_id(tok, &c, 1) < 0)
            return tfm_error(TFM_ERR_FORMAT, "%s: byte 0x%02x has no rank (a byte-level rank file has all 256)", path, b);
    }
    size_t longest = 0;
    for (uint32_t id = 0; id < tok->vocab_size; id++)
        if (tok->token_length[id] != UINT32_MAX && tok->token_length[id] > longest) longest = tok->token_length[id];
    size_t *start = tfm_malloc((longest + 1) * sizeof *start);
    if (!start) return TFM_ERR_OUT_OF_MEMORY;
    tfm_status st = TFM_OK;
    for (uint32_t id = 0; id < tok->vocab_size && !st; id++)
        if (tok->token_length[id] != UINT32_MAX && tok->token_length[id] > 1) st = recover_merge(tok, id, start, path);
    tfm_free(start, (longest + 1) * sizeof *start);
    for (size_t i = 0; i < special_count && !st; i++) {
        st = tfm_bpe_set_token(tok, specials[i].id, specials[i].text, strlen(specials[i].text));
        if (!st) st = tfm_bpe_add_added(tok, specials[i].id, 1);
        if (st) tfm_error_prefix(st, "special token \"%.100s\": ", specials[i].text);
    }
    return st ? st : tfm_bpe_finalize(tok);
}

tfm_status tfm_bpe_load_tiktoken(tfm_bpe **out, const char *path, const tfm_bpe_special_token *specials,
                                 size_t special_count) {
    if (!out || !path || (special_count && !specials))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_load_tiktoken: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    tfm_bpe *tok = NULL;
    if (!(st = tfm_bpe_create_empty(&tok)) && !(st = read_ranks(tok, path, text, size)))
        st = build_from_ranks(tok, path, specials, special_count);
    tfm_free(text, size + 1);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}

/* ---- writers ---- */

/* Every merge must make a token ranked after its parts and after the previous merge's token: then the rank
 * of a token (its id) orders the merges as the merge list does, and a rank file says the same thing. */
static tfm_status check_ids_in_merge_order(const tfm_bpe *tok, const char *path) {
    for (size_t r = 0; r < tok->merge_count; r++) {
        const tfm_bpe_merge *m = &tok->merges[r];
        if (m->result <= m->left || m->result <= m->right || (r && m->result <= tok->merges[r - 1].result))
            return tfm_error(TFM_ERR_UNSUPPORTED, "%s: merge %zu makes token %u, whose id is not above its parts' "
                             "and the previous merge's: a rank file cannot express this tokenizer", path, r, m->result);
    }
    return TFM_OK;
}

tfm_status tfm_bpe_save_tiktoken(const tfm_bpe *tok, const char *path) {
    if (!tok || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_save_tiktoken: NULL argument");
    if (tok->add_prefix_space || !tok->use_regex)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: the tokenizer's pre-tokenizer is not GPT-2's (add_prefix_space or "
                         "no regex), which a rank file cannot record", path);
    tfm_status st = check_ids_in_merge_order(tok, path);
    if (st) return st;
    tfm_atomic_file f;
    if ((st = tfm_atomic_file_open(&f, path))) return st;
    char line[4 * (1024 / 3 + 1) + 32];
    for (uint32_t id = 0; id < tok->vocab_size; id++) {
        size_t n = tok->token_length[id];
        if (n == UINT32_MAX || tok->is_special[id]) continue;
        if (n > 1024) { tfm_atomic_file_abort(&f); return tfm_error(TFM_ERR_UNSUPPORTED, "%s: token %u is over 1 KiB", path, id); }
        base64_encode((const unsigned char *)tok->token_bytes + tok->token_offset[id], n, line);
        size_t len = strlen(line);
        len += (size_t)snprintf(line + len, sizeof line - len, " %u\n", id);
        tfm_atomic_file_write(&f, line, len);
    }
    return tfm_atomic_file_commit(&f);
}

/* The byte-level spelling of token `id` (added tokens as their text) into *buffer, grown as needed. */
static tfm_status spelled(const tfm_bpe *tok, uint32_t id, char **buffer, size_t *capacity, size_t *len) {
    size_t n = tok->token_length[id], need = 2 * n + 1;
    if (need > *capacity) {
        char *p = tfm_realloc(*buffer, *capacity, need);
        if (!p) return TFM_ERR_OUT_OF_MEMORY;
        *buffer = p;
        *capacity = need;
    }
    const char *b = tok->token_bytes + tok->token_offset[id];
    if (tok->is_special[id]) { memcpy(*buffer, b, n); *len = n; }
    else *len = tfm_bpe_bytes_to_spelling(b, n, *buffer);
    return TFM_OK;
}

static void write_json_string(tfm_atomic_file *f, const char *s, size_t len) {
    tfm_atomic_file_write(f, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char escaped[8];
        if (c == '"' || c == '\\') { escaped[0] = '\\'; escaped[1] = (char)c; tfm_atomic_file_write(f, escaped, 2); }
        else if (c < 0x20) tfm_atomic_file_write(f, escaped, (size_t)snprintf(escaped, sizeof escaped, "\\u%04x", c));
        else tfm_atomic_file_write(f, s + i, 1);
    }
    tfm_atomic_file_write(f, "\"", 1);
}

tfm_status tfm_bpe_save_gpt2(const tfm_bpe *tok, const char *encoder_json_path, const char *merges_path) {
    if (!tok || !encoder_json_path || !merges_path)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_save_gpt2: NULL argument");
    if (tok->add_prefix_space || !tok->use_regex)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: the tokenizer's pre-tokenizer is not GPT-2's (add_prefix_space or "
                         "no regex), which GPT-2's files cannot record", encoder_json_path);
    char *a = NULL, *b = NULL;
    size_t a_cap = 0, b_cap = 0, a_len = 0, b_len = 0;
    tfm_atomic_file f;
    tfm_status st = tfm_atomic_file_open(&f, encoder_json_path);
    if (st) return st;
    int first = 1;
    tfm_atomic_file_write(&f, "{", 1);
    for (uint32_t id = 0; id < tok->vocab_size && !st; id++) {
        if (tok->token_length[id] == UINT32_MAX) continue;
        if ((st = spelled(tok, id, &a, &a_cap, &a_len))) break;
        if (!first) tfm_atomic_file_write(&f, ", ", 2);
        write_json_string(&f, a, a_len);
        char number[16];
        tfm_atomic_file_write(&f, number, (size_t)snprintf(number, sizeof number, ": %u", id));
        first = 0;
    }
    tfm_atomic_file_write(&f, "}", 1);
    if (st) tfm_atomic_file_abort(&f);
    else st = tfm_atomic_file_commit(&f);
    if (!st && !(st = tfm_atomic_file_open(&f, merges_path))) {
        tfm_atomic_file_write(&f, "#version: 0.2\n", 14);
        for (size_t r = 0; r < tok->merge_count && !st; r++) {
            if ((st = spelled(tok, tok->merges[r].left, &a, &a_cap, &a_len)) ||
                (st = spelled(tok, tok->merges[r].right, &b, &b_cap, &b_len)))
                break;
            if (memchr(a, ' ', a_len) || memchr(b, ' ', b_len)) {
                st = tfm_error(TFM_ERR_UNSUPPORTED, "%s: merge %zu has a part with a space, which a merges file "
                               "cannot hold (use tokenizer.json)", merges_path, r);
                break;
            }
            tfm_atomic_file_write(&f, a, a_len);
            tfm_atomic_file_write(&f, " ", 1);
            tfm_atomic_file_write(&f, b, b_len);
            tfm_atomic_file_write(&f, "\n", 1);
        }
        if (st) tfm_atomic_file_abort(&f);
        else st = tfm_atomic_file_commit(&f);
    }
    tfm_free(a, a_cap);
    tfm_free(b, b_cap);
    return st;
}
