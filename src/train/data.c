/* train/data.c: a corpus as a stream of token ids (bytes, a token file, or text through a BPE), split into training windows and a validation tail. */
#include "tfm/bpe.h"
#include "tfm/io.h" /* tfm_file_read, tfm_token_file_read */
#include "tfm/train.h"

#include <string.h>

/* Take `ids` [count] (owned from here on) as the dataset, or refuse it as too small for the windows. */
static tfm_status from_ids(tfm_dataset *d, uint32_t *ids, size_t count, const char *name, int seq_len, float valid_fraction, uint64_t seed) {
    size_t valid = (size_t)((double)count * valid_fraction), window = (size_t)seq_len + 1;
    if (count < valid + window || (valid_fraction > 0 && valid < window)) {
        tfm_free(ids, count * sizeof *ids);
        return tfm_error(TFM_ERR_FORMAT, "data file %s has %zu tokens: too small for a %zu-token training window%s", name, count, window,
                         valid_fraction > 0 ? " and a validation window" : "");
    }
    d->tokens = ids;
    d->count = count;
    d->train_count = count - valid;
    tfm_rng_init(&d->position_rng, seed ^ 0xDA7A5E7ull);
    return TFM_OK;
}

/* The file as checked UTF-8 text in fresh memory (tfm_free(*text, *size + 1)). */
static tfm_status read_text(const char *path, char **text, size_t *size) {
    tfm_status st = tfm_file_read(path, text, size);
    if (st) return tfm_error_prefix(st, "data file: ");
    if (*size == 0) st = tfm_error(TFM_ERR_FORMAT, "data file %s is empty: expected UTF-8 text", path);
    if (!st && (st = tfm_text_check_utf8(*text, *size, path)) != TFM_OK) st = tfm_error_prefix(st, "data file ");
    if (st) tfm_free(*text, *size + 1);
    return st;
}

tfm_status tfm_dataset_load_text(tfm_dataset *d, const char *path, int seq_len, float valid_fraction, uint64_t seed) {
    memset(d, 0, sizeof *d);
    char *text;
    size_t size;
    tfm_status st = read_text(path, &text, &size);
    if (st) return st;
    uint32_t *ids = tfm_malloc(size * sizeof *ids);
    if (ids)
        for (size_t i = 0; i < size; i++) ids[i] = (unsigned char)text[i]; /* byte-level: a token is a byte */
    tfm_free(text, size + 1);
    if (!ids) return TFM_ERR_OUT_OF_MEMORY;
    return from_ids(d, ids, size, path, seq_len, valid_fraction, seed);
}

tfm_status tfm_dataset_load_tokens(tfm_dataset *d, const char *path, uint32_t vocab_size, int seq_len, float valid_fraction, uint64_t seed) {
    memset(d, 0, sizeof *d);
    uint32_t *ids;
    size_t count;
    tfm_status st = tfm_token_file_read(path, vocab_size, &ids, &count, NULL);
    return st ? st : from_ids(d, ids, count, path, seq_len, valid_fraction, seed);
}

tfm_status tfm_dataset_tokenize_file(const char *text_path, tfm_bpe *tokenizer, const char *token_path) {
    char *text;
    size_t size;
    tfm_status st = read_text(text_path, &text, &size);
    if (st) return st;
    tfm_tokens ids = {0};
    /* Special tokens in the text ("<|endoftext|>" between documents) are the tokens, as in GPT-2's training data. */
    st = tfm_bpe_encode(tokenizer, text, size, TFM_BPE_ALLOW_SPECIAL, &ids, NULL);
    tfm_free(text, size + 1);
    if (st) st = tfm_error_prefix(st, "%s: ", text_path);
    else st = tfm_token_file_write(token_path, ids.ids, ids.count, (uint32_t)tfm_bpe_vocab_size(tokenizer));
    tfm_tokens_free(&ids);
    return st;
}

static void widen(int32_t *out, const uint32_t *in, int n) {
    for (int i = 0; i < n; i++) out[i] = (int32_t)in[i];
}

void tfm_dataset_free(tfm_dataset *d) {
    tfm_free(d->tokens, sizeof *d->tokens * d->count);
    memset(d, 0, sizeof *d);
}

void tfm_dataset_next_train_batch(tfm_dataset *d, int32_t *inputs, int32_t *targets, int B, int T) {
    size_t starts = d->train_count - (size_t)T; /* window [s, s+T] must fit: s + T < train_count */
    for (int b = 0; b < B; b++) {
        size_t s = (size_t)(tfm_rng_bits(&d->position_rng) % starts);
        widen(inputs + (size_t)b * T, d->tokens + s, T);
        widen(targets + (size_t)b * T, d->tokens + s + 1, T);
    }
}

void tfm_dataset_valid_batch(const tfm_dataset *d, long index, int32_t *inputs, int32_t *targets, int B, int T) {
    size_t valid = d->count - d->train_count;
    size_t windows = (valid - 1) / (size_t)T; /* non-overlapping windows in the validation tail */
    if (windows == 0) windows = 1;
    for (int b = 0; b < B; b++) {
        size_t w = ((size_t)index * (size_t)B + (size_t)b) % windows;
        size_t s = d->train_count + w * (size_t)T;
        widen(inputs + (size_t)b * T, d->tokens + s, T);
        widen(targets + (size_t)b * T, d->tokens + s + 1, T);
    }
}
