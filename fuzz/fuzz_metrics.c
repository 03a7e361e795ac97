/* fuzz/fuzz_metrics.c: libFuzzer target for BLEU and chrF (tfm/metrics.h) on hypothesis/reference lines: corpus and sentence scores, segment statistics, tokenizers, formatting. */
#include "fuzz_io_common.h"

#include <math.h>

#include "tfm/metrics.h"

/* Input: three option bytes, then text lines ('\n'). Lines come in groups of 1 + R: the hypothesis, then one line
 * per reference stream; a reference line "<null>" is a NULL reference (sacreBLEU's None). An incomplete last group
 * is dropped.
 *   byte 0: bits 0-1 BLEU tokenizer, 2-3 smoothing, 4 lowercase, 5 effective order, 6-7 R - 1
 *   byte 1: bits 0-2 BLEU max_order - 1, 3-5 chrF char_order - 1, 6-7 chrF word_order (3 -> 0)
 *   byte 2: bit 0 chrF lowercase, 1 whitespace, 2 eps_smoothing, 3-4 beta, 5-6 smooth_value (default, 0, 0.5, 3) */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    io_fuzz_install_allocator();
    return 0;
}

static void check_bleu_score(const tfm_bleu_score *s, const tfm_bleu_options *o) {
    IO_FUZZ_REQUIRE(isfinite(s->score) && s->score >= 0, "BLEU is a finite number >= 0");
    /* floor smoothing with a value above 1 can give precisions above 100, as in sacreBLEU */
    int bounded = !(o->smoothing == TFM_BLEU_SMOOTH_FLOOR && o->smooth_value > 1);
    IO_FUZZ_REQUIRE(!bounded || s->score <= 100.0 + 1e-9, "BLEU <= 100");
    IO_FUZZ_REQUIRE(s->brevity_penalty >= 0 && s->brevity_penalty <= 1, "brevity penalty in [0, 1]");
    IO_FUZZ_REQUIRE(s->max_order == o->max_order, "max_order");
    for (int n = 0; n < s->max_order; n++) {
        IO_FUZZ_REQUIRE(s->stats.correct[n] >= 0 && s->stats.correct[n] <= s->stats.total[n], "0 <= correct <= total");
        IO_FUZZ_REQUIRE(isfinite(s->precisions[n]) && s->precisions[n] >= 0 && (!bounded || s->precisions[n] <= 100.0 + 1e-9),
                        "precision in [0, 100]");
    }
    char line[512], tiny[8];
    int n = tfm_bleu_format(s, line, sizeof line);
    IO_FUZZ_REQUIRE(n > 0 && (size_t)n < sizeof line && strncmp(line, "BLEU = ", 7) == 0, "BLEU line");
    IO_FUZZ_REQUIRE(tfm_bleu_format(s, tiny, sizeof tiny) == n && strlen(tiny) == sizeof tiny - 1, "BLEU line, truncated");
}

static void check_chrf_score(const tfm_chrf_score *s, const tfm_chrf_options *o) {
    IO_FUZZ_REQUIRE(isfinite(s->score) && s->score >= 0 && s->score <= 100.0 + 1e-9, "chrF in [0, 100]");
    IO_FUZZ_REQUIRE(s->beta == o->beta && s->char_order == o->char_order && s->word_order == o->word_order, "chrF options");
    for (int k = 0; k < TFM_CHRF_MAX_ORDER + 2; k++)
        IO_FUZZ_REQUIRE(s->counts[k][0] >= 0 && s->counts[k][1] >= 0 && s->counts[k][2] >= 0 && s->counts[k][2] <= s->counts[k][0] &&
                        s->counts[k][2] <= s->counts[k][1], "0 <= matches <= n-grams");
    char line[128];
    int n = tfm_chrf_format(s, line, sizeof line);
    IO_FUZZ_REQUIRE(n > 0 && (size_t)n < sizeof line && strncmp(line, "chrF", 4) == 0, "chrF line");
}

