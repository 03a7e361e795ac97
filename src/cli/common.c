/* cli/common.c: helpers shared by the tfm commands (error printing, clock, threads, loading a model). */
#define _POSIX_C_SOURCE 200809L
#include "cli/common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/threads.h"
#include "tfm/io.h"

int cli_fail(const char *command) {
    fprintf(stderr, "tfm %s: %s\n", command, tfm_last_error());
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_set_threads(int threads) { tfm_threads_set(threads); }

tfm_status cli_load_gpt(const char *dir, tfm_gpt **model) {
    *model = NULL;
    char *config_json = NULL;
    tfm_status st = tfm_checkpoint_load_config(dir, &config_json);
    if (st) return st;
    char source[512];
    snprintf(source, sizeof source, "%s/config.json", dir);
    tfm_gpt_config config;
    st = tfm_gpt_config_from_json(config_json, source, &config);
    tfm_free(config_json, strlen(config_json) + 1);
    if (st) return st;
    if ((st = tfm_gpt_create(model, &config)) != TFM_OK) return tfm_error_prefix(st, "%s: ", source);
    if ((st = tfm_checkpoint_load_params(dir, &(*model)->params)) != TFM_OK) {
        tfm_gpt_free(*model);
        *model = NULL;
    }
    return st;
}

void cli_format_duration(double seconds, char *buf, int size) {
    if (seconds < 0) seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, (size_t)size, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else snprintf(buf, (size_t)size, "%ldm%02lds", s / 60, s % 60);
}
