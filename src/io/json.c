/* io/json.c: JSON parsing with line/column error messages, and typed field reads that name the file and field. */
#include "io/json.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Parsing ---- */

/* Line and column (both 1-based, column in bytes) of `at` within `text`. */
static void line_and_column(const char *text, const char *at, int *line, int *column) {
    *line = 1;
    *column = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

/* A short, printable quote of what is at `at` (up to 12 characters of the line). */
static void describe_position(const char *at, const char *end, char *buf, size_t size) {
    if (at >= end || *at == '\0') {
        snprintf(buf, size, "unexpected end of text");
        return;
    }
    /* Non-printable bytes as \xNN, so binary junk reads as what it is. */
    char quote[12 * 4 + 1];
    size_t used = 0;
    for (size_t i = 0; at + i < end && i < 12 && at[i] != '\n' && at[i] != '\r'; i++) {
        unsigned char c = (unsigned char)at[i];
        if (isprint(c))
            quote[used++] = (char)c;
        else
            used += (size_t)snprintf(quote + used, sizeof quote - used, "\\x%02x", c);
    }
    quote[used] = '\0';
    if (used == 0)
        snprintf(buf, size, "unexpected end of line");
    else
        snprintf(buf, size, "unexpected '%s'", quote);
}

static int compare_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static tfm_status duplicate_key(const char *source, const char *key) {
    return tfm_error(TFM_ERR_FORMAT, "%s: invalid JSON: key \"%s\" appears twice in one object", source, key);
}

/* A key that appears twice among an object's members: sorted, so that a header of a million tensors costs
 * n log n comparisons, not n^2 / 2 (small objects compare pairwise, naming the first duplicate in order). */
static tfm_status check_object_keys(const cJSON *object, const char *source) {
    size_t n = 0;
    for (const cJSON *a = object->child; a; a = a->next) n += a->string != NULL;
    if (n <= 16) {
        for (const cJSON *a = object->child; a; a = a->next)
            for (const cJSON *b = a->next; a->string && b; b = b->next)
                if (b->string && strcmp(a->string, b->string) == 0) return duplicate_key(source, a->string);
        return TFM_OK;
    }
    const char **keys = tfm_malloc(sizeof *keys * n);
    if (!keys) return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "%s: checking JSON keys: ", source);
    size_t k = 0;
    for (const cJSON *a = object->child; a; a = a->next)
        if (a->string) keys[k++] = a->string;
    qsort(keys, n, sizeof *keys, compare_keys);
    tfm_status s = TFM_OK;
    for (size_t i = 1; i < n && !s; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) s = duplicate_key(source, keys[i]);
    tfm_free(keys, sizeof *keys * n);
    return s;
}

/* Report a duplicated key in any object of the tree. */
static tfm_status check_duplicates(const cJSON *item, const char *source) {
    if (cJSON_IsObject(item)) {
        tfm_status s = check_object_keys(item, source);
        if (s != TFM_OK) return s;
    }
    for (const cJSON *a = item ? item->child : NULL; a; a = a->next) {
        tfm_status s = check_duplicates(a, source);
        if (s != TFM_OK) return s;
    }
    return TFM_OK;
}

tfm_status tfm_json_parse(const char *text, size_t length, const char *source, cJSON **root) {
    *root = NULL;
    const char *end_of_parse = NULL;
    const char *end = text + length;
    cJSON *parsed = cJSON_ParseWithLengthOpts(text, length, &end_of_parse, 0);
    char what[64];
    int line, column;
    if (!parsed) {
        const char *at = end_of_parse ? end_of_parse : cJSON_GetErrorPtr();
        if (!at || at < text || at > end) at = text;
        /* An empty or whitespace-only document is reported as such, not as a position. */
        const char *p = text;
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p == end) return tfm_error(TFM_ERR_FORMAT, "%s: invalid JSON: the text is empty", source);
        line_and_column(text, at, &line, &column);
        describe_position(at, end, what, sizeof what);
        return tfm_error(TFM_ERR_FORMAT, "%s: invalid JSON at line %d, column %d: %s", source, line, column, what);
    }
    /* Only whitespace may follow the value. */
    const char *p = end_of_parse ? end_of_parse : end;
    while (p < end && (isspace((unsigned char)*p) || *p == '\0')) p++;
    if (p < end) {
        line_and_column(text, p, &line, &column);
        describe_position(p, end, what, sizeof what);
        cJSON_Delete(parsed);
        return tfm_error(TFM_ERR_FORMAT, "%s: invalid JSON at line %d, column %d: %s after the end of the JSON value",
                         source, line, column, what);
    }
    tfm_status s = check_duplicates(parsed, source);
    if (s != TFM_OK) {
        cJSON_Delete(parsed);
        return s;
    }
    *root = parsed;
    return TFM_OK;
}

