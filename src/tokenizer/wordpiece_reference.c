/* The plain reference WordPiece encoder: each normalization stage over the whole text, one after the other,
 * as the Hugging Face pipeline is written. Slow and memory-hungry on purpose; tests and fuzzers hold the
 * streaming encoder in wordpiece.c to it. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/basic_tokenizer.h"
#include "tokenizer/wordpiece_internal.h"

typedef struct cp_array {
    int32_t *data;
    size_t count, capacity;
} cp_array;

static int cp_push(cp_array *a, int32_t cp) {
    if (a->count == a->capacity) {
        size_t capacity = a->capacity ? a->capacity * 2 : 64;
        int32_t *grown = tfm_realloc(a->data, a->capacity * sizeof(int32_t), capacity * sizeof(int32_t));
        if (!grown) return 0;
        a->data = grown;
        a->capacity = capacity;
    }
    a->data[a->count++] = cp;
    return 1;
}

static void cp_free(cp_array *a) { tfm_free(a->data, a->capacity * sizeof(int32_t)); }

/* One whole word through greedy longest-match-first, building "##" + substring for every probe. */
static tfm_status reference_word(const tfm_wordpiece *tok, const int32_t *cps, size_t n, tfm_tokens *out) {
    uint32_t unk = (uint32_t)tok->special[TFM_WORDPIECE_UNK];
    if (n > tok->max_chars) {
        if (tfm_wordpiece_tokens_grow(out, out->count + 1) != TFM_OK) return TFM_ERR_OUT_OF_MEMORY;
        out->ids[out->count++] = unk;
        return TFM_OK;
    }
    char candidate[2 + 4 * 128];
    size_t mark = out->count, start = 0;
    while (start < n) {
        int64_t found = -1;
        size_t end = n;
        for (; end > start; end--) {
            size_t m = 0;
            if (start > 0) {
                candidate[m++] = '#';
                candidate[m++] = '#';
            }
            for (size_t i = start; i < end; i++) m += tfm_utf8_encode(cps[i], candidate + m);
            found = tfm_wordpiece_token_to_id(tok, candidate, m);
            if (found >= 0) break;
        }
        if (found < 0) {
            out->count = mark;
            found = unk;
            end = n;
        }
        if (tfm_wordpiece_tokens_grow(out, out->count + 1) != TFM_OK) return TFM_ERR_OUT_OF_MEMORY;
        out->ids[out->count++] = (uint32_t)found;
        start = end;
    }
    return TFM_OK;
}

tfm_status tfm_wordpiece_encode_reference(const tfm_wordpiece *tok, const char *text, size_t len, tfm_tokens *out) {
    cp_array a = {0}, b = {0};
    tfm_status status = TFM_ERR_OUT_OF_MEMORY;
    const int lowercase = tok->lowercase;
    /* 1. Decode (lossy) and clean: drop removable characters, whitespace -> ' '. */
    for (size_t i = 0; i < len;) {
        int32_t cp = tfm_utf8_decode((const unsigned char *)text, len, &i);
        unsigned cls = tfm_basic_char_class(cp);
        if (cls & TFM_BASIC_REMOVE) continue;
        if (!cp_push(&a, (cls & TFM_BASIC_WHITESPACE) ? ' ' : cp)) goto done;
    }
    /* 2. Pad CJK ideographs with spaces. */
    for (size_t i = 0; i < a.count; i++) {
        int chinese = (tfm_basic_char_class(a.data[i]) & TFM_BASIC_CHINESE) != 0;
        if ((chinese && !cp_push(&b, ' ')) || !cp_push(&b, a.data[i]) || (chinese && !cp_push(&b, ' '))) goto done;
    }
    if (lowercase) {
        /* 3. NFD: decompose everything, then put each run of non-starters in canonical order. */
        a.count = 0;
        for (size_t i = 0; i < b.count; i++) {
            int32_t parts[8];
            size_t n = tfm_basic_char_decompose(b.data[i], parts, 8);
            for (size_t k = 0; k < n; k++) {
                if (!cp_push(&a, parts[k])) goto done;
            }
        }
        for (size_t i = 0; i < a.count;) {
            if (utf8proc_get_property(a.data[i])->combining_class == 0) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < a.count && utf8proc_get_property(a.data[j])->combining_class != 0) j++;
            for (size_t x = i + 1; x < j; x++) { /* stable insertion sort by combining class */
                int32_t v = a.data[x];
                int cv = utf8proc_get_property(v)->combining_class;
                size_t y = x;
                while (y > i && utf8proc_get_property(a.data[y - 1])->combining_class > cv) {
                    a.data[y] = a.data[y - 1];
                    y--;
                }
                a.data[y] = v;
            }
            i = j;
        }
        /* 4. Strip nonspacing marks, then 5. lower-case. */
        b.count = 0;
        for (size_t i = 0; i < a.count; i++) {
            if (tfm_basic_char_class(a.data[i]) & TFM_BASIC_MARK) continue;
            int32_t lower[3];
            size_t n = tfm_basic_char_lower(a.data[i], lower);
            for (size_t k = 0; k < n; k++) {
                if (!cp_push(&b, lower[k])) goto done;
            }
        }
    }
    /* 6. Pre-tokenize: split on whitespace, isolate punctuation; 7. WordPiece each word. */
    size_t word_start = 0;
    for (size_t i = 0; i <= b.count; i++) {
        unsigned cls = i < b.count ? tfm_basic_char_class(b.data[i]) : TFM_BASIC_WHITESPACE;
        if (cls & (TFM_BASIC_WHITESPACE | TFM_BASIC_PUNCT)) {
            if (i > word_start && reference_word(tok, b.data + word_start, i - word_start, out) != TFM_OK) goto done;
            if ((cls & TFM_BASIC_PUNCT) && !(cls & TFM_BASIC_WHITESPACE) &&
                reference_word(tok, b.data + i, 1, out) != TFM_OK)
                goto done;
            word_start = i + 1;
        }
    }
    status = TFM_OK;
done:
    cp_free(&a);
    cp_free(&b);
    if (status != TFM_OK) return tfm_error(status, "tfm_wordpiece_encode_reference: out of memory");
    return TFM_OK;
}
