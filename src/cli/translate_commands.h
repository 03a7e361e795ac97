/* cli/translate_commands.h: the encoder-decoder commands: translate, average. */
#ifndef TFM_CLI_TRANSLATE_COMMANDS_H
#define TFM_CLI_TRANSLATE_COMMANDS_H

/* "tfm translate --model DIR < in > out" */
int cli_translate(int argc, char **argv);
/* "tfm average --out DIR DIR1 DIR2 ..." */
int cli_average(int argc, char **argv);

#endif