tfm_status tfm_json_print(const cJSON *root, int formatted, char **text) {
    *text = NULL;
    char *printed = formatted ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    if (!printed) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory: could not print JSON");
    *text = tfm_strdup(printed);
    cJSON_free(printed);
    return *text ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

/* ---- Describing values and fields ---- */

void tfm_json_describe(const cJSON *item, char *buf, size_t size) {
    if (!item) {
        snprintf(buf, size, "nothing");
    } else if (cJSON_IsString(item)) {
        const char *s = item->valuestring ? item->valuestring : "";
        if (strlen(s) > 40)
            snprintf(buf, size, "\"%.37s...\"", s);
        else
            snprintf(buf, size, "\"%s\"", s);
    } else if (cJSON_IsNumber(item)) {
        snprintf(buf, size, "%.10g", item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(buf, size, "null");
    } else if (cJSON_IsArray(item)) {
        snprintf(buf, size, "an array");
    } else if (cJSON_IsObject(item)) {
        snprintf(buf, size, "an object");
    } else {
        snprintf(buf, size, "an unreadable value");
    }
}

/* "model.n_heads" or "n_heads". */
static void field_name(const tfm_json_context *ctx, const char *key, char *buf, size_t size) {
    if (ctx->section && ctx->section[0])
        snprintf(buf, size, "%s.%s", ctx->section, key);
    else
        snprintf(buf, size, "%s", key);
}

static tfm_status field_error(const tfm_json_context *ctx, const char *key, const char *expectation, const cJSON *found) {
    char name[160], got[64];
    field_name(ctx, key, name, sizeof name);
    tfm_json_describe(found, got, sizeof got);
    return tfm_error(TFM_ERR_CONFIG, "%s: %s: expected %s, got %s", ctx->source, name, expectation, got);
}

const cJSON *tfm_json_field(const cJSON *object, const char *key) {
    for (const cJSON *c = object ? object->child : NULL; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) return c;
    return NULL;
}

/* Levenshtein distance, capped: only small distances matter for "did you mean". */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= m; j++) row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int above = row[j];
            int best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[m];
}

static int in_list(const char *key, const char *const *list) {
    for (int i = 0; list && list[i]; i++)
        if (strcmp(key, list[i]) == 0) return 1;
    return 0;
}

tfm_status tfm_json_check_keys(const cJSON *object, const tfm_json_context *ctx, const char *const *allowed,
                               const char *const *ignored) {
    for (const cJSON *c = object ? object->child : NULL; c; c = c->next) {
        if (!c->string || in_list(c->string, allowed) || in_list(c->string, ignored)) continue;
        char name[160];
        field_name(ctx, c->string, name, sizeof name);
        const char *closest = NULL;
        int best = 3; /* suggest only near misses */
        for (int i = 0; allowed[i]; i++) {
            int d = edit_distance(c->string, allowed[i]);
            /* "training" for "train": a known name extended counts as a near miss too. */
            size_t k = strlen(allowed[i]);
            if (d >= 3 && k >= 4 && strncmp(c->string, allowed[i], k) == 0) d = 2;
            if (d < best) {
                best = d;
                closest = allowed[i];
            }
        }
        if (closest)
            return tfm_error(TFM_ERR_CONFIG, "%s: %s: unknown field (did you mean \"%s\"?)", ctx->source, name, closest);
        return tfm_error(TFM_ERR_CONFIG, "%s: %s: unknown field", ctx->source, name);
    }
    return TFM_OK;
}

tfm_status tfm_json_require(const cJSON *object, const char *key, const tfm_json_context *ctx, const char *expectation) {
    if (tfm_json_field(object, key)) return TFM_OK;
    char name[160];
    field_name(ctx, key, name, sizeof name);
    return tfm_error(TFM_ERR_CONFIG, "%s: %s: missing (expected %s)", ctx->source, name, expectation);
}

/* ---- Typed reads ---- */

tfm_status tfm_json_read_int(const cJSON *object, const char *key, const tfm_json_context *ctx, long long min,
                             long long max, long long *value) {
    const cJSON *item = tfm_json_field(object, key);
    if (!item) return TFM_OK;
    char expectation[96];
    double d = cJSON_IsNumber(item) ? item->valuedouble : 0.0;
    /* Name the upper bound only when it is what the value broke. */
    const char *kind = min == 1 ? "a positive integer" : min == 0 ? "a non-negative integer" : NULL;
    if (kind && (max >= LLONG_MAX || !(d > (double)max)))
        snprintf(expectation, sizeof expectation, "%s", kind);
    else if (kind)
        snprintf(expectation, sizeof expectation, "%s no larger than %lld", kind, max);
    else
        snprintf(expectation, sizeof expectation, "an integer from %lld to %lld", min, max);
    if (!cJSON_IsNumber(item)) return field_error(ctx, key, expectation, item);
    /* Doubles hold integers exactly up to 2^53; beyond that the text was rounded by the parser. */
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max || fabs(d) > 9007199254740992.0)
        return field_error(ctx, key, expectation, item);
    *value = (long long)d;
    return TFM_OK;
}

