/* cli/main.c: the tfm command-line tool: dispatches "tfm <command>" and decides how errors are reported. */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/translate_commands.h"
#if __has_include("cli/tokenizer_commands.h")
#include "cli/tokenizer_commands.h"
#define TFM_HAVE_TOKENIZER_CLI 1
#endif

static void usage(FILE *out) {
    fprintf(out,
            "tfm: the Transformer, in C\n\n"
            "usage: tfm <command> [options]   (tfm <command> --help for its options)\n\n"
            "commands:\n"
            "  train       train a GPT on a text file, an encoder-decoder on a parallel corpus (config\n"
            "              model.model_type \"seq2seq\") or pre-train or fine-tune a BERT (\"bert\"); --resume continues a run\n"
            "  translate   translate stdin line by line with an encoder-decoder (beam, greedy, sampling)\n"
            "  average     average the parameters of encoder-decoder checkpoints\n"
            "  export      a GPT as GGUF for llama.cpp (f32, f16, q8_0), an encoder-decoder as a MarianMTModel directory\n"
            "  generate    continue a prompt with a trained model\n"
            "  embed       sentence embeddings from a BERT (mean pooling + L2 norm, as sentence-transformers)\n"
            "  fill-mask   predict the [MASK] tokens of each line with a BERT's masked-LM head\n"
            "  classify    label each line (or sentence pair, or word) with a fine-tuned BERT classifier\n"
            "  init        write a freshly initialised model\n"
            "  tokenizer   train, apply and inspect BPE / WordPiece tokenizers\n"
            "  bleu        BLEU / chrF of translations against references (as sacreBLEU computes them)\n"
            "  version     print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *command = argv[1];
    if (strcmp(command, "train") == 0)
        return cli_train(argc - 1, argv + 1);
    if (strcmp(command, "translate") == 0) return cli_translate(argc - 1, argv + 1);
    if (strcmp(command, "average") == 0) return cli_average(argc - 1, argv + 1);
    if (strcmp(command, "export") == 0) return cli_export(argc - 1, argv + 1);
    if (strcmp(command, "generate") == 0) return cli_generate(argc - 1, argv + 1);
    if (strcmp(command, "init") == 0) return cli_init(argc - 1, argv + 1);
    if (strcmp(command, "bleu") == 0) return cli_bleu(argc - 1, argv + 1);
    if (strcmp(command, "embed") == 0) return cli_embed(argc - 1, argv + 1);
    if (strcmp(command, "fill-mask") == 0) return cli_fill_mask(argc - 1, argv + 1);
    if (strcmp(command, "classify") == 0) return cli_classify(argc - 1, argv + 1);
#ifdef TFM_HAVE_TOKENIZER_CLI
    if (strcmp(command, "tokenizer") == 0) return tfm_cli_tokenizer(argc - 1, argv + 1);
#endif
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) { printf("tfm 0.1.0\n"); return 0; }
    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) { usage(stdout); return 0; }
    fprintf(stderr, "tfm: unknown command '%s'\n\n", command);
    usage(stderr);
    return 2;
}
