/* cli/average_command.c: "tfm average": the element-wise mean of the parameters of several checkpoints of one model (GPT or encoder-decoder). */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "cli/translate_commands.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"

/* The configs must agree on everything that shapes the parameters (dropout etc. may differ: the first wins). */
static int same_shapes(const tfm_params *a, const tfm_params *b) {
    if (a->count != b->count || a->total != b->total) return 0;
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->entries[i].name, b->entries[i].name) != 0 || a->entries[i].size != b->entries[i].size) return 0;
    return 1;
}

int cli_average(int argc, char **argv) {
    const char *out_dir = NULL;
    int force = 0, help = 0;
    /* Options first, then the checkpoint directories. */
    int first_dir = 1;
    while (first_dir < argc && strncmp(argv[first_dir], "--", 2) == 0)
        first_dir += strcmp(argv[first_dir], "--help") == 0 || strcmp(argv[first_dir], "--force") == 0 ? 1 : 2;
    if (first_dir > argc) first_dir = argc;
    cli_option options[] = {
        {"out", CLI_STRING, &out_dir, 0, 0, "directory to write the averaged model into", 0},
        {"force", CLI_FLAG, &force, 0, 0, "replace the run or model already in --out (it may be one of the inputs)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("average", options, first_dir, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm average [--force] --out DIR CHECKPOINT_DIR1 CHECKPOINT_DIR2 ...\n"
                               "Averages the parameters of checkpoints of one model, GPT or encoder-decoder (e.g. the last k of a run); the first\n"
                               "directory's config.json and tokenizer.json are copied.",
                               options);
        return 0;
    }
    int k = argc - first_dir;
    if (!out_dir || k < 1) {
        fprintf(stderr, "tfm average: needs --out DIR and at least one checkpoint directory\n");
        return 2;
    }
    if (!cli_output_directory_check("average", out_dir, force, NULL)) return 1;
    cli_model sum, next;
    double *acc = NULL;
    int exit_code = 0;
    tfm_status st = cli_model_load(argv[first_dir], &sum);
    if (st) { cli_model_free(&sum); return cli_fail("average"); }
    tfm_params *params = cli_model_params(&sum);
    size_t n = params->total;
    acc = tfm_malloc(sizeof(double) * n);
    if (!acc) { cli_model_free(&sum); return cli_fail("average"); }
    /* Accumulate in double so the mean does not depend on the order more than rounding once. */
    for (size_t i = 0; i < n; i++) acc[i] = params->data[i];
    for (int d = 1; d < k && !exit_code; d++) {
        if ((st = cli_model_load(argv[first_dir + d], &next))) { cli_model_free(&next); exit_code = cli_fail("average"); break; }
        if (next.task != sum.task || !same_shapes(params, cli_model_params(&next))) {
            fprintf(stderr, "tfm average: %s has different parameters than %s (another model configuration)\n", argv[first_dir + d],
                    argv[first_dir]);
            exit_code = 1;
        } else {
            for (size_t i = 0; i < n; i++) acc[i] += cli_model_params(&next)->data[i];
        }
        cli_model_free(&next);
    }
    if (!exit_code) {
        for (size_t i = 0; i < n; i++) params->data[i] = (float)(acc[i] / k);
        /* Every input is in memory now, so --force may replace one of them. */
        if ((st = cli_output_directory_clear(out_dir)) || (st = cli_model_save(&sum, out_dir))) exit_code = cli_fail("average");
    }
    if (!exit_code) {
        char *from = tfm_file_join(argv[first_dir], "tokenizer.json"), *to = tfm_file_join(out_dir, "tokenizer.json");
        if (from && to && tfm_file_exists(from) && !cli_same_file(from, to) && tfm_file_copy(from, to) != TFM_OK) exit_code = cli_fail("average");
        if (from) tfm_free(from, strlen(from) + 1);
        if (to) tfm_free(to, strlen(to) + 1);
    }
    if (!exit_code) fprintf(stderr, "tfm average: wrote the mean of %d checkpoints (%zu parameters) to %s\n", k, n, out_dir);
    tfm_free(acc, sizeof(double) * n);
    cli_model_free(&sum);
    return exit_code;
}
