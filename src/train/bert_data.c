/* train/bert_data.c: BERT pre-training examples: the text tokenized once, pairs built per document (NSP, SOP or RoBERTa's single segments), masks drawn per example. */
#include "tfm/bert_data.h"

#include <math.h>
#include <string.h>

#include "tfm/bpe.h" /* tfm_tokens */
#include "tfm/io.h"
#include "tfm/random.h"
#include "tfm/wordpiece.h"

/* Streams derived from the seed: one builds the pairs, one per example draws its masks. */
#define PAIR_SEED_MIX 0xBE27A1u
#define MASK_SEED_MIX 0x3A5Cu

/* ---- The corpus ---- */

void tfm_bert_corpus_free(tfm_bert_corpus *c) {
    tfm_free(c->tokens, sizeof(int32_t) * c->token_count);
    tfm_free(c->sentence_start, sizeof(size_t) * (c->sentence_count + 1));
    tfm_free(c->document_start, sizeof(size_t) * (c->document_count + 1));
    tfm_free(c->piece_flags, (size_t)c->vocab_size);
    memset(c, 0, sizeof *c);
}

/* Growable arrays while reading; trimmed to their counts at the end. */
typedef struct corpus_builder {
    tfm_bert_corpus *c;
    size_t token_capacity, sentence_capacity, document_capacity;
} corpus_builder;

static int grow(void **array, size_t *capacity, size_t needed, size_t element) {
    if (needed <= *capacity) return 1;
    size_t n = *capacity ? *capacity * 2 : 1024;
    while (n < needed) n *= 2;
    void *p = tfm_realloc(*array, *capacity * element, n * element);
    if (!p) return 0;
    *array = p;
    *capacity = n;
    return 1;
}

/* Reallocate to exactly `size` bytes (> 0), so the free can name the size from the counts. */
static int shrink(void **array, size_t capacity, size_t size) {
    void *p = tfm_realloc(*array, capacity, size);
    if (!p) return 0;
    *array = p;
    return 1;
}

static tfm_status add_sentence(corpus_builder *b, const uint32_t *ids, size_t count) {
    tfm_bert_corpus *c = b->c;
    if (!grow((void **)&c->tokens, &b->token_capacity, c->token_count + count, sizeof(int32_t)) ||
        !grow((void **)&c->sentence_start, &b->sentence_capacity, c->sentence_count + 2, sizeof(size_t)))
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the tokenized corpus (%zu tokens)", c->token_count);
    for (size_t i = 0; i < count; i++) c->tokens[c->token_count + i] = (int32_t)ids[i];
    c->token_count += count;
    c->sentence_count++;
    c->sentence_start[c->sentence_count] = c->token_count;
    return TFM_OK;
}

