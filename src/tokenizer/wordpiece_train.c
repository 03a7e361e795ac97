/* WordPiece vocabulary training, as Hugging Face's WordPieceTrainer (BPE merges over "##"-continued pieces),
 * made deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/basic_tokenizer.h"
#include "tokenizer/wordpiece_internal.h"

/* Words longer than this many characters are not counted: no piece worth learning comes from them, and
 * encoding turns any word over 100 characters into [UNK] anyway. (The reference counts them.) */
enum { TRAIN_MAX_WORD_CHARS = 1 << 20 };

/* ---- A string -> (id, count) hash table over an append-only byte arena ---------------------------- */

typedef struct string_table {
    char *bytes;
    size_t bytes_len, bytes_capacity;
    uint32_t *offsets, *lengths; /* [count] */
    uint64_t *counts;            /* [count] */
    size_t count, capacity;
    uint32_t *slots; /* [slot_count] index + 1, 0 = empty */
    size_t slot_count;
} string_table;

static uint32_t string_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static void string_table_free(string_table *t) {
    tfm_free(t->bytes, t->bytes_capacity);
    tfm_free(t->offsets, t->capacity * sizeof(uint32_t));
    tfm_free(t->lengths, t->capacity * sizeof(uint32_t));
    tfm_free(t->counts, t->capacity * sizeof(uint64_t));
    tfm_free(t->slots, t->slot_count * sizeof(uint32_t));
    memset(t, 0, sizeof *t);
}

