/* tfm/bpe.h: byte-level BPE tokenizer (GPT-2 style): load GPT-2 / Hugging Face files, encode, decode, train, save. */
#ifndef TFM_BPE_H
#define TFM_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An immutable vocabulary + merge table plus a private scratch area and word cache. A tokenizer may be
 * used by one thread at a time; for batch encoding on several threads, give each thread its own handle
 * from tfm_bpe_clone (clones share nothing mutable). */
typedef struct tfm_bpe tfm_bpe;

/* A growable id buffer owned by the caller. Encoding appends to it (it grows with tfm_realloc), so
 * reusing one buffer across calls means no allocation in the steady state. Free with tfm_tokens_free. */
typedef struct tfm_tokens {
    uint32_t *ids;
    size_t count;
    size_t capacity;
} tfm_tokens;

void tfm_tokens_free(tfm_tokens *tokens);
tfm_status tfm_tokens_reserve(tfm_tokens *tokens, size_t capacity);

/* GPT-2's own files: encoder.json (token string -> id, in the byte-to-unicode alphabet) and vocab.bpe
 * ("#version" line, then one "left right" merge per line, rank = line order). "<|endoftext|>" is
 * registered as a special token when the vocabulary holds it. */
tfm_status tfm_bpe_load_gpt2(tfm_bpe **out, const char *encoder_json_path, const char *vocab_bpe_path);
/* Whatever a user has, by what it is: a directory holding tokenizer.json, else vocab.json + merges.txt
 * (Hugging Face's slow files), else encoder.json + vocab.bpe (GPT-2's); a file named *.tiktoken (with
 * "<|endoftext|>" as the id after the last rank, as GPT-2's); any other file as a tokenizer.json. */
tfm_status tfm_bpe_load(tfm_bpe **out, const char *path);
/* The byte-level vocabulary of tfm's byte GPTs as a tokenizer: id b is byte b, no merges (so the files and formats
 * that need a tokenizer, such as GGUF's, can describe a byte model). */
tfm_status tfm_bpe_create_bytes(tfm_bpe **out);
/* A Hugging Face tokenizer.json whose model is BPE with a ByteLevel pre-tokenizer (optionally inside
 * a Sequence) and no normalizer; other kinds are refused with TFM_ERR_UNSUPPORTED and the reason. */
tfm_status tfm_bpe_load_hf(tfm_bpe **out, const char *tokenizer_json_path);
/* Same, from a JSON text in memory (`name` is used in error messages). */
tfm_status tfm_bpe_load_hf_text(tfm_bpe **out, const char *json, size_t json_len, const char *name);
/* tiktoken's rank file (".tiktoken": one "BASE64(token bytes) RANK" line per token; gpt2, r50k_base and
 * p50k_base ship as such files). Ids are the ranks; the merges are recovered from the ranks (each token of
 * two or more bytes is the merge of the two lower-ranked tokens that tiktoken's own rule joins last), so the
 * tokenizer encodes as tiktoken does. A rank file holds no special tokens and no pre-tokenizer: give the
 * special tokens here, and use only files made for GPT-2's pre-tokenizer pattern (not cl100k/o200k). */
typedef struct tfm_bpe_special_token {
    const char *text;
    uint32_t id;
} tfm_bpe_special_token;
tfm_status tfm_bpe_load_tiktoken(tfm_bpe **out, const char *path, const tfm_bpe_special_token *specials,
                                 size_t special_count);
/* Write a rank file (special tokens left out; refused with TFM_ERR_UNSUPPORTED unless ids follow the
 * merge order, as they do in GPT-2 and in tokenizers trained by tfm). Atomic, like every writer here. */
tfm_status tfm_bpe_save_tiktoken(const tfm_bpe *tok, const char *path);
/* Write GPT-2's encoder.json (spelled token -> id) and vocab.bpe ("#version: 0.2", then "left right" per
 * merge); the same two files are Hugging Face's vocab.json and merges.txt. Atomic, one file after the other. */
tfm_status tfm_bpe_save_gpt2(const tfm_bpe *tok, const char *encoder_json_path, const char *merges_path);
/* Write a Hugging Face tokenizer.json (model BPE, pre-tokenizer and decoder ByteLevel). Atomic: the
 * file is written under a temporary name and renamed over `path`. */
tfm_status tfm_bpe_save_hf(const tfm_bpe *tok, const char *path);
tfm_status tfm_bpe_clone(tfm_bpe **out, const tfm_bpe *tok);
void tfm_bpe_free(tfm_bpe *tok);

