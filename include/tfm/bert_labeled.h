/* tfm/bert_labeled.h: labelled examples for fine-tuning BERT: a label per sequence (or sentence pair) or per word, read from tab-separated text, tokenized once, batched. */
#ifndef TFM_BERT_LABELED_H
#define TFM_BERT_LABELED_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tfm_wordpiece;

/* The files (UTF-8, one example per line, empty lines skipped):
 *   labels.txt      one label per line, each once: line i is label id i (the model's id2label)
 *   sequences       label<TAB>text, or label<TAB>text_a<TAB>text_b for sentence pairs (every line the same kind):
 *                   "[CLS] text [SEP]" or "[CLS] a [SEP] b [SEP]", truncated longest-first to max_length as
 *                   transformers' tokenizers do with truncation=True
 *   tokens          labels<TAB>text: the text's words (split on white space) each get one label of the
 *                   space-separated list; a word's first WordPiece is trained on its label, its other pieces
 *                   are not (label -100 in transformers), as with is_split_into_words=True
 *
 *   tfm_bert_labels labels;                  tfm_bert_labels_load(&labels, "data/labels.txt");
 *   tfm_bert_labeled_set train;              tfm_bert_labeled_load(&train, "data/train.tsv", TFM_BERT_LABEL_SEQUENCES, &labels, wordpiece, 128);
 *   tfm_bert_labeled_batch batch;            tfm_bert_labeled_batch_allocate(&batch, 32, 128);
 *   tfm_bert_labeled_batch_fill(&batch, &train, indices, 32);   then tfm_bert_classification_loss (tfm/bert.h) */

enum { TFM_BERT_LABEL_SEQUENCES = 0, /* one label per line (BertForSequenceClassification) */
       TFM_BERT_LABEL_TOKENS = 1 };  /* one label per word (BertForTokenClassification) */

typedef struct tfm_bert_labels {
    char **names;                    /* [count] */
    int count;
    char *source;                    /* the file they came from, for messages */
} tfm_bert_labels;

/* Errors name the file and line (an empty or repeated label, invalid UTF-8, no labels). */
tfm_status tfm_bert_labels_load(tfm_bert_labels *labels, const char *path);
/* From names[count] (copied); `source` names them in messages. */
tfm_status tfm_bert_labels_from_names(tfm_bert_labels *labels, const char *const *names, int count, const char *source);
void tfm_bert_labels_free(tfm_bert_labels *labels);
/* The id of a label, -1 if it is not one. */
int tfm_bert_labels_find(const tfm_bert_labels *labels, const char *name, size_t length);

typedef struct tfm_bert_labeled_set {
    int kind;                        /* TFM_BERT_LABEL_* */
    int pairs;                       /* sequences: 1 when the lines hold two texts */
    size_t count;                    /* examples */
    size_t *start;                   /* [count + 1]: example i is ids[start[i] .. start[i + 1]) */
    int32_t *ids, *token_type_ids;   /* [start[count]] with [CLS] and [SEP]s */
    int32_t *labels;                 /* sequences: [count]; tokens: [start[count]], -1 where nothing is predicted */
    size_t truncated;                /* examples cut to max_length */
    size_t dropped_words;            /* tokens: labelled words lost to truncation (or encoding to nothing) */
    int max_length;
    size_t capacity[4];              /* entries allocated for start, ids, token_type_ids, labels (private) */
} tfm_bert_labeled_set;

/* Every line of `path`, labels checked against `labels` (an unknown one is an error naming the file, line and
 * label). Needs [CLS], [SEP] and [PAD] in the vocabulary and max_length >= 3 (5 for pairs). */
tfm_status tfm_bert_labeled_load(tfm_bert_labeled_set *set, const char *path, int kind, const tfm_bert_labels *labels,
                                 struct tfm_wordpiece *tokenizer, int max_length);
/* The same from memory: `name` appears in messages. */
tfm_status tfm_bert_labeled_from_text(tfm_bert_labeled_set *set, const char *text, size_t length, const char *name, int kind,
                                      const tfm_bert_labels *labels, struct tfm_wordpiece *tokenizer, int max_length);
void tfm_bert_labeled_free(tfm_bert_labeled_set *set);

/* One example's inputs for a text (and a second one, or NULL) with no label: what `tfm classify` feeds the model.
 * Writes up to max_length ids and types; tokens: first[w] (w < *words) = the position of word w's first piece
 * (-1 when truncation or encoding dropped it; first may be NULL for sequences). *truncated = 1 when cut. */
tfm_status tfm_bert_labeled_encode(struct tfm_wordpiece *tokenizer, int kind, const char *a, size_t a_length, const char *b,
                                   size_t b_length, int max_length, int32_t *ids, int32_t *token_type_ids, int *length,
                                   int32_t *first, int max_words, int *words, int *truncated);

/* B examples as rows of T tokens (T the longest one's length), with their prediction rows and labels. */
typedef struct tfm_bert_labeled_batch {
    int32_t *input_ids, *token_type_ids; /* [B, T] */
    int *lengths;                        /* [B] */
    int32_t *rows;                       /* [count]: b * T + position of each prediction (tokens; sequences: b) */
    int32_t *labels;                     /* [count] */
    int batch, length, count;            /* B, T, predictions */
    int capacity, max_length;
    size_t *indices;                     /* [capacity]: for the caller's use */
} tfm_bert_labeled_batch;

tfm_status tfm_bert_labeled_batch_allocate(tfm_bert_labeled_batch *batch, int capacity, int max_length);
void tfm_bert_labeled_batch_free(tfm_bert_labeled_batch *batch);
/* Examples indices[0 .. count) of `set` (count <= capacity). */
tfm_status tfm_bert_labeled_batch_fill(tfm_bert_labeled_batch *batch, const tfm_bert_labeled_set *set, const size_t *indices, int count);

#ifdef __cplusplus
}
#endif
#endif