/* A document ends at a blank line (and at the end of the text): record where its sentences stop. */
static tfm_status end_document(corpus_builder *b) {
    tfm_bert_corpus *c = b->c;
    size_t first = c->document_count ? c->document_start[c->document_count] : 0;
    if (c->sentence_count == first) return TFM_OK; /* no sentences since the last one */
    if (!grow((void **)&c->document_start, &b->document_capacity, c->document_count + 2, sizeof(size_t)))
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the corpus' documents");
    c->document_start[0] = 0;
    c->document_count++;
    c->document_start[c->document_count] = c->sentence_count;
    return TFM_OK;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

static tfm_status read_piece_kinds(tfm_bert_corpus *c, tfm_wordpiece *tok, const char *name) {
    int64_t ids[4] = {tfm_wordpiece_cls_id(tok), tfm_wordpiece_sep_id(tok), tfm_wordpiece_mask_id(tok), tfm_wordpiece_pad_id(tok)};
    static const char *const names[4] = {"[CLS]", "[SEP]", "[MASK]", "[PAD]"};
    for (int i = 0; i < 4; i++)
        if (ids[i] < 0) return tfm_error(TFM_ERR_FORMAT, "%s: the WordPiece vocabulary has no %s, which BERT pre-training needs", name, names[i]);
    c->cls_id = (int32_t)ids[0], c->sep_id = (int32_t)ids[1], c->mask_id = (int32_t)ids[2], c->pad_id = (int32_t)ids[3];
    size_t V = tfm_wordpiece_vocab_size(tok);
    if (V > (size_t)INT32_MAX) return tfm_error(TFM_ERR_FORMAT, "%s: a vocabulary of %zu pieces is too large", name, V);
    c->vocab_size = (int)V;
    c->piece_flags = tfm_calloc(V, 1);
    if (!c->piece_flags) return TFM_ERR_OUT_OF_MEMORY;
    for (size_t id = 0; id < V; id++) {
        size_t length = 0;
        const char *piece = tfm_wordpiece_id_to_token(tok, (uint32_t)id, &length);
        if (piece && length >= 2 && piece[0] == '#' && piece[1] == '#') c->piece_flags[id] |= TFM_BERT_PIECE_CONTINUATION;
        if (tfm_wordpiece_is_special(tok, (uint32_t)id)) c->piece_flags[id] |= TFM_BERT_PIECE_SPECIAL;
    }
    return TFM_OK;
}

static tfm_status read_lines(corpus_builder *b, const char *text, size_t length, tfm_wordpiece *tok, const char *name) {
    tfm_tokens ids = {0};
    tfm_status st = TFM_OK;
    long line = 0;
    for (size_t at = 0; at < length && !st; line++) {
        const char *end = memchr(text + at, '\n', length - at);
        size_t n = end ? (size_t)(end - (text + at)) : length - at;
        if (blank(text + at, n)) {
            st = end_document(b);
        } else {
            ids.count = 0;
            st = tfm_wordpiece_encode(tok, text + at, n, 0, &ids);
            if (st) st = tfm_error_prefix(st, "%s: line %ld: ", name, line + 1);
            else if (ids.count) st = add_sentence(b, ids.ids, ids.count);
        }
        at += n + 1;
    }
    if (!st) st = end_document(b);
    tfm_tokens_free(&ids);
    return st;
}

tfm_status tfm_bert_corpus_from_text(tfm_bert_corpus *c, const char *text, size_t length, const char *name, tfm_wordpiece *tok) {
    memset(c, 0, sizeof *c);
    corpus_builder b = {.c = c};
    tfm_status st = tfm_text_check_utf8(text, length, name);
    if (!st) st = read_piece_kinds(c, tok, name);
    if (!st && !grow((void **)&c->sentence_start, &b.sentence_capacity, 1, sizeof(size_t))) st = TFM_ERR_OUT_OF_MEMORY;
    if (!st) c->sentence_start[0] = 0;
    if (!st) st = read_lines(&b, text, length, tok, name);
    if (!st && c->sentence_count == 0) st = tfm_error(TFM_ERR_FORMAT, "%s: no sentences: expected one sentence per line, documents separated by blank lines", name);
    /* Free with the exact sizes tfm_bert_corpus_free uses. */
    if (!st && (!shrink((void **)&c->tokens, b.token_capacity * sizeof(int32_t), c->token_count * sizeof(int32_t)) ||
                !shrink((void **)&c->sentence_start, b.sentence_capacity * sizeof(size_t), (c->sentence_count + 1) * sizeof(size_t)) ||
                !shrink((void **)&c->document_start, b.document_capacity * sizeof(size_t), (c->document_count + 1) * sizeof(size_t))))
        st = TFM_ERR_OUT_OF_MEMORY;
    if (st) {
        tfm_free(c->tokens, b.token_capacity * sizeof(int32_t));
        tfm_free(c->sentence_start, b.sentence_capacity * sizeof(size_t));
        tfm_free(c->document_start, b.document_capacity * sizeof(size_t));
        tfm_free(c->piece_flags, (size_t)c->vocab_size);
        memset(c, 0, sizeof *c);
    }
    return st;
}

tfm_status tfm_bert_corpus_load(tfm_bert_corpus *c, const char *path, tfm_wordpiece *tok) {
    memset(c, 0, sizeof *c);
    char *text = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(path, &text, &size);
    if (st) return st;
    st = tfm_bert_corpus_from_text(c, text, size, path, tok);
    tfm_free(text, size + 1);
    return st;
}

/* ---- Pairs ---- */

/* A sequence as token ranges of the corpus: "[CLS] a [SEP] b [SEP]" (b empty: "[CLS] a [SEP]"). */
typedef struct sequence_ranges {
    size_t a_begin, a_end, b_begin, b_end;
    int label;
} sequence_ranges;

struct tfm_bert_examples {
    const tfm_bert_corpus *corpus;
    tfm_bert_data_options options;
    uint64_t seed;
    size_t first_document, document_count;
    sequence_ranges *sequences;
    size_t count, capacity;
    int32_t *ordinary_ids;           /* the ids a random replacement is drawn from */
    int ordinary_count;
    tfm_bert_examples_stats stats;
    tfm_rng rng;                     /* the pair builder's stream */
};

static size_t sentence_begin(const tfm_bert_examples *e, size_t s) { return e->corpus->sentence_start[s]; }
static size_t draw_below(tfm_rng *rng, size_t n) { return (size_t)(tfm_rng_bits(rng) % n); }

/* Google's truncate_seq_pair: drop a token from the longer side (B on a tie), from its front or back at random. */
static void trim(tfm_bert_examples *e, sequence_ranges *r, size_t budget) {
    while ((r->a_end - r->a_begin) + (r->b_end - r->b_begin) > budget) {
        int from_a = (r->a_end - r->a_begin) > (r->b_end - r->b_begin);
        size_t *begin = from_a ? &r->a_begin : &r->b_begin, *end = from_a ? &r->a_end : &r->b_end;
        if (tfm_rng_uniform(&e->rng) < 0.5f) (*begin)++;
        else (*end)--;
        e->stats.trimmed_tokens++;
    }
}

static tfm_status add_sequence(tfm_bert_examples *e, sequence_ranges r) {
    if (!grow((void **)&e->sequences, &e->capacity, e->count + 1, sizeof r))
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for %zu BERT examples", e->count + 1);
    e->sequences[e->count++] = r;
    e->stats.examples++;
    if (r.label == 1) e->stats.random_pairs++;
    return TFM_OK;
}

/* NSP's random B: a stretch of another document, from a random sentence on, of about `target` tokens. */
static void random_next(tfm_bert_examples *e, size_t document, size_t target, sequence_ranges *r) {
    size_t other = e->first_document + draw_below(&e->rng, e->document_count - 1);
    if (other >= document) other++; /* uniform over the other documents */
    const size_t *ds = e->corpus->document_start;
    size_t s = ds[other] + draw_below(&e->rng, ds[other + 1] - ds[other]);
    r->b_begin = sentence_begin(e, s);
    r->b_end = sentence_begin(e, s + 1);
    for (s++; s < ds[other + 1] && r->b_end - r->b_begin < target; s++) r->b_end = sentence_begin(e, s + 1);
}

/* The chunk is sentences [first, last] of `document`; returns how many of its sentences go back unused. */
static tfm_status emit_pair(tfm_bert_examples *e, size_t document, size_t first, size_t last, size_t target, size_t *unused) {
    size_t sentences = last - first + 1, budget = (size_t)e->options.max_length - 3;
    size_t a_end = first + 1 + (sentences >= 2 ? draw_below(&e->rng, sentences - 1) : 0);
    sequence_ranges r = {sentence_begin(e, first), sentence_begin(e, a_end), sentence_begin(e, a_end), sentence_begin(e, last + 1), 0};
    *unused = 0;
    if (e->options.objective == TFM_BERT_OBJECTIVE_NSP) {
        int forced = sentences == 1;
        if (forced || tfm_rng_uniform(&e->rng) < 0.5f) {
            size_t a_length = r.a_end - r.a_begin;
            random_next(e, document, target > a_length ? target - a_length : 1, &r);
            r.label = 1;
            *unused = last + 1 - a_end;
            e->stats.forced_random_pairs += (size_t)forced;
        }
    } else {
        if (sentences == 1) { /* SOP: split the one sentence at a random token */
            size_t n = r.a_end - r.a_begin;
            if (n < 2) return TFM_OK; /* nothing to order */
            r.a_end = r.b_begin = r.a_begin + 1 + draw_below(&e->rng, n - 1);
            r.b_end = sentence_begin(e, last + 1);
        }
        if (tfm_rng_uniform(&e->rng) < 0.5f) {
            r = (sequence_ranges){r.b_begin, r.b_end, r.a_begin, r.a_end, 1};
        }
    }
    trim(e, &r, budget);
    return add_sequence(e, r);
}

/* RoBERTa's DOC-SENTENCES: whole sentences of one document while they fit (a longer first sentence is cut). */
static tfm_status build_single_segments(tfm_bert_examples *e, size_t document) {
    const size_t *ds = e->corpus->document_start;
    size_t budget = (size_t)e->options.max_length - 2;
    for (size_t s = ds[document]; s < ds[document + 1];) {
        sequence_ranges r = {sentence_begin(e, s), sentence_begin(e, s + 1), 0, 0, -1};
        for (s++; s < ds[document + 1] && sentence_begin(e, s + 1) - r.a_begin <= budget; s++) r.a_end = sentence_begin(e, s + 1);
        if (r.a_end - r.a_begin > budget) {
            e->stats.trimmed_tokens += r.a_end - r.a_begin - budget;
            r.a_end = r.a_begin + budget;
        }
        tfm_status st = add_sequence(e, r);
        if (st) return st;
    }
    return TFM_OK;
}

/* Google's create_instances_from_document for one document. */
static tfm_status build_pairs(tfm_bert_examples *e, size_t document) {
    const size_t *ds = e->corpus->document_start;
    size_t budget = (size_t)e->options.max_length - 3, target = budget;
    if (tfm_rng_uniform(&e->rng) < e->options.short_sequence_probability) target = 2 + draw_below(&e->rng, budget - 1);
    size_t chunk_first = ds[document], length = 0;
    for (size_t s = ds[document]; s < ds[document + 1]; s++) {
        length += sentence_begin(e, s + 1) - sentence_begin(e, s);
        if (s + 1 < ds[document + 1] && length < target) continue;
        size_t unused = 0;
        tfm_status st = emit_pair(e, document, chunk_first, s, target, &unused);
        if (st) return st;
        s -= unused; /* those sentences start the next chunk */
        chunk_first = s + 1;
        length = 0;
    }
    return TFM_OK;
}

static tfm_status collect_ordinary_ids(tfm_bert_examples *e) {
    const tfm_bert_corpus *c = e->corpus;
    e->ordinary_ids = tfm_malloc(sizeof(int32_t) * (size_t)c->vocab_size);
    if (!e->ordinary_ids) return TFM_ERR_OUT_OF_MEMORY;
    for (int id = 0; id < c->vocab_size; id++)
        if (!(c->piece_flags[id] & TFM_BERT_PIECE_SPECIAL) && id != c->cls_id && id != c->sep_id && id != c->mask_id && id != c->pad_id)
            e->ordinary_ids[e->ordinary_count++] = id;
    if (e->ordinary_count == 0) return tfm_error(TFM_ERR_FORMAT, "BERT pre-training: the vocabulary has only special tokens");
    return TFM_OK;
}

tfm_status tfm_bert_examples_create(tfm_bert_examples **out, const tfm_bert_corpus *corpus, size_t first, size_t count,
                                    const tfm_bert_data_options *options, uint64_t seed) {
    *out = NULL;
    tfm_status st = tfm_bert_data_options_validate(options);
    if (st) return st;
    if (first > corpus->document_count || count > corpus->document_count - first || count == 0)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT examples: documents [%zu, %zu) are not in the corpus' %zu", first, first + count,
                         corpus->document_count);
    if (options->objective == TFM_BERT_OBJECTIVE_NSP && count < 2)
        return tfm_error(TFM_ERR_FORMAT, "next-sentence prediction needs at least 2 documents (separated by a blank line) to draw "
                                         "random sentences from; this part of the text has 1");
    tfm_bert_examples *e = tfm_calloc(1, sizeof *e);
    if (!e) return TFM_ERR_OUT_OF_MEMORY;
    *e = (tfm_bert_examples){.corpus = corpus, .options = *options, .seed = seed, .first_document = first, .document_count = count};
    tfm_rng_init(&e->rng, seed ^ PAIR_SEED_MIX);
    st = collect_ordinary_ids(e);
    for (size_t d = first; d < first + count && !st; d++)
        st = options->objective == TFM_BERT_OBJECTIVE_MLM ? build_single_segments(e, d) : build_pairs(e, d);
    if (!st && e->count == 0) st = tfm_error(TFM_ERR_FORMAT, "BERT pre-training: the text gives no examples (sentences too short to pair)");
    if (st) {
        tfm_bert_examples_free(e);
        return st;
    }
    *out = e;
    return TFM_OK;
}

