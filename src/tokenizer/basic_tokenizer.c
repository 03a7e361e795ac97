/* BERT's basic tokenizer: clean text, split CJK ideographs, NFD + strip accents, lower-case, split on
 * whitespace and punctuation, streaming words to a callback without allocating. */
#include "tokenizer/basic_tokenizer.h"

#include <string.h>
#include <utf8proc.h>

#include "tfm/base.h"
#include "tokenizer/basic_tokenizer_tables.h"

/* ---- Code point classes ------------------------------------------------------------------------ */

static int range_contains(const tfm_basic_range *ranges, size_t count, int32_t cp) {
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < ranges[mid].first) {
            hi = mid;
        } else if (cp > ranges[mid].last) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }
    return 0;
}

/* White_Space property (what Rust's char::is_whitespace, and so the reference, uses). */
static int is_white_space(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

/* BERT's CJK ideograph blocks, as the reference has them. Google's BERT lists 0x2B820-0x2CEAF for
 * CJK Extension E; Hugging Face tokenizers starts that range at 0x2B920, and tfm matches the reference
 * (so U+2B820..U+2B91F are ordinary letters here). */
static int is_chinese(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* BERT counts every printable non-alphanumeric ASCII character as punctuation, plus category P*. */
static int is_ascii_punct(int32_t cp) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

unsigned tfm_basic_char_class_raw(int32_t cp) {
    unsigned cls = 0;
    utf8proc_category_t cat = utf8proc_category(cp);
    if (cp == 0 || cp == 0xFFFD) {
        cls |= TFM_BASIC_REMOVE;
    } else if (cp != '\t' && cp != '\n' && cp != '\r' &&
               (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
                cat == UTF8PROC_CATEGORY_CS)) {
        cls |= TFM_BASIC_REMOVE;
    }
    if (is_white_space(cp)) cls |= TFM_BASIC_WHITESPACE;
    if (is_chinese(cp)) cls |= TFM_BASIC_CHINESE;
    if (is_ascii_punct(cp) || (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO)) cls |= TFM_BASIC_PUNCT;
    if (cat == UTF8PROC_CATEGORY_MN) cls |= TFM_BASIC_MARK;
    return cls;
}

unsigned tfm_basic_char_class(int32_t cp) {
    unsigned cls = tfm_basic_char_class_raw(cp);
    if (cp < 0x80) return cls; /* the tables never touch ASCII */
    if (range_contains(tfm_basic_remove_flip, tfm_basic_remove_flip_count, cp)) cls ^= TFM_BASIC_REMOVE;
    if (range_contains(tfm_basic_mark_flip, tfm_basic_mark_flip_count, cp)) cls ^= TFM_BASIC_MARK;
    if (range_contains(tfm_basic_punct_flip, tfm_basic_punct_flip_count, cp)) cls ^= TFM_BASIC_PUNCT;
    return cls;
}

size_t tfm_basic_char_lower_raw(int32_t cp, int32_t out[3]) {
    if (cp == 0x130) { /* the one unconditional multi-character lower-case mapping (SpecialCasing.txt) */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = utf8proc_tolower(cp);
    return 1;
}

size_t tfm_basic_char_lower(int32_t cp, int32_t out[3]) {
    if (cp >= 0x80) {
        size_t lo = 0, hi = tfm_basic_lower_extra_count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cp < tfm_basic_lower_extra[mid].upper) {
                hi = mid;
            } else if (cp > tfm_basic_lower_extra[mid].upper) {
                lo = mid + 1;
            } else {
                out[0] = tfm_basic_lower_extra[mid].lower;
                return 1;
            }
        }
    }
    return tfm_basic_char_lower_raw(cp, out);
}

size_t tfm_basic_char_decompose_raw(int32_t cp, int32_t *out, size_t cap) {
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(cp, out, (utf8proc_ssize_t)cap, UTF8PROC_DECOMPOSE, &boundclass);
    if (n <= 0 || (size_t)n > cap) { /* cannot happen for cap >= 4; keep the character as it is */
        out[0] = cp;
        return 1;
    }
    return (size_t)n;
}

size_t tfm_basic_char_decompose(int32_t cp, int32_t *out, size_t cap) {
    if (cp < 0xC0) {
        out[0] = cp;
        return 1;
    }
    if (range_contains(tfm_basic_no_decompose, tfm_basic_no_decompose_count, cp)) {
        out[0] = cp;
        return 1;
    }
    return tfm_basic_char_decompose_raw(cp, out, cap);
}

/* ---- UTF-8 --------------------------------------------------------------------------------------- */

int32_t tfm_utf8_decode(const unsigned char *s, size_t len, size_t *pos) {
    size_t i = *pos;
    unsigned b = s[i];
    if (b < 0x80) {
        *pos = i + 1;
        return (int32_t)b;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    int32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = (int32_t)(b & 0x1F);
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        cp = (int32_t)(b & 0x0F);
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        cp = (int32_t)(b & 0x07);
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *pos = i + 1;
        return 0xFFFD;
    }
    size_t k = 1;
    for (; k <= need; k++) {
        if (i + k >= len) break;
        unsigned c = s[i + k];
        unsigned clo = k == 1 ? lo : 0x80, chi = k == 1 ? hi : 0xBF;
        if (c < clo || c > chi) break;
        cp = (cp << 6) | (int32_t)(c & 0x3F);
    }
    if (k <= need) { /* maximal subpart: the lead byte and the continuation bytes that were valid */
        *pos = i + k;
        return 0xFFFD;
    }
    *pos = i + need + 1;
    return cp;
}

size_t tfm_utf8_encode(int32_t cp, char *out) {
    unsigned c = (unsigned)cp;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- The splitter -------------------------------------------------------------------------------- */

/* ASCII letters and digits: the only ASCII characters that take the fast path. */
static const unsigned char ascii_alnum[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

int tfm_basic_splitter_init(tfm_basic_splitter *sp, unsigned flags, size_t max_chars) {
    memset(sp, 0, sizeof *sp);
    sp->flags = flags;
    sp->max_chars = max_chars;
    sp->word_capacity = 4 * (max_chars + 1);
    sp->word = tfm_malloc(sp->word_capacity);
    return sp->word != NULL;
}

void tfm_basic_splitter_release(tfm_basic_splitter *sp) {
    tfm_free(sp->word, sp->word_capacity);
    sp->word = NULL;
}

static void end_word(tfm_basic_splitter *sp) {
    if (sp->word_chars > 0) {
        if (!sp->stopped && sp->on_word(sp->user, sp->word, sp->word_len, sp->word_chars)) sp->stopped = 1;
        sp->word_len = 0;
        sp->word_chars = 0;
    }
}

static void append_char(tfm_basic_splitter *sp, int32_t cp) {
    /* Keep the bytes of the first max_chars + 1 characters: enough to tell "too long" apart. */
    if (sp->word_chars <= sp->max_chars) sp->word_len += tfm_utf8_encode(cp, sp->word + sp->word_len);
    sp->word_chars++;
}

/* The pre-tokenizer, on normalized characters. */
static void emit(tfm_basic_splitter *sp, int32_t cp) {
    unsigned cls = tfm_basic_char_class(cp);
    if (cls & TFM_BASIC_WHITESPACE) {
        end_word(sp);
    } else if (cls & TFM_BASIC_PUNCT) {
        end_word(sp);
        append_char(sp, cp);
        end_word(sp);
    } else {
        append_char(sp, cp);
    }
}

static void lower_and_emit(tfm_basic_splitter *sp, int32_t cp) {
    if (sp->flags & TFM_BASIC_LOWERCASE) {
        int32_t lower[3];
        size_t n = tfm_basic_char_lower(cp, lower);
        for (size_t i = 0; i < n; i++) emit(sp, lower[i]);
    } else {
        emit(sp, cp);
    }
}

static void strip_and_continue(tfm_basic_splitter *sp, int32_t cp) {
    if (tfm_basic_char_class(cp) & TFM_BASIC_MARK) return;
    lower_and_emit(sp, cp);
}

/* Canonical ordering: a run of non-starters is stably sorted by combining class. */
static void flush_marks(tfm_basic_splitter *sp) {
    size_t n = sp->mark_count;
    if (n == 0) return;
    int32_t *m = sp->marks;
    for (size_t i = 1; i < n; i++) {
        int32_t x = m[i];
        int cx = utf8proc_get_property(x)->combining_class;
        size_t j = i;
        while (j > 0 && utf8proc_get_property(m[j - 1])->combining_class > cx) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = x;
    }
    sp->mark_count = 0;
    for (size_t i = 0; i < n; i++) strip_and_continue(sp, m[i]);
}

/* NFD + strip accents (when enabled), then lower-case. */
static void normalize(tfm_basic_splitter *sp, int32_t cp) {
    if (!(sp->flags & TFM_BASIC_STRIP_ACCENTS)) {
        lower_and_emit(sp, cp);
        return;
    }
    int32_t parts[8];
    size_t n = tfm_basic_char_decompose(cp, parts, 8);
    for (size_t i = 0; i < n; i++) {
        if (utf8proc_get_property(parts[i])->combining_class == 0) {
            flush_marks(sp);
            strip_and_continue(sp, parts[i]);
        } else {
            if (sp->mark_count == TFM_BASIC_MARK_CAP) {
                /* Full: the marks that stripping drops can go now (their order cannot matter); only a run
                 * of more than TFM_BASIC_MARK_CAP kept non-starters is ordered piecewise. */
                size_t kept = 0;
                for (size_t k = 0; k < sp->mark_count; k++) {
                    if (!(tfm_basic_char_class(sp->marks[k]) & TFM_BASIC_MARK)) sp->marks[kept++] = sp->marks[k];
                }
                sp->mark_count = kept;
                if (kept == TFM_BASIC_MARK_CAP) flush_marks(sp);
            }
            sp->marks[sp->mark_count++] = parts[i];
        }
    }
}

/* Cleaning and CJK padding, on input characters. */
static void feed(tfm_basic_splitter *sp, int32_t cp) {
    unsigned cls = tfm_basic_char_class(cp);
    if (sp->flags & TFM_BASIC_CLEAN_TEXT) {
        if (cls & TFM_BASIC_REMOVE) return;
        if (cls & TFM_BASIC_WHITESPACE) cp = ' ';
    }
    if ((sp->flags & TFM_BASIC_CHINESE_CHARS) && (cls & TFM_BASIC_CHINESE)) {
        normalize(sp, ' ');
        normalize(sp, cp);
        normalize(sp, ' ');
        return;
    }
    normalize(sp, cp);
}

/* Bytes at the end of text[0..len) that are the valid beginning of a multi-byte character (0 if none). */
static size_t incomplete_tail(const unsigned char *s, size_t len) {
    size_t back = 0;
    while (back < 3 && back < len && (s[len - 1 - back] & 0xC0) == 0x80) back++;
    if (back == len) return 0;
    size_t lead = len - 1 - back;
    unsigned b = s[lead];
    size_t need = b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2 : b >= 0xF0 && b <= 0xF4 ? 3 : 0;
    if (need == 0 || back >= need) return 0; /* ASCII, invalid, or complete */
    size_t pos = lead;
    int32_t cp = tfm_utf8_decode(s, len, &pos);
    /* A truncated but so far valid sequence decodes to U+FFFD covering exactly the available bytes. */
    return cp == 0xFFFD && pos == len ? back + 1 : 0;
}

size_t tfm_basic_split_chunk(tfm_basic_splitter *sp, const char *text, size_t len, int last, tfm_basic_word_fn on_word,
                             void *user) {
    const unsigned char *s = (const unsigned char *)text;
    const int lower = (sp->flags & TFM_BASIC_LOWERCASE) != 0;
    const int clean = (sp->flags & TFM_BASIC_CLEAN_TEXT) != 0;
    sp->on_word = on_word;
    sp->user = user;
    if (!sp->in_stream) {
        sp->stopped = 0;
        sp->word_len = 0;
        sp->word_chars = 0;
        sp->mark_count = 0;
        sp->in_stream = 1;
    }
    size_t end = last ? len : len - incomplete_tail(s, len);
    size_t i = 0;
    while (i < end && !sp->stopped) {
        unsigned b = s[i];
        if (b < 0x80) {
            if (ascii_alnum[b] && sp->mark_count == 0) {
                /* Fast path: a letter or digit is a starter, undecomposed, never a mark or punctuation. */
                if (sp->word_chars <= sp->max_chars) {
                    sp->word[sp->word_len++] = (char)(lower && b >= 'A' && b <= 'Z' ? b + 32 : b);
                }
                sp->word_chars++;
                i++;
                continue;
            }
            if (clean && sp->mark_count == 0) {
                /* Fast path for the rest of ASCII (with cleaning on, which is what encoders use):
                 * control characters vanish, whitespace ends a word, punctuation is a word. */
                if (b == ' ' || b == '\n' || b == '\t' || b == '\r') {
                    end_word(sp);
                } else if (b < 0x20 || b == 0x7F) {
                    /* removed */
                } else { /* every other printable ASCII character is BERT punctuation */
                    end_word(sp);
                    sp->word[0] = (char)b;
                    sp->word_len = 1;
                    sp->word_chars = 1;
                    end_word(sp);
                }
                i++;
                continue;
            }
            i++;
            feed(sp, (int32_t)b);
            continue;
        }
        feed(sp, tfm_utf8_decode(s, end, &i));
    }
    if (last) {
        flush_marks(sp);
        end_word(sp);
        sp->in_stream = 0;
    }
    return end;
}

int tfm_basic_split(tfm_basic_splitter *sp, const char *text, size_t len, tfm_basic_word_fn on_word, void *user) {
    sp->in_stream = 0;
    tfm_basic_split_chunk(sp, text, len, 1, on_word, user);
    return sp->stopped;
}
