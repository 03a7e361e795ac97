/* tests/test_setup_allocation.c: every model's set-up survives each of its allocations failing: create, the training task and trainer, a step, a save, load and resume, for GPT and the encoder-decoder; each failure is a status with a message, never a crash or leak (ASan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tfm.h"

#define WORK "setup_allocation"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ---- GPT ---- */

static tfm_gpt_config gpt_shape(void) {
    tfm_gpt_config c;
    tfm_gpt_config_default(&c);
    c.context_length = 16;
    c.d_model = 16;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_ff = 32;
    return c;
}

static tfm_train_config gpt_training(void) {
    tfm_train_config c;
    tfm_train_config_default(&c);
    c.gpt.batch_size = 2;
    c.gpt.seq_len = 16;
    c.max_steps = 2;
    c.eval_every = 0;
    return c;
}

static tfm_status gpt_create(void *unused) {
    (void)unused;
    tfm_gpt *model = NULL;
    tfm_gpt_config c = gpt_shape();
    tfm_status st = tfm_gpt_create(&model, &c);
    if (!st) tfm_gpt_init_weights(model, 1);
    tfm_gpt_free(model);
    return st;
}

/* Task, trainer, one step, a save (the first run of this also makes the checkpoint the resume test loads). */
static tfm_status gpt_train(void *unused) {
    (void)unused;
    tfm_gpt *model = NULL;
    tfm_gpt_config shape = gpt_shape();
    tfm_train_config c = gpt_training();
    tfm_train_task *task = NULL;
    tfm_trainer *trainer = NULL;
    tfm_status st = tfm_gpt_create(&model, &shape);
    if (!st) st = tfm_gpt_task_create(&task, model, &c, WORK "/data.txt", NULL);
    if (!st) st = tfm_trainer_create(&trainer, task, &c);
    if (!st) st = tfm_trainer_step(trainer);
    if (!st) st = tfm_trainer_save(trainer, WORK "/gpt_run");
    tfm_trainer_free(trainer);
    tfm_gpt_free(model);
    return st;
}

static tfm_status gpt_resume(void *unused) {
    (void)unused;
    tfm_gpt *model = NULL;
    tfm_train_config c;
    char data[4096];
    tfm_train_task *task = NULL;
    tfm_trainer *trainer = NULL;
    tfm_status st = tfm_trainer_saved_config(WORK "/gpt_run", TFM_TASK_GPT, &c, data, sizeof data);
    if (!st) st = tfm_gpt_load(&model, WORK "/gpt_run");
    if (!st) st = tfm_gpt_task_create(&task, model, &c, data, NULL);
    if (!st) st = tfm_trainer_resume(&trainer, task, &c, WORK "/gpt_run");
    if (!st) st = tfm_trainer_step(trainer);
    tfm_trainer_free(trainer);
    tfm_gpt_free(model);
    return st;
}

/* ---- The encoder-decoder ---- */

static tfm_bpe *tokenizer;

static tfm_seq2seq_config seq2seq_shape(void) {
    tfm_seq2seq_config c;
    tfm_seq2seq_config_default(&c);
    c.vocab_size = (int)tfm_bpe_vocab_size(tokenizer);
    c.max_source_length = c.max_target_length = 16;
    c.d_model = 16;
    c.n_encoder_layers = c.n_decoder_layers = 1;
    c.n_heads = 2;
    c.d_ff = 32;
    return c;
}

static tfm_train_config seq2seq_training(void) {
    tfm_train_config c;
    tfm_train_config_default_task(&c, TFM_TASK_SEQ2SEQ);
    c.seq2seq.batch_tokens = 64;
    c.seq2seq.bleu_sentences = 2;
    c.max_steps = 2;
    c.eval_every = 1;
    return c;
}

static tfm_status seq2seq_create(void *unused) {
    (void)unused;
    tfm_seq2seq *model = NULL;
    tfm_seq2seq_config c = seq2seq_shape();
    tfm_status st = tfm_seq2seq_create(&model, &c);
    tfm_seq2seq_free(model);
    return st;
}

