/* cli/common.h: what the command-line tool's commands share: error reporting, clocks, thread set-up, model loading. */
#ifndef TFM_CLI_COMMON_H
#define TFM_CLI_COMMON_H

#include "tfm/gpt.h"

/* Print "tfm <command>: <last error>" to stderr and return exit code 1. */
int cli_fail(const char *command);
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Apply --threads (0 = all cores). */
void cli_set_threads(int threads);
/* Load a GPT checkpoint directory (config.json + model.safetensors). */
tfm_status cli_load_gpt(const char *dir, tfm_gpt **model);
/* "3m05s" */
void cli_format_duration(double seconds, char *buf, int size);

int cli_train(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_init(int argc, char **argv);
int cli_bleu(int argc, char **argv);

#endif
