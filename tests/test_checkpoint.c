/* tests/test_checkpoint.c: checkpoint directories: full and model-only round trips, torn saves detected, and precise errors. */
#define _POSIX_C_SOURCE 200809L
#include "io/file.h"
#include "tfm/config.h"
#include "tfm/io.h"

#include "test_util.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_DIR "test_checkpoint_tmp"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* A two-layer toy with a Conv1D-layout weight, values seeded by `seed`. */
typedef struct toy {
    tfm_params params;
    tfm_tensor t[4];
} toy;

static void toy_init(toy *m, int width) {
    tfm_params_init(&m->params);
    CHECK_OK(tfm_params_declare(&m->params, "transformer.wte.weight", 2, (int[]){16, width}, &m->t[0], 1));
    CHECK_OK(tfm_params_declare(&m->params, "transformer.h.0.mlp.c_fc.weight", 2, (int[]){4 * width, width}, &m->t[1], 1));
    tfm_params_find(&m->params, "transformer.h.0.mlp.c_fc.weight")->stored_transposed = 1;
    CHECK_OK(tfm_params_declare(&m->params, "transformer.h.0.mlp.c_fc.bias", 1, (int[]){4 * width}, &m->t[2], 0));
    CHECK_OK(tfm_params_declare(&m->params, "transformer.ln_f.weight", 1, (int[]){width}, &m->t[3], 0));
    CHECK_OK(tfm_params_allocate(&m->params));
}

static void toy_fill(toy *m, float seed, int with_moments) {
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] = seed + (float)i * 0.25f;
    if (with_moments) {
        CHECK_OK(tfm_params_allocate_moments(&m->params));
        for (size_t i = 0; i < m->params.total; i++) {
            m->params.moment1[i] = seed - (float)i;
            m->params.moment2[i] = seed * 0.5f + (float)i * (float)i;
        }
    }
}

/* Compare only the tensors' floats (alignment gaps in the slabs are not saved). */
static int slab_equal(const tfm_params *a, const float *x, const float *y) {
    for (int i = 0; i < a->count; i++)
        if (memcmp(x + a->entries[i].offset, y + a->entries[i].offset, sizeof(float) * a->entries[i].size) != 0) return 0;
    return 1;
}

static char *config_text(void) {
    tfm_gpt_config c;
    tfm_gpt_config_default(&c);
    c.d_model = 8;
    c.n_heads = 2;
    char *json = NULL;
    CHECK_OK(tfm_gpt_config_to_json(&c, &json));
    return json;
}

static void free_text(char *s) {
    if (s) tfm_free(s, strlen(s) + 1);
}