static int64_t string_table_find(const string_table *t, const char *s, size_t n) {
    if (!t->slot_count) return -1;
    size_t mask = t->slot_count - 1;
    for (size_t i = string_hash(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (!v) return -1;
        if (t->lengths[v - 1] == n && memcmp(t->bytes + t->offsets[v - 1], s, n) == 0) return v - 1;
    }
}

static int string_table_rehash(string_table *t, size_t slot_count) {
    uint32_t *slots = tfm_calloc(slot_count, sizeof(uint32_t));
    if (!slots) return 0;
    for (size_t k = 0; k < t->count; k++) {
        size_t i = string_hash(t->bytes + t->offsets[k], t->lengths[k]) & (slot_count - 1);
        while (slots[i]) i = (i + 1) & (slot_count - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    tfm_free(t->slots, t->slot_count * sizeof(uint32_t));
    t->slots = slots;
    t->slot_count = slot_count;
    return 1;
}

/* Index of s, adding it (count 0) if new; -1 when out of memory. */
static int64_t string_table_add(string_table *t, const char *s, size_t n) {
    int64_t found = string_table_find(t, s, n);
    if (found >= 0) return found;
    if ((t->count + 1) * 2 > t->slot_count && !string_table_rehash(t, t->slot_count ? t->slot_count * 2 : 1024))
        return -1;
    if (t->count == t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 1024;
        uint32_t *offsets = tfm_realloc(t->offsets, t->capacity * sizeof(uint32_t), capacity * sizeof(uint32_t));
        if (!offsets) return -1;
        t->offsets = offsets;
        uint32_t *lengths = tfm_realloc(t->lengths, t->capacity * sizeof(uint32_t), capacity * sizeof(uint32_t));
        if (!lengths) return -1;
        t->lengths = lengths;
        uint64_t *counts = tfm_realloc(t->counts, t->capacity * sizeof(uint64_t), capacity * sizeof(uint64_t));
        if (!counts) return -1;
        t->counts = counts;
        t->capacity = capacity;
    }
    if (t->bytes_len + n + 1 > t->bytes_capacity) {
        size_t capacity = t->bytes_capacity ? t->bytes_capacity : 1 << 16;
        while (capacity < t->bytes_len + n + 1) capacity *= 2;
        if (capacity > UINT32_MAX) return -1;
        char *bytes = tfm_realloc(t->bytes, t->bytes_capacity, capacity);
        if (!bytes) return -1;
        t->bytes = bytes;
        t->bytes_capacity = capacity;
    }
    memcpy(t->bytes + t->bytes_len, s, n);
    t->bytes[t->bytes_len + n] = '\0';
    t->offsets[t->count] = (uint32_t)t->bytes_len;
    t->lengths[t->count] = (uint32_t)n;
    t->counts[t->count] = 0;
    t->bytes_len += n + 1;
    size_t i = string_hash(s, n) & (t->slot_count - 1);
    while (t->slots[i]) i = (i + 1) & (t->slot_count - 1);
    t->slots[i] = (uint32_t)(t->count + 1);
    return (int64_t)t->count++;
}

/* ---- Counting words ------------------------------------------------------------------------------ */

struct tfm_wordpiece_trainer {
    int lowercase;
    tfm_basic_splitter splitter;
    string_table words; /* normalized word -> count, in order of first appearance */
    int failed;
    const char *const *seed; /* test hook (tfm_wordpiece_trainer_seed) */
    size_t seed_count;
};

tfm_status tfm_wordpiece_trainer_create(tfm_wordpiece_trainer **out, int lowercase) {
    if (!out) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_trainer_create: NULL argument");
    tfm_wordpiece_trainer *trainer = tfm_calloc(1, sizeof *trainer);
    if (!trainer) return TFM_ERR_OUT_OF_MEMORY;
    trainer->lowercase = lowercase != 0;
    unsigned flags = TFM_BASIC_CLEAN_TEXT | TFM_BASIC_CHINESE_CHARS;
    if (lowercase) flags |= TFM_BASIC_STRIP_ACCENTS | TFM_BASIC_LOWERCASE;
    if (!tfm_basic_splitter_init(&trainer->splitter, flags, TRAIN_MAX_WORD_CHARS)) {
        tfm_free(trainer, sizeof *trainer);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    *out = trainer;
    return TFM_OK;
}

void tfm_wordpiece_trainer_free(tfm_wordpiece_trainer *trainer) {
    if (!trainer) return;
    tfm_basic_splitter_release(&trainer->splitter);
    string_table_free(&trainer->words);
    tfm_free(trainer, sizeof *trainer);
}

static int count_word(void *user, const char *bytes, size_t n, size_t chars) {
    tfm_wordpiece_trainer *trainer = user;
    if (chars > TRAIN_MAX_WORD_CHARS) return 0;
    int64_t index = string_table_add(&trainer->words, bytes, n);
    if (index < 0) {
        trainer->failed = 1;
        return 1;
    }
    trainer->words.counts[index]++;
    return 0;
}

tfm_status tfm_wordpiece_trainer_add_text(tfm_wordpiece_trainer *trainer, const char *text, size_t len) {
    if (!trainer || (!text && len)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_trainer_add_text: NULL argument");
    if (trainer->failed) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "tfm_wordpiece_trainer_add_text: out of memory earlier");
    tfm_basic_split(&trainer->splitter, text, len, count_word, trainer);
    if (trainer->failed) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "tfm_wordpiece_trainer_add_text: out of memory");
    return TFM_OK;
}

/* ---- Pair counts: open addressing, key = left << 32 | right --------------------------------------- */

typedef struct pair_table {
    uint64_t *keys; /* UINT64_MAX = empty */
    int64_t *values;
    size_t count, slot_count;
} pair_table;

static inline size_t pair_slot(uint64_t key, size_t mask) {
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key >> 29) & mask;
}

static int pair_table_grow(pair_table *t) {
    size_t slot_count = t->slot_count ? t->slot_count * 2 : 1 << 16;
    uint64_t *keys = tfm_malloc(slot_count * sizeof(uint64_t));
    int64_t *values = tfm_malloc(slot_count * sizeof(int64_t));
    if (!keys || !values) {
        tfm_free(keys, slot_count * sizeof(uint64_t));
        tfm_free(values, slot_count * sizeof(int64_t));
        return 0;
    }
    memset(keys, 0xFF, slot_count * sizeof(uint64_t));
    for (size_t i = 0; i < t->slot_count; i++) {
        if (t->keys[i] == UINT64_MAX) continue;
        size_t j = pair_slot(t->keys[i], slot_count - 1);
        while (keys[j] != UINT64_MAX) j = (j + 1) & (slot_count - 1);
        keys[j] = t->keys[i];
        values[j] = t->values[i];
    }
    tfm_free(t->keys, t->slot_count * sizeof(uint64_t));
    tfm_free(t->values, t->slot_count * sizeof(int64_t));
    t->keys = keys;
    t->values = values;
    t->slot_count = slot_count;
    return 1;
}

/* The count slot for key, created at 0; NULL when out of memory. */
static int64_t *pair_table_at(pair_table *t, uint64_t key) {
    if ((t->count + 1) * 2 > t->slot_count && !pair_table_grow(t)) return NULL;
    size_t mask = t->slot_count - 1, i = pair_slot(key, mask);
    while (t->keys[i] != UINT64_MAX) {
        if (t->keys[i] == key) return &t->values[i];
        i = (i + 1) & mask;
    }
    t->keys[i] = key;
    t->values[i] = 0;
    t->count++;
    return &t->values[i];
}

/* Add delta to key's count (creating it); 0 when out of memory. */
static int pair_add(pair_table *t, uint64_t key, int64_t delta) {
    int64_t *c = pair_table_at(t, key);
    if (!c) return 0;
    *c += delta;
    return 1;
}

/* The count of an existing key (0 if absent); never grows the table. */
static int64_t pair_table_get(const pair_table *t, uint64_t key) {
    if (!t->slot_count) return 0;
    size_t mask = t->slot_count - 1, i = pair_slot(key, mask);
    while (t->keys[i] != UINT64_MAX) {
        if (t->keys[i] == key) return t->values[i];
        i = (i + 1) & mask;
    }
    return 0;
}

static void pair_table_free(pair_table *t) {
    tfm_free(t->keys, t->slot_count * sizeof(uint64_t));
    tfm_free(t->values, t->slot_count * sizeof(int64_t));
}

/* ---- The merge queue ------------------------------------------------------------------------------ */

/* A candidate merge: the pair, its count when queued, and the words where it was (newly) seen. */
typedef struct merge_entry {
    uint64_t pair;
    int64_t count;
    uint32_t *words; /* sorted, unique */
    size_t word_count;
} merge_entry;

typedef struct merge_queue {
    merge_entry *items;
    size_t count, capacity;
} merge_queue;

/* Higher count first; on equal counts the smaller (left id, right id) pair. */
static int merge_before(const merge_entry *a, const merge_entry *b) {
    if (a->count != b->count) return a->count > b->count;
    return a->pair < b->pair;
}

static int queue_push(merge_queue *q, merge_entry e) {
    if (q->count == q->capacity) {
        size_t capacity = q->capacity ? q->capacity * 2 : 1024;
        merge_entry *items = tfm_realloc(q->items, q->capacity * sizeof *items, capacity * sizeof *items);
        if (!items) return 0;
        q->items = items;
        q->capacity = capacity;
    }
    size_t i = q->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_before(&e, &q->items[parent])) break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = e;
    return 1;
}

static merge_entry queue_pop(merge_queue *q) {
    merge_entry top = q->items[0];
    merge_entry last = q->items[--q->count];
    size_t i = 0, n = q->count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && merge_before(&q->items[child + 1], &q->items[child])) child++;
        if (!merge_before(&q->items[child], &last)) break;
        q->items[i] = q->items[child];
        i = child;
    }
    if (n) q->items[i] = last;
    return top;
}

