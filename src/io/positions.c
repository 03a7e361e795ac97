/* io/positions.c: the names of the attention's config choices (position encodings, scores) and the position checks
 * shared by the GPT and encoder-decoder configs. */
#include "io/positions.h"
#include "tfm/nn.h" /* tfm_score_names */

#include <math.h>

const char *const tfm_position_names[] = {"sinusoidal", "learned", "rope", "alibi", "relative", NULL};
const char *const tfm_score_names[] = {"scaled_dot", "dot", "general", "additive", NULL}; /* = TFM_SCORE_* */

tfm_status tfm_positions_validate(int positions, int head_dim, float rope_base, int relative_clip) {
    if (positions < 0 || positions >= TFM_POSITIONS_COUNT)
        return tfm_error(TFM_ERR_CONFIG, "model.positions: expected a TFM_POSITIONS_* value (0 to %d), got %d", TFM_POSITIONS_COUNT - 1,
                         positions);
    if (positions == TFM_POSITIONS_ROPE && head_dim % 2)
        return tfm_error(TFM_ERR_CONFIG, "model.positions: \"rope\" needs an even head size (d_model / n_heads), got %d", head_dim);
    if (!(isfinite(rope_base) && rope_base > 1.0f))
        return tfm_error(TFM_ERR_CONFIG, "model.rope_base: expected a number above 1, got %g", (double)rope_base);
    if (relative_clip < 1 || relative_clip > 65536)
        return tfm_error(TFM_ERR_CONFIG, "model.relative_clip: expected 1 to 65536, got %d", relative_clip);
    return TFM_OK;
}
