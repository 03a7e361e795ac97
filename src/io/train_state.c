/* io/train_state.c: trainer_state.json: typed, range-checked keys over a cJSON object, every error naming the file and key. */
#include "io/train_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"

struct tfm_train_state {
    cJSON *root;
    char source[1024];
};

static tfm_status allocate(tfm_train_state **out, cJSON *root, const char *source) {
    tfm_train_state *s = tfm_calloc(1, sizeof *s);
    if (!s) {
        cJSON_Delete(root);
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the trainer state");
    }
    s->root = root;
    snprintf(s->source, sizeof s->source, "%s", source ? source : "trainer_state.json");
    *out = s;
    return TFM_OK;
}

tfm_status tfm_train_state_create(tfm_train_state **out, const char *source) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for the trainer state");
    return allocate(out, root, source);
}

tfm_status tfm_train_state_parse(tfm_train_state **out, const char *text, const char *source) {
    *out = NULL;
    cJSON *root = NULL;
    tfm_status st = tfm_json_parse(text, strlen(text), source, &root);
    if (st) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tfm_error(TFM_ERR_FORMAT, "%s: expected a JSON object", source);
    }
    return allocate(out, root, source);
}

void tfm_train_state_free(tfm_train_state *s) {
    if (!s) return;
    cJSON_Delete(s->root);
    tfm_free(s, sizeof *s);
}

const char *tfm_train_state_source(const tfm_train_state *s) { return s->source; }

tfm_status tfm_train_state_print(const tfm_train_state *s, char **text) { return tfm_json_print(s->root, 1, text); }

int tfm_train_state_has(const tfm_train_state *s, const char *key) { return tfm_json_field(s->root, key) != NULL; }

/* Replace or add one member. */
static tfm_status put(tfm_train_state *s, const char *key, cJSON *item) {
    if (!item) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory writing %s", s->source);
    if (tfm_json_field(s->root, key)) cJSON_DeleteItemFromObjectCaseSensitive(s->root, key);
    cJSON_AddItemToObject(s->root, key, item);
    return TFM_OK;
}

tfm_status tfm_train_state_set_u64(tfm_train_state *s, const char *key, uint64_t value) {
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    return put(s, key, cJSON_CreateString(digits));
}

tfm_status tfm_train_state_set_string(tfm_train_state *s, const char *key, const char *value) {
    return put(s, key, cJSON_CreateString(value));
}

tfm_status tfm_train_state_set_count(tfm_train_state *s, const char *key, long value) {
    return put(s, key, cJSON_CreateNumber((double)value));
}

tfm_status tfm_train_state_set_float(tfm_train_state *s, const char *key, float value) {
    return put(s, key, isfinite(value) ? cJSON_CreateNumber(tfm_json_float_value(value)) : cJSON_CreateNull());
}

tfm_status tfm_train_state_set_object(tfm_train_state *s, const char *key, const char *json_text) {
    cJSON *item = cJSON_Parse(json_text);
    if (!item) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: %s: not a JSON object", s->source, key);
    return put(s, key, item);
}

/* "data_counter": "123" only: no sign, no spaces, no overflow (strtoull alone accepts "-1" and wraps it). */
tfm_status tfm_train_state_get_u64(const tfm_train_state *s, const char *key, uint64_t *value) {
    const cJSON *item = tfm_json_field(s->root, key);
    if (!item) return tfm_error(TFM_ERR_FORMAT, "%s: %s: missing (expected a decimal string)", s->source, key);
    const char *text = cJSON_IsString(item) ? item->valuestring : NULL;
    int digits = text && text[0] != '\0';
    for (const char *c = text; digits && *c; c++) digits = *c >= '0' && *c <= '9';
    char *end = NULL;
    errno = 0;
    unsigned long long v = digits ? strtoull(text, &end, 10) : 0;
    if (!digits || errno == ERANGE || (end && *end)) {
        char got[64];
        tfm_json_describe(item, got, sizeof got);
        return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a decimal string of a 64-bit unsigned integer, got %s", s->source, key, got);
    }
    *value = v;
    return TFM_OK;
}

tfm_status tfm_train_state_get_string(const tfm_train_state *s, const char *key, const char **value) {
    const cJSON *item = tfm_json_field(s->root, key);
    if (!cJSON_IsString(item) || !item->valuestring)
        return tfm_error(TFM_ERR_FORMAT, "%s: %s: %s (expected a string)", s->source, key, item ? "not a string" : "missing");
    *value = item->valuestring;
    return TFM_OK;
}

tfm_status tfm_train_state_get_count(const tfm_train_state *s, const char *key, long *value) {
    const cJSON *item = tfm_json_field(s->root, key);
    double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(d >= 0 && d == floor(d) && d <= 9007199254740992.0)) {
        char got[64];
        tfm_json_describe(item, got, sizeof got);
        return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a whole number >= 0, got %s", s->source, key, item ? got : "nothing");
    }
    *value = (long)d;
    return TFM_OK;
}

tfm_status tfm_train_state_get_float(const tfm_train_state *s, const char *key, float *value) {
    const cJSON *item = tfm_json_field(s->root, key);
    if (!item) return TFM_OK;
    if (cJSON_IsNull(item)) *value = NAN;
    else if (cJSON_IsNumber(item)) *value = (float)item->valuedouble;
    else return tfm_error(TFM_ERR_FORMAT, "%s: %s: expected a number or null", s->source, key);
    return TFM_OK;
}

tfm_status tfm_train_state_get_object(const tfm_train_state *s, const char *key, char **json_text) {
    const cJSON *item = tfm_json_field(s->root, key);
    if (!cJSON_IsObject(item)) return tfm_error(TFM_ERR_FORMAT, "%s: missing the \"%s\" object", s->source, key);
    return tfm_json_print(item, 0, json_text);
}

tfm_status tfm_train_state_set_epoch_position(tfm_train_state *s, long epoch, size_t position) {
    tfm_status st = tfm_train_state_set_u64(s, "data_epoch", (uint64_t)epoch);
    return st ? st : tfm_train_state_set_u64(s, "data_position", position);
}

tfm_status tfm_train_state_get_epoch_position(const tfm_train_state *s, size_t count, const char *units, long *epoch, size_t *position) {
    uint64_t e = 0, p = 0;
    tfm_status st = tfm_train_state_get_u64(s, "data_epoch", &e);
    if (!st) st = tfm_train_state_get_u64(s, "data_position", &p);
    if (st) return st;
    if (p > count) return tfm_error(TFM_ERR_FORMAT, "%s: data_position %llu is past the %zu %s", s->source, (unsigned long long)p, count, units);
    if (e > (uint64_t)1 << 40) return tfm_error(TFM_ERR_FORMAT, "%s: data_epoch %llu is not plausible", s->source, (unsigned long long)e);
    *epoch = (long)e;
    *position = (size_t)p;
    return TFM_OK;
}