void tfm_bert_examples_free(tfm_bert_examples *e) {
    if (!e) return;
    tfm_free(e->sequences, e->capacity * sizeof(sequence_ranges));
    tfm_free(e->ordinary_ids, sizeof(int32_t) * (size_t)e->corpus->vocab_size);
    tfm_free(e, sizeof *e);
}

size_t tfm_bert_examples_count(const tfm_bert_examples *e) { return e->count; }
tfm_bert_examples_stats tfm_bert_examples_get_stats(const tfm_bert_examples *e) { return e->stats; }

/* ---- One example: the sequence, then the masks ---- */

tfm_status tfm_bert_example_allocate(tfm_bert_example *x, const tfm_bert_data_options *o) {
    memset(x, 0, sizeof *x);
    size_t T = (size_t)o->max_length, P = (size_t)o->max_predictions;
    x->input_ids = tfm_malloc(sizeof(int32_t) * T);
    x->token_type_ids = tfm_malloc(sizeof(int32_t) * T);
    x->positions = tfm_malloc(sizeof(int32_t) * P);
    x->labels = tfm_malloc(sizeof(int32_t) * P);
    x->scratch = tfm_malloc(sizeof(int32_t) * 2 * T);
    if (x->input_ids && x->token_type_ids && x->positions && x->labels && x->scratch) return TFM_OK;
    tfm_bert_example_free(x, o);
    return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for a BERT example of %zu tokens", T);
}

