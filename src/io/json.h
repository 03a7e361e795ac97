/* io/json.h: library-internal helpers on top of cJSON: parsing with line/column errors and typed field reads that name file + field. */
#ifndef TFM_IO_JSON_H
#define TFM_IO_JSON_H

#include "tfm/base.h"

#include <cjson/cJSON.h>

/* Parse `length` bytes of JSON text. Errors: TFM_ERR_FORMAT "<source>: invalid JSON at line L, column C: <what is there>".
 * Duplicate keys in an object are an error too (cJSON would silently keep the first). */
tfm_status tfm_json_parse(const char *text, size_t length, const char *source, cJSON **root);

/* Where fields are read from, for messages: "<source>: <section>.<key>: ..." (section may be NULL). */
typedef struct tfm_json_context {
    const char *source;   /* file name or "<string>" */
    const char *section;  /* e.g. "model", or NULL at top level */
} tfm_json_context;

/* Every key of `object` must be in the NULL-terminated `allowed` list, or in the optional `ignored` list.
 * An unknown key: TFM_ERR_CONFIG "<source>: model.n_head: unknown field (did you mean "n_heads"?)". */
tfm_status tfm_json_check_keys(const cJSON *object, const tfm_json_context *ctx, const char *const *allowed,
                               const char *const *ignored);

/* The value of `key`, or NULL if absent. */
const cJSON *tfm_json_field(const cJSON *object, const char *key);

/* Typed reads. Each leaves *value untouched when the key is absent (defaults stay) and fails with
 * TFM_ERR_CONFIG "<source>: <section>.<key>: expected <expectation>, got <found>" on a wrong type or range. */
tfm_status tfm_json_read_int(const cJSON *object, const char *key, const tfm_json_context *ctx, long long min,
                             long long max, long long *value);
/* The same for an int field. */
tfm_status tfm_json_read_int32(const cJSON *object, const char *key, const tfm_json_context *ctx, long long min,
                               long long max, int *value);
/* A non-negative 64-bit integer (a seed): a JSON number up to 2^53, or a decimal string for any value. */
tfm_status tfm_json_read_u64(const cJSON *object, const char *key, const tfm_json_context *ctx, unsigned long long *value);
/* Add a 64-bit integer as a number when a double holds it exactly, else as a decimal string; 0 on failure. */
int tfm_json_add_u64(cJSON *object, const char *key, unsigned long long value);
/* TFM_ERR_CONFIG "<source>: <name>: expected an object, got ..." unless item is an object. */
tfm_status tfm_json_expect_object(const cJSON *item, const char *source, const char *name);
tfm_status tfm_json_read_float(const cJSON *object, const char *key, const tfm_json_context *ctx, double min,
                               int min_inclusive, double max, int max_inclusive, float *value);
tfm_status tfm_json_read_bool(const cJSON *object, const char *key, const tfm_json_context *ctx, int *value);
/* One of `choices` (NULL-terminated); *value becomes its index. */
tfm_status tfm_json_read_choice(const cJSON *object, const char *key, const tfm_json_context *ctx,
                                const char *const *choices, int *value);
/* A required field: TFM_ERR_CONFIG "<source>: <key>: missing (expected <expectation>)" if absent. */
tfm_status tfm_json_require(const cJSON *object, const char *key, const tfm_json_context *ctx, const char *expectation);
/* Write a short description of a JSON value into buf, e.g. "\"four\"", "2.5", "true", "an object". */
void tfm_json_describe(const cJSON *item, char *buf, size_t size);
/* Shortest decimal form of a float that reads back to the same float, as a double (so cJSON prints "0.1"). */
double tfm_json_float_value(float x);
/* cJSON_Print / PrintUnformatted into tfm_malloc'd text (freed with tfm_free(text, strlen(text) + 1)). */
tfm_status tfm_json_print(const cJSON *root, int formatted, char **text);

#endif