tfm_status tfm_json_read_int32(const cJSON *object, const char *key, const tfm_json_context *ctx, long long min,
                               long long max, int *value) {
    long long v = *value;
    tfm_status st = tfm_json_read_int(object, key, ctx, min, max < INT_MAX ? max : INT_MAX, &v);
    if (st == TFM_OK) *value = (int)v;
    return st;
}

tfm_status tfm_json_read_u64(const cJSON *object, const char *key, const tfm_json_context *ctx, unsigned long long *value) {
    const cJSON *item = tfm_json_field(object, key);
    if (!item) return TFM_OK;
    if (cJSON_IsString(item) && item->valuestring) {
        const char *s = item->valuestring;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (s[0] >= '0' && s[0] <= '9' && end && *end == '\0' && errno == 0) {
            *value = v;
            return TFM_OK;
        }
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (isfinite(d) && d >= 0 && d == floor(d) && d <= 9007199254740992.0) {
            *value = (unsigned long long)d;
            return TFM_OK;
        }
    }
    return field_error(ctx, key, "a non-negative integer (as a decimal string above 2^53)", item);
}

int tfm_json_add_u64(cJSON *object, const char *key, unsigned long long value) {
    if (value <= (1ull << 53)) return cJSON_AddNumberToObject(object, key, (double)value) != NULL;
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", value);
    return cJSON_AddStringToObject(object, key, digits) != NULL;
}

tfm_status tfm_json_expect_object(const cJSON *item, const char *source, const char *name) {
    if (cJSON_IsObject(item)) return TFM_OK;
    char got[64];
    tfm_json_describe(item, got, sizeof got);
    return tfm_error(TFM_ERR_CONFIG, "%s: %s: expected an object, got %s", source, name, got);
}

static void format_bound(double x, char *buf, size_t size) {
    if (isinf(x))
        snprintf(buf, size, "%sinfinity", x < 0 ? "-" : "");
    else
        snprintf(buf, size, "%g", x);
}

tfm_status tfm_json_read_float(const cJSON *object, const char *key, const tfm_json_context *ctx, double min,
                               int min_inclusive, double max, int max_inclusive, float *value) {
    const cJSON *item = tfm_json_field(object, key);
    if (!item) return TFM_OK;
    char expectation[96], lo[32], hi[32];
    if (min == 0 && isinf(max) && !min_inclusive) {
        snprintf(expectation, sizeof expectation, "a positive number");
    } else if (min == 0 && isinf(max)) {
        snprintf(expectation, sizeof expectation, "a non-negative number");
    } else {
        format_bound(min, lo, sizeof lo);
        format_bound(max, hi, sizeof hi);
        snprintf(expectation, sizeof expectation, "a number in %c%s, %s%c", min_inclusive ? '[' : '(', lo, hi,
                 max_inclusive ? ']' : ')');
    }
    if (!cJSON_IsNumber(item)) return field_error(ctx, key, expectation, item);
    double d = item->valuedouble;
    int ok = isfinite(d) && (min_inclusive ? d >= min : d > min) && (max_inclusive ? d <= max : d < max) &&
             fabs(d) <= FLT_MAX;
    if (!ok) return field_error(ctx, key, expectation, item);
    *value = (float)d;
    return TFM_OK;
}

tfm_status tfm_json_read_bool(const cJSON *object, const char *key, const tfm_json_context *ctx, int *value) {
    const cJSON *item = tfm_json_field(object, key);
    if (!item) return TFM_OK;
    if (!cJSON_IsBool(item)) return field_error(ctx, key, "true or false", item);
    *value = cJSON_IsTrue(item) ? 1 : 0;
    return TFM_OK;
}

tfm_status tfm_json_read_choice(const cJSON *object, const char *key, const tfm_json_context *ctx,
                                const char *const *choices, int *value) {
    const cJSON *item = tfm_json_field(object, key);
    if (!item) return TFM_OK;
    if (cJSON_IsString(item) && item->valuestring) {
        for (int i = 0; choices[i]; i++)
            if (strcmp(item->valuestring, choices[i]) == 0) {
                *value = i;
                return TFM_OK;
            }
    }
    char expectation[160];
    size_t used = 0;
    expectation[0] = '\0';
    int count = 0;
    while (choices[count]) count++;
    for (int i = 0; i < count && used < sizeof expectation; i++) {
        const char *sep = i == 0 ? "" : (i == count - 1 ? (count == 2 ? " or " : ", or ") : ", ");
        int n = snprintf(expectation + used, sizeof expectation - used, "%s\"%s\"", sep, choices[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (count > 1 && used < sizeof expectation) {
        /* "one of" reads better than a bare list when there are more than two. */
        char list[160];
        snprintf(list, sizeof list, "%s%s", count > 2 ? "one of " : "", expectation);
        return field_error(ctx, key, list, item);
    }
    return field_error(ctx, key, expectation, item);
}

double tfm_json_float_value(float x) {
    if (!isfinite(x)) return (double)x;
    char buf[48];
    for (int precision = 1; precision <= 9; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, (double)x);
        if (strtof(buf, NULL) == x) return strtod(buf, NULL);
    }
    return (double)x;
}
