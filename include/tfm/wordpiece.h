/* tfm/wordpiece.h: BERT's WordPiece tokenizer: load vocab.txt, encode (single and sentence pairs), decode, train. */
#ifndef TFM_WORDPIECE_H
#define TFM_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"
#include "tfm/bpe.h" /* tfm_tokens, the growable id buffer both tokenizers fill */

#ifdef __cplusplus
extern "C" {
#endif

/* A vocabulary plus normalization settings and a private scratch area. Behaves exactly like Hugging
 * Face's BertWordPieceTokenizer / BertTokenizerFast (see docs/tokenizers.md, "WordPiece"):
 * BertNormalizer (clean text, CJK ideographs split, and for uncased vocabularies NFD + strip accents +
 * lower-case), BertPreTokenizer (split on whitespace and punctuation), greedy longest-match-first
 * WordPiece with "##" continuations, words over 100 characters -> [UNK]. One thread at a time per
 * handle; use tfm_wordpiece_clone for more threads. */
typedef struct tfm_wordpiece tfm_wordpiece;

/* Load a BERT vocab.txt: one piece per line, id = line number (0-based), trailing whitespace and "\r"
 * trimmed. A repeated piece maps to its last line (as Hugging Face does). The file must be UTF-8 and
 * must contain "[UNK]". `lowercase` = do_lower_case: lower-case and strip accents (uncased models). */
tfm_status tfm_wordpiece_load(tfm_wordpiece **out, const char *vocab_txt_path, int lowercase);
/* Same from an in-memory vocab.txt; `name` is used in error messages. */
tfm_status tfm_wordpiece_load_text(tfm_wordpiece **out, const char *text, size_t len, const char *name,
                                   int lowercase);
/* Write vocab.txt (one piece per line in id order). Atomic: written to a temporary file, then renamed. */
tfm_status tfm_wordpiece_save(const tfm_wordpiece *tok, const char *vocab_txt_path);
tfm_status tfm_wordpiece_clone(tfm_wordpiece **out, const tfm_wordpiece *tok);
void tfm_wordpiece_free(tfm_wordpiece *tok);

enum {
    /* Recognise the special tokens ([PAD] [UNK] [CLS] [SEP] [MASK], those present in the vocabulary)
     * written literally in the text, as Hugging Face does for a BERT tokenizer whose special tokens are
     * registered. Without this flag "[SEP]" in the text is ordinary text ("[", "sep", "]"). */
    TFM_WORDPIECE_ALLOW_SPECIAL = 1u << 0,
};

/* Encode `len` bytes of `text`, appending the ids (no [CLS]/[SEP]) to `out`. Any bytes are accepted:
 * invalid UTF-8 is decoded as U+FFFD per maximal ill-formed subpart, which cleaning then removes (so
 * "ab\xFFcd" encodes like "abcd"; this is what the reference does after a lossy decode). Memory use is
 * bounded whatever the input (a word is kept only up to its 101st character). */
tfm_status tfm_wordpiece_encode(tfm_wordpiece *tok, const char *text, size_t len, unsigned flags, tfm_tokens *out);
/* Streaming: encode a long text in pieces with bounded memory; the ids are those of one
 * tfm_wordpiece_encode over the whole text. Each call consumes *consumed bytes (all of them when
 * `last`): the rest (an incomplete UTF-8 character, or what may be the start of a special token) must
 * be passed again at the front of the next piece. The word in progress is kept in the handle, so do not
 * interleave other encodes on the same handle until a call with `last` set. */
tfm_status tfm_wordpiece_encode_chunk(tfm_wordpiece *tok, const char *text, size_t len, unsigned flags, int last,
                                      tfm_tokens *out, size_t *consumed);

/* BERT model input for one sentence (b == NULL) or a pair: "[CLS] A [SEP]" or "[CLS] A [SEP] B [SEP]",
 * truncated longest-first to max_length (with budget = max_length - 3, the shorter side keeps
 * min(its length, budget / 2) and the longer the rest; on a tie the second keeps the odd token), then
 * padded with [PAD] to exactly max_length. Writes max_length entries to each output array
 * (token_type_ids and attention_mask may be NULL); *length (may be NULL) receives the unpadded length.
 * Needs [CLS], [SEP] and [PAD] in the vocabulary and max_length >= 3 (2 for one sentence). */
tfm_status tfm_wordpiece_encode_pair(tfm_wordpiece *tok, const char *a, size_t a_len, const char *b, size_t b_len,
                                     unsigned flags, size_t max_length, uint32_t *input_ids,
                                     uint32_t *token_type_ids, uint32_t *attention_mask, size_t *length);

/* Ids -> text as Hugging Face's WordPiece decoder with cleanup does: pieces joined by spaces, a "##"
 * piece glued to the one before, then " ." -> "." and the like. skip_special drops [PAD] [UNK] [CLS]
 * [SEP] [MASK]. Appends to a caller-growable buffer (*text, *text_len, *text_capacity; start with
 * NULL/0/0, free with tfm_free(*text, *text_capacity)); the result is NUL-terminated. Fails on an id
 * outside the vocabulary. */
tfm_status tfm_wordpiece_decode(const tfm_wordpiece *tok, const uint32_t *ids, size_t count, int skip_special,
                                char **text, size_t *text_len, size_t *text_capacity);

size_t tfm_wordpiece_vocab_size(const tfm_wordpiece *tok);
/* -1 when the piece is not in the vocabulary. Continuation pieces are written with their "##". */
int64_t tfm_wordpiece_token_to_id(const tfm_wordpiece *tok, const char *token, size_t len);
/* NULL for an id outside the vocabulary. */
const char *tfm_wordpiece_id_to_token(const tfm_wordpiece *tok, uint32_t id, size_t *len);
int tfm_wordpiece_is_special(const tfm_wordpiece *tok, uint32_t id);
/* Ids of the special tokens, or -1 when the vocabulary lacks them. */
int64_t tfm_wordpiece_unk_id(const tfm_wordpiece *tok);
int64_t tfm_wordpiece_cls_id(const tfm_wordpiece *tok);
int64_t tfm_wordpiece_sep_id(const tfm_wordpiece *tok);
int64_t tfm_wordpiece_pad_id(const tfm_wordpiece *tok);
int64_t tfm_wordpiece_mask_id(const tfm_wordpiece *tok);
int tfm_wordpiece_lowercase(const tfm_wordpiece *tok);

/* Training, as Hugging Face's WordPieceTrainer (BPE merges with the "##" continuing-subword prefix), made
 * deterministic. The corpus is normalized and pre-tokenized like encoding (BERT rules, `lowercase` as
 * above) and its words counted. The vocabulary is: the special tokens (in the given order); the alphabet
 * (every character seen, or the `limit_alphabet` most frequent ones, ties to the smaller code point) in
 * code point order; "##c" for each alphabet character that occurs after the start of a word, in code
 * point order (the reference uses its hash map's order, which varies between runs); then merged pieces:
 * the adjacent pair with the highest count wins, ties to the smallest (left id, right id) pair, and the
 * merged piece is left + right without its "##". Stops at vocab_size pieces, or when the best count is
 * below min_frequency. Words over 2^20 characters are not counted. See docs/tokenizers.md. */
typedef struct tfm_wordpiece_train_options {
    size_t vocab_size;              /* e.g. 30000 */
    uint64_t min_frequency;         /* 0 or 1: no limit (the CLI defaults to 2, as BertWordPieceTokenizer) */
    const char *const *special_tokens; /* NULL: [PAD] [UNK] [CLS] [SEP] [MASK] */
    size_t special_count;
    size_t limit_alphabet;          /* 0: no limit */
    int lowercase;
} tfm_wordpiece_train_options;

typedef struct tfm_wordpiece_trainer tfm_wordpiece_trainer;
tfm_status tfm_wordpiece_trainer_create(tfm_wordpiece_trainer **out, int lowercase);
/* Count the words of one text (e.g. a file or a line). */
tfm_status tfm_wordpiece_trainer_add_text(tfm_wordpiece_trainer *trainer, const char *text, size_t len);
tfm_status tfm_wordpiece_trainer_finish(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                        tfm_wordpiece **out);
void tfm_wordpiece_trainer_free(tfm_wordpiece_trainer *trainer);
/* One-shot convenience over the trainer. */
tfm_status tfm_wordpiece_train(tfm_wordpiece **out, const char *const *texts, const size_t *lengths,
                               size_t text_count, const tfm_wordpiece_train_options *options);

#ifdef __cplusplus
}
#endif
#endif
