/* cli/generate_command.c: "tfm generate": continue a prompt with a trained GPT, streaming its text to stdout as tokens arrive. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/bpe.h"
#include "tfm/decode.h"
#include "tfm/io.h" /* tfm_load_options */

typedef struct generate_arguments {
    const char *model_dir, *prompt, *prompt_file;
    int max_tokens, top_k, threads, stats, no_cache, warmup, help, allow_nonfinite, no_truncate, sequences;
    float temperature, top_p, min_p, repetition_penalty;
    long seed;
    cli_strings stops;
} generate_arguments;

/* Where generated tokens go: their text (the tokenizer's bytes, or the byte itself) through the stop strings. */
typedef struct generate_output {
    const tfm_bpe *tokenizer;   /* NULL: byte-level vocabulary, a token is a byte */
    tfm_stop_strings stops;
    tfm_status status;          /* the first failure of the stop-string buffer */
    int silent;                 /* a warm-up run: nothing is written */
    int interactive;            /* stdout is a terminal: show each token as it comes */
    int tokens;                 /* produced so far */
    double first_token_at;      /* clock when the first new token arrived (the prompt's forward pass ends there) */
} generate_output;

static int write_token(int token, void *user_data) {
    generate_output *out = user_data;
    if (out->tokens++ == 0) out->first_token_at = cli_now();
    if (out->silent) return 0;
    char byte = (char)token;
    size_t len = 1, ready_len = 0;
    const char *piece = out->tokenizer ? tfm_bpe_id_to_token(out->tokenizer, (uint32_t)token, &len) : &byte, *ready = NULL;
    int stopped = 0;
    if ((out->status = tfm_stop_strings_push(&out->stops, piece ? piece : "", piece ? len : 0, &ready, &ready_len, &stopped)) != TFM_OK) return 1;
    fwrite(ready, 1, ready_len, stdout);
    if (out->interactive) fflush(stdout); /* into a file or pipe: buffered, not a system call per token */
    return stopped;
}

/* The prompt's text: --prompt, or --prompt-file (a path, or "-" for stdin). Free with tfm_free(*text, *capacity). */
static tfm_status read_prompt(const generate_arguments *a, char **text, size_t *size, size_t *capacity) {
    if (a->prompt) {
        *size = strlen(a->prompt);
        *capacity = *size + 1;
        *text = tfm_strdup(a->prompt);
        return *text ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
    }
    if (strcmp(a->prompt_file, "-") == 0) {
        tfm_status st = tfm_file_check_input(stdin, "standard input");
        if (st) return st;
        *text = cli_read_stream(stdin, size, capacity);
        return *text ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
    }
    tfm_status st = tfm_file_read(a->prompt_file, text, size);
    *capacity = *size + 1;
    return st ? tfm_error_prefix(st, "--prompt-file: ") : TFM_OK;
}

/* The prompt as token ids (bytes without a tokenizer), its oldest tokens dropped when it is longer than the context. */
static tfm_status encode_prompt(const generate_arguments *a, const tfm_gpt *model, tfm_bpe *tokenizer, tfm_tokens *ids) {
    char *text = NULL;
    size_t size = 0, capacity = 0;
    tfm_status st = read_prompt(a, &text, &size, &capacity);
    if (st) return st;
    if (tokenizer) {
        st = tfm_bpe_encode(tokenizer, text, size, TFM_BPE_ALLOW_SPECIAL, ids, NULL);
    } else if ((st = tfm_tokens_reserve(ids, size)) == TFM_OK) {
        for (size_t i = 0; i < size; i++) ids->ids[i] = (unsigned char)text[i];
        ids->count = size;
    }
    tfm_free(text, capacity);
    size_t context = (size_t)model->config.context_length;
    if (st || ids->count <= context) return st;
    if (a->no_truncate)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "the prompt has %zu tokens, longer than the model's context length %zu (--no-truncate)",
                         ids->count, context);
    fprintf(stderr, "tfm generate: warning: the prompt has %zu tokens, more than the context length %zu: its first %zu are dropped\n", ids->count,
            context, ids->count - context);
    memmove(ids->ids, ids->ids + (ids->count - context), context * sizeof *ids->ids);
    ids->count = context;
    return TFM_OK;
}