enum {
    /* Recognise special tokens (e.g. "<|endoftext|>") in the text; without this flag they are plain text. */
    TFM_BPE_ALLOW_SPECIAL = 1u << 0,
    /* More input follows: encode only the pieces whose tokenization cannot change when text is appended
     * and report how many bytes were consumed; pass the rest again with the next chunk. */
    TFM_BPE_PARTIAL = 1u << 1,
    /* The text continues an earlier TFM_BPE_PARTIAL call (it starts where that call stopped): only
     * matters for tokenizers with add_prefix_space, which must not add the space again. */
    TFM_BPE_CONTINUATION = 1u << 2,
};

/* Encode `len` bytes of `text` (any bytes: invalid UTF-8 is allowed, see docs/tokenizers.md), appending
 * the ids to `out`. `consumed` (may be NULL without TFM_BPE_PARTIAL) receives the number of bytes
 * encoded: `len` unless TFM_BPE_PARTIAL is set. */
tfm_status tfm_bpe_encode(tfm_bpe *tok, const char *text, size_t len, unsigned flags, tfm_tokens *out,
                          size_t *consumed);
/* Decode ids to bytes, appended to a caller-growable byte buffer (*bytes, *bytes_len, *bytes_capacity;
 * start with NULL/0/0, free with tfm_free(*bytes, *bytes_capacity)). Fails on an id outside the
 * vocabulary. decode(encode(x)) == x for every byte string x. */
tfm_status tfm_bpe_decode(const tfm_bpe *tok, const uint32_t *ids, size_t count, int skip_special, char **bytes,
                          size_t *bytes_len, size_t *bytes_capacity);

/* Vocabulary size including special tokens: one past the largest id. */
size_t tfm_bpe_vocab_size(const tfm_bpe *tok);
size_t tfm_bpe_merge_count(const tfm_bpe *tok);
/* Token <-> id. Tokens are the raw byte strings (not the byte-to-unicode spelling). token_to_id returns
 * -1 when the token is unknown; id_to_token returns NULL for an unused id and sets *len. */
int64_t tfm_bpe_token_to_id(const tfm_bpe *tok, const char *token, size_t len);
const char *tfm_bpe_id_to_token(const tfm_bpe *tok, uint32_t id, size_t *len);
int tfm_bpe_is_special(const tfm_bpe *tok, uint32_t id);
size_t tfm_bpe_special_count(const tfm_bpe *tok);
/* The i-th special token (0 <= i < special_count): its text and id. */
const char *tfm_bpe_special(const tfm_bpe *tok, size_t i, uint32_t *id);

/* A token as vocabularies spell it (Hugging Face's vocab.json, GGUF's tokenizer.ggml.tokens): special tokens as
 * themselves, others in GPT-2's byte-to-unicode alphabet; `out` needs 2 * (token bytes) + 1 bytes. */
tfm_status tfm_bpe_token_spelling(const tfm_bpe *tok, uint32_t id, char *out, size_t capacity, size_t *length);
/* The merge of rank `rank` (0 = applied first): the ids of its left and right parts. */
tfm_status tfm_bpe_merge_at(const tfm_bpe *tok, size_t rank, uint32_t *left, uint32_t *right);

/* Training. The corpus is given as whole texts (e.g. file contents); each is pre-tokenized with the
 * GPT-2 rules. Special tokens get ids 0..n-1, then the 256 byte tokens, then merges in order. Each
 * step merges the adjacent pair with the highest count; ties go to the pair whose (left id, right id)
 * is smallest (what Hugging Face's BpeTrainer does). Training stops at `vocab_size` tokens or when
 * the best count falls below `min_frequency`. */
typedef struct tfm_bpe_train_options {
    size_t vocab_size;            /* target size, including the 256 byte tokens and special tokens */
    uint64_t min_frequency;       /* a pair is merged only if it occurs at least this often (>= 1) */
    const char *const *special_tokens;
    size_t special_count;
} tfm_bpe_train_options;

/* Streaming trainer: add texts (counted into a word table), then finish into a tokenizer. */
typedef struct tfm_bpe_trainer tfm_bpe_trainer;
tfm_status tfm_bpe_trainer_create(tfm_bpe_trainer **out);
tfm_status tfm_bpe_trainer_add_text(tfm_bpe_trainer *trainer, const char *text, size_t len);
tfm_status tfm_bpe_trainer_finish(tfm_bpe_trainer *trainer, const tfm_bpe_train_options *options, tfm_bpe **out);
void tfm_bpe_trainer_free(tfm_bpe_trainer *trainer);
/* One-shot convenience over the trainer. */
tfm_status tfm_bpe_train(tfm_bpe **out, const char *const *texts, const size_t *lengths, size_t text_count,
                         const tfm_bpe_train_options *options);

#ifdef __cplusplus
}
#endif
#endif
