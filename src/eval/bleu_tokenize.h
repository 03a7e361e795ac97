/* eval/bleu_tokenize.h: sacreBLEU's BLEU pre-processing (lower-case, rstrip) and tokenizers 13a / intl / char / none. */
#ifndef TFM_EVAL_BLEU_TOKENIZE_H
#define TFM_EVAL_BLEU_TOKENIZE_H

#include "eval/eval_text.h"
#include "tfm/metrics.h"

/* Turn the decoded `line` into BLEU's tokens: *line is replaced by the tokenized text and `tokens`
 * index into it. `scratch` is a work buffer (reused between calls). */
tfm_status eval_bleu_tokenize_text(eval_text *line, eval_text *scratch, tfm_bleu_tokenizer tokenizer, int lowercase,
                                   eval_tokens *tokens);

#endif
