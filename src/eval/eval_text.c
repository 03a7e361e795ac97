/* eval/eval_text.c: UTF-8 <-> code points, Python's whitespace / rstrip / split / lower, and a token interner. */
#include "eval/eval_text.h"

#include <string.h>
#include <utf8proc.h>

void eval_text_free(eval_text *text) {
    tfm_free(text->cp, text->capacity * sizeof *text->cp);
    memset(text, 0, sizeof *text);
}

tfm_status eval_text_reserve(eval_text *text, size_t capacity) {
    if (capacity <= text->capacity) return TFM_OK;
    size_t grown = text->capacity ? text->capacity * 2 : 64;
    if (grown < capacity) grown = capacity;
    uint32_t *cp = tfm_realloc(text->cp, text->capacity * sizeof *cp, grown * sizeof *cp);
    if (!cp) return TFM_ERR_OUT_OF_MEMORY;
    text->cp = cp;
    text->capacity = grown;
    return TFM_OK;
}

tfm_status eval_text_push(eval_text *text, uint32_t cp) {
    if (text->count == text->capacity) {
        tfm_status st = eval_text_reserve(text, text->count + 1);
        if (st) return st;
    }
    text->cp[text->count++] = cp;
    return TFM_OK;
}

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0 if the bytes there are not a
 * well-formed sequence (overlong forms, surrogates and values above U+10FFFF are invalid, as in Python). */
