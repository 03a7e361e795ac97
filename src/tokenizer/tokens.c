/* tokenizer/tokens.c: tfm_tokens, the growable id buffer every tokenizer (BPE, WordPiece) encodes into. */
#include "tfm/bpe.h"
#include "tfm/base.h" /* tfm_realloc, tfm_free */

void tfm_tokens_free(tfm_tokens *tokens) {
    if (!tokens) return;
    tfm_free(tokens->ids, tokens->capacity * sizeof(uint32_t));
    tokens->ids = NULL;
    tokens->count = tokens->capacity = 0;
}

tfm_status tfm_tokens_reserve(tfm_tokens *tokens, size_t capacity) {
    if (capacity <= tokens->capacity) return TFM_OK;
    size_t n = tokens->capacity ? tokens->capacity : 256;
    while (n < capacity) n *= 2;
    uint32_t *p = tfm_realloc(tokens->ids, tokens->capacity * sizeof(uint32_t), n * sizeof(uint32_t));
    if (!p) return TFM_ERR_OUT_OF_MEMORY;
    tokens->ids = p;
    tokens->capacity = n;
    return TFM_OK;
}