/* Pending (pair, word) sightings of one step, turned into queue entries. */
typedef struct sighting {
    uint64_t pair;
    uint32_t word;
} sighting;

typedef struct sighting_list {
    sighting *items;
    size_t count, capacity;
} sighting_list;

static int sighting_add(sighting_list *l, uint64_t pair, uint32_t word) {
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 4096;
        sighting *items = tfm_realloc(l->items, l->capacity * sizeof *items, capacity * sizeof *items);
        if (!items) return 0;
        l->items = items;
        l->capacity = capacity;
    }
    l->items[l->count].pair = pair;
    l->items[l->count].word = word;
    l->count++;
    return 1;
}

static int sighting_compare(const void *a, const void *b) {
    const sighting *x = a, *y = b;
    if (x->pair != y->pair) return x->pair < y->pair ? -1 : 1;
    return (x->word > y->word) - (x->word < y->word);
}

/* Queue one entry per sighted pair whose count is positive (as the reference does after each step). */
static int flush_sightings(sighting_list *l, const pair_table *counts, merge_queue *q) {
    if (l->count > 1) qsort(l->items, l->count, sizeof *l->items, sighting_compare);
    for (size_t i = 0; i < l->count;) {
        size_t j = i;
        while (j < l->count && l->items[j].pair == l->items[i].pair) j++;
        int64_t count = pair_table_get(counts, l->items[i].pair);
        if (count > 0) {
            merge_entry e = {.pair = l->items[i].pair, .count = count};
            size_t unique = 0;
            for (size_t k = i; k < j; k++) unique += k == i || l->items[k].word != l->items[k - 1].word;
            e.words = tfm_malloc(unique * sizeof(uint32_t)); /* freed with word_count == unique */
            if (!e.words) return 0;
            for (size_t k = i; k < j; k++) {
                if (k == i || l->items[k].word != l->items[k - 1].word) e.words[e.word_count++] = l->items[k].word;
            }
            if (!queue_push(q, e)) {
                tfm_free(e.words, unique * sizeof(uint32_t));
                return 0;
            }
        }
        i = j;
    }
    l->count = 0;
    return 1;
}