/* A tokenized line is tokens joined by single spaces. */
static void check_tokenize(const char *line, tfm_bleu_tokenizer tokenizer, int lowercase) {
    char *out = NULL;
    tfm_status s = tfm_bleu_tokenize(line, tokenizer, lowercase, &out);
    IO_FUZZ_REQUIRE(s == TFM_OK && out != NULL, "tokenize");
    size_t n = strlen(out);
    IO_FUZZ_REQUIRE(n == 0 || (out[0] != ' ' && out[n - 1] != ' '), "no space at either end");
    IO_FUZZ_REQUIRE(strstr(out, "  ") == NULL, "single spaces between tokens");
    tfm_free(out, n + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    tfm_bleu_options bleu;
    tfm_bleu_options_default(&bleu);
    bleu.tokenizer = (tfm_bleu_tokenizer)(data[0] & 3);
    bleu.smoothing = (tfm_bleu_smoothing)(data[0] >> 2 & 3);
    bleu.lowercase = data[0] >> 4 & 1;
    bleu.effective_order = data[0] >> 5 & 1;
    size_t streams = 1 + (size_t)(data[0] >> 6);
    bleu.max_order = 1 + (data[1] & 7);
    static const double smooth_values[] = {-1, 0, 0.5, 3};
    bleu.smooth_value = smooth_values[data[2] >> 5 & 3];
    tfm_chrf_options chrf;
    tfm_chrf_options_default(&chrf);
    chrf.char_order = 1 + (data[1] >> 3 & 7);
    chrf.word_order = (data[1] >> 6) % 3;
    chrf.lowercase = data[2] & 1;
    chrf.whitespace = data[2] >> 1 & 1;
    chrf.eps_smoothing = data[2] >> 2 & 1;
    chrf.beta = data[2] >> 3 & 3;

    /* Lines, each its own NUL-terminated copy (an embedded NUL ends a line early, as for any C caller). */
    char *text = io_fuzz_text(data + 3, size - 3);
    size_t line_count = 1;
    for (size_t i = 3; i < size; i++) line_count += data[i] == '\n';
    char **lines = calloc(line_count, sizeof *lines);
    IO_FUZZ_REQUIRE(lines != NULL, "allocate");
    size_t n_lines = 0;
    for (char *p = text, *end = text + (size - 3);;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = '\0';
        lines[n_lines++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    size_t count = n_lines / (1 + streams);
    const char **hyps = calloc(count ? count : 1, sizeof *hyps);
    const char ***refs = calloc(streams, sizeof *refs);
    const char **segment_refs = calloc(streams, sizeof *segment_refs);
    IO_FUZZ_REQUIRE(hyps && refs && segment_refs, "allocate");
    for (size_t r = 0; r < streams; r++) {
        refs[r] = calloc(count ? count : 1, sizeof **refs);
        IO_FUZZ_REQUIRE(refs[r] != NULL, "allocate");
    }
    int every_segment_has_a_reference = 1;
    for (size_t i = 0; i < count; i++) {
        hyps[i] = lines[i * (1 + streams)];
        int any = 0;
        for (size_t r = 0; r < streams; r++) {
            const char *line = lines[i * (1 + streams) + 1 + r];
            refs[r][i] = strcmp(line, "<null>") == 0 ? NULL : line;
            any |= refs[r][i] != NULL;
        }
        every_segment_has_a_reference &= any;
    }

    /* Corpus BLEU = BLEU of the summed segment statistics. */
    tfm_bleu_score corpus;
    tfm_status s = tfm_bleu_corpus(hyps, count, (const char *const *const *)refs, streams, &bleu, &corpus);
    IO_FUZZ_REQUIRE((s == TFM_OK) == every_segment_has_a_reference, "corpus BLEU fails exactly when a segment has no reference");
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a BLEU failure says why");
    if (s == TFM_OK) {
        check_bleu_score(&corpus, &bleu);
        tfm_bleu_stats sum;
        memset(&sum, 0, sizeof sum);
        for (size_t i = 0; i < count; i++) {
            for (size_t r = 0; r < streams; r++) segment_refs[r] = refs[r][i];
            tfm_bleu_stats one;
            IO_FUZZ_REQUIRE(tfm_bleu_segment_stats(hyps[i], segment_refs, streams, &bleu, &one) == TFM_OK, "segment statistics");
            sum.hyp_len += one.hyp_len;
            sum.ref_len += one.ref_len;
            for (int n = 0; n < bleu.max_order; n++) {
                sum.correct[n] += one.correct[n];
                sum.total[n] += one.total[n];
            }
            tfm_bleu_score sentence;
            IO_FUZZ_REQUIRE(tfm_bleu_sentence(hyps[i], segment_refs, streams, &bleu, &sentence) == TFM_OK, "sentence BLEU");
            check_bleu_score(&sentence, &bleu);
            tfm_bleu_options sentence_defaults;
            tfm_bleu_options_sentence(&sentence_defaults);
            IO_FUZZ_REQUIRE(tfm_bleu_sentence(hyps[i], segment_refs, streams, NULL, &sentence) == TFM_OK, "sentence BLEU, defaults");
            check_bleu_score(&sentence, &sentence_defaults);
        }
        IO_FUZZ_REQUIRE(memcmp(&sum, &corpus.stats, sizeof sum) == 0, "corpus statistics = sum of segment statistics");
        tfm_bleu_score again;
        tfm_bleu_from_stats(&sum, &bleu, &again);
        IO_FUZZ_REQUIRE(memcmp(&again.score, &corpus.score, sizeof again.score) == 0, "score from summed statistics");
    }
    char signature[160];
    int n = tfm_bleu_signature(&bleu, (int)streams, signature, sizeof signature);
    IO_FUZZ_REQUIRE(n > 0 && (size_t)n < sizeof signature && strncmp(signature, "nrefs:", 6) == 0, "signature");

    /* chrF */
    tfm_chrf_score chrf_corpus;
    s = tfm_chrf_corpus(hyps, count, (const char *const *const *)refs, streams, &chrf, &chrf_corpus);
    IO_FUZZ_REQUIRE((s == TFM_OK) == every_segment_has_a_reference, "chrF fails exactly when a segment has no reference");
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a chrF failure says why");
    if (s == TFM_OK) {
        check_chrf_score(&chrf_corpus, &chrf);
        for (size_t i = 0; i < count; i++) {
            for (size_t r = 0; r < streams; r++) segment_refs[r] = refs[r][i];
            tfm_chrf_score sentence;
            IO_FUZZ_REQUIRE(tfm_chrf_sentence(hyps[i], segment_refs, streams, &chrf, &sentence) == TFM_OK, "sentence chrF");
            check_chrf_score(&sentence, &chrf);
        }
    }

    /* Every line through every tokenizer; the first line also as a tokenizer / smoothing name. */
    for (size_t i = 0; i < n_lines; i++)
        for (int t = 0; t <= TFM_BLEU_TOKENIZE_CHAR; t++) check_tokenize(lines[i], (tfm_bleu_tokenizer)t, (int)((i + (size_t)t) & 1));
    tfm_bleu_tokenizer tokenizer;
    tfm_bleu_smoothing smoothing;
    IO_FUZZ_FAILED_WITH_MESSAGE(tfm_bleu_tokenizer_parse(lines[0], &tokenizer), "tokenizer name");
    IO_FUZZ_FAILED_WITH_MESSAGE(tfm_bleu_smoothing_parse(lines[0], &smoothing), "smoothing name");

    for (size_t r = 0; r < streams; r++) free(refs[r]);
    free(refs);
    free(segment_refs);
    free(hyps);
    free(lines);
    free(text);
    return 0;
}
