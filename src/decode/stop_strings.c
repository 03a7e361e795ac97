/* decode/stop_strings.c: end generation at a stop string while streaming, holding back text that may still become one. */
#include "tfm/decode.h"

#include <string.h>

tfm_status tfm_stop_strings_init(tfm_stop_strings *s, const char *const *strings, int count) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < count; i++)
        if (!strings[i] || !strings[i][0]) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "stop string %d is empty", i + 1);
    s->strings = strings;
    s->count = count;
    return TFM_OK;
}

void tfm_stop_strings_free(tfm_stop_strings *s) {
    if (s->pending) tfm_free(s->pending, s->capacity);
    memset(s, 0, sizeof *s);
}

/* The longest tail of text[0, n) that is the start (not the whole) of some stop string. */
static size_t held_tail(const tfm_stop_strings *s, const char *text, size_t n) {
    size_t best = 0;
    for (int i = 0; i < s->count; i++) {
        size_t k = strlen(s->strings[i]) - 1;
        for (k = k < n ? k : n; k > best; k--)
            if (memcmp(text + n - k, s->strings[i], k) == 0) break;
        if (k > best) best = k;
    }
    return best;
}

/* The first place where a stop string begins in text[0, n), or n. */
static size_t first_stop(const tfm_stop_strings *s, const char *text, size_t n) {
    size_t first = n;
    for (int i = 0; i < s->count; i++) {
        size_t k = strlen(s->strings[i]);
        for (size_t at = 0; at + k <= n && at < first; at++)
            if (memcmp(text + at, s->strings[i], k) == 0) { first = at; break; }
    }
    return first;
}

tfm_status tfm_stop_strings_push(tfm_stop_strings *s, const char *piece, size_t len, const char **ready, size_t *ready_len, int *stopped) {
    *stopped = 0;
    if (s->shown) memmove(s->pending, s->pending + s->shown, s->length - s->shown); /* what was shown last time goes */
    s->length -= s->shown, s->shown = 0;
    if (s->length + len > s->capacity) {
        size_t grown = 2 * (s->length + len) + 64;
        char *p = tfm_realloc(s->pending, s->capacity, grown);
        if (!p) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory holding back generated text");
        s->pending = p, s->capacity = grown;
    }
    if (len) memcpy(s->pending + s->length, piece, len);
    s->length += len;
    size_t stop = first_stop(s, s->pending, s->length);
    *stopped = stop < s->length;
    s->shown = *stopped ? stop : s->length - held_tail(s, s->pending, s->length);
    *ready = s->pending, *ready_len = s->shown;
    if (*stopped) s->length = s->shown; /* the stop string and anything after it are dropped */
    return TFM_OK;
}

void tfm_stop_strings_flush(tfm_stop_strings *s, const char **rest, size_t *rest_len) {
    *rest = s->pending + s->shown, *rest_len = s->length - s->shown;
    s->shown = s->length;
}