/* ---- Training ------------------------------------------------------------------------------------- */

typedef struct train_state {
    string_table vocab;     /* piece -> id (index) */
    uint32_t *symbols;      /* every word's piece ids, back to back */
    size_t symbols_size;
    uint32_t *word_start;   /* [word_count] */
    uint32_t *word_length;  /* [word_count], shrinks as merges apply */
    size_t word_count;
    pair_table pairs;
    merge_queue queue;
    sighting_list seen;
} train_state;

static void train_state_free(train_state *s) {
    string_table_free(&s->vocab);
    tfm_free(s->symbols, s->symbols_size * sizeof(uint32_t));
    tfm_free(s->word_start, (s->word_count ? s->word_count : 1) * sizeof(uint32_t));
    tfm_free(s->word_length, (s->word_count ? s->word_count : 1) * sizeof(uint32_t));
    pair_table_free(&s->pairs);
    for (size_t i = 0; i < s->queue.count; i++) tfm_free(s->queue.items[i].words, s->queue.items[i].word_count * sizeof(uint32_t));
    tfm_free(s->queue.items, s->queue.capacity * sizeof(merge_entry));
    tfm_free(s->seen.items, s->seen.capacity * sizeof(sighting));
}

typedef struct char_count {
    int32_t cp;
    uint64_t count;
} char_count;

static int by_count_then_code_point(const void *a, const void *b) {
    const char_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->cp > y->cp) - (x->cp < y->cp);
}

static int by_code_point(const void *a, const void *b) {
    const char_count *x = a, *y = b;
    return (x->cp > y->cp) - (x->cp < y->cp);
}

/* Merge (left, right) -> merged in word w, recording pair count changes as the reference's Word::merge
 * does (the merged pair's own count is left alone). */
static int merge_word(train_state *s, uint32_t w, uint32_t left, uint32_t right, uint32_t merged, int64_t weight) {
    uint32_t *sym = s->symbols + s->word_start[w];
    size_t n = s->word_length[w], out = 0;
    for (size_t i = 0; i < n; i++) {
        if (sym[i] == left && i + 1 < n && sym[i + 1] == right) {
            if (out > 0) {
                uint32_t before = sym[out - 1];
                if (!pair_add(&s->pairs, (uint64_t)before << 32 | left, -weight) ||
                    !pair_add(&s->pairs, (uint64_t)before << 32 | merged, weight) ||
                    !sighting_add(&s->seen, (uint64_t)before << 32 | merged, w))
                    return 0;
            }
            if (i + 2 < n) {
                uint32_t after = sym[i + 2];
                if (!pair_add(&s->pairs, (uint64_t)right << 32 | after, -weight) ||
                    !pair_add(&s->pairs, (uint64_t)merged << 32 | after, weight) ||
                    !sighting_add(&s->seen, (uint64_t)merged << 32 | after, w))
                    return 0;
            }
            sym[out++] = merged;
            i++;
        } else {
            sym[out++] = sym[i];
        }
    }
    s->word_length[w] = (uint32_t)out;
    return 1;
}

