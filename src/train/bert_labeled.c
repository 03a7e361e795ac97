/* train/bert_labeled.c: fine-tuning data: labels.txt, tab-separated labelled lines tokenized into [CLS] A [SEP] (B [SEP]) with sequence or first-piece labels, and batches of them. */
#include "tfm/bert_labeled.h"

#include <stdio.h>
#include <string.h>

#include "tfm/bpe.h" /* tfm_tokens */
#include "tfm/io.h"
#include "tfm/wordpiece.h"

/* Text is tokenized as transformers' BERT tokenizers do: a literal "[SEP]", "[MASK]", ... in it is that token. */
#define TEXT_FLAGS TFM_WORDPIECE_ALLOW_SPECIAL

/* ---- Labels ---- */

void tfm_bert_labels_free(tfm_bert_labels *l) {
    for (int i = 0; l->names && i < l->count; i++) tfm_free(l->names[i], strlen(l->names[i]) + 1);
    tfm_free(l->names, sizeof(char *) * (size_t)l->count);
    if (l->source) tfm_free(l->source, strlen(l->source) + 1);
    memset(l, 0, sizeof *l);
}

int tfm_bert_labels_find(const tfm_bert_labels *l, const char *name, size_t length) {
    for (int i = 0; i < l->count; i++)
        if (strlen(l->names[i]) == length && memcmp(l->names[i], name, length) == 0) return i;
    return -1;
}