void tfm_bert_example_free(tfm_bert_example *x, const tfm_bert_data_options *o) {
    size_t T = (size_t)o->max_length, P = (size_t)o->max_predictions;
    tfm_free(x->input_ids, sizeof(int32_t) * T);
    tfm_free(x->token_type_ids, sizeof(int32_t) * T);
    tfm_free(x->positions, sizeof(int32_t) * P);
    tfm_free(x->labels, sizeof(int32_t) * P);
    tfm_free(x->scratch, sizeof(int32_t) * 2 * T);
    memset(x, 0, sizeof *x);
}

static void write_sequence(const tfm_bert_examples *e, const sequence_ranges *r, tfm_bert_example *x) {
    const tfm_bert_corpus *c = e->corpus;
    int n = 0, T = e->options.max_length;
    x->input_ids[n] = c->cls_id, x->token_type_ids[n++] = 0;
    for (size_t i = r->a_begin; i < r->a_end; i++) x->input_ids[n] = c->tokens[i], x->token_type_ids[n++] = 0;
    x->input_ids[n] = c->sep_id, x->token_type_ids[n++] = 0;
    if (r->b_end > r->b_begin) {
        for (size_t i = r->b_begin; i < r->b_end; i++) x->input_ids[n] = c->tokens[i], x->token_type_ids[n++] = 1;
        x->input_ids[n] = c->sep_id, x->token_type_ids[n++] = 1;
    }
    x->length = n;
    for (; n < T; n++) x->input_ids[n] = c->pad_id, x->token_type_ids[n] = 0;
    x->pair_label = r->label;
}