/* One sequence: the prompt's text, then the tokens as they come, then what the stop strings held back. */
static tfm_status generate_one(const generate_arguments *a, tfm_gpt *model, const tfm_tokens *prompt, const char *prompt_text, size_t prompt_len,
                               tfm_sampler *sampler, generate_output *out) {
    tfm_status st = tfm_stop_strings_init(&out->stops, a->stops.items, a->stops.count);
    if (st) return st;
    if (!out->silent && prompt_len) fwrite(prompt_text, 1, prompt_len, stdout);
    tfm_sampler_forget(sampler);
    st = tfm_gpt_generate(model, (const int32_t *)prompt->ids, (int)prompt->count, a->max_tokens, sampler, !a->no_cache, write_token, out);
    if (!st) st = out->status;
    const char *rest;
    size_t rest_len;
    tfm_stop_strings_flush(&out->stops, &rest, &rest_len);
    if (!st && !out->silent) fwrite(rest, 1, rest_len, stdout);
    if (!out->silent) fputc('\n', stdout);
    tfm_stop_strings_free(&out->stops);
    return st;
}

static void print_stats(const generate_output *out, int prompt_tokens, double t0, double end) {
    /* Like llama.cpp: the prompt's pass (up to the first new token) and the one-token steps after it, apart. */
    double seconds = end - t0, prompt_seconds = out->tokens ? out->first_token_at - t0 : seconds, step_seconds = end - out->first_token_at;
    fprintf(stderr,
            "summary {\"prompt_tokens\":%d,\"new_tokens\":%d,\"seconds\":%.4f,\"tokens_per_second\":%.1f,"
            "\"prompt_seconds\":%.4f,\"step_tokens_per_second\":%.1f}\n",
            prompt_tokens, out->tokens, seconds, seconds > 0 ? out->tokens / seconds : 0, prompt_seconds,
            out->tokens > 1 && step_seconds > 0 ? (out->tokens - 1) / step_seconds : 0);
}

/* Warm-up runs first (same prompt and seed, output discarded), then the sequences that are shown; the stats are of the last. */
static tfm_status run(const generate_arguments *a, tfm_gpt *model, tfm_bpe *tokenizer, const tfm_tokens *prompt) {
    tfm_sampler_config sc = {.temperature = a->temperature, .top_k = a->top_k, .top_p = a->top_p, .min_p = a->min_p,
                             .repetition_penalty = a->repetition_penalty};
    /* What is shown of the prompt: its (possibly truncated) tokens as text. */
    char *text = NULL;
    size_t text_len = 0, text_capacity = 0;
    tfm_status st = TFM_OK;
    if (tokenizer) st = tfm_bpe_decode(tokenizer, prompt->ids, prompt->count, 0, &text, &text_len, &text_capacity);
    else if ((text = tfm_malloc(prompt->count + 1)) != NULL) {
        for (size_t i = 0; i < prompt->count; i++) text[i] = (char)prompt->ids[i];
        text_len = prompt->count, text_capacity = prompt->count + 1;
    } else st = TFM_ERR_OUT_OF_MEMORY;
    generate_output out = {.tokenizer = tokenizer, .interactive = isatty(fileno(stdout))};
    double t0 = 0, end = 0;
    for (int warm = 0; !st && warm <= a->warmup; warm++) {
        tfm_sampler sampler;
        if ((st = tfm_sampler_init(&sampler, model->config.vocab_size, &sc, (uint64_t)a->seed)) != TFM_OK) break;
        for (int i = 0; !st && i < (warm < a->warmup ? 1 : a->sequences); i++) { /* later sequences continue the random stream */
            out.silent = warm < a->warmup, out.tokens = 0, out.status = TFM_OK;
            t0 = cli_now();
            st = generate_one(a, model, prompt, text, text_len, &sampler, &out);
            end = cli_now();
        }
        tfm_sampler_free(&sampler);
    }
    if (text) tfm_free(text, text_capacity);
    if (!st && a->stats) print_stats(&out, (int)prompt->count, t0, end);
    return st;
}

#define GENERATE_OPTIONS 20 /* the option table's entries, the terminating {0} included */