tfm_status tfm_bert_labels_from_names(tfm_bert_labels *l, const char *const *names, int count, const char *source) {
    memset(l, 0, sizeof *l);
    if (count < 1) return tfm_error(TFM_ERR_FORMAT, "%s: no labels", source);
    l->names = tfm_calloc((size_t)count, sizeof(char *));
    l->source = tfm_strdup(source);
    if (!l->names || !l->source) {
        tfm_free(l->names, sizeof(char *) * (size_t)count);
        l->names = NULL;
        tfm_bert_labels_free(l);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    l->count = count;
    for (int i = 0; i < count; i++)
        if (!(l->names[i] = tfm_strdup(names[i]))) {
            tfm_bert_labels_free(l);
            return TFM_ERR_OUT_OF_MEMORY;
        }
    return TFM_OK;
}

static size_t line_length(const char *text, size_t at, size_t length) {
    const char *end = memchr(text + at, '\n', length - at);
    return end ? (size_t)(end - (text + at)) : length - at;
}

static size_t trim_cr(const char *s, size_t n) { return n && s[n - 1] == '\r' ? n - 1 : n; }

/* Lines into names (each non-empty, without tabs, once). */
static tfm_status read_label_lines(char **names, int *count, const char *text, size_t length, const char *path) {
    long line = 0;
    for (size_t at = 0; at < length; line++) {
        size_t n = line_length(text, at, length), m = trim_cr(text + at, n);
        const char *s = text + at;
        at += n + 1;
        if (m == 0) continue;
        if (memchr(s, '\t', m)) return tfm_error(TFM_ERR_FORMAT, "%s: line %ld: a label may not hold a tab", path, line + 1);
        for (int i = 0; i < *count; i++)
            if (strlen(names[i]) == m && memcmp(names[i], s, m) == 0)
                return tfm_error(TFM_ERR_FORMAT, "%s: line %ld: label \"%.*s\" repeats line %d's", path, line + 1, (int)m, s, i + 1);
        if (!(names[*count] = tfm_malloc(m + 1))) return TFM_ERR_OUT_OF_MEMORY;
        memcpy(names[*count], s, m);
        names[(*count)++][m] = 0;
    }
    return TFM_OK;
}

tfm_status tfm_bert_labels_load(tfm_bert_labels *l, const char *path) {
    memset(l, 0, sizeof *l);
    char *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    st = tfm_text_check_utf8(text, size, path);
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
    char **names = st ? NULL : tfm_calloc(lines, sizeof(char *));
    int count = 0;
    if (!st) st = names ? read_label_lines(names, &count, text, size, path) : TFM_ERR_OUT_OF_MEMORY;
    if (!st && count == 0) st = tfm_error(TFM_ERR_FORMAT, "%s: no labels: expected one label per line", path);
    if (!st) st = tfm_bert_labels_from_names(l, (const char *const *)names, count, path);
    for (int i = 0; i < count; i++) tfm_free(names[i], strlen(names[i]) + 1);
    tfm_free(names, lines * sizeof(char *));
    tfm_free(text, size + 1);
    return st;
}

/* ---- One example ---- */

typedef struct special_ids { int32_t cls, sep; } special_ids;

static tfm_status special_ids_of(tfm_wordpiece *tok, special_ids *s) {
    int64_t cls = tfm_wordpiece_cls_id(tok), sep = tfm_wordpiece_sep_id(tok), pad = tfm_wordpiece_pad_id(tok);
    if (cls < 0 || sep < 0 || pad < 0)
        return tfm_error(TFM_ERR_FORMAT, "the vocabulary lacks %s: BERT's inputs need [CLS], [SEP] and [PAD]",
                         cls < 0 ? "[CLS]" : sep < 0 ? "[SEP]" : "[PAD]");
    *s = (special_ids){(int32_t)cls, (int32_t)sep};
    return TFM_OK;
}

static tfm_status encode_sequences(tfm_wordpiece *tok, const char *a, size_t a_length, const char *b, size_t b_length, int max_length,
                                   int32_t *ids, int32_t *types, int *length, int *truncated) {
    uint32_t *buffer = tfm_malloc(sizeof(uint32_t) * 2 * (size_t)max_length);
    if (!buffer) return TFM_ERR_OUT_OF_MEMORY;
    size_t n = 0;
    tfm_status st = tfm_wordpiece_encode_pair(tok, a, a_length, b, b ? b_length : 0, TEXT_FLAGS, (size_t)max_length, buffer,
                                              buffer + max_length, NULL, &n);
    for (size_t i = 0; !st && i < n; i++) ids[i] = (int32_t)buffer[i], types[i] = (int32_t)buffer[max_length + i];
    tfm_free(buffer, sizeof(uint32_t) * 2 * (size_t)max_length);
    if (st) return st;
    *length = (int)n;
    /* Cut exactly when the untruncated input would not fit: re-encode only when it fills the window. */
    *truncated = 0;
    if (n == (size_t)max_length) {
        tfm_tokens all = {0};
        st = tfm_wordpiece_encode(tok, a, a_length, TEXT_FLAGS, &all);
        size_t total = all.count + 2;
        all.count = 0;
        if (!st && b) st = tfm_wordpiece_encode(tok, b, b_length, TEXT_FLAGS, &all);
        if (b) total += all.count + 1;
        tfm_tokens_free(&all);
        *truncated = total > (size_t)max_length;
    }
    return st;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n'; }

/* Words split on white space, each encoded alone (is_split_into_words); pieces kept while they fit. */
static tfm_status encode_words(tfm_wordpiece *tok, const char *a, size_t a_length, int max_length, int32_t *ids, int32_t *types,
                               int *length, int32_t *first, int max_words, int *words, int *truncated) {
    special_ids sp = {0, 0};
    tfm_status st = special_ids_of(tok, &sp);
    if (st) return st;
    tfm_tokens pieces = {0};
    int n = 0, w = 0;
    ids[n++] = sp.cls;
    *truncated = 0;
    for (size_t at = 0; !st;) {
        while (at < a_length && is_space(a[at])) at++;
        size_t start = at;
        while (at < a_length && !is_space(a[at])) at++;
        if (at == start) break;
        pieces.count = 0;
        st = tfm_wordpiece_encode(tok, a + start, at - start, TEXT_FLAGS, &pieces);
        int room = max_length - 1 - n, kept = (int)pieces.count < room ? (int)pieces.count : room;
        if (kept < (int)pieces.count) *truncated = 1;
        if (first && w < max_words) first[w] = kept > 0 ? n : -1;
        for (int i = 0; !st && i < kept; i++) ids[n++] = (int32_t)pieces.ids[i];
        w++;
    }
    tfm_tokens_free(&pieces);
    if (st) return st;
    ids[n++] = sp.sep;
    for (int i = 0; i < n; i++) types[i] = 0;
    *length = n;
    *words = w;
    return TFM_OK;
}

tfm_status tfm_bert_labeled_encode(tfm_wordpiece *tok, int kind, const char *a, size_t a_length, const char *b, size_t b_length,
                                   int max_length, int32_t *ids, int32_t *types, int *length, int32_t *first, int max_words, int *words,
                                   int *truncated) {
    if (max_length < (b ? 5 : 3))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT inputs: max_length %d is too short (at least %d)", max_length, b ? 5 : 3);
    if (kind == TFM_BERT_LABEL_TOKENS) {
        if (b) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT token classification takes one text, not a pair");
        return encode_words(tok, a, a_length, max_length, ids, types, length, first, max_words, words, truncated);
    }
    if (words) *words = 0;
    special_ids sp = {0, 0};
    tfm_status st = special_ids_of(tok, &sp);
    return st ? st : encode_sequences(tok, a, a_length, b, b_length, max_length, ids, types, length, truncated);
}

/* ---- A file of labelled lines ---- */

void tfm_bert_labeled_free(tfm_bert_labeled_set *set) {
    tfm_free(set->start, sizeof(size_t) * set->capacity[0]);
    tfm_free(set->ids, sizeof(int32_t) * set->capacity[1]);
    tfm_free(set->token_type_ids, sizeof(int32_t) * set->capacity[2]);
    tfm_free(set->labels, sizeof(int32_t) * set->capacity[3]);
    memset(set, 0, sizeof *set);
}

/* The fields of one line: up to 3, split at tabs. Returns how many there are (4 means "more than 3"). */
static int split_fields(const char *s, size_t n, const char **field, size_t *field_length) {
    int count = 0;
    size_t begin = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '\t') continue;
        if (count < 3) field[count] = s + begin, field_length[count] = i - begin;
        count++;
        begin = i + 1;
    }
    return count > 3 ? 4 : count;
}