static int decode_one(const unsigned char *s, uint32_t *cp) {
    unsigned char b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    int len;
    uint32_t value, min;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; value = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; value = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; value = b & 0x07; min = 0x10000; }
    else return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
        value = (value << 6) | (s[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
    *cp = value;
    return len;
}

tfm_status eval_text_decode(eval_text *text, const char *utf8) {
    size_t bytes = strlen(utf8);
    text->count = 0;
    tfm_status st = eval_text_reserve(text, bytes + 1);
    if (st) return st;
    const unsigned char *s = (const unsigned char *)utf8;
    size_t i = 0;
    while (i < bytes) {
        uint32_t cp;
        int len = decode_one(s + i, &cp);
        if (len == 0) { cp = 0xDC00u + s[i]; len = 1; } /* surrogateescape */
        text->cp[text->count++] = cp;
        i += (size_t)len;
    }
    return TFM_OK;
}

tfm_status eval_text_encode(const eval_text *text, char **out) {
    size_t bytes = 0;
    for (size_t i = 0; i < text->count; i++) {
        uint32_t c = text->cp[i];
        bytes += (c >= 0xDC80 && c <= 0xDCFF) ? 1 : c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    char *s = tfm_malloc(bytes + 1);
    if (!s) return TFM_ERR_OUT_OF_MEMORY;
    size_t o = 0;
    for (size_t i = 0; i < text->count; i++) {
        uint32_t c = text->cp[i];
        if (c >= 0xDC80 && c <= 0xDCFF) s[o++] = (char)(c - 0xDC00);
        else if (c < 0x80) s[o++] = (char)c;
        else if (c < 0x800) { s[o++] = (char)(0xC0 | (c >> 6)); s[o++] = (char)(0x80 | (c & 0x3F)); }
        else if (c < 0x10000) {
            s[o++] = (char)(0xE0 | (c >> 12)); s[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); s[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            s[o++] = (char)(0xF0 | (c >> 18)); s[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            s[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); s[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    s[o] = '\0';
    *out = s;
    return TFM_OK;
}

int eval_is_space(uint32_t c) {
    /* Python's str.isspace(): bidirectional class WS, B or S, or general category Zs. */
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

void eval_text_rstrip(eval_text *text) {
    while (text->count > 0 && eval_is_space(text->cp[text->count - 1])) text->count--;
}

void eval_text_remove_spaces(eval_text *text) {
    size_t o = 0;
    for (size_t i = 0; i < text->count; i++)
        if (!eval_is_space(text->cp[i])) text->cp[o++] = text->cp[i];
    text->count = o;
}

/* Python's _PyUnicode_IsCased: Lowercase or Uppercase property, or title case. */
static int is_cased(uint32_t c) {
    if (c >= 0x110000) return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c || utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* Python's _PyUnicode_IsCaseIgnorable: Word_Break MidLetter / MidNumLet / Single_Quote, or Mn Me Cf Lm Sk. */
static int is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default: break;
    }
    if (c >= 0x110000) return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

/* Python lowers U+03A3 to final sigma when a cased letter precedes it and none follows it
 * (case-ignorable characters skipped on both sides). */
static uint32_t lower_sigma(const uint32_t *cp, size_t count, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(cp[j - 1])) j--;
    if (j == 0 || !is_cased(cp[j - 1])) return 0x3C3;
    j = i + 1;
    while (j < count && is_case_ignorable(cp[j])) j++;
    return (j == count || !is_cased(cp[j])) ? 0x3C2 : 0x3C3;
}

tfm_status eval_text_lower(eval_text *text) {
    size_t extra = 0;
    for (size_t i = 0; i < text->count; i++) extra += text->cp[i] == 0x130;
    uint32_t *src = NULL;
    size_t n = text->count;
    if (extra) {
        /* U+0130 lowers to two code points: work from a copy. */
        src = tfm_malloc(n * sizeof *src);
        if (!src) return TFM_ERR_OUT_OF_MEMORY;
        memcpy(src, text->cp, n * sizeof *src);
        tfm_status st = eval_text_reserve(text, n + extra);
        if (st) { tfm_free(src, n * sizeof *src); return st; }
    }
    const uint32_t *in = src ? src : text->cp;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i], lower;
        if (c == 0x130) { text->cp[o++] = 0x69; text->cp[o++] = 0x307; continue; }
        if (c == 0x3A3) lower = lower_sigma(in, n, i);
        else if (c < 0x80) lower = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        else if (c >= 0x110000 || (c >= 0xD800 && c <= 0xDFFF)) lower = c;
        else lower = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        text->cp[o++] = lower;
    }
    text->count = o;
    if (src) tfm_free(src, n * sizeof *src);
    return TFM_OK;
}

void eval_tokens_free(eval_tokens *tokens) {
    tfm_free(tokens->span, tokens->capacity * sizeof *tokens->span);
    memset(tokens, 0, sizeof *tokens);
}

tfm_status eval_tokens_push(eval_tokens *tokens, size_t start, size_t length) {
    if (tokens->count == tokens->capacity) {
        size_t old = tokens->capacity, grown = old ? old * 2 : 64;
        eval_span *span = tfm_realloc(tokens->span, old * sizeof *span, grown * sizeof *span);
        if (!span) return TFM_ERR_OUT_OF_MEMORY;
        tokens->span = span;
        tokens->capacity = grown;
    }
    tokens->span[tokens->count].start = start;
    tokens->span[tokens->count].length = length;
    tokens->count++;
    return TFM_OK;
}

tfm_status eval_text_split(const eval_text *text, eval_tokens *tokens) {
    tokens->count = 0;
    size_t i = 0;
    while (i < text->count) {
        while (i < text->count && eval_is_space(text->cp[i])) i++;
        if (i == text->count) break;
        size_t start = i;
        while (i < text->count && !eval_is_space(text->cp[i])) i++;
        tfm_status st = eval_tokens_push(tokens, start, i - start);
        if (st) return st;
    }
    return TFM_OK;
}

void eval_interner_free(eval_interner *in) {
    tfm_free(in->keys, in->keys_capacity * sizeof *in->keys);
    tfm_free(in->span, in->ids_capacity * sizeof *in->span);
    tfm_free(in->slots, in->slots_count * sizeof *in->slots);
    memset(in, 0, sizeof *in);
}

static uint64_t hash_code_points(const uint32_t *cp, size_t length) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the 32-bit values */
    for (size_t i = 0; i < length; i++) {
        h ^= cp[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static tfm_status interner_grow_slots(eval_interner *in) {
    size_t count = in->slots_count ? in->slots_count * 2 : 1024;
    uint32_t *slots = tfm_calloc(count, sizeof *slots);
    if (!slots) return TFM_ERR_OUT_OF_MEMORY;
    for (size_t id = 0; id < in->ids; id++) {
        size_t s = (size_t)hash_code_points(in->keys + in->span[id].start, in->span[id].length) & (count - 1);
        while (slots[s]) s = (s + 1) & (count - 1);
        slots[s] = (uint32_t)id + 1;
    }
    tfm_free(in->slots, in->slots_count * sizeof *in->slots);
    in->slots = slots;
    in->slots_count = count;
    return TFM_OK;
}

tfm_status eval_interner_id(eval_interner *in, const uint32_t *cp, size_t length, uint32_t *id) {
    if ((in->ids + 1) * 2 > in->slots_count) {
        tfm_status st = interner_grow_slots(in);
        if (st) return st;
    }
    size_t mask = in->slots_count - 1, s = (size_t)hash_code_points(cp, length) & mask;
    while (in->slots[s]) {
        uint32_t k = in->slots[s] - 1;
        if (in->span[k].length == length && (length == 0 || memcmp(in->keys + in->span[k].start, cp, length * sizeof *cp) == 0)) {
            *id = k;
            return TFM_OK;
        }
        s = (s + 1) & mask;
    }
    if (in->ids == UINT32_MAX - 1) return tfm_error(TFM_ERR_UNSUPPORTED, "metrics: more than 2^32 distinct tokens");
    if (in->ids == in->ids_capacity) {
        size_t old = in->ids_capacity, grown = old ? old * 2 : 256;
        eval_span *span = tfm_realloc(in->span, old * sizeof *span, grown * sizeof *span);
        if (!span) return TFM_ERR_OUT_OF_MEMORY;
        in->span = span;
        in->ids_capacity = grown;
    }
    if (in->keys_count + length > in->keys_capacity) {
        size_t old = in->keys_capacity, grown = old ? old * 2 : 4096;
        while (grown < in->keys_count + length) grown *= 2;
        uint32_t *keys = tfm_realloc(in->keys, old * sizeof *keys, grown * sizeof *keys);
        if (!keys) return TFM_ERR_OUT_OF_MEMORY;
        in->keys = keys;
        in->keys_capacity = grown;
    }
    if (length) memcpy(in->keys + in->keys_count, cp, length * sizeof *cp);
    in->span[in->ids].start = in->keys_count;
    in->span[in->ids].length = length;
    in->keys_count += length;
    in->slots[s] = (uint32_t)in->ids + 1;
    *id = (uint32_t)in->ids++;
    return TFM_OK;
}