static void describe_options(cli_option *options, generate_arguments *a) {
    cli_option table[] = {
        {"model", CLI_STRING, &a->model_dir, 0, 0, "model directory (from tfm train or tfm init, or a Hugging Face GPT-2 directory)", 0},
        {"prompt", CLI_STRING, &a->prompt, 0, 0, "text to continue", 0},
        {"prompt-file", CLI_STRING, &a->prompt_file, 0, 0, "read the text to continue from this file (\"-\": standard input)", 0},
        {"no-truncate", CLI_FLAG, &a->no_truncate, 0, 0, "refuse a prompt longer than the context (default: drop its oldest tokens, with a warning)", 0},
        {"max-tokens", CLI_INT, &a->max_tokens, 0, 1e8, "tokens to generate (default 200)", 0},
        {"temperature", CLI_FLOAT, &a->temperature, 0, 100, "sampling temperature; 0 = greedy (default 1)", 0},
        {"top-k", CLI_INT, &a->top_k, 0, 1e9, "sample among the k most likely tokens (0 = all; 1 = greedy)", 0},
        {"top-p", CLI_FLOAT, &a->top_p, 1e-6, 1, "sample from the smallest set with this much probability (default 1)", 0},
        {"min-p", CLI_FLOAT, &a->min_p, 0, 1, "drop tokens less likely than this times the most likely one (default 0 = off)", 0},
        {"repetition-penalty", CLI_FLOAT, &a->repetition_penalty, 1e-6, 100,
         "divide (multiply, when negative) the logits of tokens already in the text by this (default 1 = off)", 0},
        {"stop", CLI_STRINGS, &a->stops, 0, 0, "stop when the text produces this string, not shown (may be given several times)", 0},
        {"num-return-sequences", CLI_INT, &a->sequences, 1, 1000, "how many continuations to print, one after another (default 1)", 0},
        {"seed", CLI_LONG, &a->seed, 0, 9.2e18, "random seed (default 1)", 0},
        {"threads", CLI_INT, &a->threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"no-cache", CLI_FLAG, &a->no_cache, 0, 0, "recompute the whole window per token instead of using the KV cache", 0},
        {"stats", CLI_FLAG, &a->stats, 0, 0, "print a summary line with tokens/s to stderr", 0},
        {"warmup", CLI_INT, &a->warmup, 0, 100, "untimed generations before the one shown (benchmarks: warm caches and memory)", 0},
        {"allow-nonfinite", CLI_FLAG, &a->allow_nonfinite, 0, 0, "load weights holding NaN or infinity (generation then fails at the first non-finite logit)", 0},
        {"help", CLI_FLAG, &a->help, 0, 0, "show this help", 0},
        {0},
    };
    _Static_assert(sizeof table == sizeof(cli_option) * GENERATE_OPTIONS, "GENERATE_OPTIONS is the table's length");
    memcpy(options, table, sizeof table);
}

int cli_generate(int argc, char **argv) {
    generate_arguments a = {.max_tokens = 200, .temperature = 1.0f, .top_p = 1.0f, .repetition_penalty = 1.0f, .seed = 1, .sequences = 1};
    cli_option options[GENERATE_OPTIONS];
    describe_options(options, &a);
    if (!cli_options_parse("generate", options, argc, argv, 1)) return 2;
    if (a.help) {
        cli_options_print_help("usage: tfm generate --model DIR --prompt TEXT|--prompt-file FILE [--max-tokens N] [--temperature T] [--top-k K] "
                               "[--top-p P] [--min-p P] [--repetition-penalty R] [--stop TEXT]...", options);
        return 0;
    }
    if (!a.model_dir || !a.prompt == !a.prompt_file) {
        fprintf(stderr, "tfm generate: needs --model DIR and one of --prompt TEXT or --prompt-file FILE; see tfm generate --help\n");
        return 2;
    }
    cli_set_threads(a.threads);
    tfm_gpt *model = NULL;
    tfm_bpe *tokenizer = NULL;
    tfm_tokens prompt = {0};
    tfm_load_options load = {.allow_nonfinite = a.allow_nonfinite};
    tfm_status st = tfm_gpt_load_with(&model, a.model_dir, &load);
    if (!st) {
        tfm_params_free_gradients(&model->params); /* generation only */
        st = cli_gpt_tokenizer(a.model_dir, model, &tokenizer);
    }
    if (!st) st = encode_prompt(&a, model, tokenizer, &prompt);
    if (!st) st = run(&a, model, tokenizer, &prompt);
    int code = st ? cli_fail("generate") : 0;
    tfm_tokens_free(&prompt);
    tfm_bpe_free(tokenizer);
    tfm_gpt_free(model);
    return code;
}