static size_t count_words(const char *s, size_t n) {
    size_t words = 0;
    for (size_t i = 0; i < n; i++) words += !is_space(s[i]) && (i == 0 || is_space(s[i - 1]));
    return words;
}

typedef struct line_reader {
    tfm_bert_labeled_set *set;
    const tfm_bert_labels *labels;
    tfm_wordpiece *tok;
    const char *name;
    long line;
    int32_t *ids, *types, *first; /* [max_length] scratch; first [max_length] word starts */
    int texts;                    /* fields after the label on the first line */
} line_reader;

/* Array `which` of the set (0 start, 1 ids, 2 token_type_ids, 3 labels) to hold `needed` entries, doubling. */
static int grow_array(tfm_bert_labeled_set *s, int which, size_t needed) {
    void **arrays[4] = {(void **)&s->start, (void **)&s->ids, (void **)&s->token_type_ids, (void **)&s->labels};
    size_t element = which == 0 ? sizeof(size_t) : sizeof(int32_t), c = s->capacity[which] ? s->capacity[which] : 256;
    if (needed <= s->capacity[which]) return 1;
    while (c < needed) c *= 2;
    void *p = tfm_realloc(*arrays[which], s->capacity[which] * element, c * element);
    if (!p) return 0;
    *arrays[which] = p;
    s->capacity[which] = c;
    return 1;
}

/* Room for one more example of n tokens. */
static tfm_status reserve(tfm_bert_labeled_set *s, size_t n) {
    size_t tokens = (s->count ? s->start[s->count] : 0) + n;
    int ok = grow_array(s, 0, s->count + 2) && grow_array(s, 1, tokens) && grow_array(s, 2, tokens) &&
             grow_array(s, 3, s->kind == TFM_BERT_LABEL_TOKENS ? tokens : s->count + 1);
    return ok ? TFM_OK : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for %zu labelled examples", s->count + 1);
}

static tfm_status line_error(const line_reader *r, const char *what) {
    return tfm_error(TFM_ERR_FORMAT, "%s: line %ld: %s", r->name, r->line, what);
}

/* A label field into ids: one label (sequences) or one per word (tokens, space-separated). */
static tfm_status read_labels(line_reader *r, const char *s, size_t n, int32_t *out, size_t expected) {
    size_t count = 0;
    for (size_t at = 0; at < n;) {
        while (at < n && s[at] == ' ') at++;
        size_t start = at;
        while (at < n && s[at] != ' ') at++;
        if (at == start) break;
        int id = tfm_bert_labels_find(r->labels, s + start, at - start);
        if (id < 0) {
            return tfm_error(TFM_ERR_FORMAT, "%s: line %ld: label \"%.*s\" is not in %s (%d labels)", r->name, r->line, (int)(at - start),
                             s + start, r->labels->source, r->labels->count);
        }
        if (count < expected) out[count] = id;
        count++;
        if (r->set->kind == TFM_BERT_LABEL_SEQUENCES) break;
    }
    if (r->set->kind == TFM_BERT_LABEL_SEQUENCES) {
        if (count == 1 && tfm_bert_labels_find(r->labels, s, n) < 0)
            return tfm_error(TFM_ERR_FORMAT, "%s: line %ld: label \"%.*s\" is not in %s", r->name, r->line, (int)n, s, r->labels->source);
        return count == 1 ? TFM_OK : line_error(r, "empty label: expected label<TAB>text");
    }
    if (count != expected) {
        char what[160];
        snprintf(what, sizeof what, "%zu labels for %zu words: expected one label per word of the text (words split on white space)", count, expected);
        return line_error(r, what);
    }
    return TFM_OK;
}