static int never_masked(const tfm_bert_corpus *c, int32_t id) { return id == c->cls_id || id == c->sep_id || id == c->pad_id || id == c->mask_id; }

/* Google's create_masked_lm_predictions: candidate words (a word = a piece and its "##" pieces under whole-word
 * masking, else each piece) in random order, taken while they fit in the number to predict. */
static void choose_and_replace(const tfm_bert_examples *e, tfm_rng *rng, tfm_bert_example *x) {
    const tfm_bert_corpus *c = e->corpus;
    const tfm_bert_data_options *o = &e->options;
    int32_t *group_start = x->scratch, *group_of = x->scratch + o->max_length; /* [groups + 1], [length] */
    int groups = 0;
    for (int i = 0; i < x->length; i++) {
        group_of[i] = -1;
        if (never_masked(c, x->input_ids[i])) continue;
        int joins = o->whole_word_masking && groups > 0 && (c->piece_flags[x->input_ids[i]] & TFM_BERT_PIECE_CONTINUATION) &&
                    group_of[i - 1] == groups - 1;
        if (!joins) group_start[groups++] = i;
        group_of[i] = groups - 1;
    }
    for (int i = groups - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)(tfm_rng_bits(rng) % (uint64_t)(i + 1)), t = group_start[i];
        group_start[i] = group_start[j], group_start[j] = t;
    }
    int wanted = (int)lrint((double)x->length * o->mask_probability);
    wanted = wanted < 1 ? 1 : wanted > o->max_predictions ? o->max_predictions : wanted;
    x->predictions = 0;
    for (int g = 0; g < groups && x->predictions < wanted; g++) {
        int first = group_start[g], size = 0;
        while (first + size < x->length && group_of[first + size] == group_of[first]) size++;
        if (x->predictions + size > wanted) continue;
        for (int k = 0; k < size; k++) x->positions[x->predictions++] = first + k;
    }
    if (x->predictions == 0 && groups > 0) /* whole words longer than the number wanted: one word anyway, so every sequence teaches */
        for (int k = 0; group_start[0] + k < x->length && group_of[group_start[0] + k] == group_of[group_start[0]] && k < o->max_predictions; k++)
            x->positions[x->predictions++] = group_start[0] + k;
    /* ascending positions (insertion sort: at most max_predictions), then labels and replacements */
    for (int i = 1; i < x->predictions; i++)
        for (int j = i; j > 0 && x->positions[j - 1] > x->positions[j]; j--) {
            int32_t t = x->positions[j];
            x->positions[j] = x->positions[j - 1], x->positions[j - 1] = t;
        }
    for (int i = 0; i < x->predictions; i++) {
        int p = x->positions[i];
        x->labels[i] = x->input_ids[p];
        float u = tfm_rng_uniform(rng);
        if (u < o->mask_token_probability) x->input_ids[p] = c->mask_id;
        else if (u < o->mask_token_probability + o->random_token_probability)
            x->input_ids[p] = e->ordinary_ids[tfm_rng_bits(rng) % (uint64_t)e->ordinary_count];
    }
}

