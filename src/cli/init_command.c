/* cli/init_command.c: "tfm init": write a freshly initialised GPT checkpoint (for benchmarks and tests). */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/io.h"

int cli_init(int argc, char **argv) {
    const char *config_path = NULL, *out_dir = NULL;
    long seed = 1337;
    int force = 0, help = 0;
    cli_option options[] = {
        {"config", CLI_STRING, &config_path, 0, 0, "training config (JSON); default: the built-in tiny GPT", 0},
        {"out", CLI_STRING, &out_dir, 0, 0, "checkpoint directory to write", 0},
        {"seed", CLI_LONG, &seed, 0, 9.2e18, "initialisation seed", 0},
        {"force", CLI_FLAG, &force, 0, 0, "replace the run or model already in --out", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("init", options, argc, argv, 1)) return 2;
    if (help) { cli_options_print_help("usage: tfm init [--config FILE] --out DIR [--seed N] [--force]", options); return 0; }
    if (!out_dir) { fprintf(stderr, "tfm init: needs --out DIR\n"); return 2; }
    if (!cli_output_directory_check("init", out_dir, force, NULL)) return 1;
    tfm_gpt_config model_config;
    tfm_train_config train_config;
    tfm_gpt_config_default(&model_config);
    tfm_train_config_default(&train_config);
    if (config_path && tfm_config_load(config_path, &model_config, &train_config) != TFM_OK) return cli_fail("init");
    tfm_gpt *model = NULL;
    if (tfm_gpt_create(&model, &model_config) != TFM_OK) return cli_fail("init");
    tfm_gpt_init_weights(model, (uint64_t)seed);
    char *json = NULL;
    tfm_status st = tfm_gpt_config_to_json(&model_config, &json);
    if (!st) st = cli_output_directory_clear(out_dir);
    if (!st) st = tfm_checkpoint_save(out_dir, &model->params, json, NULL);
    if (json) tfm_free(json, strlen(json) + 1);
    tfm_gpt_free(model);
    if (st) return cli_fail("init");
    fprintf(stderr, "tfm init: wrote %s\n", out_dir);
    return 0;
}