static tfm_status add_line(line_reader *r, const char *s, size_t n) {
    tfm_bert_labeled_set *set = r->set;
    const char *field[3];
    size_t field_length[3];
    int fields = split_fields(s, n, field, field_length), tokens = set->kind == TFM_BERT_LABEL_TOKENS;
    if (fields < 2 || fields > (tokens ? 2 : 3))
        return line_error(r, tokens ? "expected labels<TAB>text (one label per word)" : "expected label<TAB>text or label<TAB>text_a<TAB>text_b");
    if (!r->texts) r->texts = fields - 1, set->pairs = fields == 3;
    if (fields - 1 != r->texts) {
        char what[120];
        snprintf(what, sizeof what, "%d texts, but the first line has %d: a file holds single texts or pairs, not both", fields - 1, r->texts);
        return line_error(r, what);
    }
    int length = 0, words = 0, truncated = 0;
    size_t expected = tokens ? count_words(field[1], field_length[1]) : 1;
    int32_t label = 0;
    tfm_status st = TFM_OK;
    if (tokens && expected > (size_t)set->max_length * 4) return line_error(r, "more words than fit (4 x max_length)");
    int32_t *word_labels = tokens ? r->first + set->max_length * 4 : &label;
    if ((st = read_labels(r, field[0], field_length[0], word_labels, expected)) != TFM_OK) return st; /* names the line */
    st = tfm_bert_labeled_encode(r->tok, set->kind, field[1], field_length[1], fields == 3 ? field[2] : NULL,
                                          fields == 3 ? field_length[2] : 0, set->max_length, r->ids, r->types, &length, r->first,
                                          (int)expected, &words, &truncated);
    if (!st) st = reserve(set, (size_t)length);
    if (st) return tfm_error_prefix(st, "%s: line %ld: ", r->name, r->line);
    size_t at = set->count ? set->start[set->count] : 0;
    memcpy(set->ids + at, r->ids, sizeof(int32_t) * (size_t)length);
    memcpy(set->token_type_ids + at, r->types, sizeof(int32_t) * (size_t)length);
    if (tokens) {
        for (int i = 0; i < length; i++) set->labels[at + (size_t)i] = -1;
        for (int w = 0; w < words; w++) {
            if (r->first[w] >= 0) set->labels[at + (size_t)r->first[w]] = word_labels[w];
            else set->dropped_words++;
        }
    } else {
        set->labels[set->count] = label;
    }
    set->truncated += (size_t)truncated;
    set->start[0] = 0;
    set->start[++set->count] = at + (size_t)length;
    return TFM_OK;
}

tfm_status tfm_bert_labeled_from_text(tfm_bert_labeled_set *set, const char *text, size_t length, const char *name, int kind,
                                      const tfm_bert_labels *labels, tfm_wordpiece *tok, int max_length) {
    memset(set, 0, sizeof *set);
    if (kind != TFM_BERT_LABEL_SEQUENCES && kind != TFM_BERT_LABEL_TOKENS)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "labelled data: kind %d is neither sequences nor tokens", kind);
    if (max_length < 3) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "labelled data: max_length %d, expected at least 3", max_length);
    set->kind = kind;
    set->max_length = max_length;
    line_reader r = {.set = set, .labels = labels, .tok = tok, .name = name};
    size_t scratch = (size_t)max_length * (2 + 8); /* ids, types, first [4 T], word labels [4 T] */
    int32_t *buffer = tfm_malloc(sizeof(int32_t) * scratch);
    tfm_status st = buffer ? tfm_text_check_utf8(text, length, name) : TFM_ERR_OUT_OF_MEMORY;
    r.ids = buffer, r.types = buffer + max_length, r.first = buffer + 2 * max_length;
    for (size_t at = 0; !st && at < length;) {
        size_t n = line_length(text, at, length), m = trim_cr(text + at, n);
        r.line++;
        if (m) st = add_line(&r, text + at, m);
        at += n + 1;
    }
    if (!st && set->count == 0) st = tfm_error(TFM_ERR_FORMAT, "%s: no examples: expected lines of label<TAB>text", name);
    if (!st && set->pairs && max_length < 5) st = tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: sentence pairs need max_length >= 5", name);
    tfm_free(buffer, sizeof(int32_t) * scratch);
    if (st) tfm_bert_labeled_free(set);
    return st;
}

