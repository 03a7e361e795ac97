/* fuzz/fuzz_bert_labeled.c: libFuzzer target for BERT fine-tuning data: labelled lines (sequences, pairs, word labels) are read into well-formed examples or refused with a message, and any set read batches. */
#include <stdlib.h>
#include <string.h>

#include "tfm/bert_labeled.h"
#include "tfm/wordpiece.h"

static const char vocabulary[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\nrun\n##ning\n##s\ndog\n,\n.\n";

static tfm_wordpiece *tokenizer(void) {
    static tfm_wordpiece *tok = NULL;
    if (!tok && tfm_wordpiece_load_text(&tok, vocabulary, strlen(vocabulary), "fuzz vocab", 1) != TFM_OK) abort();
    return tok;
}

/* Every example [CLS] ... [SEP], at most max_length ids, labels in range (-1 where tokens are not labelled). */
static void check_set(const tfm_bert_labeled_set *s, int labels) {
    for (size_t i = 0; i < s->count; i++) {
        size_t from = s->start[i], to = s->start[i + 1];
        if (to <= from + 1 || to - from > (size_t)s->max_length || s->ids[from] != 2 || s->ids[to - 1] != 3) abort();
        if (s->kind == TFM_BERT_LABEL_SEQUENCES && (s->labels[i] < 0 || s->labels[i] >= labels)) abort();
        for (size_t k = from; s->kind == TFM_BERT_LABEL_TOKENS && k < to; k++)
            if (s->labels[k] < -1 || s->labels[k] >= labels || ((k == from || k == to - 1) && s->labels[k] != -1)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const names[] = {"pos", "neg", "O", "B-X"};
    tfm_bert_labels labels;
    if (tfm_bert_labels_from_names(&labels, names, 4, "labels.txt") != TFM_OK) abort();
    int kind = data[0] & 1, max_length = 1 + (data[0] >> 1) % 24;
    tfm_bert_labeled_set set;
    tfm_status st = tfm_bert_labeled_from_text(&set, (const char *)data + 1, size - 1, "fuzz.tsv", kind, &labels, tokenizer(), max_length);
    if (st == TFM_OK) {
        check_set(&set, 4);
        tfm_bert_labeled_batch batch;
        if (tfm_bert_labeled_batch_allocate(&batch, 4, max_length) != TFM_OK) abort();
        size_t indices[4];
        int n = set.count < 4 ? (int)set.count : 4;
        for (int i = 0; i < n; i++) indices[i] = set.count - 1 - (size_t)i;
        if (tfm_bert_labeled_batch_fill(&batch, &set, indices, n) != TFM_OK) abort();
        tfm_bert_labeled_batch_free(&batch);
        tfm_bert_labeled_free(&set);
    } else if (tfm_last_error()[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    tfm_bert_labels_free(&labels);
    return 0;
}
