/* GPT-2 pre-tokenizer: fast hand-written matcher for the GPT-2 split pattern, plus a literal reference. */
#include "tokenizer/pretokenize.h"

#include <threads.h>
#include <utf8proc.h>

/* Unicode White_Space (what \s means in Rust's regex, used by tiktoken, and in Oniguruma's Unicode mode,
 * used by Hugging Face tokenizers). */
static int is_white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int class_from_unicode(int32_t c) {
    if (is_white_space(c)) return TFM_PRETOKENIZE_SPACE;
    utf8proc_category_t cat = utf8proc_category(c);
    switch (cat) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return TFM_PRETOKENIZE_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return TFM_PRETOKENIZE_NUMBER;
    default:
        return TFM_PRETOKENIZE_OTHER;
    }
}

/* Classes of the Basic Multilingual Plane, built once (64 KiB); other planes ask utf8proc. */
static uint8_t bmp_class[0x10000];
static once_flag bmp_class_once = ONCE_FLAG_INIT;
static void bmp_class_build(void) {
    for (int32_t c = 0; c < 0x10000; c++) bmp_class[c] = (uint8_t)class_from_unicode(c);
}

int tfm_pretokenize_class(int32_t codepoint) {
    if (codepoint < 0x10000) {
        call_once(&bmp_class_once, bmp_class_build);
        return bmp_class[codepoint];
    }
    return class_from_unicode(codepoint);
}

/* Decode one well-formed UTF-8 sequence (Unicode Table 3-7: no overlongs, no surrogates, <= U+10FFFF).
 * Returns its length, or 0 if text[pos] does not start one. */
static inline size_t utf8_decode(const uint8_t *s, size_t len, size_t pos, int32_t *cp) {
    uint8_t b0 = s[pos];
    size_t left = len - pos;
    if (b0 < 0x80) { *cp = b0; return 1; }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (left < 2 || (s[pos + 1] & 0xC0) != 0x80) return 0;
        *cp = ((int32_t)(b0 & 0x1F) << 6) | (s[pos + 1] & 0x3F);
        return 2;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left < 3) return 0;
        uint8_t b1 = s[pos + 1], b2 = s[pos + 2];
        uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80) return 0;
        *cp = ((int32_t)(b0 & 0x0F) << 12) | ((int32_t)(b1 & 0x3F) << 6) | (b2 & 0x3F);
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left < 4) return 0;
        uint8_t b1 = s[pos + 1], b2 = s[pos + 2], b3 = s[pos + 3];
        uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80 || (b3 & 0xC0) != 0x80) return 0;
        *cp = ((int32_t)(b0 & 0x07) << 18) | ((int32_t)(b1 & 0x3F) << 12) | ((int32_t)(b2 & 0x3F) << 6) | (b3 & 0x3F);
        return 4;
    }
    return 0;
}

