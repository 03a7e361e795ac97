/* cli/common.c: helpers shared by the tfm commands (error printing, clock, threads, loading a model). */
#define _POSIX_C_SOURCE 200809L
#include "cli/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tfm/base.h"
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

/* ---- Streaming commands' files ---- */

static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_files_open(cli_files *f, const char *command, const char *const *inputs, int input_count, const char *output) {
    memset(f, 0, sizeof *f);
    snprintf(f->command, sizeof f->command, "%s", command);
    const char *input = input_count ? inputs[0] : NULL;
    if (input && !strcmp(input, "-")) input = NULL;
    f->output = output && strcmp(output, "-") ? output : NULL;
    if (input_count > 1) {
        fprintf(stderr, "tfm %s: one --input only\n", command);
        return 0;
    }
    if (input && f->output && same_file(input, f->output)) {
        fprintf(stderr, "tfm %s: --output %s is the input file; write to another file\n", command, f->output);
        return 0;
    }
    f->in = input ? fopen(input, "rb") : stdin;
    struct stat st;
    if (f->in && fstat(fileno(f->in), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tfm %s: %s is a directory, not a file to read\n", command, input ? input : "standard input");
        if (f->in != stdin) fclose(f->in);
        f->in = NULL;
        return 0;
    }
    if (!f->in) {
        fprintf(stderr, "tfm %s: %s: %s\n", command, input, strerror(errno));
        return 0;
    }
    if (!f->output) {
        f->out = stdout;
        return 1;
    }
    snprintf(f->temporary, sizeof f->temporary, "%s.tmp.%ld", f->output, (long)getpid());
    f->out = fopen(f->temporary, "wb");
    if (!f->out) {
        fprintf(stderr, "tfm %s: %s: %s\n", command, f->output, strerror(errno));
        if (f->in != stdin) fclose(f->in);
        f->in = NULL;
        return 0;
    }
    return 1;
}

int cli_files_close(cli_files *f, int ok) {
    if (f->in && f->in != stdin) fclose(f->in);
    f->in = NULL;
    if (!f->out) return 0;
    int written = fflush(f->out) == 0 && !ferror(f->out);
    if (f->out != stdout && fclose(f->out) != 0) written = 0;
    if (ok && !written) fprintf(stderr, "tfm %s: write error on %s\n", f->command, f->output ? f->output : "stdout");
    ok = ok && written;
    if (f->out != stdout) {
        if (ok && rename(f->temporary, f->output) != 0) {
            fprintf(stderr, "tfm %s: cannot rename %s to %s: %s\n", f->command, f->temporary, f->output, strerror(errno));
            ok = 0;
        }
        if (!ok) remove(f->temporary);
    }
    f->out = NULL;
    return ok;
}

int cli_write_ids(FILE *out, const char *format, const uint32_t *ids, size_t n, int *first) {
    if (!strcmp(format, "text")) {
        char buf[16];
        for (size_t i = 0; i < n; i++) {
            int len = snprintf(buf, sizeof buf, *first ? "%u" : " %u", ids[i]);
            fwrite(buf, 1, (size_t)len, out);
            *first = 0;
        }
    } else if (!strcmp(format, "uint16")) {
        for (size_t i = 0; i < n; i++) {
            if (ids[i] > 65535) {
                fprintf(stderr, "tfm tokenizer encode: id %u does not fit --format uint16 (use uint32)\n", ids[i]);
                return 0;
            }
            unsigned char b[2] = {(unsigned char)ids[i], (unsigned char)(ids[i] >> 8)};
            fwrite(b, 1, 2, out);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char b[4] = {(unsigned char)ids[i], (unsigned char)(ids[i] >> 8), (unsigned char)(ids[i] >> 16),
                                  (unsigned char)(ids[i] >> 24)};
            fwrite(b, 1, 4, out);
        }
    }
    return !ferror(out);
}

int cli_parse_long(const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return 0;
    *out = v;
    return 1;
}
