/* train/seq2seq_data.h: a tokenised parallel corpus in length-sorted buckets, batched by token count, with a resumable shuffle. */
#ifndef TFM_TRAIN_SEQ2SEQ_DATA_H
#define TFM_TRAIN_SEQ2SEQ_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"
#include "tfm/bpe.h"

/* How a corpus is read and cut into batches. */
typedef struct tfm_seq2seq_data_options {
    int max_source_length;   /* source tokens + EOS must fit (the model's max_source_length) */
    int max_target_length;   /* BOS + target tokens (and tokens + EOS) must fit (the model's max_target_length) */
    int batch_tokens;        /* a batch holds at most this many padded tokens: count * max(S, T) <= batch_tokens */
    int max_sentences;       /* and at most this many pairs (0: no limit) */
    int32_t pad_id, bos_id, eos_id;
} tfm_seq2seq_data_options;

/* One batch, right-padded with pad_id:
 *   source        [B, S]  tokens + EOS,       source_lengths [B]
 *   target_input  [B, T]  BOS + tokens,       target_lengths [B] (= tokens + 1)
 *   target_output [B, T]  tokens + EOS        (pad where target_input is pad: not counted by the loss)
 *   pairs         [B]     corpus line index of each row (for references) */
typedef struct tfm_seq2seq_batch {
    int32_t *source, *target_input, *target_output;
    int *source_lengths, *target_lengths;
    size_t *pairs;
    int B, S, T;
    long target_tokens;      /* sum of target_lengths: the tokens the loss counts */
} tfm_seq2seq_batch;

/* A tokenised corpus. Pairs with an empty side, or longer than the limits, are skipped at load
 * (fairseq drops over-long training pairs too); `skipped_*` count them. Batches are contiguous runs of
 * the pairs sorted by (source length, target length, line), so their padding is small. */
typedef struct tfm_seq2seq_data {
    tfm_seq2seq_data_options options;
    size_t lines;                     /* lines in the files */
    size_t pairs;                     /* pairs kept */
    /* Every kept pair's source ids then target ids (no specials), 16-bit when the vocabulary fits (half
     * the memory), else 32-bit: one of the two is set. Read them with tfm_seq2seq_data_ids. */
    uint16_t *pool16;
    int32_t *pool32;
    size_t pool_count;
    size_t *source_start, *target_start;  /* [pairs] offsets into pool */
    int *source_length, *target_length;   /* [pairs] token counts without specials */
    size_t *line_of_pair;             /* [pairs] 0-based line in the files */
    size_t *sorted;                   /* [pairs] pair indices in length order */
    size_t batch_count;
    size_t *batch_begin;              /* [batch_count + 1] boundaries into sorted */
    size_t skipped_empty, skipped_long;
    uint64_t checksum;                /* FNV-1a over the kept ids and lengths: identity of the data */
    /* Training order: epoch e visits the batches in a permutation drawn from (seed, e); the position is
     * (epoch, next index), so a resumed run sees exactly the batches it would have seen. */
    uint64_t seed;
    long epoch;
    size_t position;
    size_t *order;                    /* [batch_count] the permutation of the current epoch */
    /* Buffers of the largest batch, reused by tfm_seq2seq_data_fill. */
    size_t capacity_source, capacity_target;  /* floats of B*S and B*T */
    int capacity_rows;
    tfm_seq2seq_batch batch;
} tfm_seq2seq_data;

/* Read two line-aligned UTF-8 files (same line count required; the error names both files and counts)
 * and tokenise each line with `tokenizer` (special tokens are plain text). */
tfm_status tfm_seq2seq_data_load(tfm_seq2seq_data *data, tfm_bpe *tokenizer, const char *source_path, const char *target_path,
                                 const tfm_seq2seq_data_options *options, uint64_t seed);
void tfm_seq2seq_data_free(tfm_seq2seq_data *data);
/* Fill data->batch with batch number `index` (in length order). */
void tfm_seq2seq_data_fill(tfm_seq2seq_data *data, size_t index);
/* Fill data->batch with the next training batch (advancing epoch/position, reshuffling at each epoch). */
void tfm_seq2seq_data_next(tfm_seq2seq_data *data);
/* Jump to a saved training position (recomputes the epoch's permutation). */
void tfm_seq2seq_data_seek(tfm_seq2seq_data *data, long epoch, size_t position);
/* ids[0, count) = the pool's ids from `offset` (a source_start / target_start entry). */
void tfm_seq2seq_data_ids(const tfm_seq2seq_data *data, size_t offset, int count, int32_t *ids);
/* Padded tokens of batch `index` (count * max(S, T)). */
long tfm_seq2seq_data_batch_size(const tfm_seq2seq_data *data, size_t index);

#endif
