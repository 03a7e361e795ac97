/* tests/tools/schedule_rates.c: prints tfm's learning rate for every step of a schedule, for
 * tests/test_schedules_torch.py to hold against torch.optim.lr_scheduler.
 *   usage: schedule_rates TRAIN_JSON D_MODEL [--higher] [METRIC...]
 * TRAIN_JSON is a "train" object as in a config file (schedule, learning_rate, warmup_steps, max_steps, ...). One
 * rate per line ("%.9g") for steps 1 .. max_steps. With the "plateau" schedule, the METRICs are the validations, in
 * order: after each step that is a multiple of eval_every the next one is observed (a loss, or a score with --higher),
 * as the trainer does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/config.h"
#include "tfm/io.h"
#include "tfm/train.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: schedule_rates TRAIN_JSON D_MODEL [--higher] [METRIC...]\n");
        return 2;
    }
    char *json = NULL;
    size_t size = 0;
    tfm_train_config c;
    c.task = TFM_TASK_GPT;
    if (tfm_file_read(argv[1], &json, &size) || tfm_train_config_from_json(json, argv[1], &c)) {
        fprintf(stderr, "schedule_rates: %s\n", tfm_last_error());
        return 1;
    }
    tfm_free(json, size + 1);
    int d_model = atoi(argv[2]), next = 3, higher = argc > 3 && strcmp(argv[3], "--higher") == 0;
    next += higher;
    tfm_plateau plateau;
    tfm_plateau_init(&plateau);
    for (long step = 1; step <= c.max_steps; step++) {
        printf("%.9g\n", (double)tfm_schedule_learning_rate(&c, d_model, step, plateau.reductions));
        if (c.eval_every > 0 && step % c.eval_every == 0 && next < argc)
            tfm_plateau_observe(&plateau, &c, strtof(argv[next++], NULL), higher);
    }
    return 0;
}