/* Task (tokenizes the data), trainer, a step, a validation with BLEU (greedy decoding), a save. */
static tfm_status seq2seq_train(void *unused) {
    (void)unused;
    tfm_seq2seq *model = NULL;
    tfm_seq2seq_config shape = seq2seq_shape();
    tfm_train_config c = seq2seq_training();
    tfm_train_task *task = NULL;
    tfm_trainer *trainer = NULL;
    float loss = 0, score = 0;
    tfm_status st = tfm_seq2seq_create(&model, &shape);
    if (!st) st = tfm_seq2seq_task_create(&task, model, tokenizer, &c, WORK "/words");
    if (!st) st = tfm_trainer_create(&trainer, task, &c);
    if (!st) st = tfm_trainer_step(trainer);
    if (!st) st = tfm_trainer_evaluate(trainer, &loss, &score);
    if (!st) st = tfm_trainer_save(trainer, WORK "/seq2seq_run");
    tfm_trainer_free(trainer);
    tfm_seq2seq_free(model);
    return st;
}

static tfm_status seq2seq_resume(void *unused) {
    (void)unused;
    tfm_seq2seq *model = NULL;
    tfm_train_config c;
    char data[4096];
    tfm_train_task *task = NULL;
    tfm_trainer *trainer = NULL;
    tfm_status st = tfm_trainer_saved_config(WORK "/seq2seq_run", TFM_TASK_SEQ2SEQ, &c, data, sizeof data);
    if (!st) st = tfm_seq2seq_load(&model, WORK "/seq2seq_run");
    if (!st) st = tfm_seq2seq_task_create(&task, model, tokenizer, &c, data);
    if (!st) st = tfm_trainer_resume(&trainer, task, &c, WORK "/seq2seq_run");
    if (!st) st = tfm_trainer_step(trainer);
    tfm_trainer_free(trainer);
    tfm_seq2seq_free(model);
    return st;
}

static tfm_status seq2seq_load_for_decoding(void *unused) {
    (void)unused;
    tfm_seq2seq *model = NULL;
    tfm_status st = tfm_seq2seq_load_inference(&model, WORK "/seq2seq_run");
    tfm_seq2seq_free(model);
    return st;
}

/* ---- Data ---- */

static void make_data(void) {
    tfm_checkpoint_remove_run(WORK "/gpt_run");
    tfm_checkpoint_remove_run(WORK "/seq2seq_run");
    tfm_file_make_directory(WORK "/words");
    char text[4096] = "";
    for (int i = 0; i < 40; i++) strcat(text, i % 3 ? "the small house is red. " : "we see a green dog.\n");
    write_text(WORK "/data.txt", text);
    const char *en = "the house is small\nwe see a dog\nthe cat is old\na red house\nthe dog is new\nwe see the cat\n";
    const char *de = "das Haus ist klein\nwir sehen ein Hund\ndas Katze ist alt\nein rot Haus\ndas Hund ist neu\nwir sehen das Katze\n";
    write_text(WORK "/words/train.en", en);
    write_text(WORK "/words/train.de", de);
    write_text(WORK "/words/valid.en", "the house is old\nwe see a cat\n");
    write_text(WORK "/words/valid.de", "das Haus ist alt\nwir sehen ein Katze\n");
    const char *texts[] = {en, de}, *specials[] = {"<pad>", "<s>", "</s>"};
    size_t lengths[] = {strlen(en), strlen(de)};
    tfm_bpe_train_options options = {300, 1, specials, 3};
    CHECK_OK(tfm_bpe_train(&tokenizer, texts, lengths, 2, &options));
}

int main(void) {
    tfm_threads_set(1); /* one thread: allocation order is the same on every run */
    tfm_file_make_directory(WORK);
    make_data();
    if (!tokenizer) return test_summary();
    struct { const char *name; tfm_status (*attempt)(void *); } cases[] = {
        {"GPT: create", gpt_create},
        {"GPT: task, trainer, step, save", gpt_train},
        {"GPT: load and resume", gpt_resume},
        {"encoder-decoder: create", seq2seq_create},
        {"encoder-decoder: task, trainer, step, validation, save", seq2seq_train},
        {"encoder-decoder: load and resume", seq2seq_resume},
        {"encoder-decoder: load for decoding", seq2seq_load_for_decoding},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long allocations = test_each_allocation_failure(cases[i].name, cases[i].attempt, NULL, 0);
        CHECK(allocations > 0, "%s never succeeded", cases[i].name);
        printf("%-56s every one of its %ld allocations failed in turn\n", cases[i].name, allocations);
    }
    tfm_bpe_free(tokenizer);
    return test_summary();
}
