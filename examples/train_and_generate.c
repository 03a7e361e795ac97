/* examples/train_and_generate.c: the worked example of include/tfm.h, as a program you can build and run.
 *   train_and_generate CORPUS.txt [STEPS]   trains the built-in tiny GPT, saves runs/example, prints a sample */
#include <stdio.h>
#include <stdlib.h>

#include "tfm.h"

static int print_byte(int token, void *user) {
    (void)user;
    putchar(token);
    return 0;
}

static int fail(void) {
    fprintf(stderr, "train_and_generate: %s\n", tfm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: train_and_generate CORPUS.txt [STEPS]\n");
        return 2;
    }
    tfm_gpt_config model_config;   /* vocab 256 (bytes), 4 layers, d_model 128, 4 heads, context 128 */
    tfm_train_config train_config; /* AdamW, warm-up + cosine, batch 32 x 128 */
    tfm_gpt_config_default(&model_config);
    tfm_train_config_default(&train_config);
    train_config.max_steps = argc > 2 ? atol(argv[2]) : 100;
    if (train_config.max_steps < 1) train_config.max_steps = 1;

    tfm_gpt *model;
    if (tfm_gpt_create(&model, &model_config) != TFM_OK) return fail();
    tfm_gpt_init_weights(model, 1337); /* GPT-2 initialisation */

    tfm_train_task *task; /* GPT on the text as byte tokens, 5% held out */
    if (tfm_gpt_task_create(&task, model, &train_config, argv[1], NULL) != TFM_OK) { tfm_gpt_free(model); return fail(); }
    tfm_trainer *trainer; /* the loop; it owns the task now */
    if (tfm_trainer_create(&trainer, task, &train_config) != TFM_OK) { tfm_gpt_free(model); return fail(); }
    for (long step = 0; step < train_config.max_steps;) {
        if (tfm_trainer_step(trainer) != TFM_OK) { tfm_trainer_free(trainer); tfm_gpt_free(model); return fail(); }
        tfm_trainer_progress progress = tfm_trainer_get_progress(trainer);
        step = progress.step;
        if (step % 10 == 0 || step == train_config.max_steps) printf("step %ld loss %.4f\n", step, (double)progress.loss);
    }
    if (tfm_trainer_save(trainer, "runs/example") != TFM_OK) { tfm_trainer_free(trainer); tfm_gpt_free(model); return fail(); }
    tfm_trainer_free(trainer);

    tfm_sampler sampler; /* temperature 0.8, top-k 40, top-p 0.95 */
    tfm_sampler_config sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f};
    if (tfm_sampler_init(&sampler, model_config.vocab_size, &sampling, 1) != TFM_OK) { tfm_gpt_free(model); return fail(); }
    int32_t prompt[] = {'I', 't', ' ', 'i', 's'};
    fputs("It is", stdout);
    tfm_status st = tfm_gpt_generate(model, prompt, 5, 200, &sampler, 1, print_byte, NULL); /* 1 = use the KV cache */
    putchar('\n');
    tfm_sampler_free(&sampler);
    tfm_gpt_free(model);
    return st == TFM_OK ? 0 : fail();
}