static void test_full_round_trip(void) {
    const char *dir = TMP_DIR "/full";
    toy a, b;
    toy_init(&a, 8);
    toy_init(&b, 8);
    toy_fill(&a, 1.0f, 1);
    char *config = config_text();
    const char *state = "{\"step\": 120, \"rng\": {\"seed\": 1337, \"counter\": 98765}, \"data_position\": 4096,"
                        " \"note\": \"caf\\u00e9\"}";
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, state));
    CHECK(tfm_checkpoint_has_trainer_state(dir), "trainer state present");
    char *config_back = NULL, *state_back = NULL;
    CHECK_OK(tfm_checkpoint_load_config(dir, &config_back));
    CHECK(config_back && strcmp(config_back, config) == 0, "config.json verbatim");
    tfm_gpt_config c;
    if (config_back) CHECK_OK(tfm_gpt_config_from_json(config_back, dir, &c));
    CHECK(c.d_model == 8 && c.n_heads == 2, "config readable by tfm_gpt_config_from_json");
    CHECK_OK(tfm_checkpoint_load_params(dir, &b.params));
    CHECK(slab_equal(&a.params, a.params.data, b.params.data), "parameters bit-exact");
    CHECK(b.params.moment1 == NULL, "loading parameters does not touch moments");
    CHECK_OK(tfm_checkpoint_load_trainer_state(dir, &b.params, &state_back));
    CHECK(b.params.moment1 && slab_equal(&a.params, a.params.moment1, b.params.moment1), "moment1 bit-exact");
    CHECK(b.params.moment2 && slab_equal(&a.params, a.params.moment2, b.params.moment2), "moment2 bit-exact");
    CHECK(state_back && strstr(state_back, "\"step\":\t120") && strstr(state_back, "\"counter\":\t98765") &&
              strstr(state_back, "café") && !strstr(state_back, "tfm_save_id"),
          "trainer state returned without the save id:\n%s", state_back ? state_back : "(null)");
    /* The files are what they claim: the step is in both safetensors files' metadata. */
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(TMP_DIR "/full/optimizer.safetensors", &f));
    if (f) {
        const char *step = tfm_safetensors_metadata(f, "step");
        CHECK(step && strcmp(step, "120") == 0, "optimizer step metadata");
        CHECK(tfm_safetensors_find(f, "transformer.h.0.mlp.c_fc.weight.exp_avg_sq") != NULL, "PyTorch moment names");
        const tfm_safetensors_tensor *t = tfm_safetensors_find(f, "transformer.h.0.mlp.c_fc.weight.exp_avg");
        CHECK(t && t->shape[0] == 8 && t->shape[1] == 32, "moments in the parameter's on-disk layout");
        tfm_safetensors_close(f);
    }
    CHECK_OK(tfm_safetensors_open(TMP_DIR "/full/model.safetensors", &f));
    if (f) {
        const char *step = tfm_safetensors_metadata(f, "step"), *format = tfm_safetensors_metadata(f, "format");
        CHECK(step && strcmp(step, "120") == 0 && format && strcmp(format, "pt") == 0, "model metadata");
        tfm_safetensors_close(f);
    }
    free_text(config_back);
    free_text(state_back);
    /* A trainer that never stepped has no moments: zeros are saved and loaded. */
    toy fresh;
    toy_init(&fresh, 8);
    toy_fill(&fresh, 2.0f, 0);
    CHECK_OK(tfm_checkpoint_save(TMP_DIR "/fresh", &fresh.params, config, "{\"step\": 0}"));
    CHECK_OK(tfm_checkpoint_load_trainer_state(TMP_DIR "/fresh", &b.params, &state_back));
    int zero = 1;
    for (int i = 0; i < b.params.count; i++)
        for (size_t k = 0; k < b.params.entries[i].size; k++)
            zero &= b.params.moment1[b.params.entries[i].offset + k] == 0.0f && b.params.moment2[b.params.entries[i].offset + k] == 0.0f;
    CHECK(zero, "absent moments saved as zeros");
    free_text(state_back);
    free_text(config);
    tfm_params_free(&fresh.params);
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

static void test_model_only(void) {
    const char *dir = TMP_DIR "/model_only";
    toy a, b;
    toy_init(&a, 8);
    toy_init(&b, 8);
    toy_fill(&a, 3.0f, 1);
    char *config = config_text();
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 5}"));
    CHECK(tfm_checkpoint_has_trainer_state(dir), "first save has trainer state");
    toy_fill(&a, 4.0f, 0);
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, NULL));
    CHECK(!tfm_checkpoint_has_trainer_state(dir), "model-only save removed the stale trainer state");
    CHECK(!tfm_file_exists(TMP_DIR "/model_only/optimizer.safetensors"), "and the stale moments");
    CHECK_OK(tfm_checkpoint_load_params(dir, &b.params));
    CHECK(slab_equal(&a.params, a.params.data, b.params.data), "model-only parameters");
    char *state = NULL;
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(dir, &b.params, &state), TFM_ERR_IO,
                 "cannot open " TMP_DIR "/model_only/trainer_state.json: No such file or directory", "model-only");
    CHECK(state == NULL, "no text on failure");
    free_text(config);
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

