/* io/checkpoint.c: one checkpoint directory (model.safetensors, config.json, optimizer.safetensors, trainer_state.json): save, check, load. */
#define _POSIX_C_SOURCE 200809L
#include "io/file.h"
#include "io/json.h"
#include "tfm/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MODEL_FILE "model.safetensors"
#define CONFIG_FILE "config.json"
#define OPTIMIZER_FILE "optimizer.safetensors"
#define TRAINER_FILE "trainer_state.json"
/* The key shared by the files of one save (safetensors metadata, and a top-level key of trainer_state.json). */
#define SAVE_ID_KEY "tfm_save_id"

static void free_string(char *s) {
    if (s) tfm_free(s, strlen(s) + 1);
}

/* The directory must exist and be a directory: say so before naming a file in it. */
static tfm_status check_directory(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) return tfm_error(TFM_ERR_IO, "checkpoint directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return tfm_error(TFM_ERR_IO, "checkpoint %s: not a directory", dir);
    return TFM_OK;
}

/* A process-unique, time-based id: two saves never share one. */
static void make_save_id(char *buf, size_t size) {
    static unsigned counter = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%llx-%lx-%x", (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
             (long)getpid(), ++counter);
}

/* The trainer's "step" if it is an integer, else "" (then no step is recorded). */
static void step_of(const cJSON *state, char *buf, size_t size) {
    const cJSON *step = tfm_json_field(state, "step");
    buf[0] = '\0';
    if (cJSON_IsNumber(step) && step->valuedouble == floor(step->valuedouble) && fabs(step->valuedouble) < 9.0e15)
        snprintf(buf, size, "%lld", (long long)step->valuedouble);
}

/* Parse caller JSON that must be an object; errors name what it is for. */
static tfm_status parse_object(const char *text, const char *what, cJSON **root) {
    tfm_status s = tfm_json_parse(text, strlen(text), what, root);
    if (s != TFM_OK) return s;
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: expected a JSON object", what);
    }
    return TFM_OK;
}

/* A run directory (checkpoints/ or current): a model saved beside them would never be read. */
static int holds_checkpoints(const char *dir) {
    struct stat st;
    char *checkpoints = tfm_file_join(dir, "checkpoints"), *current = tfm_file_join(dir, "current");
    int holds = (checkpoints && lstat(checkpoints, &st) == 0) || (current && lstat(current, &st) == 0);
    free_string(checkpoints);
    free_string(current);
    return holds;
}

static tfm_status remove_if_present(const char *dir, const char *name) {
    char *path = tfm_file_join(dir, name);
    if (!path) return TFM_ERR_OUT_OF_MEMORY;
    tfm_status s = TFM_OK;
    if (remove(path) != 0 && errno != ENOENT) s = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    free_string(path);
    return s;
}

/* The optimizer's state tensors: "<name>.exp_avg" / "<name>.exp_avg_sq" (PyTorch's Adam state names; other
 * optimizers keep their first two states there too) and, for an optimizer with a third (RMSprop with momentum),
 * "<name>.momentum_buffer". */
static const char *const moment_suffixes[3] = {".exp_avg", ".exp_avg_sq", ".momentum_buffer"};

static int moment_count(const tfm_params *params) { return params->moment3 ? 3 : 2; }

static float *moment_slab(const tfm_params *params, int k) { return k == 0 ? params->moment1 : k == 1 ? params->moment2 : params->moment3; }