tfm_status tfm_bert_labeled_load(tfm_bert_labeled_set *set, const char *path, int kind, const tfm_bert_labels *labels, tfm_wordpiece *tok,
                                 int max_length) {
    memset(set, 0, sizeof *set);
    char *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    st = tfm_bert_labeled_from_text(set, text, size, path, kind, labels, tok, max_length);
    tfm_free(text, size + 1);
    return st;
}

/* ---- Batches ---- */

void tfm_bert_labeled_batch_free(tfm_bert_labeled_batch *b) {
    size_t rows = (size_t)b->capacity * (size_t)b->max_length;
    tfm_free(b->input_ids, sizeof(int32_t) * rows);
    tfm_free(b->token_type_ids, sizeof(int32_t) * rows);
    tfm_free(b->rows, sizeof(int32_t) * rows);
    tfm_free(b->labels, sizeof(int32_t) * rows);
    tfm_free(b->lengths, sizeof(int) * (size_t)b->capacity);
    tfm_free(b->indices, sizeof(size_t) * (size_t)b->capacity);
    memset(b, 0, sizeof *b);
}

tfm_status tfm_bert_labeled_batch_allocate(tfm_bert_labeled_batch *b, int capacity, int max_length) {
    memset(b, 0, sizeof *b);
    if (capacity < 1 || max_length < 1)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "labelled batch: %d sequences of %d tokens", capacity, max_length);
    b->capacity = capacity, b->max_length = max_length;
    size_t rows = (size_t)capacity * (size_t)max_length;
    b->input_ids = tfm_malloc(sizeof(int32_t) * rows);
    b->token_type_ids = tfm_malloc(sizeof(int32_t) * rows);
    b->rows = tfm_malloc(sizeof(int32_t) * rows);
    b->labels = tfm_malloc(sizeof(int32_t) * rows);
    b->lengths = tfm_malloc(sizeof(int) * (size_t)capacity);
    b->indices = tfm_malloc(sizeof(size_t) * (size_t)capacity);
    if (b->input_ids && b->token_type_ids && b->rows && b->labels && b->lengths && b->indices) return TFM_OK;
    tfm_bert_labeled_batch_free(b);
    return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for a batch of %d x %d tokens", capacity, max_length);
}

tfm_status tfm_bert_labeled_batch_fill(tfm_bert_labeled_batch *b, const tfm_bert_labeled_set *set, const size_t *indices, int count) {
    if (count < 1 || count > b->capacity || set->max_length > b->max_length)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "labelled batch: %d examples of up to %d tokens for a batch of %d x %d", count,
                         set->max_length, b->capacity, b->max_length);
    int T = 1;
    for (int i = 0; i < count; i++) {
        if (indices[i] >= set->count) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "labelled batch: example %zu of %zu", indices[i], set->count);
        int n = (int)(set->start[indices[i] + 1] - set->start[indices[i]]);
        if (n > T) T = n;
    }
    int32_t pad = 0; /* padded positions are masked; [PAD] is id 0 in BERT vocabularies, and any id computes the same */
    b->batch = count, b->length = T, b->count = 0;
    for (int i = 0; i < count; i++) {
        size_t from = set->start[indices[i]];
        int n = (int)(set->start[indices[i] + 1] - from);
        for (int t = 0; t < T; t++) {
            size_t at = (size_t)i * T + (size_t)t;
            b->input_ids[at] = t < n ? set->ids[from + (size_t)t] : pad;
            b->token_type_ids[at] = t < n ? set->token_type_ids[from + (size_t)t] : 0;
            if (set->kind == TFM_BERT_LABEL_TOKENS && t < n && set->labels[from + (size_t)t] >= 0) {
                b->rows[b->count] = (int32_t)at;
                b->labels[b->count++] = set->labels[from + (size_t)t];
            }
        }
        b->lengths[i] = n;
        if (set->kind == TFM_BERT_LABEL_SEQUENCES) b->rows[b->count] = i, b->labels[b->count++] = set->labels[indices[i]];
    }
    return TFM_OK;
}
