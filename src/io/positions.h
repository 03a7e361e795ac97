/* io/positions.h: the checks of a model's position settings, shared by the GPT and encoder-decoder configs. */
#ifndef TFM_IO_POSITIONS_H
#define TFM_IO_POSITIONS_H

#include "tfm/config.h"

/* positions a TFM_POSITIONS_* value; rope needs an even head_dim and rope_base > 1; relative a relative_clip in
 * [1, 65536]. Errors name model.positions, model.rope_base or model.relative_clip. */
tfm_status tfm_positions_validate(int positions, int head_dim, float rope_base, int relative_clip);

#endif
