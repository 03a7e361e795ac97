/* cli/bleu_command.c: "tfm bleu": corpus BLEU (and chrF) of a hypothesis file against references, as sacreBLEU prints it. */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "tfm/io.h"
#include "tfm/metrics.h"

#define MAX_REFERENCE_FILES 16

/* A text read whole, cut into lines in place. */
typedef struct text_lines {
    char *data;
    size_t size;      /* bytes read (the buffer has size + 1) */
    char **line;
    size_t count;
} text_lines;

static void lines_free(text_lines *t) {
    tfm_free(t->data, t->size + 1);
    tfm_free(t->line, (t->count ? t->count : 1) * sizeof *t->line);
    memset(t, 0, sizeof *t);
}

/* Lines as Python iterates a file opened with newline="\n": split after each '\n' (which is dropped);
 * a last line without '\n' counts, a final '\n' starts no extra line. '\r' stays part of the line. */
static tfm_status split_lines(text_lines *t, const char *name) {
    /* A NUL inside a line would silently cut it short: refuse binary input. */
    if (memchr(t->data, '\0', t->size)) return tfm_error(TFM_ERR_FORMAT, "%s: contains NUL bytes (not a text file)", name);
    size_t count = 0;
    for (size_t i = 0; i < t->size; i++) count += t->data[i] == '\n';
    if (t->size > 0 && t->data[t->size - 1] != '\n') count++;
    t->line = tfm_malloc((count ? count : 1) * sizeof *t->line);
    if (!t->line) return TFM_ERR_OUT_OF_MEMORY;
    size_t start = 0, n = 0;
    for (size_t i = 0; i < t->size; i++) {
        if (t->data[i] == '\n') {
            t->data[i] = '\0';
            t->line[n++] = t->data + start;
            start = i + 1;
        }
    }
    if (start < t->size) t->line[n++] = t->data + start;
    t->count = n;
    return TFM_OK;
}

static tfm_status read_stdin(text_lines *t) {
    size_t capacity = 1 << 16, size = 0;
    char *data = tfm_malloc(capacity + 1);
    if (!data) return TFM_ERR_OUT_OF_MEMORY;
    for (;;) {
        if (size == capacity) {
            char *grown = tfm_realloc(data, capacity + 1, capacity * 2 + 1);
            if (!grown) { tfm_free(data, capacity + 1); return TFM_ERR_OUT_OF_MEMORY; }
            data = grown;
            capacity *= 2;
        }
        size_t got = fread(data + size, 1, capacity - size, stdin);
        size += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) { tfm_free(data, capacity + 1); return tfm_error(TFM_ERR_IO, "standard input: read error"); }
    /* shrink to exactly size + 1 bytes, the size lines_free passes back */
    char *exact = tfm_realloc(data, capacity + 1, size + 1);
    if (!exact) { tfm_free(data, capacity + 1); return TFM_ERR_OUT_OF_MEMORY; }
    exact[size] = '\0';
    t->data = exact;
    t->size = size;
    return split_lines(t, "standard input");
}

static tfm_status read_lines(const char *path, text_lines *t) {
    memset(t, 0, sizeof *t);
    if (!path || strcmp(path, "-") == 0) return read_stdin(t);
    tfm_status st = tfm_file_read(path, &t->data, &t->size);
    if (st) return st;
    return split_lines(t, path);
}

