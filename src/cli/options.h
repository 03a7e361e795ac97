/* cli/options.h: a table-driven parser for "--name value" command-line options with range-checked values. */
#ifndef TFM_CLI_OPTIONS_H
#define TFM_CLI_OPTIONS_H

typedef enum cli_option_kind { CLI_STRING, CLI_INT, CLI_LONG, CLI_FLOAT, CLI_FLAG, CLI_STRINGS } cli_option_kind;

/* CLI_STRINGS: an option that may be given several times (--stop A --stop B), in order. */
#define CLI_STRINGS_MAX 16
typedef struct cli_strings {
    const char *items[CLI_STRINGS_MAX];
    int count;
} cli_strings;

typedef struct cli_option {
    const char *name;        /* without the leading "--" */
    cli_option_kind kind;
    void *target;            /* const char **, int *, long *, float *, int * (flag), cli_strings * */
    double min, max;         /* inclusive range for numbers */
    const char *help;
    int seen;                /* set by the parser */
} cli_option;

/* Parse argv[first..argc) into the table. Prints a message naming the option and returns 0 on error
 * (unknown option, missing or malformed value, out of range, stray argument), 1 on success. */
int cli_options_parse(const char *command, cli_option *options, int argc, char **argv, int first);
/* Print "  --name VALUE   help" lines for a command's --help. */
void cli_options_print_help(const char *usage, const cli_option *options);
/* The table entry by name (for "was it given?"). */
const cli_option *cli_options_find(const cli_option *options, const char *name);

#endif