/* ASCII classes, the hot path. */
static const uint8_t ascii_class[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 0, 0, /* \t \n \v \f \r are space */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* ' ' */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, /* digits */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

static inline size_t char_at(const uint8_t *text, size_t len, size_t pos, int *cls) {
    uint8_t b = text[pos];
    if (b < 0x80) { *cls = ascii_class[b]; return 1; }
    int32_t cp;
    size_t n = utf8_decode(text, len, pos, &cp);
    if (n == 0) { *cls = TFM_PRETOKENIZE_OTHER; return 1; }
    *cls = tfm_pretokenize_class(cp);
    return n;
}

size_t tfm_pretokenize_char(const uint8_t *text, size_t len, size_t pos, int *char_class) {
    return char_at(text, len, pos, char_class);
}

/* End of the run of characters of class `cls` starting at `pos`. */
static inline size_t run_end(const uint8_t *text, size_t len, size_t pos, int cls) {
    while (pos < len) {
        uint8_t b = text[pos];
        if (b < 0x80) {
            if (ascii_class[b] != cls) break;
            pos++;
            continue;
        }
        int c;
        size_t n = char_at(text, len, pos, &c);
        if (c != cls) break;
        pos += n;
    }
    return pos;
}

/* \s+(?!\S)|\s+ starting at pos (a space character): the whole run if it reaches the end of the text
 * or is one character long, else the run without its last character (which then starts the next
 * piece, typically " word"). */
static size_t whitespace_piece(const uint8_t *text, size_t len, size_t pos) {
    size_t last = pos, p = pos;
    while (p < len) {
        int c;
        size_t n = char_at(text, len, p, &c);
        if (c != TFM_PRETOKENIZE_SPACE) break;
        last = p;
        p += n;
    }
    if (p == len || last == pos) return p;
    return last;
}

size_t tfm_pretokenize_next(const uint8_t *text, size_t len, size_t pos) {
    uint8_t b = text[pos];
    if (b == '\'' && pos + 1 < len) {
        uint8_t b1 = text[pos + 1];
        if (b1 == 's' || b1 == 't' || b1 == 'm' || b1 == 'd') return pos + 2;
        if (pos + 2 < len) {
            uint8_t b2 = text[pos + 2];
            if ((b1 == 'r' && b2 == 'e') || (b1 == 'v' && b2 == 'e') || (b1 == 'l' && b2 == 'l')) return pos + 3;
        }
    }
    size_t start = pos;
    int cls;
    if (b == ' ') {
        if (pos + 1 == len) return len;
        size_t n = char_at(text, len, pos + 1, &cls);
        if (cls == TFM_PRETOKENIZE_SPACE) return whitespace_piece(text, len, pos);
        start = pos + 1 + n; /* " " + first char of the run */
    } else {
        size_t n = char_at(text, len, pos, &cls);
        if (cls == TFM_PRETOKENIZE_SPACE) return whitespace_piece(text, len, pos);
        start = pos + n;
    }
    return run_end(text, len, start, cls);
}

/* ---- Reference: the regex alternatives one by one, in order, each as the backtracking engine would
 * try it, with utf8proc's decoder and category table (no lookup tables, no shortcuts). ---- */

static size_t ref_char(const uint8_t *text, size_t len, size_t pos, int *cls) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(text + pos, (utf8proc_ssize_t)(len - pos), &cp);
    if (n <= 0) { *cls = TFM_PRETOKENIZE_OTHER; return 1; }
    *cls = class_from_unicode(cp);
    return (size_t)n;
}

static int ref_literal(const uint8_t *text, size_t len, size_t pos, const char *lit, size_t *end) {
    size_t i = 0;
    for (; lit[i]; i++)
        if (pos + i >= len || text[pos + i] != (uint8_t)lit[i]) return 0;
    *end = pos + i;
    return 1;
}

/* " ?" then one or more characters satisfying `want` (class equal to cls, or for cls < 0 "not space,
 * not letter, not number"). The optional space is greedy: tried first, then skipped. */
static int ref_optional_space_run(const uint8_t *text, size_t len, size_t pos, int cls, size_t *end) {
    for (int with_space = 1; with_space >= 0; with_space--) {
        size_t p = pos;
        if (with_space) {
            if (p < len && text[p] == ' ') p++;
            else continue;
        }
        size_t count = 0;
        while (p < len) {
            int c;
            size_t n = ref_char(text, len, p, &c);
            int ok = cls >= 0 ? c == cls : c == TFM_PRETOKENIZE_OTHER;
            if (!ok) break;
            p += n;
            count++;
        }
        if (count > 0) { *end = p; return 1; }
    }
    return 0;
}

size_t tfm_pretokenize_next_reference(const uint8_t *text, size_t len, size_t pos) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t end;
    for (size_t i = 0; i < sizeof contractions / sizeof contractions[0]; i++)
        if (ref_literal(text, len, pos, contractions[i], &end)) return end;
    if (ref_optional_space_run(text, len, pos, TFM_PRETOKENIZE_LETTER, &end)) return end;
    if (ref_optional_space_run(text, len, pos, TFM_PRETOKENIZE_NUMBER, &end)) return end;
    if (ref_optional_space_run(text, len, pos, -1, &end)) return end;
    /* \s+(?!\S): greedy run of K space characters, then backtrack k = K, K-1, ..., 1 until the
     * negative lookahead holds (end of text, or the next character is not \S). */
    size_t run = 0, p = pos;
    while (p < len) {
        int c;
        size_t n = ref_char(text, len, p, &c);
        if (c != TFM_PRETOKENIZE_SPACE) break;
        p += n;
        run++;
    }
    for (size_t k = run; k >= 1; k--) {
        size_t e = pos;
        for (size_t i = 0; i < k; i++) {
            int c;
            e += ref_char(text, len, e, &c);
        }
        int c = TFM_PRETOKENIZE_SPACE;
        if (e < len) ref_char(text, len, e, &c);
        if (e == len || c == TFM_PRETOKENIZE_SPACE) return e;
    }
    /* \s+ */
    if (run > 0) return p;
    /* Unreachable: every character is a letter, number, space or other. */
    return pos + 1;
}
