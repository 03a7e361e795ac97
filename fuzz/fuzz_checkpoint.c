/* fuzz/fuzz_checkpoint.c: libFuzzer target for checkpoint directories as a whole (config.json, model/optimizer safetensors, trainer_state.json; flat or a run with checkpoints/ and current), loaded into a small tfm_params. */
#include "fuzz_io_common.h"

#include "io/train_state.h"
#include "tfm/config.h"
#include "tfm/seq2seq.h"

/* Input: one layout byte, then up to four files joined by SEPARATOR, in the order of file_names (fewer parts:
 * the rest are absent), then optionally a fifth part "<directory name>\n<link target>". Layout byte: bits 0-1
 * where the files go (0: the directory itself; 1: a run, RUN/checkpoints/step-00000007/ with RUN/current linking
 * to checkpoints/step-00000007; 2: the same without the link, so the newest checkpoint is used; 3: a current link
 * to checkpoints/step-00000009, which does not exist, beside the files); bits 2-5: file k is left out; bit 6: the
 * fifth part names the checkpoint directory and the link target instead. fuzz/make_seeds.py writes seeds in
 * this form. */
#define SEPARATOR "@@NEXT@@"
static const char *const file_names[] = {"config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"};
enum { FILES = 4 };

static char run_dir[512];
static io_fuzz_model model;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    io_fuzz_install_allocator();
    io_fuzz_temp_path(run_dir, sizeof run_dir, "checkpoint");
    io_fuzz_remove_tree(run_dir);
    return 0;
}

static void free_text(char *text) {
    if (text) tfm_free(text, strlen(text) + 1);
}

static void make_dir(const char *path) { IO_FUZZ_REQUIRE(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir"); }

/* The fifth part's two lines into name / target (each left as it is when its line is empty or unusable). */
static void custom_names(const uint8_t *p, const uint8_t *end, char *name, size_t name_size, char *target, size_t target_size) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl ? nl : end) - p);
    if (n > 0 && n < name_size && n <= 200 && !memchr(p, '/', n) && !memchr(p, '\0', n) && !(n == 1 && p[0] == '.') &&
        !(n == 2 && p[0] == '.' && p[1] == '.')) {
        memcpy(name, p, n);
        name[n] = '\0';
    }
    if (!nl) return;
    p = nl + 1;
    n = (size_t)(end - p);
    if (n > 0 && n < target_size && !memchr(p, '\0', n)) {
        memcpy(target, p, n);
        target[n] = '\0';
    }
}