static tfm_status train(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options, train_state *s) {
    static const char *const default_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const char *const *specials = options->special_tokens ? options->special_tokens : default_specials;
    size_t special_count = options->special_tokens ? options->special_count : 5;
    string_table *words = &trainer->words;
    char buf[8];

    if (trainer->seed) { /* test hook: the initial pieces and their ids are given */
        for (size_t i = 0; i < trainer->seed_count; i++) {
            if (string_table_add(&s->vocab, trainer->seed[i], strlen(trainer->seed[i])) < 0) return TFM_ERR_OUT_OF_MEMORY;
        }
        special_count = 0;
    }
    /* 1. Special tokens. */
    for (size_t i = 0; i < special_count; i++) {
        if (!specials[i] || !specials[i][0])
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_train: special token %zu is empty", i);
        if (string_table_add(&s->vocab, specials[i], strlen(specials[i])) < 0) return TFM_ERR_OUT_OF_MEMORY;
    }
    if (!trainer->seed) {
        /* 2. The alphabet: characters by total count, cut to limit_alphabet, then in code point order. */
        pair_table chars = {0};
        for (size_t w = 0; w < words->count; w++) {
            const unsigned char *p = (const unsigned char *)words->bytes + words->offsets[w];
            size_t n = words->lengths[w];
            for (size_t i = 0; i < n;) {
                int32_t cp = tfm_utf8_decode(p, n, &i);
                int64_t *c = pair_table_at(&chars, (uint64_t)cp);
                if (!c) {
                    pair_table_free(&chars);
                    return TFM_ERR_OUT_OF_MEMORY;
                }
                *c += (int64_t)words->counts[w];
            }
        }
        /* Which characters ever follow another one in a word (those get a "##" piece). */
        pair_table inner = {0};
        for (size_t w = 0; w < words->count; w++) {
            const unsigned char *p = (const unsigned char *)words->bytes + words->offsets[w];
            size_t n = words->lengths[w], i = 0;
            tfm_utf8_decode(p, n, &i);
            while (i < n) {
                int32_t cp = tfm_utf8_decode(p, n, &i);
                int64_t *c = pair_table_at(&inner, (uint64_t)cp);
                if (!c) {
                    pair_table_free(&chars);
                    pair_table_free(&inner);
                    return TFM_ERR_OUT_OF_MEMORY;
                }
                *c = 1;
            }
        }
        char_count *alphabet = tfm_malloc((chars.count ? chars.count : 1) * sizeof *alphabet);
        if (!alphabet) {
            pair_table_free(&chars);
            pair_table_free(&inner);
            return TFM_ERR_OUT_OF_MEMORY;
        }
        size_t alphabet_size = 0;
        for (size_t i = 0; i < chars.slot_count; i++) {
            if (chars.keys[i] == UINT64_MAX) continue;
            alphabet[alphabet_size].cp = (int32_t)chars.keys[i];
            alphabet[alphabet_size].count = (uint64_t)chars.values[i];
            alphabet_size++;
        }
        size_t alphabet_allocated = chars.count ? chars.count : 1;
        pair_table_free(&chars);
        if (options->limit_alphabet && alphabet_size > options->limit_alphabet) {
            qsort(alphabet, alphabet_size, sizeof *alphabet, by_count_then_code_point);
            alphabet_size = options->limit_alphabet;
        }
        qsort(alphabet, alphabet_size, sizeof *alphabet, by_code_point);
        for (size_t i = 0; i < alphabet_size; i++) {
            size_t n = tfm_utf8_encode(alphabet[i].cp, buf);
            if (string_table_add(&s->vocab, buf, n) < 0) {
                tfm_free(alphabet, alphabet_allocated * sizeof *alphabet);
                pair_table_free(&inner);
                return TFM_ERR_OUT_OF_MEMORY;
            }
        }
        /* Continuations "##c" of the alphabet characters that occur after the start of some word, in code
         * point order (the reference adds them in its hash map's word order, which varies from run to run). */
        for (size_t i = 0; i < alphabet_size; i++) {
            if (!pair_table_get(&inner, (uint64_t)alphabet[i].cp))
                continue;
            buf[0] = buf[1] = '#';
            size_t n = 2 + tfm_utf8_encode(alphabet[i].cp, buf + 2);
            if (string_table_add(&s->vocab, buf, n) < 0) {
                tfm_free(alphabet, alphabet_allocated * sizeof *alphabet);
                pair_table_free(&inner);
                return TFM_ERR_OUT_OF_MEMORY;
            }
        }
        tfm_free(alphabet, alphabet_allocated * sizeof *alphabet);
        pair_table_free(&inner);

    }
    /* 3. Spell every word in alphabet pieces (characters outside the alphabet are dropped). */
    s->word_count = words->count;
    s->symbols_size = words->bytes_len ? words->bytes_len : 1;
    s->symbols = tfm_malloc(s->symbols_size * sizeof(uint32_t));
    s->word_start = tfm_malloc((s->word_count ? s->word_count : 1) * sizeof(uint32_t));
    s->word_length = tfm_malloc((s->word_count ? s->word_count : 1) * sizeof(uint32_t));
    if (!s->symbols || !s->word_start || !s->word_length) return TFM_ERR_OUT_OF_MEMORY;
    size_t at = 0;
    for (size_t w = 0; w < words->count; w++) {
        const unsigned char *p = (const unsigned char *)words->bytes + words->offsets[w];
        size_t n = words->lengths[w];
        s->word_start[w] = (uint32_t)at;
        int first = 1;
        for (size_t i = 0; i < n;) {
            size_t from = i;
            tfm_utf8_decode(p, n, &i);
            if (string_table_find(&s->vocab, (const char *)p + from, i - from) < 0) {
                first = 0;
                continue;
            }
            buf[0] = buf[1] = '#';
            memcpy(buf + 2, p + from, i - from);
            int64_t id = first ? string_table_find(&s->vocab, (const char *)p + from, i - from)
                               : string_table_find(&s->vocab, buf, 2 + (i - from));
            first = 0;
            s->symbols[at++] = (uint32_t)id;
        }
        s->word_length[w] = (uint32_t)(at - s->word_start[w]);
    }

    /* 4. Count pairs and queue them. */
    for (size_t w = 0; w < s->word_count; w++) {
        const uint32_t *sym = s->symbols + s->word_start[w];
        for (size_t i = 0; i + 1 < s->word_length[w]; i++) {
            uint64_t pair = (uint64_t)sym[i] << 32 | sym[i + 1];
            if (!pair_add(&s->pairs, pair, (int64_t)words->counts[w]) || !sighting_add(&s->seen, pair, (uint32_t)w))
                return TFM_ERR_OUT_OF_MEMORY;
        }
    }
    if (!flush_sightings(&s->seen, &s->pairs, &s->queue)) return TFM_ERR_OUT_OF_MEMORY;

    /* 5. Merge until the vocabulary is big enough or nothing is frequent enough. */
    char *piece = NULL;
    size_t piece_capacity = 0;
    tfm_status status = TFM_OK;
    while (s->vocab.count < options->vocab_size && s->queue.count > 0) {
        merge_entry top = queue_pop(&s->queue);
        int64_t current = pair_table_get(&s->pairs, top.pair);
        if (top.count != current) { /* stale: requeue with the current count */
            top.count = current;
            if (!queue_push(&s->queue, top)) {
                tfm_free(top.words, top.word_count * sizeof(uint32_t));
                status = TFM_ERR_OUT_OF_MEMORY;
                break;
            }
            continue;
        }
        if (top.count < 1 || (int64_t)options->min_frequency > top.count) {
            tfm_free(top.words, top.word_count * sizeof(uint32_t));
            break;
        }
        uint32_t left = (uint32_t)(top.pair >> 32), right = (uint32_t)top.pair;
        const char *a = s->vocab.bytes + s->vocab.offsets[left];
        const char *b = s->vocab.bytes + s->vocab.offsets[right];
        size_t a_len = s->vocab.lengths[left], b_len = s->vocab.lengths[right];
        if (b_len >= 2 && b[0] == '#' && b[1] == '#') {
            b += 2;
            b_len -= 2;
        }
        if (a_len + b_len > piece_capacity) {
            size_t capacity = (a_len + b_len) * 2 + 64;
            char *grown = tfm_realloc(piece, piece_capacity, capacity);
            if (!grown) {
                tfm_free(top.words, top.word_count * sizeof(uint32_t));
                status = TFM_ERR_OUT_OF_MEMORY;
                break;
            }
            piece = grown;
            piece_capacity = capacity;
        }
        memcpy(piece, a, a_len);
        memcpy(piece + a_len, b, b_len);
        /* The arena may move when the piece is added, so a and b are not used after this. */
        int64_t merged = string_table_add(&s->vocab, piece, a_len + b_len);
        int ok = merged >= 0;
        for (size_t i = 0; ok && i < top.word_count; i++) {
            uint32_t w = top.words[i];
            ok = merge_word(s, w, left, right, (uint32_t)merged, (int64_t)words->counts[w]);
        }
        tfm_free(top.words, top.word_count * sizeof(uint32_t));
        if (!ok || !flush_sightings(&s->seen, &s->pairs, &s->queue)) {
            status = TFM_ERR_OUT_OF_MEMORY;
            break;
        }
    }
    tfm_free(piece, piece_capacity);
    return status;
}

