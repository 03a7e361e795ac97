/* train/seq2seq_data.c: load and tokenise a parallel corpus, bucket it by length, cut token-count batches, shuffle them resumably. */
#include "train/seq2seq_data.h"

#include <stdlib.h>
#include <string.h>

#include "tfm/io.h"
#include "tfm/random.h"

/* Line starts of a '\0'-terminated text: lines [i] = text + starts[i], length lengths[i] (without "\r\n"). */
typedef struct text_lines {
    char *text;
    size_t size;
    size_t count;
    size_t *starts, *lengths;
} text_lines;

static void text_lines_free(text_lines *l) {
    if (l->text) tfm_free(l->text, l->size + 1);
    tfm_free(l->starts, sizeof(size_t) * l->count);
    tfm_free(l->lengths, sizeof(size_t) * l->count);
    memset(l, 0, sizeof *l);
}

static tfm_status text_lines_read(text_lines *l, const char *path) {
    memset(l, 0, sizeof *l);
    tfm_status st = tfm_file_read(path, &l->text, &l->size);
    if (st) return st;
    size_t count = 0;
    for (size_t i = 0; i < l->size; i++) count += l->text[i] == '\n';
    if (l->size > 0 && l->text[l->size - 1] != '\n') count++;   /* a last line without newline */
    l->count = count;
    l->starts = tfm_malloc(sizeof(size_t) * (count ? count : 1));
    l->lengths = tfm_malloc(sizeof(size_t) * (count ? count : 1));
    if (!l->starts || !l->lengths) { text_lines_free(l); return TFM_ERR_OUT_OF_MEMORY; }
    size_t line = 0, begin = 0;
    for (size_t i = 0; i <= l->size && line < count; i++) {
        if (i == l->size || l->text[i] == '\n') {
            size_t end = i;
            if (end > begin && l->text[end - 1] == '\r') end--;
            l->starts[line] = begin;
            l->lengths[line] = end - begin;
            line++;
            begin = i + 1;
        }
    }
    return TFM_OK;
}

static uint64_t fnv_add(uint64_t h, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xFF;
        h *= 0x100000001b3ull;
    }
    return h;
}