int cli_bleu(int argc, char **argv) {
    const char *hyp_path = NULL, *tokenize = "13a", *smooth = "exp";
    const char *ref_paths[MAX_REFERENCE_FILES];
    int num_refs = 0, chrf = 0, chrf_only = 0, lowercase = 0, score_only = 0, help = 0, word_order = 0, max_order = 4, signature = 0;
    float smooth_value = -1;
    const char *ref_placeholder = NULL;
    cli_option options[] = {
        {"ref", CLI_STRING, &ref_placeholder, 0, 0, "reference file, one segment per line (repeat for more references)", 0},
        {"hyp", CLI_STRING, &hyp_path, 0, 0, "hypothesis file (default: standard input)", 0},
        {"chrf", CLI_FLAG, &chrf, 0, 0, "also print chrF2 (sacreBLEU's CHRF defaults)", 0},
        {"chrf-only", CLI_FLAG, &chrf_only, 0, 0, "print chrF only", 0},
        {"chrf-word-order", CLI_INT, &word_order, 0, 2, "word n-gram order for chrF (2 = chrF++; default 0)", 0},
        {"tokenize", CLI_STRING, &tokenize, 0, 0, "BLEU tokenizer: 13a (default), none, intl, char", 0},
        {"smooth", CLI_STRING, &smooth, 0, 0, "BLEU smoothing: exp (default), none, floor, add-k", 0},
        {"smooth-value", CLI_FLOAT, &smooth_value, 0, 1e6, "value for floor (default 0.1) and add-k (default 1)", 0},
        {"max-order", CLI_INT, &max_order, 1, TFM_BLEU_MAX_ORDER, "largest BLEU n-gram order (default 4)", 0},
        {"lowercase", CLI_FLAG, &lowercase, 0, 0, "case-insensitive scores", 0},
        {"score-only", CLI_FLAG, &score_only, 0, 0, "print only the numbers", 0},
        {"signature", CLI_FLAG, &signature, 0, 0, "also print sacreBLEU's signature of the BLEU settings", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    /* --ref may repeat: take every occurrence out before the table parser sees the rest. */
    char *rest[256];
    int rest_count = 0;
    if (argc > (int)(sizeof rest / sizeof rest[0])) { fprintf(stderr, "tfm bleu: too many arguments\n"); return 2; }
    rest[rest_count++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        if (strcmp(argv[i], "--ref") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "tfm bleu: --ref needs a file name\n"); return 2; }
            value = argv[++i];
        } else if (strncmp(argv[i], "--ref=", 6) == 0) {
            value = argv[i] + 6;
        } else {
            rest[rest_count++] = argv[i];
            continue;
        }
        if (num_refs == MAX_REFERENCE_FILES) { fprintf(stderr, "tfm bleu: at most %d --ref files\n", MAX_REFERENCE_FILES); return 2; }
        ref_paths[num_refs++] = value;
    }
    if (!cli_options_parse("bleu", options, rest_count, rest, 1)) return 2;
    if (help) {
        cli_options_print_help("usage: tfm bleu --ref REF [--ref REF2 ...] [--hyp HYP] [--chrf]   (hypothesis on standard input by default)\n"
                               "prints sacreBLEU's line, e.g. BLEU = 27.31 58.7/33.2/20.6/13.1 (BP = 0.977 ratio = 0.977 hyp_len = ... ref_len = ...)",
                               options);
        return 0;
    }
    if (num_refs == 0) { fprintf(stderr, "tfm bleu: needs --ref FILE; see tfm bleu --help\n"); return 2; }

    tfm_bleu_options bleu_options;
    tfm_bleu_options_default(&bleu_options);
    bleu_options.lowercase = lowercase;
    bleu_options.max_order = max_order;
    bleu_options.smooth_value = smooth_value;
    if (tfm_bleu_tokenizer_parse(tokenize, &bleu_options.tokenizer) != TFM_OK) return cli_fail("bleu");
    if (tfm_bleu_smoothing_parse(smooth, &bleu_options.smoothing) != TFM_OK) return cli_fail("bleu");
    tfm_chrf_options chrf_options;
    tfm_chrf_options_default(&chrf_options);
    chrf_options.lowercase = lowercase;
    chrf_options.word_order = word_order;

    int exit_code = 1;
    text_lines hyp, refs[MAX_REFERENCE_FILES];
    memset(&hyp, 0, sizeof hyp);
    memset(refs, 0, sizeof refs);
    const char *const *ref_streams[MAX_REFERENCE_FILES];
    if (read_lines(hyp_path, &hyp) != TFM_OK) { cli_fail("bleu"); goto done; }
    for (int r = 0; r < num_refs; r++) {
        if (read_lines(ref_paths[r], &refs[r]) != TFM_OK) { cli_fail("bleu"); goto done; }
        if (refs[r].count != hyp.count) {
            fprintf(stderr, "tfm bleu: %s has %zu lines but the hypothesis (%s) has %zu: they must align line by line\n",
                    ref_paths[r], refs[r].count, hyp_path ? hyp_path : "standard input", hyp.count);
            goto done;
        }
        ref_streams[r] = (const char *const *)refs[r].line;
    }
    if (hyp.count == 0) {
        fprintf(stderr, "tfm bleu: the hypothesis (%s) is empty\n", hyp_path ? hyp_path : "standard input");
        goto done;
    }
    char line[512];
    if (!chrf_only) {
        tfm_bleu_score score;
        if (tfm_bleu_corpus((const char *const *)hyp.line, hyp.count, ref_streams, (size_t)num_refs, &bleu_options, &score) != TFM_OK) {
            cli_fail("bleu");
            goto done;
        }
        if (score_only) printf("%.2f\n", score.score);
        else {
            tfm_bleu_format(&score, line, sizeof line);
            printf("%s\n", line);
        }
        if (signature) {
            /* sacreBLEU reports "var" only when segments have different numbers of non-None references; an
             * empty line of a reference file is a reference ("", length 0), so files always give num_refs. */
            tfm_bleu_signature(&bleu_options, num_refs, line, sizeof line);
            printf("%s\n", line);
        }
    }
    if (chrf || chrf_only) {
        tfm_chrf_score score;
        if (tfm_chrf_corpus((const char *const *)hyp.line, hyp.count, ref_streams, (size_t)num_refs, &chrf_options, &score) != TFM_OK) {
            cli_fail("bleu");
            goto done;
        }
        if (score_only) printf("%.2f\n", score.score);
        else {
            tfm_chrf_format(&score, line, sizeof line);
            printf("%s\n", line);
        }
    }
    exit_code = 0;
done:
    lines_free(&hyp);
    for (int r = 0; r < num_refs; r++) lines_free(&refs[r]);
    return exit_code;
}
