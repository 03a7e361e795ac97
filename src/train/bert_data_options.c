/* train/bert_data_options.c: the settings of BERT pre-training examples, their defaults and their checks (kept apart so config parsing links without the data builder). */
#include "tfm/bert_data.h"

#include <math.h>

void tfm_bert_data_options_default(tfm_bert_data_options *o) {
    *o = (tfm_bert_data_options){.objective = TFM_BERT_OBJECTIVE_NSP, .max_length = 128, .short_sequence_probability = 0.1f,
                                 .mask_probability = 0.15f, .max_predictions = 20, .mask_token_probability = 0.8f,
                                 .random_token_probability = 0.1f, .whole_word_masking = 0, .dynamic_masking = 0};
}

static int probability(float p) { return isfinite(p) && p >= 0.0f && p <= 1.0f; }

tfm_status tfm_bert_data_options_validate(const tfm_bert_data_options *o) {
    if (o->objective < TFM_BERT_OBJECTIVE_NSP || o->objective > TFM_BERT_OBJECTIVE_TOKEN_CLASSIFICATION)
        return tfm_error(TFM_ERR_CONFIG, "train.objective: expected \"nsp\", \"sop\", \"mlm\", \"sequence_classification\" or "
                                         "\"token_classification\"");
    int least = o->objective == TFM_BERT_OBJECTIVE_NSP || o->objective == TFM_BERT_OBJECTIVE_SOP ? 5 : 3; /* [CLS] x [SEP] (y [SEP]) with one token each */
    if (o->max_length < least)
        return tfm_error(TFM_ERR_CONFIG, "train.seq_len: expected at least %d tokens for this objective, got %d", least, o->max_length);
    if (!probability(o->short_sequence_probability))
        return tfm_error(TFM_ERR_CONFIG, "train.short_sequence_probability: expected a number in [0, 1], got %g", (double)o->short_sequence_probability);
    if (!probability(o->mask_probability) || o->mask_probability == 0.0f)
        return tfm_error(TFM_ERR_CONFIG, "train.mask_probability: expected a number in (0, 1], got %g", (double)o->mask_probability);
    if (o->max_predictions < 1 || o->max_predictions > o->max_length)
        return tfm_error(TFM_ERR_CONFIG, "train.max_predictions: expected 1 to train.seq_len (%d), got %d", o->max_length, o->max_predictions);
    if (!probability(o->mask_token_probability) || !probability(o->random_token_probability) ||
        o->mask_token_probability + o->random_token_probability > 1.0f)
        return tfm_error(TFM_ERR_CONFIG, "train.mask_token_probability (%g) + train.random_token_probability (%g): expected two numbers "
                                         "in [0, 1] with a sum of at most 1", (double)o->mask_token_probability, (double)o->random_token_probability);
    return TFM_OK;
}