static char *moment_name(const char *name, int k) {
    const char *suffix = moment_suffixes[k];
    size_t a = strlen(name), b = strlen(suffix);
    char *s = tfm_malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, name, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

static tfm_status write_optimizer(const char *path, const tfm_params *params, const char *const *metadata) {
    int K = moment_count(params);
    size_t n = (size_t)(K * params->count > 0 ? K * params->count : 1);
    tfm_safetensors_entry *entries = tfm_calloc(n, sizeof *entries);
    if (!entries) return TFM_ERR_OUT_OF_MEMORY;
    tfm_status s = TFM_OK;
    for (int i = 0; i < params->count && s == TFM_OK; i++) {
        const tfm_param *p = &params->entries[i];
        for (int k = 0; k < K; k++) {
            tfm_safetensors_entry *e = &entries[K * i + k];
            const float *slab = moment_slab(params, k);
            e->name = moment_name(p->name, k);
            if (!e->name) {
                s = TFM_ERR_OUT_OF_MEMORY;
                break;
            }
            e->data = slab ? slab + p->offset : NULL; /* not yet allocated: the optimizer has not stepped: zeros */
            e->ndim = p->ndim;
            memcpy(e->shape, p->shape, sizeof p->shape);
            e->transpose = p->stored_transposed && p->ndim == 2;
        }
    }
    if (s == TFM_OK) s = tfm_safetensors_write(path, entries, K * params->count, metadata);
    for (size_t i = 0; i < n; i++) free_string((char *)entries[i].name);
    tfm_free(entries, n * sizeof *entries);
    return s;
}

tfm_status tfm_checkpoint_save(const char *dir, const tfm_params *params, const char *config_json,
                               const char *trainer_state_json) {
    if (!params || !params->data) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "saving %s: parameters are not allocated", dir);
    if (!config_json) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "saving %s: no model config", dir);
    cJSON *config = NULL, *state = NULL;
    tfm_status s = parse_object(config_json, "checkpoint config.json text", &config);
    cJSON_Delete(config);
    if (s != TFM_OK) return tfm_error_prefix(s, "saving %s: ", dir);
    if (trainer_state_json) {
        s = parse_object(trainer_state_json, "trainer state", &state);
        if (s == TFM_OK && tfm_json_field(state, SAVE_ID_KEY)) {
            s = tfm_error(TFM_ERR_INVALID_ARGUMENT, "trainer state: the key \"%s\" is reserved for tfm_checkpoint_save", SAVE_ID_KEY);
        }
        if (s != TFM_OK) {
            cJSON_Delete(state);
            return tfm_error_prefix(s, "saving %s: ", dir);
        }
    }
    if (!state && holds_checkpoints(dir)) {
        cJSON_Delete(state);
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "saving a model into %s: it holds a training run; remove it first "
                         "(tfm_checkpoint_remove_run) or save elsewhere", dir);
    }
    s = tfm_file_make_directory(dir);
    if (s != TFM_OK) {
        cJSON_Delete(state);
        return s;
    }
    char save_id[64], step[32] = "";
    make_save_id(save_id, sizeof save_id);
    if (state) step_of(state, step, sizeof step);
    const char *metadata[] = {SAVE_ID_KEY, save_id, step[0] ? "step" : NULL, step, NULL};

    char *model_path = tfm_file_join(dir, MODEL_FILE), *config_path = tfm_file_join(dir, CONFIG_FILE);
    char *optimizer_path = tfm_file_join(dir, OPTIMIZER_FILE), *trainer_path = tfm_file_join(dir, TRAINER_FILE);
    char *state_text = NULL;
    if (!model_path || !config_path || !optimizer_path || !trainer_path) s = TFM_ERR_OUT_OF_MEMORY;
    /* A model-only save makes any older trainer state stale: remove it first (trainer state, then moments). */
    if (s == TFM_OK && !state) s = remove_if_present(dir, TRAINER_FILE);
    if (s == TFM_OK && !state) s = remove_if_present(dir, OPTIMIZER_FILE);
    /* Order: model, config, moments, and trainer_state.json last: it is the commit record. A crash before it
     * leaves an older trainer_state.json whose save id no longer matches, which loading reports. */
    if (s == TFM_OK) s = tfm_safetensors_save_params(model_path, params, metadata);
    if (s == TFM_OK) s = tfm_file_write_atomic(config_path, config_json, strlen(config_json));
    if (s == TFM_OK && state) s = write_optimizer(optimizer_path, params, metadata);
    if (s == TFM_OK && state) {
        if (!cJSON_AddStringToObject(state, SAVE_ID_KEY, save_id))
            s = tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory building trainer_state.json");
        if (s == TFM_OK) s = tfm_json_print(state, 1, &state_text);
        if (s == TFM_OK) s = tfm_file_write_atomic(trainer_path, state_text, strlen(state_text));
    }
    free_string(state_text);
    free_string(model_path);
    free_string(config_path);
    free_string(optimizer_path);
    free_string(trainer_path);
    cJSON_Delete(state);
    return s;
}

static tfm_status load_config_in(const char *dir, char **config_json) {
    *config_json = NULL;
    tfm_status s = check_directory(dir);
    if (s != TFM_OK) return s;
    char *path = tfm_file_join(dir, CONFIG_FILE);
    if (!path) return TFM_ERR_OUT_OF_MEMORY;
    char *text = NULL;
    size_t size = 0;
    s = tfm_file_read(path, &text, &size);
    if (s == TFM_OK && strlen(text) != size) s = tfm_error(TFM_ERR_FORMAT, "%s: contains a NUL byte: not a JSON text", path);
    cJSON *root = NULL;
    if (s == TFM_OK) s = tfm_json_parse(text, size, path, &root);
    if (s == TFM_OK && !cJSON_IsObject(root)) s = tfm_error(TFM_ERR_FORMAT, "%s: expected a JSON object", path);
    cJSON_Delete(root);
    free_string(path);
    if (s != TFM_OK) {
        if (text) tfm_free(text, size + 1);
        return s;
    }
    *config_json = text; /* size + 1 == strlen + 1, so the documented free works */
    return TFM_OK;
}