static void test_torn_saves(void) {
    const char *dir = TMP_DIR "/torn";
    toy a, b;
    toy_init(&a, 8);
    toy_init(&b, 8);
    char *config = config_text();
    char *state = NULL;
    /* Crash before trainer_state.json (the 4th file) is replaced. */
    toy_fill(&a, 1.0f, 1);
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 100}"));
    toy_fill(&a, 2.0f, 1);
    tfm_file_set_fault(TFM_FILE_FAULT_RENAME, 0, 3);
    EXPECT_ERROR(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 200}"), TFM_ERR_IO, "trainer_state.json", "cannot rename");
    tfm_file_set_fault(TFM_FILE_FAULT_NONE, 0, 0);
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(dir, &b.params, &state), TFM_ERR_FORMAT,
                 TMP_DIR "/torn: inconsistent checkpoint: optimizer.safetensors is from save", "(step 200) but trainer_state.json",
                 "(step 100)", "interrupted");
    CHECK(state == NULL, "no text on failure");
    /* The model file itself is whole (the new one). */
    CHECK_OK(tfm_checkpoint_load_params(dir, &b.params));
    CHECK(slab_equal(&a.params, a.params.data, b.params.data), "model.safetensors is the complete new one");

    /* Crash before optimizer.safetensors (the 3rd file): model new, optimizer and trainer state old. */
    toy_fill(&a, 1.0f, 1);
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 100}"));
    toy_fill(&a, 2.0f, 1);
    tfm_file_set_fault(TFM_FILE_FAULT_WRITE, 64, 2);
    EXPECT_ERROR(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 200}"), TFM_ERR_IO, "optimizer.safetensors", "cannot write");
    tfm_file_set_fault(TFM_FILE_FAULT_NONE, 0, 0);
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(dir, &b.params, &state), TFM_ERR_FORMAT,
                 "inconsistent checkpoint: model.safetensors is from save", "(step 200) but trainer_state.json");
    /* A clean save repairs the directory. */
    CHECK_OK(tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 200}"));
    CHECK_OK(tfm_checkpoint_load_trainer_state(dir, &b.params, &state));
    CHECK(b.params.moment1 && slab_equal(&a.params, a.params.moment1, b.params.moment1), "moments after the repair");
    free_text(state);
    free_text(config);
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

static void test_errors(void) {
    toy a, narrow;
    toy_init(&a, 8);
    toy_init(&narrow, 4);
    toy_fill(&a, 1.0f, 1);
    char *config = config_text();
    char *text = NULL;
    /* Missing directory, a file where a directory should be, missing files. */
    EXPECT_ERROR(tfm_checkpoint_load_params(TMP_DIR "/nowhere", &a.params), TFM_ERR_IO,
                 "checkpoint directory " TMP_DIR "/nowhere: No such file or directory");
    EXPECT_ERROR(tfm_checkpoint_load_config(TMP_DIR "/nowhere", &text), TFM_ERR_IO, TMP_DIR "/nowhere: No such file or directory");
    write_text(TMP_DIR "/plain_file", "x");
    EXPECT_ERROR(tfm_checkpoint_load_params(TMP_DIR "/plain_file", &a.params), TFM_ERR_IO, TMP_DIR "/plain_file: not a directory");
    EXPECT_ERROR(tfm_checkpoint_save(TMP_DIR "/plain_file", &a.params, config, NULL), TFM_ERR_IO,
                 TMP_DIR "/plain_file: exists but is not a directory");
    /* Missing parents are created (like mkdir -p); a file in the way of a parent is an error. */
    EXPECT_ERROR(tfm_checkpoint_save(TMP_DIR "/plain_file/child", &a.params, config, NULL), TFM_ERR_IO,
                 TMP_DIR "/plain_file: exists but is not a directory");
    CHECK(tfm_checkpoint_save(TMP_DIR "/new/nested/run", &a.params, config, NULL) == TFM_OK, "nested save: %s", tfm_last_error());
    mkdir(TMP_DIR "/empty", 0755);
    EXPECT_ERROR(tfm_checkpoint_load_params(TMP_DIR "/empty", &a.params), TFM_ERR_IO,
                 "cannot open " TMP_DIR "/empty/model.safetensors: No such file or directory");
    EXPECT_ERROR(tfm_checkpoint_load_config(TMP_DIR "/empty", &text), TFM_ERR_IO,
                 "cannot open " TMP_DIR "/empty/config.json: No such file or directory");
    /* Foreign or corrupt files name their path. */
    mkdir(TMP_DIR "/foreign", 0755);
    write_text(TMP_DIR "/foreign/model.safetensors", "PK\x03\x04 this was a torch.save zip");
    write_text(TMP_DIR "/foreign/config.json", "{\"n_embd\": 8,\n \"n_head\": }\n");
    EXPECT_ERROR(tfm_checkpoint_load_params(TMP_DIR "/foreign", &a.params), TFM_ERR_FORMAT,
                 TMP_DIR "/foreign/model.safetensors: not a safetensors file: it is a zip archive");
    EXPECT_ERROR(tfm_checkpoint_load_config(TMP_DIR "/foreign", &text), TFM_ERR_FORMAT,
                 TMP_DIR "/foreign/config.json: invalid JSON at line 2, column 12");
    CHECK(text == NULL, "no config text on failure");
    /* Bad arguments to save: nothing is written. */
    EXPECT_ERROR(tfm_checkpoint_save(TMP_DIR "/bad_args", &a.params, "{\"a\": }", NULL), TFM_ERR_FORMAT,
                 "saving " TMP_DIR "/bad_args: checkpoint config.json text: invalid JSON at line 1, column 7");
    EXPECT_ERROR(tfm_checkpoint_save(TMP_DIR "/bad_args", &a.params, config, "[1, 2]"), TFM_ERR_INVALID_ARGUMENT,
                 "trainer state: expected a JSON object");
    EXPECT_ERROR(tfm_checkpoint_save(TMP_DIR "/bad_args", &a.params, config, "{\"step\": 1, \"tfm_save_id\": \"x\"}"),
                 TFM_ERR_INVALID_ARGUMENT, "reserved");
    CHECK(!tfm_file_exists(TMP_DIR "/bad_args"), "invalid arguments create nothing");
    /* A model of a different width. */
    CHECK_OK(tfm_checkpoint_save(TMP_DIR "/wide", &a.params, config, "{\"step\": 3}"));
    EXPECT_ERROR(tfm_checkpoint_load_params(TMP_DIR "/wide", &narrow.params), TFM_ERR_FORMAT,
                 TMP_DIR "/wide/model.safetensors: tensor \"transformer.wte.weight\": shape mismatch: the file has [16, 8], the model expects [16, 4]");
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(TMP_DIR "/wide", &narrow.params, &text), TFM_ERR_FORMAT,
                 TMP_DIR "/wide/optimizer.safetensors: tensor \"transformer.wte.weight.exp_avg\": shape mismatch");
    CHECK(narrow.params.moment1 == NULL, "a failed moment load allocates nothing");
    /* A trainer_state.json that tfm did not write. */
    write_text(TMP_DIR "/wide/trainer_state.json", "{\"step\": 3}");
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(TMP_DIR "/wide", &a.params, &text), TFM_ERR_FORMAT,
                 TMP_DIR "/wide/trainer_state.json: no \"tfm_save_id\" string: not written by tfm_checkpoint_save");
    write_text(TMP_DIR "/wide/trainer_state.json", "{\"step\": 3,");
    EXPECT_ERROR(tfm_checkpoint_load_trainer_state(TMP_DIR "/wide", &a.params, &text), TFM_ERR_FORMAT,
                 TMP_DIR "/wide/trainer_state.json: invalid JSON at line 1");
    free_text(config);
    tfm_params_free(&a.params);
    tfm_params_free(&narrow.params);
}

