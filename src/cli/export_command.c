/* cli/export_command.c: "tfm export": a trained model in another tool's format (GGUF for llama.cpp, Marian for transformers). */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bpe.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"

static int type_of(const char *name) {
    return !strcmp(name, "f32") ? TFM_GGUF_F32 : !strcmp(name, "f16") ? TFM_GGUF_F16 : !strcmp(name, "q8_0") ? TFM_GGUF_Q8_0 : -1;
}

static int export_marian(const char *model_dir, const char *out) {
    if (cli_model_type_of_directory(model_dir) != TFM_TASK_SEQ2SEQ) {
        fprintf(stderr, "tfm export: %s: Marian export is for encoder-decoder models\n", model_dir);
        return 2;
    }
    tfm_seq2seq *model = NULL;
    char *tokenizer = cli_model_file(model_dir, "tokenizer.json");
    tfm_status st = tfm_seq2seq_load(&model, model_dir);
    if (!st) st = tfm_seq2seq_export_marian(model, tokenizer, out);
    if (!st) fprintf(stderr, "tfm export: wrote %s (MarianMTModel%s)\n", out, tokenizer ? ", tokenizer.json" : ", no tokenizer");
    if (tokenizer) tfm_free(tokenizer, strlen(tokenizer) + 1);
    tfm_seq2seq_free(model);
    return st ? cli_fail("export") : 0;
}

int cli_export(int argc, char **argv) {
    const char *model_dir = NULL, *format = "gguf", *type_name = "f32", *out = NULL;
    int help = 0;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "the GPT's directory (from tfm train or tfm init, or a Hugging Face GPT-2 directory)", 0},
        {"format", CLI_STRING, &format, 0, 0, "gguf (a GPT: llama.cpp's file, architecture gpt2, the tokenizer inside; the default) or "
                                               "marian (an encoder-decoder: a MarianMTModel directory for transformers)", 0},
        {"type", CLI_STRING, &type_name, 0, 0, "the matrices' type: f32, f16 or q8_0 (default f32; vectors stay f32)", 0},
        {"out", CLI_STRING, &out, 0, 0, "the file to write (atomically: a temporary, then renamed)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("export", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm export --model DIR --format gguf [--type f32|f16|q8_0] --out FILE.gguf\n"
                               "       tfm export --model DIR --format marian --out DIR", options);
        return 0;
    }
    if (!model_dir || !out) {
        fprintf(stderr, "tfm export: needs --model DIR and --out FILE; see tfm export --help\n");
        return 2;
    }
    if (strcmp(format, "gguf") != 0 && strcmp(format, "marian") != 0) {
        fprintf(stderr, "tfm export: --format '%s': expected gguf or marian\n", format);
        return 2;
    }
    if (!strcmp(format, "marian")) return export_marian(model_dir, out);
    int type = type_of(type_name);
    if (type < 0) {
        fprintf(stderr, "tfm export: --type '%s': expected f32, f16 or q8_0\n", type_name);
        return 2;
    }
    if (cli_model_type_of_directory(model_dir) != TFM_TASK_GPT) {
        fprintf(stderr, "tfm export: %s: GGUF export is for GPT models (llama.cpp's gpt2 architecture)\n", model_dir);
        return 2;
    }
    tfm_gpt *model = NULL;
    tfm_bpe *tokenizer = NULL;
    tfm_status st = tfm_gpt_load(&model, model_dir);
    if (!st) st = cli_gpt_tokenizer(model_dir, model, &tokenizer);
    if (!st) st = tfm_gpt_export_gguf(model, tokenizer, out, type);
    if (!st) fprintf(stderr, "tfm export: wrote %s (gguf, %s matrices, %d layers, vocabulary %d)\n", out, type_name, model->config.n_layers,
                     model->config.vocab_size);
    tfm_bpe_free(tokenizer);
    tfm_gpt_free(model);
    return st ? cli_fail("export") : 0;
}