static tfm_status load_params_in(const char *dir, tfm_params *params, const tfm_load_options *options) {
    tfm_status s = check_directory(dir);
    if (s != TFM_OK) return s;
    char *path = tfm_file_join(dir, MODEL_FILE);
    if (!path) return TFM_ERR_OUT_OF_MEMORY;
    s = tfm_safetensors_load_params_with(path, params, options);
    free_string(path);
    return s;
}

static int has_trainer_state_in(const char *dir) {
    char *path = tfm_file_join(dir, TRAINER_FILE);
    int exists = path && tfm_file_exists(path);
    free_string(path);
    return exists;
}

/* The save id and step a safetensors file records ("" if none). */
static void file_marks(const tfm_safetensors *f, const char **id, const char **step) {
    *id = tfm_safetensors_metadata(f, SAVE_ID_KEY);
    *step = tfm_safetensors_metadata(f, "step");
    if (!*id) *id = "";
    if (!*step) *step = "";
}

static tfm_status inconsistent(const char *dir, const char *a, const char *a_id, const char *a_step, const char *b,
                               const char *b_id, const char *b_step) {
    return tfm_error(TFM_ERR_FORMAT,
                     "%s: inconsistent checkpoint: %s is from save \"%s\"%s%s%s but %s is from save \"%s\"%s%s%s "
                     "(a save was interrupted; use an older checkpoint or save again)",
                     dir, a, a_id, a_step[0] ? " (step " : "", a_step, a_step[0] ? ")" : "", b, b_id,
                     b_step[0] ? " (step " : "", b_step, b_step[0] ? ")" : "");
}

/* A tensor name that is a moment of a declared parameter. */
static int is_moment_name(tfm_params *params, const char *name, int K) {
    size_t n = strlen(name);
    for (int k = 0; k < K; k++) {
        size_t m = strlen(moment_suffixes[k]);
        char base[512];
        if (n > m && n - m < sizeof base && strcmp(name + n - m, moment_suffixes[k]) == 0) {
            memcpy(base, name, n - m);
            base[n - m] = '\0';
            if (tfm_params_find(params, base)) return 1;
        }
    }
    return 0;
}

/* Check every moment tensor first, then fill the slabs (two, or three when the optimizer has allocated a third),
 * so a failed load changes nothing. */
static tfm_status read_moments(const tfm_safetensors *f, tfm_params *params) {
    int K = moment_count(params);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < params->count; i++) {
            const tfm_param *p = &params->entries[i];
            int transpose = p->stored_transposed && p->ndim == 2;
            for (int k = 0; k < K; k++) {
                char *name = moment_name(p->name, k);
                if (!name) return TFM_ERR_OUT_OF_MEMORY;
                float *out = pass == 0 ? NULL : moment_slab(params, k) + p->offset;
                tfm_status s = tfm_safetensors_read_f32(f, name, p->ndim, p->shape, transpose, out);
                if (!s && pass == 0) s = tfm_safetensors_check_finite(f, tfm_safetensors_find(f, name));
                free_string(name);
                if (s != TFM_OK) return s;
            }
        }
        if (pass == 0) {
            /* Every tensor in the file must be a moment of a declared parameter. */
            if (tfm_safetensors_count(f) != K * params->count)
                for (int i = 0; i < tfm_safetensors_count(f); i++) {
                    const char *name = tfm_safetensors_tensor_at(f, i)->name;
                    if (!is_moment_name(params, name, K))
                        return tfm_error(TFM_ERR_FORMAT, "%s: unexpected tensor \"%s\": not an optimizer moment of this model",
                                         tfm_safetensors_path(f), name);
                }
            tfm_status s = tfm_params_allocate_moments_n(params, K == 3);
            if (s != TFM_OK) return s;
        }
    }
    return TFM_OK;
}

