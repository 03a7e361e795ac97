/* tfm/bert_data.h: BERT's pre-training examples from plain text: sentence pairs for NSP or SOP (or RoBERTa's single segments), masked-LM choices with 80/10/10 replacement, seeded. */
#ifndef TFM_BERT_DATA_H
#define TFM_BERT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tfm_wordpiece;

/* How the pieces fit:
 *
 *   tfm_bert_corpus corpus;                                    // the text, tokenized once
 *   tfm_bert_corpus_load(&corpus, "text.txt", wordpiece);      // one sentence per line, blank line between documents
 *   tfm_bert_data_options options;
 *   tfm_bert_data_options_default(&options);                   // BERT's: NSP, 15% masked, 80/10/10, 128 tokens
 *   tfm_bert_examples *examples;                               // pairs over documents [first, first + count)
 *   tfm_bert_examples_create(&examples, &corpus, 0, corpus.document_count, &options, wordpiece, seed);
 *   tfm_bert_example example;                                  // the inputs and targets of one sequence
 *   tfm_bert_examples_get(examples, i, epoch, &example);       // i in [0, tfm_bert_examples_count(examples))
 *
 * Pairs follow Google's create_pretraining_data.py: a document's sentences are gathered into a chunk until it
 * reaches the target length (max_length - 3 tokens, or with short_sequence_probability a random shorter one);
 * A is the chunk's first 1..n-1 sentences and B the rest, or, half the time and always when the chunk has one
 * sentence, B is a random stretch of another document (and the unused sentences go back to be read again).
 * The pair is trimmed to fit, one token at a time from the longer side, front or back at random. */

/* The objective the pairs are built for. */
enum {
    TFM_BERT_OBJECTIVE_NSP = 0,  /* next-sentence prediction (BERT): label 0 = B follows A, 1 = B is random */
    TFM_BERT_OBJECTIVE_SOP = 1,  /* sentence-order prediction (ALBERT): B always follows A in the text; label 1 =
                                    the two were swapped. A one-sentence chunk is split inside the sentence. */
    TFM_BERT_OBJECTIVE_MLM = 2,  /* masked LM only (RoBERTa): "[CLS] X [SEP]" with X as many whole sentences of one
                                    document as fit (RoBERTa's DOC-SENTENCES), no pair label */
    /* Fine-tuning (tfm/bert_labeled.h): a labelled data directory instead of a text of sentences. */
    TFM_BERT_OBJECTIVE_SEQUENCE_CLASSIFICATION = 3, /* a label per sequence or pair (BertForSequenceClassification) */
    TFM_BERT_OBJECTIVE_TOKEN_CLASSIFICATION = 4,    /* a label per word (BertForTokenClassification) */
};

typedef struct tfm_bert_data_options {
    int objective;                   /* TFM_BERT_OBJECTIVE_* */
    int max_length;                  /* T: tokens per sequence with [CLS] and [SEP]s (128) */
    float short_sequence_probability; /* 0.1: a chunk's target length drawn from [2, T - 3] instead */
    float mask_probability;          /* 0.15 of the tokens (never [CLS], [SEP], [PAD] or [MASK]) are predicted */
    int max_predictions;             /* at most this many per sequence (20) */
    float mask_token_probability;    /* of the predicted: 0.8 become [MASK], */
    float random_token_probability;  /* 0.1 a random token (uniform over the non-special ids), the rest stay */
    int whole_word_masking;          /* 1: a word's "##" pieces are chosen with it, all or none */
    int dynamic_masking;             /* 1: the masks are drawn anew each epoch (RoBERTa); 0: fixed (BERT) */
} tfm_bert_data_options;

void tfm_bert_data_options_default(tfm_bert_data_options *options);
/* Ranges and consistency; messages name the field as a training config spells it ("train.mask_probability"). */
tfm_status tfm_bert_data_options_validate(const tfm_bert_data_options *options);

/* ---- The text, tokenized once ---- */
typedef struct tfm_bert_corpus {
    int32_t *tokens;                 /* [token_count]: every sentence's WordPiece ids, end to end */
    size_t token_count;
    size_t *sentence_start;          /* [sentence_count + 1]: sentence s is tokens[sentence_start[s] .. [s + 1]) */
    size_t sentence_count;
    size_t *document_start;          /* [document_count + 1]: document d is sentences [document_start[d] .. [d + 1]) */
    size_t document_count;
    uint8_t *piece_flags;            /* [vocab_size]: TFM_BERT_PIECE_* bits of each id */
    int vocab_size;
    int32_t cls_id, sep_id, mask_id, pad_id;
} tfm_bert_corpus;
enum { TFM_BERT_PIECE_CONTINUATION = 1, /* a "##" piece: whole-word masking keeps it with the piece before */
       TFM_BERT_PIECE_SPECIAL = 2 };    /* [CLS], [SEP], [PAD], [MASK], [UNK]: never a random replacement */

