/* cli/translate_command.c: "tfm translate": stdin -> stdout, one output line per input line, beam search / greedy / sampling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "cli/options.h"
#include "cli/translate_commands.h"
#include "tfm/beam_search.h"
#include "tfm/io.h"
#include "tfm/bpe.h"
#include "tfm/seq2seq.h"

/* Input policy (documented in --help):
 *   - every input line gives exactly one output line (with --nbest K > 1: exactly K lines
 *     "<line number>\t<score>\t<translation>", line numbers 1-based, best first);
 *   - an empty or all-whitespace line gives an empty translation (no model call);
 *   - invalid UTF-8 bytes are replaced by U+FFFD before tokenising (stderr notes how many lines);
 *   - a line longer than the model's max_source_length (tokens + EOS) is truncated, with a warning;
 *   - a trailing "\r" is dropped; newlines the model might produce are written as spaces. */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (overlong, surrogate, > U+10FFFF, truncated). */
static int utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Copy text[n] into out (capacity >= 3n) with invalid bytes replaced by U+FFFD; returns the length. */
static size_t utf8_sanitize(const char *text, size_t n, char *out, int *replaced) {
    size_t o = 0;
    *replaced = 0;
    for (size_t i = 0; i < n;) {
        int len = utf8_sequence((const unsigned char *)text + i, n - i);
        if (len == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            *replaced = 1;
        } else {
            memcpy(out + o, text + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
        }
    }
    return o;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

typedef struct input_line {
    int32_t *ids;        /* [length] source tokens without EOS (NULL for an empty line) */
    int length;
    tfm_beam_hypothesis *hyps;   /* results, best first */
    int hyp_count;
} input_line;

static const input_line *sort_lines;
static int compare_by_length(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (sort_lines[x].length != sort_lines[y].length) return sort_lines[x].length < sort_lines[y].length ? -1 : 1;
    return x - y;
}

/* Print a translation on one line: newlines inside become spaces. */
static void write_text(FILE *out, const char *bytes, size_t len) {
    for (size_t i = 0; i < len; i++) fputc(bytes[i] == '\n' || bytes[i] == '\r' ? ' ' : bytes[i], out);
}

int cli_translate(int argc, char **argv) {
    const char *model_dir = NULL;
    int beam = 4, nbest = 1, batch_tokens = 4096, max_sentences = 64, greedy = 0, top_k = 0, threads = 0, help = 0, max_length_b = 10, allow_nonfinite = 0;
    float alpha = 0.6f, power_penalty = -1.0f, temperature = 0.0f, top_p = 1.0f, max_length_a = 1.5f;
    long seed = 0;
    cli_option options[] = {
        {"model", CLI_STRING, &model_dir, 0, 0, "model directory (config.json, model.safetensors, tokenizer.json)", 0},
        {"beam", CLI_INT, &beam, 1, 64, "beam size (default 4; 1 = greedy)", 0},
        {"nbest", CLI_INT, &nbest, 1, 64, "hypotheses per input line, <= beam; > 1 prints \"LINE<TAB>SCORE<TAB>TEXT\" lines", 0},
        {"alpha", CLI_FLOAT, &alpha, 0, 10, "GNMT length penalty: score / ((5 + length) / 6)^alpha (default 0.6)", 0},
        {"length-penalty", CLI_FLOAT, &power_penalty, 0, 10, "instead of --alpha: score / length^X, transformers' and CTranslate2's length_penalty", 0},
        {"max-length-a", CLI_FLOAT, &max_length_a, 0, 100, "at most a * source tokens + b target tokens (default 1.5)", 0},
        {"max-length-b", CLI_INT, &max_length_b, 0, 100000, "(default 10)", 0},
        {"batch-tokens", CLI_INT, &batch_tokens, 1, 1e8, "source tokens per batch (default 4096)", 0},
        {"max-sentences", CLI_INT, &max_sentences, 1, 1e6, "sentences per batch (default 64; the decoder cache holds sentences x beam rows)", 0},
        {"greedy", CLI_FLAG, &greedy, 0, 0, "greedy decoding (same as --beam 1)", 0},
        {"temperature", CLI_FLOAT, &temperature, 0, 100, "sample with this temperature instead of searching (0 = search)", 0},
        {"top-k", CLI_INT, &top_k, 0, 1e7, "sampling: keep the k most likely tokens", 0},
        {"top-p", CLI_FLOAT, &top_p, 0, 1, "sampling: nucleus probability", 0},
        {"seed", CLI_LONG, &seed, 0, 9.2e18, "sampling seed (line i uses seed + i)", 0},
        {"threads", CLI_INT, &threads, 0, 1024, "compute threads (0 = all cores)", 0},
        {"allow-nonfinite", CLI_FLAG, &allow_nonfinite, 0, 0, "load weights holding NaN or infinity (decoding then fails at the first non-finite logit)", 0},
        {"help", CLI_FLAG, &help, 0, 0, "show this help", 0},
        {0},
    };
    if (!cli_options_parse("translate", options, argc, argv, 1)) return 2;
    if (help) {
        cli_options_print_help(
            "usage: tfm translate --model DIR [--beam N] [--nbest K] < input > output\n"
            "Exactly one output line per input line (K lines with --nbest K). Empty input lines give empty output lines;\n"
            "invalid UTF-8 bytes are replaced by U+FFFD; lines longer than the model's max_source_length are truncated\n"
            "with a warning on stderr.",
            options);
        return 0;
    }
    if (!model_dir) {
        fprintf(stderr, "tfm translate: needs --model DIR; see tfm translate --help\n");
        return 2;
    }
    if (greedy) beam = 1;
    int sampling = temperature > 0;
    if (sampling && nbest > 1) {
        fprintf(stderr, "tfm translate: --nbest needs beam search; drop --temperature\n");
        return 2;
    }
    if (!sampling && nbest > beam) {
        fprintf(stderr, "tfm translate: --nbest %d is larger than --beam %d\n", nbest, beam);
        return 2;
    }
    if (!sampling && (cli_options_find(options, "top-k")->seen || cli_options_find(options, "top-p")->seen)) {
        fprintf(stderr, "tfm translate: --top-k / --top-p need --temperature > 0 (sampling)\n");
        return 2;
    }
    cli_set_threads(threads);

    char *tokenizer_path = cli_model_file(model_dir, "tokenizer.json");
    if (!tokenizer_path) {
        fprintf(stderr, "tfm translate: %s: no tokenizer.json; a translation model directory needs the joint BPE tokenizer it was "
                        "trained with (tfm train copies it in)\n", model_dir);
        return 1;
    }
    tfm_bpe *tokenizer = NULL;
    tfm_seq2seq *model = NULL;
    tfm_status st = tfm_bpe_load_hf(&tokenizer, tokenizer_path);
    tfm_free(tokenizer_path, strlen(tokenizer_path) + 1);
    if (st) return cli_fail("translate");
    /* Decoding only: packed weights, no gradient slab. */
    tfm_load_options load = {.allow_nonfinite = allow_nonfinite};
    if (!(st = tfm_seq2seq_load_with(&model, model_dir, &load)) && (st = tfm_seq2seq_prepare_inference(model))) {
        tfm_seq2seq_free(model);
        model = NULL;
    }
    if (st) { tfm_bpe_free(tokenizer); return cli_fail("translate"); }
    const tfm_seq2seq_config *c = &model->config;
    /* A Marian export of a zero-start model keeps Marian's start token as one more, last id, which the model drops. */
    long marian_start = c->zero_start_embedding && (long)tfm_bpe_vocab_size(tokenizer) == c->vocab_size + 1;
    if ((long)tfm_bpe_vocab_size(tokenizer) != c->vocab_size + marian_start) {
        fprintf(stderr, "tfm translate: %s: tokenizer.json has %zu tokens but the model's vocab_size is %d; they must come from the same "
                        "training run\n", model_dir, tfm_bpe_vocab_size(tokenizer), c->vocab_size);
        tfm_seq2seq_free(model);
        tfm_bpe_free(tokenizer);
        return 1;
    }

    size_t size = 0, capacity = 0;
    char *text = cli_read_stream(stdin, &size, &capacity);
    if (!text) { tfm_seq2seq_free(model); tfm_bpe_free(tokenizer); return cli_fail("translate"); }
    size_t count = 0;
    for (size_t i = 0; i < size; i++) count += text[i] == '\n';
    if (size > 0 && text[size - 1] != '\n') count++;
    input_line *lines = tfm_calloc(count ? count : 1, sizeof(input_line));
    int *order = tfm_malloc(sizeof(int) * (count ? count : 1));
    char *clean = NULL;
    size_t clean_capacity = 0;
    tfm_tokens ids = {0};
    int exit_code = 0, truncated = 0, replaced_lines = 0;
    if (!lines || !order) { exit_code = cli_fail("translate"); goto done; }
    /* Tokenise every line. */
    size_t begin = 0;
    for (size_t line = 0; line < count; line++) {
        size_t end = begin;
        while (end < size && text[end] != '\n') end++;
        size_t len = end - begin;
        const char *s = text + begin;
        begin = end + 1;
        if (len > 0 && s[len - 1] == '\r') len--;
        if (is_blank(s, len)) continue;
        if (3 * len > clean_capacity) {
            char *bigger = tfm_realloc(clean, clean_capacity, 3 * len);
            if (!bigger) { exit_code = cli_fail("translate"); goto done; }
            clean = bigger;
            clean_capacity = 3 * len;
        }
        int replaced = 0;
        size_t clean_len = utf8_sanitize(s, len, clean, &replaced);
        replaced_lines += replaced;
        ids.count = 0;
        if ((st = tfm_bpe_encode(tokenizer, clean, clean_len, 0, &ids, NULL))) {
            tfm_error_prefix(st, "line %zu: ", line + 1);
            exit_code = cli_fail("translate");
            goto done;
        }
        int n = (int)ids.count;
        if (n > c->max_source_length - 1) {
            fprintf(stderr, "tfm translate: warning: line %zu has %d tokens; truncated to %d (the model's max_source_length %d, EOS "
                            "included)\n", line + 1, n, c->max_source_length - 1, c->max_source_length);
            n = c->max_source_length - 1;
            truncated++;
        }
        if (n == 0) continue;
        lines[line].ids = tfm_malloc(sizeof(int32_t) * (size_t)n);
        if (!lines[line].ids) { exit_code = cli_fail("translate"); goto done; }
        for (int i = 0; i < n; i++) lines[line].ids[i] = (int32_t)ids.ids[i];
        lines[line].length = n;
    }
    if (replaced_lines) fprintf(stderr, "tfm translate: %d line(s) had invalid UTF-8; those bytes were replaced by U+FFFD\n", replaced_lines);
    /* Batches of similar length (less padding); results go back to their lines, so the order is kept. */
    int todo = 0;
    for (size_t i = 0; i < count; i++)
        if (lines[i].length > 0) order[todo++] = (int)i;
    sort_lines = lines;
    qsort(order, (size_t)todo, sizeof(int), compare_by_length);
    double t0 = cli_now();
    int32_t *source = NULL;
    int *source_lengths = NULL;
    uint64_t *seeds = NULL;
    tfm_beam_result *results = NULL;
    size_t source_capacity = 0;
    int row_capacity = 0;
    tfm_seq2seq_workspace workspace = {0}; /* arena and decoder cache, reused by every batch */
    for (int first = 0; first < todo && !exit_code;) {
        int B = 0, S = 0;
        while (first + B < todo) {
            int s = lines[order[first + B]].length + 1, S2 = s > S ? s : S;
            if (B > 0 && ((long)(B + 1) * S2 > batch_tokens || B + 1 > max_sentences)) break;
            S = S2;
            B++;
        }
        if ((size_t)B * S > source_capacity || B > row_capacity) {
            tfm_free(source, sizeof(int32_t) * source_capacity);
            tfm_free(source_lengths, sizeof(int) * (size_t)row_capacity);
            tfm_free(seeds, sizeof(uint64_t) * (size_t)row_capacity);
            tfm_free(results, sizeof(tfm_beam_result) * (size_t)row_capacity);
            source_capacity = (size_t)B * S > source_capacity ? (size_t)B * S : source_capacity;
            row_capacity = B > row_capacity ? B : row_capacity;
            source = tfm_malloc(sizeof(int32_t) * source_capacity);
            source_lengths = tfm_malloc(sizeof(int) * (size_t)row_capacity);
            seeds = tfm_malloc(sizeof(uint64_t) * (size_t)row_capacity);
            results = tfm_malloc(sizeof(tfm_beam_result) * (size_t)row_capacity);
            if (!source || !source_lengths || !seeds || !results) {
                tfm_free(source, sizeof(int32_t) * source_capacity);
                tfm_free(source_lengths, sizeof(int) * (size_t)row_capacity);
                tfm_free(seeds, sizeof(uint64_t) * (size_t)row_capacity);
                tfm_free(results, sizeof(tfm_beam_result) * (size_t)row_capacity);
                source = NULL, source_lengths = NULL, seeds = NULL, results = NULL;
                source_capacity = 0, row_capacity = 0;
                exit_code = cli_fail("translate");
                break;
            }
        }
        for (int b = 0; b < B; b++) {
            const input_line *l = &lines[order[first + b]];
            int32_t *row = source + (size_t)b * S;
            memcpy(row, l->ids, sizeof(int32_t) * (size_t)l->length);
            row[l->length] = c->eos_id;
            for (int j = l->length + 1; j < S; j++) row[j] = c->pad_id;
            source_lengths[b] = l->length + 1;
            seeds[b] = (uint64_t)seed + (uint64_t)order[first + b];
        }
        if (sampling) {
            tfm_sampler_config sc = {.temperature = temperature, .top_k = top_k, .top_p = top_p};
            st = tfm_seq2seq_sample(model, source, source_lengths, B, S, &sc, seeds, max_length_a, max_length_b, &workspace, results);
        } else {
            tfm_beam_search_options bo = {beam, nbest, power_penalty >= 0 ? power_penalty : alpha,
                                          power_penalty >= 0 ? TFM_LENGTH_PENALTY_POWER : TFM_LENGTH_PENALTY_GNMT, max_length_a, max_length_b,
                                          &workspace};
            st = tfm_beam_search(model, source, source_lengths, B, S, &bo, results);
        }
        if (st) { exit_code = cli_fail("translate"); break; }
        for (int b = 0; b < B; b++) {
            lines[order[first + b]].hyps = results[b].hypotheses;
            lines[order[first + b]].hyp_count = results[b].count;
        }
        first += B;
    }
    tfm_free(source, sizeof(int32_t) * source_capacity);
    tfm_free(source_lengths, sizeof(int) * (size_t)row_capacity);
    tfm_free(seeds, sizeof(uint64_t) * (size_t)row_capacity);
    tfm_free(results, sizeof(tfm_beam_result) * (size_t)row_capacity);
    tfm_seq2seq_workspace_free(&workspace);
    if (exit_code) goto done;
    double seconds = cli_now() - t0;
    /* Output in input order. */
    char *bytes = NULL;
    size_t bytes_len = 0, bytes_capacity = 0;
    uint32_t *hyp_ids = tfm_malloc(sizeof(uint32_t) * (size_t)c->max_target_length);
    if (!hyp_ids) { exit_code = cli_fail("translate"); goto done; }
    for (size_t i = 0; i < count && !exit_code; i++) {
        for (int k = 0; k < nbest; k++) {
            bytes_len = 0;
            float score = 0;
            if (k < lines[i].hyp_count) {
                const tfm_beam_hypothesis *h = &lines[i].hyps[k];
                for (int j = 0; j < h->length; j++) hyp_ids[j] = (uint32_t)h->tokens[j];
                if ((st = tfm_bpe_decode(tokenizer, hyp_ids, (size_t)h->length, 1, &bytes, &bytes_len, &bytes_capacity))) {
                    exit_code = cli_fail("translate");
                    break;
                }
                score = h->score;
            }
            if (nbest > 1) printf("%zu\t%.6f\t", i + 1, score);
            write_text(stdout, bytes, bytes_len);
            fputc('\n', stdout);
        }
    }
    tfm_free(bytes, bytes_capacity);
    tfm_free(hyp_ids, sizeof(uint32_t) * (size_t)c->max_target_length);
    fflush(stdout);
    if (!exit_code)
        fprintf(stderr, "tfm translate: %zu lines (%d translated%s) in %.2fs, %.1f sentences/s\n", count, todo,
                truncated ? ", some truncated" : "", seconds, seconds > 0 ? todo / seconds : 0.0);
done:
    if (lines)
        for (size_t i = 0; i < count; i++) {
            tfm_free(lines[i].ids, sizeof(int32_t) * (size_t)lines[i].length);
            tfm_beam_result r = {lines[i].hyp_count, lines[i].hyps};
            tfm_beam_result_free(&r);
        }
    tfm_free(lines, sizeof(input_line) * (count ? count : 1));
    tfm_free(order, sizeof(int) * (count ? count : 1));
    tfm_free(clean, clean_capacity);
    tfm_tokens_free(&ids);
    tfm_free(text, capacity);
    tfm_seq2seq_free(model);
    tfm_bpe_free(tokenizer);
    return exit_code;
}