/* Lay the files out in files_dir; returns which were written (bit k: file_names[k]). */
static int write_checkpoint(const uint8_t *data, size_t size, char *files_dir, size_t files_dir_size) {
    int written = 0;
    int layout = size ? data[0] & 3 : 0, omit = size ? data[0] >> 2 & 15 : 0, names = size ? data[0] >> 6 & 1 : 0;
    const uint8_t *p = size ? data + 1 : data, *end = data + size;
    char step_dir[256] = "step-00000007", target[1024];
    snprintf(target, sizeof target, layout == 1 ? "checkpoints/step-00000007" : "checkpoints/step-00000009");
    if (names) { /* the fifth part, when there is one */
        const uint8_t *q = p;
        for (int k = 0; k < FILES && q; k++) {
            q = memmem(q, (size_t)(end - q), SEPARATOR, strlen(SEPARATOR));
            if (q) q += strlen(SEPARATOR);
        }
        if (q) custom_names(q, end, step_dir, sizeof step_dir, target, sizeof target);
    }
    make_dir(run_dir);
    char path[1024];
    snprintf(files_dir, files_dir_size, "%s", run_dir);
    if (layout == 1 || layout == 2) {
        snprintf(path, sizeof path, "%s/checkpoints", run_dir);
        make_dir(path);
        snprintf(files_dir, files_dir_size, "%s/checkpoints/%s", run_dir, step_dir);
        make_dir(files_dir);
        snprintf(path, sizeof path, "%s/checkpoints/step-00000003.tmp-1", run_dir); /* a temporary: never chosen */
        make_dir(path);
    }
    if (layout == 1 || layout == 3) {
        snprintf(path, sizeof path, "%s/current", run_dir);
        IO_FUZZ_REQUIRE(symlink(target, path) == 0, "symlink");
    }
    for (int k = 0; k < FILES && p <= end; k++) {
        const uint8_t *next = memmem(p, (size_t)(end - p), SEPARATOR, strlen(SEPARATOR));
        const uint8_t *part_end = next ? next : end;
        if (!(omit >> k & 1)) {
            snprintf(path, sizeof path, "%s/%s", files_dir, file_names[k]);
            io_fuzz_write_file(path, p, (size_t)(part_end - p));
            written |= 1 << k;
        }
        if (!next) break;
        p = next + strlen(SEPARATOR);
    }
    return written;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char files_dir[1024];
    int written = write_checkpoint(data, size, files_dir, sizeof files_dir);
    int layout = size ? data[0] & 3 : 0, names = size ? data[0] >> 6 & 1 : 0;

    char *resolved = NULL;
    tfm_status s = tfm_checkpoint_resolve(run_dir, &resolved);
    IO_FUZZ_REQUIRE(s == TFM_OK ? resolved != NULL : resolved == NULL && tfm_last_error()[0] != '\0', "resolve");
    if (s == TFM_OK) {
        struct stat st;
        /* Names of the input's choosing once resolved to a missing directory ("step-7" re-printed as "step-00000007");
         * only tfm's own spelling counts now. Regression seed: seeds/fuzz_checkpoint/unpadded-step-name. */
        IO_FUZZ_REQUIRE(stat(resolved, &st) == 0 && S_ISDIR(st.st_mode), "resolve names an existing directory");
        if (!names) {
            IO_FUZZ_REQUIRE(layout != 3, "a dangling current link does not resolve");
            IO_FUZZ_REQUIRE(strcmp(resolved, files_dir) == 0, "resolve names the directory holding the files");
        }
        free_text(resolved);
    }
    tfm_directory_kind kind = tfm_checkpoint_directory_kind(run_dir);
    tfm_directory_kind expected = layout != 0 || (written & 12) ? TFM_DIRECTORY_RUN
                                  : written                     ? TFM_DIRECTORY_MODEL
                                                                : TFM_DIRECTORY_EMPTY;
    IO_FUZZ_REQUIRE(kind == expected, "directory kind");
    int has_state = tfm_checkpoint_has_trainer_state(run_dir);
    IO_FUZZ_REQUIRE(names || has_state == (layout != 3 && (written & 8) != 0), "has_trainer_state");

    /* config.json: an object that must then parse as one of the model configs or be refused with a message */
    char *config = NULL;
    s = tfm_checkpoint_load_config(run_dir, &config);
    IO_FUZZ_REQUIRE(s == TFM_OK ? config != NULL : config == NULL && tfm_last_error()[0] != '\0', "load_config");
    if (s == TFM_OK) {
        tfm_gpt_config gpt;
        tfm_seq2seq_config seq2seq;
        IO_FUZZ_FAILED_WITH_MESSAGE(tfm_gpt_config_from_json(config, "checkpoint config.json", &gpt), "GPT config");
        IO_FUZZ_FAILED_WITH_MESSAGE(tfm_seq2seq_config_from_json(config, "checkpoint config.json", &seq2seq), "seq2seq config");
        free_text(config);
    }

    /* model.safetensors into a small model; a failure leaves the values untouched */
    io_fuzz_model_create(&model);
    io_fuzz_model_mark(&model, 1.0f);
    s = tfm_checkpoint_load_params(run_dir, &model.params);
    IO_FUZZ_REQUIRE(s == TFM_OK || (tfm_last_error()[0] != '\0' && io_fuzz_model_is_marked(&model, 1.0f)), "load_params");
    tfm_load_options allow = {1};
    io_fuzz_model_mark(&model, 1.0f);
    tfm_status s_allow = tfm_checkpoint_load_params_with(run_dir, &model.params, &allow);
    IO_FUZZ_REQUIRE(s_allow == TFM_OK || (tfm_last_error()[0] != '\0' && io_fuzz_model_is_marked(&model, 1.0f)), "load_params_with");
    IO_FUZZ_REQUIRE(s != TFM_OK || s_allow == TFM_OK, "allowing non-finite weights refuses nothing more");

    /* the optimizer moments and trainer state (moments not yet allocated, as on resume) */
    char *state_text = NULL;
    s = tfm_checkpoint_load_trainer_state(run_dir, &model.params, &state_text);
    IO_FUZZ_REQUIRE(s == TFM_OK ? state_text != NULL : state_text == NULL && tfm_last_error()[0] != '\0', "load_trainer_state");
    if (s == TFM_OK) {
        IO_FUZZ_REQUIRE(model.params.moment1 && model.params.moment2, "moments allocated");
        tfm_train_state *state = NULL;
        s = tfm_train_state_parse(&state, state_text, "loaded trainer state");
        IO_FUZZ_REQUIRE(s == TFM_OK, "the returned trainer state is a JSON object");
        IO_FUZZ_REQUIRE(!tfm_train_state_has(state, "tfm_save_id"), "the save id is removed");
        tfm_train_state_free(state);
        free_text(state_text);
        /* again, into allocated moments: a failure now must leave them untouched */
        io_fuzz_model_mark(&model, 2.0f);
        s = tfm_checkpoint_load_trainer_state(run_dir, &model.params, &state_text);
        IO_FUZZ_REQUIRE(s == TFM_OK, "a trainer state that loaded loads again");
        free_text(state_text);
    } else if (model.params.moment1) {
        IO_FUZZ_REQUIRE(io_fuzz_model_is_marked(&model, 1.0f), "a failed trainer-state load leaves the values untouched");
    }
    tfm_params_free(&model.params);
    io_fuzz_remove_tree(run_dir);
    return 0;
}