/* A UTF-8 text file: one sentence per line, documents separated by blank lines (lines of only white space);
 * lines that encode to no tokens are dropped. Errors name the file and, for invalid UTF-8, the line; a text
 * with no sentence, or a vocabulary without [CLS], [SEP], [MASK] or [PAD], is refused. */
tfm_status tfm_bert_corpus_load(tfm_bert_corpus *corpus, const char *path, struct tfm_wordpiece *tokenizer);
/* The same from memory; `name` appears in messages. */
tfm_status tfm_bert_corpus_from_text(tfm_bert_corpus *corpus, const char *text, size_t length, const char *name,
                                     struct tfm_wordpiece *tokenizer);
void tfm_bert_corpus_free(tfm_bert_corpus *corpus);

/* ---- Examples ---- */

/* One sequence, ready for tfm_bert_batch: "[CLS] A [SEP] B [SEP]" (or "[CLS] X [SEP]") with its masked copy. */
typedef struct tfm_bert_example {
    int32_t *input_ids;              /* [max_length]: after masking, [PAD] after `length` */
    int32_t *token_type_ids;         /* [max_length]: 0 for [CLS] A [SEP], 1 for B [SEP], 0 in the padding */
    int length;                      /* tokens before the padding */
    int32_t *positions;              /* [max_predictions]: the predicted positions, ascending */
    int32_t *labels;                 /* [max_predictions]: the original ids there */
    int predictions;                 /* how many of positions/labels are used */
    int pair_label;                  /* NSP or SOP label (see TFM_BERT_OBJECTIVE_*), -1 for MLM */
    int32_t *scratch;                /* [2 * max_length]: the masking's working space */
} tfm_bert_example;

/* Buffers for max_length / max_predictions entries; free with tfm_bert_example_free. */
tfm_status tfm_bert_example_allocate(tfm_bert_example *example, const tfm_bert_data_options *options);
void tfm_bert_example_free(tfm_bert_example *example, const tfm_bert_data_options *options);

typedef struct tfm_bert_examples tfm_bert_examples;

/* What the builder did, for reports and tests. */
typedef struct tfm_bert_examples_stats {
    size_t examples;
    size_t random_pairs;             /* NSP: B from another document (label 1); SOP: swapped (label 1) */
    size_t forced_random_pairs;      /* NSP: random because the chunk had one sentence (not a coin flip) */
    size_t trimmed_tokens;           /* tokens cut to fit max_length */
} tfm_bert_examples_stats;

/* The examples of documents [first, first + count) of `corpus` (which must outlive them), in a fixed order
 * made from `seed`. NSP draws random B's from the same range of documents, so it needs at least 2. */
tfm_status tfm_bert_examples_create(tfm_bert_examples **examples, const tfm_bert_corpus *corpus, size_t first_document,
                                    size_t document_count, const tfm_bert_data_options *options, uint64_t seed);
void tfm_bert_examples_free(tfm_bert_examples *examples);
size_t tfm_bert_examples_count(const tfm_bert_examples *examples);
tfm_bert_examples_stats tfm_bert_examples_get_stats(const tfm_bert_examples *examples);
/* Example `index` as seen in `epoch` (0-based): the pair is fixed, the masks depend on (seed, index) and, with
 * dynamic_masking, on the epoch. A pure function of its arguments, so a resumed run sees the same data. */
tfm_status tfm_bert_examples_get(const tfm_bert_examples *examples, size_t index, long epoch, tfm_bert_example *example);

/* ---- Batches for the pre-training loss (tfm_bert_pretraining_loss in tfm/bert.h) ---- */

/* B examples as rows of T tokens, T the longest example's length (padding computes nothing it need not). */
typedef struct tfm_bert_pretraining_batch {
    int32_t *input_ids, *token_type_ids; /* [B, T] */
    int *lengths;                        /* [B]: attention covers tokens [0, lengths[b]) */
    int32_t *rows;                       /* [predictions]: b * T + position of each masked-LM prediction */
    int32_t *labels;                     /* [predictions]: the original ids there */
    int32_t *pair_labels;                /* [B]: NSP / SOP labels (unused without pairs) */
    int has_pairs;                       /* 0 for the masked-LM-only objective */
    int batch, length, predictions;      /* B, T, and the number of rows */
    int capacity, max_length, max_predictions; /* what the buffers hold */
    size_t *indices;                     /* [capacity]: for the caller's use (which examples) */
    tfm_bert_example example;            /* scratch */
} tfm_bert_pretraining_batch;

tfm_status tfm_bert_pretraining_batch_allocate(tfm_bert_pretraining_batch *batch, int capacity, const tfm_bert_data_options *options);
void tfm_bert_pretraining_batch_free(tfm_bert_pretraining_batch *batch);
/* Examples indices[0 .. count) (count <= capacity) with their masks of `epoch`. */
tfm_status tfm_bert_pretraining_batch_fill(tfm_bert_pretraining_batch *batch, const tfm_bert_examples *examples, const size_t *indices,
                                           int count, long epoch);

#ifdef __cplusplus
}
#endif
#endif