static tfm_status load_trainer_state_in(const char *dir, tfm_params *params, char **trainer_state_json) {
    *trainer_state_json = NULL;
    if (!params || !params->data) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "loading %s: parameters are not allocated", dir);
    tfm_status s = check_directory(dir);
    if (s != TFM_OK) return s;
    char *trainer_path = tfm_file_join(dir, TRAINER_FILE), *optimizer_path = tfm_file_join(dir, OPTIMIZER_FILE);
    char *model_path = tfm_file_join(dir, MODEL_FILE);
    char *text = NULL;
    size_t size = 0;
    cJSON *state = NULL;
    tfm_safetensors *optimizer = NULL, *model = NULL;
    if (!trainer_path || !optimizer_path || !model_path) s = TFM_ERR_OUT_OF_MEMORY;
    if (s == TFM_OK) {
        s = tfm_file_read(trainer_path, &text, &size);
        if (s == TFM_ERR_IO && !tfm_file_exists(trainer_path))
            s = tfm_error(TFM_ERR_IO, "cannot open %s: %s (a model-only checkpoint has no training state to resume)",
                          trainer_path, strerror(ENOENT));
    }
    if (s == TFM_OK) s = tfm_json_parse(text, size, trainer_path, &state);
    if (s == TFM_OK && !cJSON_IsObject(state)) s = tfm_error(TFM_ERR_FORMAT, "%s: expected a JSON object", trainer_path);
    const cJSON *id_item = s == TFM_OK ? tfm_json_field(state, SAVE_ID_KEY) : NULL;
    if (s == TFM_OK && !cJSON_IsString(id_item))
        s = tfm_error(TFM_ERR_FORMAT, "%s: no \"%s\" string: not written by tfm_checkpoint_save", trainer_path, SAVE_ID_KEY);
    /* All three files must come from the same save. */
    if (s == TFM_OK) s = tfm_safetensors_open(optimizer_path, &optimizer);
    if (s == TFM_OK) s = tfm_safetensors_open(model_path, &model);
    if (s == TFM_OK) {
        char state_step[32];
        step_of(state, state_step, sizeof state_step);
        const char *optimizer_id, *optimizer_step, *model_id, *model_step;
        file_marks(optimizer, &optimizer_id, &optimizer_step);
        file_marks(model, &model_id, &model_step);
        if (strcmp(optimizer_id, id_item->valuestring) != 0)
            s = inconsistent(dir, OPTIMIZER_FILE, optimizer_id, optimizer_step, TRAINER_FILE, id_item->valuestring, state_step);
        else if (strcmp(model_id, id_item->valuestring) != 0)
            s = inconsistent(dir, MODEL_FILE, model_id, model_step, TRAINER_FILE, id_item->valuestring, state_step);
        else if (strcmp(model_step, optimizer_step) != 0 || strcmp(model_step, state_step) != 0)
            s = tfm_error(TFM_ERR_FORMAT, "%s: inconsistent checkpoint: steps differ (model \"%s\", optimizer \"%s\", trainer state \"%s\")",
                          dir, model_step, optimizer_step, state_step);
    }
    if (s == TFM_OK) s = read_moments(optimizer, params);
    if (s == TFM_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(state, SAVE_ID_KEY);
        s = tfm_json_print(state, 1, trainer_state_json);
    }
    tfm_safetensors_close(optimizer);
    tfm_safetensors_close(model);
    cJSON_Delete(state);
    if (text) tfm_free(text, size + 1);
    free_string(trainer_path);
    free_string(optimizer_path);
    free_string(model_path);
    return s;
}

/* ---- The public loaders: a run directory stands for the checkpoint its "current" link names ---- */

tfm_status tfm_checkpoint_load_config(const char *dir, char **config_json) {
    *config_json = NULL;
    char *resolved = NULL;
    tfm_status s = tfm_checkpoint_resolve(dir, &resolved);
    if (!s) s = load_config_in(resolved, config_json);
    free_string(resolved);
    return s;
}

tfm_status tfm_checkpoint_load_params(const char *dir, tfm_params *params) {
    return tfm_checkpoint_load_params_with(dir, params, NULL);
}

tfm_status tfm_checkpoint_load_params_with(const char *dir, tfm_params *params, const tfm_load_options *options) {
    char *resolved = NULL;
    tfm_status s = tfm_checkpoint_resolve(dir, &resolved);
    if (!s) s = load_params_in(resolved, params, options);
    free_string(resolved);
    return s;
}

tfm_status tfm_checkpoint_load_trainer_state(const char *dir, tfm_params *params, char **trainer_state_json) {
    *trainer_state_json = NULL;
    char *resolved = NULL;
    tfm_status s = tfm_checkpoint_resolve(dir, &resolved);
    if (!s) s = load_trainer_state_in(resolved, params, trainer_state_json);
    free_string(resolved);
    return s;
}

int tfm_checkpoint_has_trainer_state(const char *dir) {
    char *resolved = NULL;
    int has = tfm_checkpoint_resolve(dir, &resolved) == TFM_OK && has_trainer_state_in(resolved);
    free_string(resolved);
    return has;
}
