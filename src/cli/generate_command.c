/* cli/generate_command.c: "tfm generate": continue a prompt with a trained GPT, streaming bytes to stdout. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/decode.h"
#include "tfm/io.h" /* tfm_load_options */

typedef struct generate_progress {
    int silent;            /* a warm-up run: nothing is written */
    int interactive;       /* stdout is a terminal: show each token as it comes */
    int tokens;            /* produced so far */
    double first_token_at; /* clock when the first new token arrived (the prompt's forward pass ends there) */
} generate_progress;

static int write_token(int token, void *user_data) {
    generate_progress *progress = user_data;
    if (progress->tokens++ == 0) progress->first_token_at = cli_now();
    if (progress->silent) return 0;
    fputc(token & 0xFF, stdout); /* byte-level vocabulary: a token is a byte */
    if (progress->interactive) fflush(stdout); /* into a file or pipe: buffered, not a system call per byte */
    return 0;
}

int cli_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt = NULL;
    int max_tokens = 200, top_k = 0, threads = 0, stats = 0, no_cache = 0, warmup = 0, help = 0, allow_nonfinite = 0;
    float temperature = 1.0f, top_p = 1.0f;
    long seed = 1;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "checkpoint directory (from tfm train or tfm init)", 0},
        {"prompt", CLI_STRING, &prompt, 0, 0, "text to continue", 0},
        {"max-tokens", CLI_INT, &max_tokens, 0, 1e8, "tokens to generate (default 200)", 0},
        {"temperature", CLI_FLOAT, &temperature, 0, 100, "sampling temperature; 0 = greedy (default 1)", 0},
        {"top-k", CLI_INT, &top_k, 0, 1e9, "sample among the k most likely tokens (0 = all)", 0},
        {"top-p", CLI_FLOAT, &top_p, 1e-6, 1, "sample from the smallest set with this much probability (default 1)", 0},
        {"seed", CLI_LONG, &seed, 0, 9.2e18, "random seed (default 1)", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"no-cache", CLI_FLAG, &no_cache, 0, 0, "recompute the whole window per token instead of using the KV cache", 0},
        {"stats", CLI_FLAG, &stats, 0, 0, "print a summary line with tokens/s to stderr", 0},
        {"warmup", CLI_INT, &warmup, 0, 100, "untimed generations before the one shown (benchmarks: warm caches and memory)", 0},
        {"allow-nonfinite", CLI_FLAG, &allow_nonfinite, 0, 0, "load weights holding NaN or infinity (generation then fails at the first non-finite logit)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("generate", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]", options);
        return 0;
    }
    if (!model_dir || !prompt) {
        fprintf(stderr, "tfm generate: needs --model DIR and --prompt TEXT; see tfm generate --help\n");
        return 2;
    }
    cli_set_threads(threads);
    tfm_gpt *model = NULL;
    tfm_load_options load = {.allow_nonfinite = allow_nonfinite};
    if (tfm_gpt_load_with(&model, model_dir, &load) != TFM_OK) return cli_fail("generate");
    tfm_params_free_gradients(&model->params); /* generation only */
    int n = (int)strlen(prompt);
    int32_t prompt_tokens[4096];
    if (n > model->config.context_length || n > 4096) {
        fprintf(stderr, "tfm generate: the prompt has %d tokens (bytes), longer than the model's context length %d\n", n,
                model->config.context_length);
        tfm_gpt_free(model);
        return 1;
    }
    for (int i = 0; i < n; i++) prompt_tokens[i] = (unsigned char)prompt[i];
    tfm_sampler sampler;
    tfm_sampler_config sc = {.temperature = temperature, .top_k = top_k, .top_p = top_p};
    generate_progress progress;
    tfm_status st = TFM_OK;
    double t0 = 0, end = 0;
    /* Warm-up runs first (same prompt and seed, output discarded), then the run that is shown and timed. */
    for (int run = 0; run <= warmup && !st; run++) {
        if (tfm_sampler_init(&sampler, model->config.vocab_size, &sc, (uint64_t)seed) != TFM_OK) {
            tfm_gpt_free(model);
            return cli_fail("generate");
        }
        progress = (generate_progress){.silent = run < warmup, .interactive = isatty(fileno(stdout))};
        if (run == warmup) fputs(prompt, stdout);
        t0 = cli_now();
        st = tfm_gpt_generate(model, prompt_tokens, n, max_tokens, &sampler, !no_cache, write_token, &progress);
        end = cli_now();
        if (run < warmup && !st) tfm_sampler_free(&sampler);
    }
    double seconds = end - t0;
    fputc('\n', stdout);
    int code = 0;
    if (st) code = cli_fail("generate");
    else if (stats)
    {
        /* Like llama.cpp: the prompt's pass (up to the first new token) and the one-token steps after it, apart. */
        double prompt_seconds = progress.tokens ? progress.first_token_at - t0 : seconds, step_seconds = end - progress.first_token_at;
        fprintf(stderr,
                "summary {\"prompt_tokens\":%d,\"new_tokens\":%d,\"seconds\":%.4f,\"tokens_per_second\":%.1f,"
                "\"prompt_seconds\":%.4f,\"step_tokens_per_second\":%.1f}\n",
                n, progress.tokens, seconds, seconds > 0 ? progress.tokens / seconds : 0, prompt_seconds,
                progress.tokens > 1 && step_seconds > 0 ? (progress.tokens - 1) / step_seconds : 0);
    }
    tfm_sampler_free(&sampler);
    tfm_gpt_free(model);
    return code;
}
