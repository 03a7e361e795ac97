/* tokenizer/bpe_load.c: open a byte-level BPE from whatever a user has: a tokenizer.json, a .tiktoken file, or a directory. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tfm/bpe.h"
#include "tfm/io.h"
#include "tokenizer/bpe_internal.h"

static int is_directory(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A rank file holds no special tokens: "<|endoftext|>" takes the id after the last rank, as in GPT-2 (50256). */
static tfm_status load_tiktoken(tfm_bpe **out, const char *path) {
    tfm_bpe *ranks = NULL;
    tfm_status st = tfm_bpe_load_tiktoken(&ranks, path, NULL, 0);
    if (st) return st;
    tfm_bpe_special_token end = {"<|endoftext|>", (uint32_t)tfm_bpe_vocab_size(ranks)};
    tfm_bpe_free(ranks);
    return tfm_bpe_load_tiktoken(out, path, &end, 1);
}

/* Two files of a directory by name, when both are there: 1 and the status of loading them, else 0. */
static int load_pair(tfm_bpe **out, const char *dir, const char *vocab, const char *merges, tfm_status *st) {
    char *v = tfm_file_join(dir, vocab), *m = tfm_file_join(dir, merges);
    int found = v && m && tfm_file_exists(v) && tfm_file_exists(m);
    if (found) *st = tfm_bpe_load_gpt2(out, v, m);
    if (v) tfm_free(v, strlen(v) + 1);
    if (m) tfm_free(m, strlen(m) + 1);
    return found;
}

tfm_status tfm_bpe_load(tfm_bpe **out, const char *path) {
    if (!out || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_load: NULL argument");
    *out = NULL;
    if (!is_directory(path)) {
        if (!tfm_file_exists(path)) return tfm_error(TFM_ERR_IO, "%s: no such tokenizer file or directory", path);
        return ends_with(path, ".tiktoken") ? load_tiktoken(out, path) : tfm_bpe_load_hf(out, path);
    }
    char *json = tfm_file_join(path, "tokenizer.json");
    if (!json) return TFM_ERR_OUT_OF_MEMORY;
    int has_json = tfm_file_exists(json);
    tfm_status st = has_json ? tfm_bpe_load_hf(out, json) : TFM_OK;
    tfm_free(json, strlen(json) + 1);
    if (has_json) return st;
    if (load_pair(out, path, "vocab.json", "merges.txt", &st) || load_pair(out, path, "encoder.json", "vocab.bpe", &st)) return st;
    return tfm_error(TFM_ERR_IO, "%s: no tokenizer here: expected tokenizer.json, vocab.json + merges.txt (Hugging Face) or "
                                 "encoder.json + vocab.bpe (GPT-2)", path);
}

tfm_status tfm_bpe_create_bytes(tfm_bpe **out) {
    tfm_bpe *tok = NULL;
    tfm_status st = tfm_bpe_create_empty(&tok);
    for (int b = 0; !st && b < 256; b++) {
        char byte = (char)b;
        st = tfm_bpe_set_token(tok, (uint32_t)b, &byte, 1);
    }
    if (!st) st = tfm_bpe_finalize(tok);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}
