/* WordPiece vocabulary training (Hugging Face WordPieceTrainer: BPE merges with "##" continuations). */
#include "tfm/wordpiece.h"

struct tfm_wordpiece_trainer {
    int lowercase;
};

tfm_status tfm_wordpiece_trainer_create(tfm_wordpiece_trainer **out, int lowercase) {
    (void)lowercase;
    *out = NULL;
    return tfm_error(TFM_ERR_UNSUPPORTED, "tfm_wordpiece_trainer_create: not implemented yet");
}
tfm_status tfm_wordpiece_trainer_add_text(tfm_wordpiece_trainer *trainer, const char *text, size_t len) {
    (void)trainer; (void)text; (void)len;
    return TFM_ERR_UNSUPPORTED;
}
tfm_status tfm_wordpiece_trainer_finish(tfm_wordpiece_trainer *trainer, const tfm_wordpiece_train_options *options,
                                        tfm_wordpiece **out) {
    (void)trainer; (void)options; *out = NULL;
    return TFM_ERR_UNSUPPORTED;
}
void tfm_wordpiece_trainer_free(tfm_wordpiece_trainer *trainer) { (void)trainer; }