tfm_status tfm_bert_examples_get(const tfm_bert_examples *e, size_t index, long epoch, tfm_bert_example *x) {
    if (index >= e->count) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT example %zu of %zu", index, e->count);
    write_sequence(e, &e->sequences[index], x);
    uint64_t key = tfm_random_bits_at(e->seed ^ MASK_SEED_MIX, index);
    if (e->options.dynamic_masking) key = tfm_random_bits_at(key, (uint64_t)epoch);
    tfm_rng rng;
    tfm_rng_init(&rng, key);
    choose_and_replace(e, &rng, x);
    return TFM_OK;
}

/* ---- Batches ---- */

tfm_status tfm_bert_pretraining_batch_allocate(tfm_bert_pretraining_batch *b, int capacity, const tfm_bert_data_options *o) {
    memset(b, 0, sizeof *b);
    b->capacity = capacity, b->max_length = o->max_length, b->max_predictions = o->max_predictions;
    size_t B = (size_t)capacity, BT = B * (size_t)o->max_length, BP = B * (size_t)o->max_predictions;
    b->input_ids = tfm_malloc(sizeof(int32_t) * BT);
    b->token_type_ids = tfm_malloc(sizeof(int32_t) * BT);
    b->lengths = tfm_malloc(sizeof(int) * B);
    b->rows = tfm_malloc(sizeof(int32_t) * BP);
    b->labels = tfm_malloc(sizeof(int32_t) * BP);
    b->pair_labels = tfm_malloc(sizeof(int32_t) * B);
    b->indices = tfm_malloc(sizeof(size_t) * B);
    tfm_status st = b->input_ids && b->token_type_ids && b->lengths && b->rows && b->labels && b->pair_labels && b->indices
                        ? tfm_bert_example_allocate(&b->example, o)
                        : tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for a BERT batch of %d x %d", capacity, o->max_length);
    if (st) tfm_bert_pretraining_batch_free(b);
    return st;
}