static const tfm_seq2seq_data *sort_data;   /* qsort has no context argument; loading is not re-entrant */
static int compare_pairs(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const tfm_seq2seq_data *d = sort_data;
    if (d->source_length[x] != d->source_length[y]) return d->source_length[x] < d->source_length[y] ? -1 : 1;
    if (d->target_length[x] != d->target_length[y]) return d->target_length[x] < d->target_length[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

long tfm_seq2seq_data_batch_size(const tfm_seq2seq_data *d, size_t index) {
    size_t begin = d->batch_begin[index], end = d->batch_begin[index + 1];
    int S = 0, T = 0;
    for (size_t i = begin; i < end; i++) {
        size_t p = d->sorted[i];
        if (d->source_length[p] + 1 > S) S = d->source_length[p] + 1;
        if (d->target_length[p] + 1 > T) T = d->target_length[p] + 1;
    }
    return (long)(end - begin) * (S > T ? S : T);
}

/* Cut the sorted pairs into batches: add pairs while count * max(S, T) stays within batch_tokens. */
static tfm_status make_batches(tfm_seq2seq_data *d) {
    const tfm_seq2seq_data_options *o = &d->options;
    d->batch_begin = tfm_malloc(sizeof(size_t) * (d->pairs + 1));
    if (!d->batch_begin) return TFM_ERR_OUT_OF_MEMORY;
    size_t n = 0, i = 0;
    while (i < d->pairs) {
        d->batch_begin[n++] = i;
        int S = 0, T = 0;
        size_t count = 0;
        while (i < d->pairs) {
            size_t p = d->sorted[i];
            int s = d->source_length[p] + 1, t = d->target_length[p] + 1;
            int S2 = s > S ? s : S, T2 = t > T ? t : T;
            long size = (long)(count + 1) * (S2 > T2 ? S2 : T2);
            if (count > 0 && (size > o->batch_tokens || (o->max_sentences > 0 && (long)count + 1 > o->max_sentences))) break;
            S = S2;
            T = T2;
            count++;
            i++;
        }
        size_t rows = count;
        if (rows * (size_t)S > d->capacity_source) d->capacity_source = rows * (size_t)S;
        if (rows * (size_t)T > d->capacity_target) d->capacity_target = rows * (size_t)T;
        if ((int)rows > d->capacity_rows) d->capacity_rows = (int)rows;
    }
    d->batch_begin[n] = d->pairs;
    d->batch_count = n;
    return TFM_OK;
}

tfm_status tfm_seq2seq_data_load(tfm_seq2seq_data *d, tfm_bpe *tokenizer, const char *source_path, const char *target_path,
                                 const tfm_seq2seq_data_options *options, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->options = *options;
    d->seed = seed;
    if (options->batch_tokens < 1 || options->max_source_length < 2 || options->max_target_length < 2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "parallel data: batch_tokens must be >= 1 and the maximum lengths >= 2");
    text_lines src, tgt;
    tfm_status st = text_lines_read(&src, source_path);
    if (st) return st;
    if ((st = text_lines_read(&tgt, target_path))) { text_lines_free(&src); return st; }
    if (src.count != tgt.count) {
        st = tfm_error(TFM_ERR_FORMAT, "parallel data: %s has %zu lines but %s has %zu; the files must be line-aligned", source_path,
                       src.count, target_path, tgt.count);
        goto done;
    }
    if (src.count == 0) { st = tfm_error(TFM_ERR_FORMAT, "parallel data: %s is empty", source_path); goto done; }
    d->lines = src.count;
    size_t n = src.count;
    d->source_start = tfm_malloc(sizeof(size_t) * n);
    d->target_start = tfm_malloc(sizeof(size_t) * n);
    d->source_length = tfm_malloc(sizeof(int) * n);
    d->target_length = tfm_malloc(sizeof(int) * n);
    d->line_of_pair = tfm_malloc(sizeof(size_t) * n);
    if (!d->source_start || !d->target_start || !d->source_length || !d->target_length || !d->line_of_pair) {
        st = TFM_ERR_OUT_OF_MEMORY;
        goto done;
    }
    /* One tfm_tokens buffer collects every kept pair. A byte-level BPE token covers at least one byte,
     * so the files' size bounds its length: reserved once (untouched pages cost no memory), it never
     * moves while it fills. */
    tfm_tokens pool = {.ids = tfm_malloc(sizeof(uint32_t) * (src.size + tgt.size + 1)), .capacity = src.size + tgt.size + 1};
    if (!pool.ids) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t line = 0; line < n; line++) {
        size_t before = pool.count;
        if ((st = tfm_bpe_encode(tokenizer, src.text + src.starts[line], src.lengths[line], 0, &pool, NULL))) break;
        size_t middle = pool.count;
        if ((st = tfm_bpe_encode(tokenizer, tgt.text + tgt.starts[line], tgt.lengths[line], 0, &pool, NULL))) break;
        size_t s = middle - before, t = pool.count - middle;
        if (s == 0 || t == 0) { d->skipped_empty++; pool.count = before; continue; }
        if ((long)s + 1 > options->max_source_length || (long)t + 1 > options->max_target_length) {
            d->skipped_long++;
            pool.count = before;
            continue;
        }
        size_t p = d->pairs++;
        d->source_start[p] = before;
        d->target_start[p] = middle;
        d->source_length[p] = (int)s;
        d->target_length[p] = (int)t;
        d->line_of_pair[p] = line;
        h = fnv_add(fnv_add(h, (uint32_t)s), (uint32_t)t);
        for (size_t i = before; i < pool.count; i++) h = fnv_add(h, pool.ids[i]);
    }
    if (st) { tfm_tokens_free(&pool); st = tfm_error_prefix(st, "parallel data: %s: ", source_path); goto done; }
    /* Keep the ids in an array of their own size: 16-bit when every id of the vocabulary fits. */
    d->pool_count = pool.count;
    size_t kept = pool.count ? pool.count : 1;
    if (tfm_bpe_vocab_size(tokenizer) <= 65536) {
        d->pool16 = tfm_malloc(sizeof(uint16_t) * kept);
        if (d->pool16)
            for (size_t i = 0; i < pool.count; i++) d->pool16[i] = (uint16_t)pool.ids[i];
    } else {
        d->pool32 = tfm_malloc(sizeof(int32_t) * kept);
        if (d->pool32) memcpy(d->pool32, pool.ids, sizeof(int32_t) * pool.count);
    }
    tfm_tokens_free(&pool);
    if (!d->pool16 && !d->pool32) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    d->checksum = h;
    if (d->pairs == 0) {
        st = tfm_error(TFM_ERR_FORMAT, "parallel data: %s / %s: no usable pair (%zu empty, %zu longer than %d/%d tokens)", source_path,
                       target_path, d->skipped_empty, d->skipped_long, options->max_source_length, options->max_target_length);
        goto done;
    }
    d->sorted = tfm_malloc(sizeof(size_t) * d->pairs);
    if (!d->sorted) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
    for (size_t i = 0; i < d->pairs; i++) d->sorted[i] = i;
    sort_data = d;
    qsort(d->sorted, d->pairs, sizeof(size_t), compare_pairs);
    sort_data = NULL;
    if ((st = make_batches(d))) goto done;
    d->order = tfm_malloc(sizeof(size_t) * d->batch_count);
    tfm_seq2seq_batch *b = &d->batch;
    b->source = tfm_malloc(sizeof(int32_t) * d->capacity_source);
    b->target_input = tfm_malloc(sizeof(int32_t) * d->capacity_target);
    b->target_output = tfm_malloc(sizeof(int32_t) * d->capacity_target);
    b->source_lengths = tfm_malloc(sizeof(int) * (size_t)d->capacity_rows);
    b->target_lengths = tfm_malloc(sizeof(int) * (size_t)d->capacity_rows);
    b->pairs = tfm_malloc(sizeof(size_t) * (size_t)d->capacity_rows);
    if (!d->order || !b->source || !b->target_input || !b->target_output || !b->source_lengths || !b->target_lengths || !b->pairs) {
        st = TFM_ERR_OUT_OF_MEMORY;
        goto done;
    }
    tfm_seq2seq_data_seek(d, 0, 0);
done:
    text_lines_free(&src);
    text_lines_free(&tgt);
    if (st) tfm_seq2seq_data_free(d);
    return st;
}

void tfm_seq2seq_data_free(tfm_seq2seq_data *d) {
    size_t n = d->lines;
    size_t kept = d->pool_count ? d->pool_count : 1;
    tfm_free(d->pool16, sizeof(uint16_t) * kept);
    tfm_free(d->pool32, sizeof(int32_t) * kept);
    tfm_free(d->source_start, sizeof(size_t) * n);
    tfm_free(d->target_start, sizeof(size_t) * n);
    tfm_free(d->source_length, sizeof(int) * n);
    tfm_free(d->target_length, sizeof(int) * n);
    tfm_free(d->line_of_pair, sizeof(size_t) * n);
    tfm_free(d->sorted, sizeof(size_t) * d->pairs);
    if (d->batch_begin) tfm_free(d->batch_begin, sizeof(size_t) * (d->pairs + 1));
    tfm_free(d->order, sizeof(size_t) * d->batch_count);
    tfm_seq2seq_batch *b = &d->batch;
    tfm_free(b->source, sizeof(int32_t) * d->capacity_source);
    tfm_free(b->target_input, sizeof(int32_t) * d->capacity_target);
    tfm_free(b->target_output, sizeof(int32_t) * d->capacity_target);
    tfm_free(b->source_lengths, sizeof(int) * (size_t)d->capacity_rows);
    tfm_free(b->target_lengths, sizeof(int) * (size_t)d->capacity_rows);
    tfm_free(b->pairs, sizeof(size_t) * (size_t)d->capacity_rows);
    memset(d, 0, sizeof *d);
}

void tfm_seq2seq_data_ids(const tfm_seq2seq_data *d, size_t offset, int count, int32_t *ids) {
    if (d->pool16)
        for (int i = 0; i < count; i++) ids[i] = d->pool16[offset + (size_t)i];
    else
        memcpy(ids, d->pool32 + offset, sizeof(int32_t) * (size_t)count);
}

void tfm_seq2seq_data_fill(tfm_seq2seq_data *d, size_t index) {
    const tfm_seq2seq_data_options *o = &d->options;
    tfm_seq2seq_batch *b = &d->batch;
    size_t begin = d->batch_begin[index], end = d->batch_begin[index + 1];
    int B = (int)(end - begin), S = 0, T = 0;
    for (size_t i = begin; i < end; i++) {
        size_t p = d->sorted[i];
        if (d->source_length[p] + 1 > S) S = d->source_length[p] + 1;
        if (d->target_length[p] + 1 > T) T = d->target_length[p] + 1;
    }
    b->B = B;
    b->S = S;
    b->T = T;
    b->target_tokens = 0;
    for (int r = 0; r < B; r++) {
        size_t p = d->sorted[begin + (size_t)r];
        int s = d->source_length[p], t = d->target_length[p];
        int32_t *src = b->source + (size_t)r * S, *in = b->target_input + (size_t)r * T, *out = b->target_output + (size_t)r * T;
        tfm_seq2seq_data_ids(d, d->source_start[p], s, src);
        src[s] = o->eos_id;
        for (int j = s + 1; j < S; j++) src[j] = o->pad_id;
        in[0] = o->bos_id;
        tfm_seq2seq_data_ids(d, d->target_start[p], t, out);
        memcpy(in + 1, out, sizeof(int32_t) * (size_t)t);
        out[t] = o->eos_id;
        for (int j = t + 1; j < T; j++) in[j] = out[j] = o->pad_id;
        b->source_lengths[r] = s + 1;
        b->target_lengths[r] = t + 1;
        b->pairs[r] = d->line_of_pair[p];
        b->target_tokens += t + 1;
    }
}

void tfm_seq2seq_data_seek(tfm_seq2seq_data *d, long epoch, size_t position) {
    d->epoch = epoch;
    d->position = position;
    /* Fisher-Yates with draws (seed, epoch, i): the permutation depends only on the epoch number. */
    size_t n = d->batch_count;
    for (size_t i = 0; i < n; i++) d->order[i] = i;
    uint64_t stream = d->seed ^ ((uint64_t)epoch * 0x9E3779B97F4A7C15ull);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tfm_random_bits_at(stream, i) % i);
        size_t tmp = d->order[i - 1];
        d->order[i - 1] = d->order[j];
        d->order[j] = tmp;
    }
}

void tfm_seq2seq_data_next(tfm_seq2seq_data *d) {
    if (d->position >= d->batch_count) tfm_seq2seq_data_seek(d, d->epoch + 1, 0);
    tfm_seq2seq_data_fill(d, d->order[d->position]);
    d->position++;
}