/* Every allocation failure during save and resume is reported as out-of-memory, and leaks nothing (ASan). */
static void test_allocation_failures(void) {
    const char *dir = TMP_DIR "/oom";
    toy a, b;
    toy_init(&a, 8);
    toy_init(&b, 8);
    toy_fill(&a, 5.0f, 1);
    char *config = config_text();
    int failures = 0, done = 0;
    for (long n = 0; n < 500 && !done; n++) {
        test_alloc_countdown = n;
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status s = tfm_checkpoint_save(dir, &a.params, config, "{\"step\": 9}");
        tfm_set_allocator(NULL, NULL);
        if (s == TFM_OK) done = 1;
        else {
            failures++;
            CHECK(s == TFM_ERR_OUT_OF_MEMORY, "save, allocation %ld: %s", n, tfm_last_error());
        }
    }
    CHECK(failures > 0 && done, "save: %d failures then success", failures);
    failures = done = 0;
    for (long n = 0; n < 500 && !done; n++) {
        char *state = NULL;
        test_alloc_countdown = n;
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status s = tfm_checkpoint_load_trainer_state(dir, &b.params, &state);
        if (s == TFM_OK) {
            done = 1;
            free_text(state);
        } else {
            failures++;
            CHECK(s == TFM_ERR_OUT_OF_MEMORY, "resume, allocation %ld: %s", n, tfm_last_error());
            CHECK(state == NULL, "no text on failure");
        }
        /* Free the moments under the same allocator that made them (the failing one). */
        if (!done) {
            tfm_free(b.params.moment1, sizeof(float) * b.params.total);
            tfm_free(b.params.moment2, sizeof(float) * b.params.total);
            b.params.moment1 = b.params.moment2 = NULL;
        }
        tfm_set_allocator(NULL, NULL);
    }
    CHECK(failures > 0 && done, "resume: %d failures then success", failures);
    CHECK(b.params.moment2 && slab_equal(&a.params, a.params.moment2, b.params.moment2), "moments after the failures");
    free_text(config);
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

/* ---- Run directories: one complete checkpoint per save, an atomic `current`, pruning, adoption, cleaning ---- */

static int path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void expect_current(const char *run, const char *step_name, float seed) {
    char *resolved = NULL, want[512];
    snprintf(want, sizeof want, "%s/checkpoints/%s", run, step_name);
    CHECK_OK(tfm_checkpoint_resolve(run, &resolved));
    CHECK(resolved && strcmp(resolved, want) == 0, "%s resolves to %s, got %s", run, want, resolved ? resolved : "(null)");
    free_text(resolved);
    toy b;
    toy_init(&b, 8);
    char *state = NULL;
    CHECK_OK(tfm_checkpoint_load_params(run, &b.params));
    CHECK_OK(tfm_checkpoint_load_trainer_state(run, &b.params, &state));
    CHECK(b.params.data[1] == seed + 0.25f, "%s: the parameters of %s (seed %g, got %g)", run, step_name, seed, b.params.data[1] - 0.25f);
    free_text(state);
    tfm_params_free(&b.params);
}

static void save_step(const char *run, toy *a, const char *config, long step, int keep) {
    char state[64];
    snprintf(state, sizeof state, "{\"step\": %ld}", step);
    toy_fill(a, (float)step, 1);
    CHECK_OK(tfm_checkpoint_save_step(run, step, keep, &a->params, config, state));
}

static void test_run_directory(void) {
    const char *run = TMP_DIR "/run";
    toy a;
    toy_init(&a, 8);
    char *config = config_text();
    CHECK(tfm_checkpoint_directory_kind(run) == TFM_DIRECTORY_MISSING, "missing");
    for (long step = 1; step <= 3; step++) save_step(run, &a, config, step, 2);
    expect_current(run, "step-00000003", 3.0f);
    CHECK(!path_exists(TMP_DIR "/run/checkpoints/step-00000001") && path_exists(TMP_DIR "/run/checkpoints/step-00000002"),
          "keep 2: the oldest checkpoint is removed, the one before current stays");
    CHECK(tfm_checkpoint_directory_kind(run) == TFM_DIRECTORY_RUN, "a run");
    /* A run resumed at step 3 saves step 3 again: a new revision, the old one stays until it is complete. */
    save_step(run, &a, config, 3, 2);
    expect_current(run, "step-00000003.1", 3.0f);
    CHECK(path_exists(TMP_DIR "/run/checkpoints/step-00000003") && !path_exists(TMP_DIR "/run/checkpoints/step-00000002"),
          "revisions count as checkpoints when pruning");

    /* A failure in any file of a save (a full disk) leaves the previous checkpoint current and nothing behind. */
    for (int file = 0; file < 4; file++) {
        toy_fill(&a, 9.0f, 1);
        tfm_file_set_fault(TFM_FILE_FAULT_WRITE, 16, file);
        EXPECT_ERROR(tfm_checkpoint_save_step(run, 4, 2, &a.params, config, "{\"step\": 4}"), TFM_ERR_IO, "cannot write",
                     "step-00000004.tmp-");
        tfm_file_set_fault(TFM_FILE_FAULT_NONE, 0, 0);
        expect_current(run, "step-00000003.1", 3.0f);
        CHECK(!path_exists(TMP_DIR "/run/checkpoints/step-00000004"), "file %d: no step-4 directory after the failure", file);
    }
    int removed = -1;
    CHECK_OK(tfm_checkpoint_clean_stale(run, &removed));
    CHECK(removed == 0, "a failed save leaves no temporaries (%d removed)", removed);

    /* Killed runs' temporaries: files *.tmp.<pid>, directories step-*.tmp-<pid>, links current.tmp-<pid>. */
    char live[256];
    snprintf(live, sizeof live, TMP_DIR "/run/log.jsonl.tmp.%ld", (long)getpid());
    write_text(live, "mine");
    write_text(TMP_DIR "/run/log.jsonl.tmp.99999999", "dead");
    mkdir(TMP_DIR "/run/checkpoints/step-00000005.tmp-99999999", 0755);
    write_text(TMP_DIR "/run/checkpoints/step-00000005.tmp-99999999/model.safetensors", "half");
    CHECK(symlink("checkpoints/step-00000005", TMP_DIR "/run/current.tmp-99999999") == 0, "make a stale link");
    CHECK_OK(tfm_checkpoint_clean_stale(run, &removed));
    CHECK(removed == 3, "three stale temporaries removed, got %d", removed);
    CHECK(path_exists(live) && !path_exists(TMP_DIR "/run/checkpoints/step-00000005.tmp-99999999") &&
              !path_exists(TMP_DIR "/run/current.tmp-99999999"),
          "a live process's temporary stays, the dead ones go");
    unlink(live);
    expect_current(run, "step-00000003.1", 3.0f);

    /* Killed between its first save's rename and the link: the newest checkpoint directory is used. */
    unlink(TMP_DIR "/run/current");
    expect_current(run, "step-00000003.1", 3.0f);
    /* A link to something else is an error, not a silent fallback. */
    CHECK(symlink("../elsewhere", TMP_DIR "/run/current") == 0, "make a foreign link");
    char *path = NULL;
    EXPECT_ERROR(tfm_checkpoint_resolve(run, &path), TFM_ERR_FORMAT, "run/current: links to \"../elsewhere\"", "checkpoints/step-N");
    unlink(TMP_DIR "/run/current");

    /* A model-only save into a run is refused; remove_run clears what tfm wrote and nothing else. */
    EXPECT_ERROR(tfm_checkpoint_save(run, &a.params, config, NULL), TFM_ERR_INVALID_ARGUMENT, "holds a training run");
    write_text(TMP_DIR "/run/notes.txt", "the user's");
    CHECK_OK(tfm_checkpoint_remove_run(run));
    CHECK(!path_exists(TMP_DIR "/run/checkpoints") && path_exists(TMP_DIR "/run/notes.txt"), "remove_run keeps other files");
    CHECK(tfm_checkpoint_directory_kind(run) == TFM_DIRECTORY_OTHER, "other files only");
    unlink(TMP_DIR "/run/notes.txt");
    CHECK(tfm_checkpoint_directory_kind(run) == TFM_DIRECTORY_EMPTY, "empty");
    CHECK_OK(tfm_checkpoint_save(run, &a.params, config, NULL));
    CHECK(tfm_checkpoint_directory_kind(run) == TFM_DIRECTORY_MODEL, "a model");
    free_text(config);
    tfm_params_free(&a.params);
}

/* A run saved before checkpoints/ existed (four files directly in it) loads, and its next save moves it. */
static void test_flat_run_adopted(void) {
    const char *run = TMP_DIR "/flat";
    toy a;
    toy_init(&a, 8);
    char *config = config_text();
    toy_fill(&a, 100.0f, 1);
    CHECK_OK(tfm_checkpoint_save(run, &a.params, config, "{\"step\": 100}"));
    char *resolved = NULL;
    CHECK_OK(tfm_checkpoint_resolve(run, &resolved));
    CHECK(resolved && strcmp(resolved, run) == 0, "a flat run is its own checkpoint");
    free_text(resolved);
    save_step(run, &a, config, 101, 5);
    expect_current(run, "step-00000101", 101.0f);
    CHECK(!path_exists(TMP_DIR "/flat/trainer_state.json") && !path_exists(TMP_DIR "/flat/model.safetensors"),
          "the flat files are gone");
    /* The adopted checkpoint is complete: make it current by hand and load it. */
    unlink(TMP_DIR "/flat/current");
    CHECK(symlink("checkpoints/step-00000100", TMP_DIR "/flat/current") == 0, "point current at the adopted step");
    expect_current(run, "step-00000100", 100.0f);
    free_text(config);
    tfm_params_free(&a.params);
}

int main(void) {
    if (system("rm -rf " TMP_DIR) != 0) return 2; /* a fresh directory each run */
    mkdir(TMP_DIR, 0755);
    test_full_round_trip();
    test_model_only();
    test_torn_saves();
    test_errors();
    test_allocation_failures();
    test_run_directory();
    test_flat_run_adopted();
    return test_summary();
}