void tfm_bert_pretraining_batch_free(tfm_bert_pretraining_batch *b) {
    size_t B = (size_t)b->capacity, BT = B * (size_t)b->max_length, BP = B * (size_t)b->max_predictions;
    tfm_bert_data_options o = {.max_length = b->max_length, .max_predictions = b->max_predictions};
    tfm_free(b->input_ids, sizeof(int32_t) * BT);
    tfm_free(b->token_type_ids, sizeof(int32_t) * BT);
    tfm_free(b->lengths, sizeof(int) * B);
    tfm_free(b->rows, sizeof(int32_t) * BP);
    tfm_free(b->labels, sizeof(int32_t) * BP);
    tfm_free(b->pair_labels, sizeof(int32_t) * B);
    tfm_free(b->indices, sizeof(size_t) * B);
    tfm_bert_example_free(&b->example, &o);
    memset(b, 0, sizeof *b);
}

tfm_status tfm_bert_pretraining_batch_fill(tfm_bert_pretraining_batch *b, const tfm_bert_examples *e, const size_t *indices, int count,
                                           long epoch) {
    if (count < 1 || count > b->capacity || b->max_length != e->options.max_length || b->max_predictions != e->options.max_predictions)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "BERT batch: %d examples for a batch of %d (or the batch was made for other options)", count,
                         b->capacity);
    int stride = b->max_length, longest = 0;
    b->batch = count;
    b->predictions = 0;
    b->has_pairs = e->options.objective != TFM_BERT_OBJECTIVE_MLM;
    for (int i = 0; i < count; i++) {
        tfm_status st = tfm_bert_examples_get(e, indices[i], epoch, &b->example);
        if (st) return st;
        memcpy(b->input_ids + (size_t)i * stride, b->example.input_ids, sizeof(int32_t) * (size_t)stride);
        memcpy(b->token_type_ids + (size_t)i * stride, b->example.token_type_ids, sizeof(int32_t) * (size_t)stride);
        b->lengths[i] = b->example.length;
        b->pair_labels[i] = b->example.pair_label;
        for (int k = 0; k < b->example.predictions; k++) {
            b->rows[b->predictions] = i * stride + b->example.positions[k];
            b->labels[b->predictions++] = b->example.labels[k];
        }
        if (b->example.length > longest) longest = b->example.length;
    }
    /* Rows of `longest` tokens: move each row down, then re-base the prediction rows. */
    b->length = longest;
    for (int i = 1; i < count; i++) {
        memmove(b->input_ids + (size_t)i * longest, b->input_ids + (size_t)i * stride, sizeof(int32_t) * (size_t)longest);
        memmove(b->token_type_ids + (size_t)i * longest, b->token_type_ids + (size_t)i * stride, sizeof(int32_t) * (size_t)longest);
    }
    for (int k = 0; k < b->predictions; k++) b->rows[k] = (b->rows[k] / stride) * longest + b->rows[k] % stride;
    return TFM_OK;
}
