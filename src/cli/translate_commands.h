/* cli/translate_commands.h: the encoder-decoder commands: train (seq2seq configs), translate, average. */
#ifndef TFM_CLI_TRANSLATE_COMMANDS_H
#define TFM_CLI_TRANSLATE_COMMANDS_H

/* "tfm train" for a config whose "model" has "model_type": "seq2seq" (or --resume of such a run). */
int cli_train_seq2seq(int argc, char **argv);
/* "tfm translate --model DIR < in > out" */
int cli_translate(int argc, char **argv);
/* "tfm average --out DIR DIR1 DIR2 ..." */
int cli_average(int argc, char **argv);
/* 1 when `tfm train`'s arguments name a seq2seq run: --config's model.model_type is "seq2seq", or --resume DIR's
 * config.json is a seq2seq config. Lets cli_train hand over without parsing twice. */
int cli_train_is_seq2seq(int argc, char **argv);

#endif
