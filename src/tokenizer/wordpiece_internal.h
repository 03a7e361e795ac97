/* The WordPiece handle's layout and helpers shared by wordpiece.c and wordpiece_train.c. Internal to libtfm. */
#ifndef TFM_TOKENIZER_WORDPIECE_INTERNAL_H
#define TFM_TOKENIZER_WORDPIECE_INTERNAL_H

#include "tfm/wordpiece.h"
#include "tokenizer/basic_tokenizer.h"

enum {
    TFM_WORDPIECE_PAD,
    TFM_WORDPIECE_UNK,
    TFM_WORDPIECE_CLS,
    TFM_WORDPIECE_SEP,
    TFM_WORDPIECE_MASK,
    TFM_WORDPIECE_SPECIAL_KINDS
};

struct tfm_wordpiece {
    char *pool; /* every piece, NUL-terminated, in id order */
    size_t pool_size;
    uint32_t *offsets; /* [count] into pool */
    uint32_t *lengths; /* [count] bytes */
    size_t count;
    uint32_t *slot_ids; /* [slot_count] open-addressing table of ids, UINT32_MAX = empty */
    uint32_t *slot_hashes;
    size_t slot_count;
    size_t max_initial, max_continuation; /* longest piece in bytes, continuations without "##" */
    int64_t special[TFM_WORDPIECE_SPECIAL_KINDS];
    int lowercase;
    size_t max_chars; /* longer words become [UNK] (100, as BERT) */
    tfm_basic_splitter splitter;
    tfm_tokens scratch_a, scratch_b; /* encode_pair's per-sequence ids, reused across calls */
    tfm_tokens *out;                 /* the encode call in progress */
    tfm_status status;
};

tfm_status tfm_wordpiece_create(tfm_wordpiece **out, char *pool, size_t pool_size, size_t count, int lowercase,
                                const char *name);
int64_t tfm_wordpiece_lookup(const tfm_wordpiece *tok, const char *s, size_t n, unsigned kind);
tfm_status tfm_wordpiece_tokens_grow(tfm_tokens *tokens, size_t needed);
/* Whole file into a tfm_malloc'ed buffer of exactly *size bytes (at least 1 allocated). */
tfm_status tfm_wordpiece_read_file(const char *path, char **data, size_t *size);
/* The plain reference encoder (wordpiece_reference.c): same result as tfm_wordpiece_encode without flags. */
tfm_status tfm_wordpiece_encode_reference(const tfm_wordpiece *tok, const char *text, size_t len, tfm_tokens *out);
/* Train and write the pieces one per line, without building a tokenizer (so no [UNK] is required):
 * lets tests compare with the reference trainer, which adds no special tokens. */
tfm_status tfm_wordpiece_trainer_save_pieces(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                             const char *path);
/* Test hook: start from these pieces (special tokens, alphabet, "##" alphabet) with these ids instead of
 * computing them, so that a run can be compared merge for merge with the reference, whose "##" ids
 * vary from run to run. The strings must outlive the trainer. */
void tfm_wordpiece_trainer_seed(tfm_wordpiece_trainer *trainer, const char *const *pieces, size_t count);

#endif
