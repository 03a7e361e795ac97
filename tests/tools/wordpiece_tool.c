/* wordpiece_tool: the tfm side of the WordPiece reference tests (dumps tfm's answers in the reference scripts' formats).
 *
 *   wordpiece_tool probe [--raw]                      per-code-point table, as wordpiece_unicode_probe.py
 *   wordpiece_tool encode VOCAB FILE [--cased] [--special]   one line of ids per input line
 *   wordpiece_tool pair VOCAB FILE MAX_LENGTH [--special]   input lines "A<TAB>B": ids|type ids|mask per line
 *   wordpiece_tool decode VOCAB FILE                  input lines of ids: decoded text (skip special) per line
 *   wordpiece_tool bench VOCAB FILE                   MB/s of encoding FILE (1 thread, then all threads)
 *   wordpiece_tool train FILE VOCAB_SIZE OUT [--cased] [--special]   train on FILE's lines, write the
 *                                                     pieces (--special: none of the special tokens, as the reference) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tfm/wordpiece.h"
#include "tokenizer/basic_tokenizer.h"
#include "tokenizer/wordpiece_internal.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_list(const int32_t *cps, size_t n) {
    putchar(' ');
    for (size_t i = 0; i < n; i++) printf("%s%x", i ? "," : "", (unsigned)cps[i]);
}

static int probe(int raw) {
    for (int32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        unsigned cls = raw ? tfm_basic_char_class_raw(cp) : tfm_basic_char_class(cp);
        int32_t out[16];
        size_t n = 0;
        printf("%x", (unsigned)cp);
        if (!(cls & TFM_BASIC_REMOVE)) out[n++] = (cls & TFM_BASIC_WHITESPACE) ? 0x20 : cp;
        print_list(out, n);
        n = 0;
        if (cls & TFM_BASIC_CHINESE) out[n++] = 0x20;
        out[n++] = cp;
        if (cls & TFM_BASIC_CHINESE) out[n++] = 0x20;
        print_list(out, n);
        int32_t parts[8];
        size_t parts_n = raw ? tfm_basic_char_decompose_raw(cp, parts, 8) : tfm_basic_char_decompose(cp, parts, 8);
        n = 0;
        for (size_t i = 0; i < parts_n; i++) {
            unsigned pc = raw ? tfm_basic_char_class_raw(parts[i]) : tfm_basic_char_class(parts[i]);
            if (!(pc & TFM_BASIC_MARK)) out[n++] = parts[i];
        }
        print_list(out, n);
        n = raw ? tfm_basic_char_lower_raw(cp, out) : tfm_basic_char_lower(cp, out);
        print_list(out, n);
        printf(" %d\n", (cls & TFM_BASIC_WHITESPACE) ? 2 : (cls & TFM_BASIC_PUNCT) ? 3 : 1);
    }
    return 0;
}

/* Reads a whole file (test inputs only). */
static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: read error\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *size = (size_t)n;
    return buf;
}

static tfm_wordpiece *load(const char *path, int lowercase) {
    tfm_wordpiece *tok;
    if (tfm_wordpiece_load(&tok, path, lowercase) != TFM_OK) {
        fprintf(stderr, "%s\n", tfm_last_error());
        exit(2);
    }
    return tok;
}