void tfm_wordpiece_trainer_seed(tfm_wordpiece_trainer *trainer, const char *const *pieces, size_t count) {
    trainer->seed = pieces;
    trainer->seed_count = count;
}

/* Train into a pool of NUL-terminated pieces in id order. */
static tfm_status train_to_pool(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                char **pool, size_t *pool_size, size_t *count) {
    *pool = NULL;
    if (options->vocab_size == 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_train: vocab_size is 0");
    if (trainer->failed) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "tfm_wordpiece_train: out of memory earlier");
    train_state s = {0};
    tfm_status status = train(trainer, options, &s);
    if (status == TFM_OK) {
        *pool_size = s.vocab.bytes_len ? s.vocab.bytes_len : 1;
        *count = s.vocab.count;
        *pool = tfm_malloc(*pool_size);
        if (*pool) {
            memcpy(*pool, s.vocab.bytes, s.vocab.bytes_len);
        } else {
            status = TFM_ERR_OUT_OF_MEMORY;
        }
    }
    train_state_free(&s);
    if (status == TFM_ERR_OUT_OF_MEMORY) return tfm_error(status, "tfm_wordpiece_train: out of memory");
    return status;
}

tfm_status tfm_wordpiece_trainer_finish(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                        tfm_wordpiece **out) {
    if (!trainer || !options || !out)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_trainer_finish: NULL argument");
    *out = NULL;
    char *pool;
    size_t pool_size, count;
    tfm_status status = train_to_pool(trainer, options, &pool, &pool_size, &count);
    if (status != TFM_OK) return status;
    status = tfm_wordpiece_create(out, pool, pool_size, count, options->lowercase, "trained vocabulary");
    if (status != TFM_OK) return tfm_error_prefix(status, "tfm_wordpiece_train: ");
    return TFM_OK;
}

