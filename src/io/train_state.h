/* io/train_state.h: trainer_state.json in memory: the loop's and the task's keys, read strictly, written for resume. */
#ifndef TFM_IO_TRAIN_STATE_H
#define TFM_IO_TRAIN_STATE_H

#include "tfm/train.h"

/* An empty state to fill (source names the file for messages). */
tfm_status tfm_train_state_create(tfm_train_state **state, const char *source);
/* Parse a saved state; not a JSON object is TFM_ERR_FORMAT naming source. */
tfm_status tfm_train_state_parse(tfm_train_state **state, const char *text, const char *source);
void tfm_train_state_free(tfm_train_state *state);
/* The whole state as text (free with tfm_free(text, strlen + 1)). */
tfm_status tfm_train_state_print(const tfm_train_state *state, char **text);

/* A non-negative integer that a double holds exactly (step counts). */
tfm_status tfm_train_state_set_count(tfm_train_state *state, const char *key, long value);
tfm_status tfm_train_state_get_count(const tfm_train_state *state, const char *key, long *value);
/* A float that may be NAN (written as null). Absent: *value keeps what it holds. */
tfm_status tfm_train_state_set_float(tfm_train_state *state, const char *key, float value);
tfm_status tfm_train_state_get_float(const tfm_train_state *state, const char *key, float *value);
/* 1 when the key is present. */
int tfm_train_state_has(const tfm_train_state *state, const char *key);
/* A nested JSON object as text (the "train" config), set from text / read as text (tfm_free(text, strlen + 1)). */
tfm_status tfm_train_state_set_object(tfm_train_state *state, const char *key, const char *json_text);
tfm_status tfm_train_state_get_object(const tfm_train_state *state, const char *key, char **json_text);

#endif
