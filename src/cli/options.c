/* cli/options.c: parses "--name value" / "--name=value" options against a table, with messages that name the option. */
#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_expectation(cli_option_kind kind) {
    switch (kind) {
    case CLI_INT: case CLI_LONG: return "an integer";
    case CLI_FLOAT: return "a number";
    default: return "a value";
    }
}

static int set_value(const char *command, cli_option *o, const char *value) {
    char *end = NULL;
    errno = 0;
    if (o->kind == CLI_STRING) {
        *(const char **)o->target = value;
        return 1;
    }
    if (o->kind == CLI_STRINGS) {
        cli_strings *list = o->target;
        if (list->count == CLI_STRINGS_MAX) {
            fprintf(stderr, "tfm %s: --%s: at most %d of them\n", command, o->name, CLI_STRINGS_MAX);
            return 0;
        }
        list->items[list->count++] = value;
        return 1;
    }
    if (o->kind == CLI_FLOAT) {
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v) || v < o->min || v > o->max) {
            fprintf(stderr, "tfm %s: --%s: expected a number in [%g, %g], got '%s'\n", command, o->name, o->min, o->max, value);
            return 0;
        }
        *(float *)o->target = (float)v;
        return 1;
    }
    long long v = strtoll(value, &end, 10);
    if (!*value || *end || errno || (double)v < o->min || (double)v > o->max) {
        fprintf(stderr, "tfm %s: --%s: expected %s in [%.0f, %.0f], got '%s'\n", command, o->name, kind_expectation(o->kind), o->min,
                o->max, value);
        return 0;
    }
    if (o->kind == CLI_INT) *(int *)o->target = (int)v;
    else *(long *)o->target = (long)v;
    return 1;
}

int cli_options_parse(const char *command, cli_option *options, int argc, char **argv, int first) {
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "tfm %s: unexpected argument '%s' (options look like --name value; see tfm %s --help)\n", command, arg, command);
            return 0;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_option *o = options;
        while (o->name && !(strlen(o->name) == len && strncmp(o->name, name, len) == 0)) o++;
        if (!o->name) {
            fprintf(stderr, "tfm %s: unknown option '--%.*s' (see tfm %s --help)\n", command, (int)len, name, command);
            return 0;
        }
        o->seen = 1;
        if (o->kind == CLI_FLAG) {
            if (eq) { fprintf(stderr, "tfm %s: --%s takes no value\n", command, o->name); return 0; }
            *(int *)o->target = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "tfm %s: --%s needs %s\n", command, o->name, kind_expectation(o->kind));
            return 0;
        }
        if (!set_value(command, o, value)) return 0;
    }
    return 1;
}

void cli_options_print_help(const char *usage, const cli_option *options) {
    fprintf(stdout, "%s\n\noptions:\n", usage);
    for (const cli_option *o = options; o->name; o++) {
        const char *meta = o->kind == CLI_FLAG ? "" : o->kind == CLI_STRING || o->kind == CLI_STRINGS ? " TEXT" : o->kind == CLI_FLOAT ? " X" : " N";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name, meta);
        fprintf(stdout, "  %-22s %s\n", left, o->help);
    }
}

const cli_option *cli_options_find(const cli_option *options, const char *name) {
    for (const cli_option *o = options; o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}
