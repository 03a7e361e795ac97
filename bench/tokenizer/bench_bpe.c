/* bench/tokenizer/bench_bpe.c: single-threaded GPT-2 BPE encoding speed of tfm on a text file (built and run by run.sh).
 *   bench_bpe --tiktoken GPT2_TIKTOKEN TEXT [REPEAT]     tiktoken's rank file (.venv/assets/gpt2.tiktoken), with
 *                                                       <|endoftext|> = 50256 as tiktoken's gpt2 encoding has it
 *   bench_bpe ENCODER_JSON VOCAB_BPE TEXT [REPEAT]       GPT-2's own files (tfm tokenizer convert writes them)
 * Prints one JSON line: bytes, tokens, MB/s with a fresh tokenizer each run (cold word cache, best of
 * REPEAT) and with a warm cache. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tfm/bpe.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_bpe --tiktoken GPT2_TIKTOKEN TEXT [REPEAT]\n"
                        "       bench_bpe ENCODER_JSON VOCAB_BPE TEXT [REPEAT]\n");
        return 2;
    }
    int repeat = argc > 4 ? atoi(argv[4]) : 3;
    if (repeat < 1) repeat = 1;
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) { fprintf(stderr, "read failed\n"); return 1; }
    fclose(f);
    tfm_bpe *base;
    tfm_status status;
    if (!strcmp(argv[1], "--tiktoken")) {
        const tfm_bpe_special_token specials[] = {{"<|endoftext|>", 50256}};
        status = tfm_bpe_load_tiktoken(&base, argv[2], specials, 1);
    } else {
        status = tfm_bpe_load_gpt2(&base, argv[1], argv[2]);
    }
    if (status) { fprintf(stderr, "%s\n", tfm_last_error()); return 1; }
    tfm_tokens ids = {0};
    double best_cold = 1e30, best_warm = 1e30;
    for (int r = 0; r < repeat; r++) {
        tfm_bpe *tok;
        if (tfm_bpe_clone(&tok, base)) { fprintf(stderr, "%s\n", tfm_last_error()); return 1; }
        ids.count = 0;
        double t0 = now();
        if (tfm_bpe_encode(tok, text, (size_t)size, 0, &ids, NULL)) { fprintf(stderr, "%s\n", tfm_last_error()); return 1; }
        double t1 = now();
        ids.count = 0;
        tfm_bpe_encode(tok, text, (size_t)size, 0, &ids, NULL);
        double t2 = now();
        if (t1 - t0 < best_cold) best_cold = t1 - t0;
        if (t2 - t1 < best_warm) best_warm = t2 - t1;
        tfm_bpe_free(tok);
    }
    printf("{\"bytes\": %ld, \"tokens\": %zu, \"mb_per_s\": %.2f, \"mb_per_s_warm\": %.2f}\n", size, ids.count,
           (double)size / 1e6 / best_cold, (double)size / 1e6 / best_warm);
    tfm_tokens_free(&ids);
    tfm_bpe_free(base);
    free(text);
    return 0;
}