tfm_status tfm_wordpiece_trainer_save_pieces(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                             const char *path) {
    char *pool;
    size_t pool_size, count;
    tfm_status status = train_to_pool(trainer, options, &pool, &pool_size, &count);
    if (status != TFM_OK) return status;
    FILE *f = fopen(path, "wb");
    if (!f) {
        tfm_free(pool, pool_size);
        return tfm_error(TFM_ERR_IO, "%s: cannot create", path);
    }
    for (size_t i = 0, at = 0; i < count; i++) {
        size_t n = strlen(pool + at);
        fwrite(pool + at, 1, n, f);
        fputc('\n', f);
        at += n + 1;
    }
    tfm_free(pool, pool_size);
    if (fclose(f) != 0) return tfm_error(TFM_ERR_IO, "%s: write error", path);
    return TFM_OK;
}

tfm_status tfm_wordpiece_train(tfm_wordpiece **out, const char *const *texts, const size_t *lengths,
                               size_t text_count, const tfm_wordpiece_train_options *options) {
    if (!out || !options || (!texts && text_count))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_wordpiece_train: NULL argument");
    tfm_wordpiece_trainer *trainer = NULL;
    tfm_status status = tfm_wordpiece_trainer_create(&trainer, options->lowercase);
    for (size_t i = 0; status == TFM_OK && i < text_count; i++) {
        status = tfm_wordpiece_trainer_add_text(trainer, texts[i], lengths ? lengths[i] : strlen(texts[i]));
    }
    if (status == TFM_OK) status = tfm_wordpiece_trainer_finish(trainer, options, out);
    tfm_wordpiece_trainer_free(trainer);
    return status;
}
