/* fuzz/fuzz_model_config.c: libFuzzer target for config JSON: GPT-2, seq2seq and BERT config.json, the "train" object (both tasks), and whole training-config files; what parses must validate and round-trip. */
#include "fuzz_io_common.h"

#include "tfm/bert.h"
#include "tfm/config.h"
#include "tfm/seq2seq.h"

static char file_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    io_fuzz_install_allocator();
    io_fuzz_temp_path(file_path, sizeof file_path, "model_config.json");
    return 0;
}

static void free_text(char *text) {
    if (text) tfm_free(text, strlen(text) + 1);
}

/* A config that parsed prints, and the printed text parses back to the same config (compared as printed text). */
static void gpt_round_trip(const tfm_gpt_config *c) {
    IO_FUZZ_REQUIRE(tfm_gpt_config_validate(c) == TFM_OK, "a parsed GPT config validates");
    char *a = NULL, *b = NULL;
    IO_FUZZ_REQUIRE(tfm_gpt_config_to_json(c, &a) == TFM_OK, "a parsed GPT config prints");
    tfm_gpt_config again;
    IO_FUZZ_REQUIRE(tfm_gpt_config_from_json(a, "printed config.json", &again) == TFM_OK, "a printed GPT config parses");
    IO_FUZZ_REQUIRE(tfm_gpt_config_to_json(&again, &b) == TFM_OK, "prints again");
    IO_FUZZ_REQUIRE(strcmp(a, b) == 0, "GPT config.json round trip");
    free_text(a);
    free_text(b);
}

static void seq2seq_round_trip(const tfm_seq2seq_config *c) {
    IO_FUZZ_REQUIRE(tfm_seq2seq_config_validate(c) == TFM_OK, "a parsed seq2seq config validates");
    char *a = NULL, *b = NULL;
    IO_FUZZ_REQUIRE(tfm_seq2seq_config_to_json(c, &a) == TFM_OK, "a parsed seq2seq config prints");
    tfm_seq2seq_config again;
    IO_FUZZ_REQUIRE(tfm_seq2seq_config_from_json(a, "printed config.json", &again) == TFM_OK, "a printed seq2seq config parses");
    IO_FUZZ_REQUIRE(tfm_seq2seq_config_to_json(&again, &b) == TFM_OK, "prints again");
    IO_FUZZ_REQUIRE(strcmp(a, b) == 0, "seq2seq config.json round trip");
    free_text(a);
    free_text(b);
}

static void train_round_trip(const tfm_train_config *t) {
    IO_FUZZ_REQUIRE(tfm_train_config_validate(t, NULL) == TFM_OK, "a parsed train config validates");
    char *a = NULL, *b = NULL;
    IO_FUZZ_REQUIRE(tfm_train_config_to_json(t, &a) == TFM_OK, "a parsed train config prints");
    tfm_train_config again;
    again.task = t->task;
    IO_FUZZ_REQUIRE(tfm_train_config_from_json(a, "printed train", &again) == TFM_OK, "a printed train config parses");
    IO_FUZZ_REQUIRE(again.task == t->task, "the task is kept");
    IO_FUZZ_REQUIRE(tfm_train_config_to_json(&again, &b) == TFM_OK, "prints again");
    IO_FUZZ_REQUIRE(strcmp(a, b) == 0, "train config round trip");
    free_text(a);
    free_text(b);
}

static void bert_round_trip(const tfm_bert_config *c) {
    char *a = NULL, *b = NULL;
    tfm_bert_config again;
    IO_FUZZ_REQUIRE(tfm_bert_config_to_json(c, NULL, &a) == TFM_OK, "a parsed BERT config prints");
    IO_FUZZ_REQUIRE(tfm_bert_config_from_json(a, "printed config.json", &again) == TFM_OK, "a printed BERT config parses");
    IO_FUZZ_REQUIRE(tfm_bert_config_to_json(&again, NULL, &b) == TFM_OK, "prints again");
    IO_FUZZ_REQUIRE(strcmp(a, b) == 0, "BERT config.json round trip");
    free_text(a);
    free_text(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = io_fuzz_text(data, size);

    /* config.json beside a checkpoint, for each model family. The parsers alone must refuse absurd sizes;
     * nothing here creates a model. */
    tfm_gpt_config gpt;
    tfm_gpt_config_default(&gpt);
    tfm_status s = tfm_gpt_config_from_json(text, "fuzz config.json", &gpt);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused GPT config says why");
    if (s == TFM_OK) gpt_round_trip(&gpt);

    tfm_seq2seq_config seq2seq;
    tfm_seq2seq_config_default(&seq2seq);
    s = tfm_seq2seq_config_from_json(text, "fuzz config.json", &seq2seq);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused seq2seq config says why");
    if (s == TFM_OK) seq2seq_round_trip(&seq2seq);

    tfm_bert_config bert;
    tfm_bert_config_default(&bert);
    s = tfm_bert_config_from_json(text, "fuzz config.json", &bert);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused BERT config says why");
    if (s == TFM_OK) bert_round_trip(&bert);

    /* The "train" object alone (trainer_state.json keeps it so), for both tasks. */
    for (int task = TFM_TASK_GPT; task <= TFM_TASK_SEQ2SEQ; task++) {
        tfm_train_config train;
        tfm_train_config_default_task(&train, task);
        s = tfm_train_config_from_json(text, "fuzz train", &train);
        IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused train config says why");
        if (s == TFM_OK) {
            IO_FUZZ_REQUIRE(train.task == task, "the task is the caller's");
            train_round_trip(&train);
        }
    }

    /* The bytes as a training-config file {"model": ..., "train": ...} (NULs and all). */
    io_fuzz_write_file(file_path, data, size);
    tfm_gpt_config file_model;
    tfm_train_config file_train;
    s = tfm_config_load(file_path, &file_model, &file_train);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused GPT training config says why");
    if (s == TFM_OK) {
        IO_FUZZ_REQUIRE(tfm_train_config_validate(&file_train, &file_model) == TFM_OK, "a loaded GPT training config validates");
        IO_FUZZ_REQUIRE(file_train.task == TFM_TASK_GPT, "GPT task");
        gpt_round_trip(&file_model);
        train_round_trip(&file_train);
    }
    tfm_seq2seq_config file_seq2seq;
    s = tfm_seq2seq_config_load(file_path, &file_seq2seq, &file_train);
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a refused seq2seq training config says why");
    if (s == TFM_OK) {
        IO_FUZZ_REQUIRE(file_train.task == TFM_TASK_SEQ2SEQ, "seq2seq task");
        seq2seq_round_trip(&file_seq2seq);
        train_round_trip(&file_train);
    }
    remove(file_path);
    free(text);
    return 0;
}
