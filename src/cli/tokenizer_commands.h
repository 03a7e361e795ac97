/* cli/tokenizer_commands.h: "tfm tokenizer ..." entry points (BPE here, WordPiece in its own file). */
#ifndef TFM_CLI_TOKENIZER_COMMANDS_H
#define TFM_CLI_TOKENIZER_COMMANDS_H

/* argv[0] = "tokenizer"; verbs train | encode | decode | info, --type bpe (default) | wordpiece. */
int tfm_cli_tokenizer(int argc, char **argv);
/* The WordPiece side, same verbs and conventions (src/cli/tokenizer_wordpiece_command.c). */
int tfm_cli_tokenizer_wordpiece(int argc, char **argv);

#endif
