/* fuzz/fuzz_trainer_state.c: libFuzzer target for trainer_state.json: the typed key reads a resume does, print/parse round trip, and tfm_trainer_saved_config on a directory holding it. */
#include "fuzz_io_common.h"

#include <math.h>

#include "io/train_state.h"
#include "tfm/train.h"

static char dir_path[512], state_path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    io_fuzz_install_allocator();
    io_fuzz_temp_path(dir_path, sizeof dir_path, "trainer_state");
    snprintf(state_path, sizeof state_path, "%s/trainer_state.json", dir_path);
    return 0;
}

static void free_text(char *text) {
    if (text) tfm_free(text, strlen(text) + 1);
}

/* Every key the loop and the two tasks read on resume, by the reader they use. */
static const char *const u64_keys[] = {"dropout_seed", "dropout_counter", "data_tokens", "data_checksum", "data_seed", "data_counter",
                                       "train_checksum", "valid_checksum", "data_epoch", "data_position", NULL};
static const char *const count_keys[] = {"version", "step", "best_step", "evaluations_without_gain", "skipped_steps", NULL};
static const char *const float_keys[] = {"best_score", "best_bleu", NULL};
static const char *const string_keys[] = {"format", "data_path", "data_dir", "tfm_save_id", NULL};

static void read_keys(const tfm_train_state *state) {
    for (int i = 0; u64_keys[i]; i++) {
        uint64_t v = 0;
        tfm_status s = tfm_train_state_get_u64(state, u64_keys[i], &v);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "get_u64 failure says why");
        IO_FUZZ_REQUIRE(s == TFM_OK || tfm_train_state_has(state, u64_keys[i]) || strstr(tfm_last_error(), "missing"), "absent = missing");
    }
    for (int i = 0; count_keys[i]; i++) {
        long v = -1;
        tfm_status s = tfm_train_state_get_count(state, count_keys[i], &v);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "get_count failure says why");
        IO_FUZZ_REQUIRE(s != TFM_OK || v >= 0, "a count is >= 0");
    }
    for (int i = 0; float_keys[i]; i++) {
        float v = 1.0f;
        tfm_status s = tfm_train_state_get_float(state, float_keys[i], &v);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "get_float failure says why");
        IO_FUZZ_REQUIRE(s == TFM_OK || tfm_train_state_has(state, float_keys[i]), "an absent float is fine");
    }
    for (int i = 0; string_keys[i]; i++) {
        const char *v = NULL;
        tfm_status s = tfm_train_state_get_string(state, string_keys[i], &v);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "get_string failure says why");
        IO_FUZZ_REQUIRE(s != TFM_OK || (v && strlen(v) < (size_t)1 << 20), "a string");
    }
    char *train = NULL;
    tfm_status s = tfm_train_state_get_object(state, "train", &train);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "get_object failure says why");
    if (s == TFM_OK) {
        for (int task = TFM_TASK_GPT; task <= TFM_TASK_SEQ2SEQ; task++) {
            tfm_train_config config;
            config.task = task;
            s = tfm_train_config_from_json(train, "fuzz trainer_state.json", &config);
            IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused train object says why");
            IO_FUZZ_REQUIRE(s != TFM_OK || tfm_train_config_validate(&config, NULL) == TFM_OK, "a parsed train object validates");
        }
        free_text(train);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = io_fuzz_text(data, size);
    tfm_train_state *state = NULL;
    tfm_status s = tfm_train_state_parse(&state, text, "fuzz trainer_state.json");
    if (s != TFM_OK) {
        IO_FUZZ_REQUIRE(state == NULL && tfm_last_error()[0] != '\0', "a refused state says why and returns nothing");
    } else {
        IO_FUZZ_REQUIRE(strcmp(tfm_train_state_source(state), "fuzz trainer_state.json") == 0, "source");
        read_keys(state);
        /* print -> parse -> print is stable */
        char *a = NULL, *b = NULL;
        tfm_train_state *again = NULL;
        IO_FUZZ_REQUIRE(tfm_train_state_print(state, &a) == TFM_OK, "a parsed state prints");
        IO_FUZZ_REQUIRE(tfm_train_state_parse(&again, a, "printed") == TFM_OK, "a printed state parses");
        IO_FUZZ_REQUIRE(tfm_train_state_print(again, &b) == TFM_OK, "prints again");
        IO_FUZZ_REQUIRE(strcmp(a, b) == 0, "trainer state round trip");
        free_text(a);
        free_text(b);
        /* What a save writes over what was read, read back. */
        uint64_t u = 0;
        long count = 0;
        float f = 0;
        const char *str = NULL;
        IO_FUZZ_REQUIRE(tfm_train_state_set_u64(again, "data_counter", UINT64_MAX) == TFM_OK, "set_u64");
        IO_FUZZ_REQUIRE(tfm_train_state_get_u64(again, "data_counter", &u) == TFM_OK && u == UINT64_MAX, "u64 round trip");
        IO_FUZZ_REQUIRE(tfm_train_state_set_count(again, "step", 9007199254740992L) == TFM_OK, "set_count");
        IO_FUZZ_REQUIRE(tfm_train_state_get_count(again, "step", &count) == TFM_OK && count == 9007199254740992L, "count round trip");
        IO_FUZZ_REQUIRE(tfm_train_state_set_float(again, "best_score", NAN) == TFM_OK, "set_float");
        IO_FUZZ_REQUIRE(tfm_train_state_get_float(again, "best_score", &f) == TFM_OK && isnan(f), "NaN round trip");
        IO_FUZZ_REQUIRE(tfm_train_state_set_string(again, "format", "tfm-trainer-state") == TFM_OK, "set_string");
        IO_FUZZ_REQUIRE(tfm_train_state_get_string(again, "format", &str) == TFM_OK && strcmp(str, "tfm-trainer-state") == 0,
                        "string round trip");
        s = tfm_train_state_set_object(again, "train", text);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "set_object failure says why");
        IO_FUZZ_REQUIRE(tfm_train_state_print(again, &a) == TFM_OK, "an updated state prints");
        free_text(a);
        tfm_train_state_free(again);
        tfm_train_state_free(state);
    }

    /* As the file in a checkpoint directory (the bytes as they are, NULs included). */
    mkdir(dir_path, 0755);
    io_fuzz_write_file(state_path, data, size);
    IO_FUZZ_REQUIRE(tfm_checkpoint_has_trainer_state(dir_path) == 1, "the directory has a trainer state");
    IO_FUZZ_REQUIRE(tfm_checkpoint_directory_kind(dir_path) == TFM_DIRECTORY_RUN, "a directory with trainer_state.json is a run");
    for (int task = TFM_TASK_GPT; task <= TFM_TASK_SEQ2SEQ; task++) {
        tfm_train_config config;
        tfm_train_config_default_task(&config, task);
        char location[4096], tiny[4];
        s = tfm_trainer_saved_config(dir_path, task, &config, location, sizeof location);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused saved config says why");
        if (s == TFM_OK) {
            IO_FUZZ_REQUIRE(config.task == task, "the saved config is for the task asked");
            IO_FUZZ_REQUIRE(tfm_train_config_validate(&config, NULL) == TFM_OK, "a saved config validates");
            IO_FUZZ_REQUIRE(strlen(location) < sizeof location, "the location fits");
            s = tfm_trainer_saved_config(dir_path, task, &config, tiny, sizeof tiny);
            IO_FUZZ_REQUIRE(s == TFM_OK ? strlen(tiny) < sizeof tiny : tfm_last_error()[0] != '\0', "a small buffer is refused or enough");
        }
    }
    io_fuzz_remove_tree(dir_path);
    free(text);
    return 0;
}