static void print_ids(const uint32_t *ids, size_t n, FILE *out) {
    for (size_t i = 0; i < n; i++) fprintf(out, i ? " %u" : "%u", ids[i]);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the comment at the top of wordpiece_tool.c\n");
        return 2;
    }
    int cased = 0, special = 0, raw = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--cased")) cased = 1;
        if (!strcmp(argv[i], "--special")) special = 1;
        if (!strcmp(argv[i], "--raw")) raw = 1;
    }
    if (!strcmp(argv[1], "probe")) return probe(raw);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if (!strcmp(argv[1], "encode") && argc >= 4) {
        tfm_wordpiece *tok = load(argv[2], !cased);
        size_t size;
        char *text = slurp(argv[3], &size);
        tfm_tokens ids = {0};
        size_t start = 0;
        while (start < size) {
            char *nl = memchr(text + start, '\n', size - start);
            size_t end = nl ? (size_t)(nl - text) : size;
            ids.count = 0;
            if (tfm_wordpiece_encode(tok, text + start, end - start, special ? TFM_WORDPIECE_ALLOW_SPECIAL : 0,
                                     &ids) != TFM_OK) {
                fprintf(stderr, "%s\n", tfm_last_error());
                return 1;
            }
            print_ids(ids.ids, ids.count, stdout);
            putchar('\n');
            start = end + 1;
        }
        tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
        free(text);
        tfm_wordpiece_free(tok);
        return 0;
    }
    if (!strcmp(argv[1], "pair") && argc >= 5) {
        tfm_wordpiece *tok = load(argv[2], 1);
        size_t size, max_length = (size_t)atol(argv[4]);
        char *text = slurp(argv[3], &size);
        uint32_t *ids = malloc(max_length * sizeof *ids), *types = malloc(max_length * sizeof *types),
                 *mask = malloc(max_length * sizeof *mask);
        size_t start = 0;
        while (start < size) {
            char *nl = memchr(text + start, '\n', size - start);
            size_t end = nl ? (size_t)(nl - text) : size;
            char *tab = memchr(text + start, '\t', end - start);
            const char *b = tab ? tab + 1 : NULL;
            size_t a_len = tab ? (size_t)(tab - (text + start)) : end - start, b_len = tab ? (size_t)(text + end - b) : 0;
            if (tfm_wordpiece_encode_pair(tok, text + start, a_len, b, b_len,
                                          special ? TFM_WORDPIECE_ALLOW_SPECIAL : 0, max_length, ids, types, mask, NULL) !=
                TFM_OK) {
                fprintf(stderr, "%s\n", tfm_last_error());
                return 1;
            }
            print_ids(ids, max_length, stdout);
            putchar('|');
            print_ids(types, max_length, stdout);
            putchar('|');
            print_ids(mask, max_length, stdout);
            putchar('\n');
            start = end + 1;
        }
        free(ids);
        free(types);
        free(mask);
        free(text);
        tfm_wordpiece_free(tok);
        return 0;
    }
    if (!strcmp(argv[1], "decode") && argc >= 4) {
        tfm_wordpiece *tok = load(argv[2], 1);
        size_t size;
        char *text = slurp(argv[3], &size);
        uint32_t *ids = malloc((size / 2 + 1) * sizeof *ids);
        char *line = strtok(text, "\n");
        char *out = NULL;
        size_t out_len = 0, out_capacity = 0;
        while (line) {
            size_t n = 0;
            for (char *p = line; *p;) {
                char *end;
                unsigned long v = strtoul(p, &end, 10);
                if (end == p) break;
                ids[n++] = (uint32_t)v;
                p = end;
            }
            out_len = 0;
            if (tfm_wordpiece_decode(tok, ids, n, 1, &out, &out_len, &out_capacity) != TFM_OK) {
                fprintf(stderr, "%s\n", tfm_last_error());
                return 1;
            }
            fwrite(out, 1, out_len, stdout);
            putchar('\n');
            line = strtok(NULL, "\n");
        }
        tfm_free(out, out_capacity);
        free(ids);
        free(text);
        tfm_wordpiece_free(tok);
        return 0;
    }
    if (!strcmp(argv[1], "train") && argc >= 5) {
        size_t size;
        char *text = slurp(argv[2], &size);
        tfm_wordpiece_trainer *trainer;
        if (tfm_wordpiece_trainer_create(&trainer, !cased) != TFM_OK) return 1;
        size_t start = 0;
        while (start < size) {
            char *nl = memchr(text + start, '\n', size - start);
            size_t end = nl ? (size_t)(nl - text) : size;
            if (tfm_wordpiece_trainer_add_text(trainer, text + start, end - start) != TFM_OK) return 1;
            start = end + 1;
        }
        tfm_wordpiece_train_options options = {.vocab_size = (size_t)atol(argv[3]), .lowercase = !cased};
        const char *none[1] = {NULL};
        if (special) { /* --special here means: no special tokens at all (the reference's default trainer) */
            options.special_tokens = none;
            options.special_count = 0;
        }
        /* --seed FILE: take the initial pieces (up to the first merged one) from a reference vocabulary. */
        char *seed_text = NULL;
        const char **seed = NULL;
        size_t seed_count = 0;
        for (int i = 5; i + 1 < argc; i++) {
            if (strcmp(argv[i], "--seed")) continue;
            size_t seed_size;
            seed_text = slurp(argv[i + 1], &seed_size);
            seed = malloc((seed_size + 1) * sizeof *seed);
            for (char *line = strtok(seed_text, "\n"); line; line = strtok(NULL, "\n")) {
                const char *core = strncmp(line, "##", 2) == 0 && line[2] ? line + 2 : line;
                size_t at = 0;
                tfm_utf8_decode((const unsigned char *)core, strlen(core), &at);
                if (core[at] != '\0' && core[0] != '[') break; /* the first merged piece */
                seed[seed_count++] = line;
            }
            tfm_wordpiece_trainer_seed(trainer, seed, seed_count);
        }
        if (tfm_wordpiece_trainer_save_pieces(trainer, &options, argv[4]) != TFM_OK) {
            fprintf(stderr, "%s\n", tfm_last_error());
            return 1;
        }
        tfm_wordpiece_trainer_free(trainer);
        free(seed);
        free(seed_text);
        free(text);
        return 0;
    }
    if (!strcmp(argv[1], "bench") && argc >= 4) {
        /* Encode FILE in ~4 KB pieces cut after a newline (as the reference bench does), best of 3 rounds,
         * single-threaded; then the same pieces spread over all OpenMP threads, one handle per thread. */
        tfm_wordpiece *tok = load(argv[2], 1);
        size_t size;
        char *text = slurp(argv[3], &size);
        size_t piece_count = 0, *starts = malloc((size / 4096 + 2) * sizeof *starts);
        for (size_t at = 0; at < size;) {
            starts[piece_count++] = at;
            char *nl = at + 4096 < size ? memchr(text + at + 4096, '\n', size - at - 4096) : NULL;
            at = nl ? (size_t)(nl - text) + 1 : size;
        }
        starts[piece_count] = size;
        tfm_tokens ids = {0};
        double best = 1e30;
        size_t tokens = 0;
        for (int round = 0; round < 3; round++) {
            double t0 = now_seconds();
            tokens = 0;
            for (size_t p = 0; p < piece_count; p++) {
                ids.count = 0;
                tfm_wordpiece_encode(tok, text + starts[p], starts[p + 1] - starts[p], 0, &ids);
                tokens += ids.count;
            }
            double t = now_seconds() - t0;
            if (t < best) best = t;
        }
        int threads = omp_get_max_threads();
        tfm_wordpiece **clones = malloc((size_t)threads * sizeof *clones);
        for (int t = 0; t < threads; t++) tfm_wordpiece_clone(&clones[t], tok);
        double best_parallel = 1e30;
        for (int round = 0; round < 3; round++) {
            double t0 = now_seconds();
#pragma omp parallel
            {
                tfm_tokens local = {0};
                tfm_wordpiece *mine = clones[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 4)
                for (long p = 0; p < (long)piece_count; p++) {
                    local.count = 0;
                    tfm_wordpiece_encode(mine, text + starts[p], starts[p + 1] - starts[p], 0, &local);
                }
                tfm_free(local.ids, local.capacity * sizeof(uint32_t));
            }
            double t = now_seconds() - t0;
            if (t < best_parallel) best_parallel = t;
        }
        printf("{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f, \"mb_per_s\": %.2f, \"threads\": %d, "
               "\"mb_per_s_all_threads\": %.2f}\n", size, tokens, best, size / 1e6 / best, threads,
               size / 1e6 / best_parallel);
        for (int t = 0; t < threads; t++) tfm_wordpiece_free(clones[t]);
        free(clones);
        tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
        free(starts);
        free(text);
        tfm_wordpiece_free(tok);
        return 0;
    }
    fprintf(stderr, "wordpiece_tool: unknown or incomplete command %s\n", argv[1]);
    return 2;
}
