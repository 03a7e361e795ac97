/* tests/test_seq2seq_data.c: parallel-corpus loading, token-count batches, specials and padding, resumable epoch shuffling. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "tfm/bpe.h"
#include "tfm/random.h"
#include "train/seq2seq_data.h"

static const char *words_en[] = {"the", "house", "is", "small", "big", "red", "we", "see", "a", "dog"};
static const char *words_de[] = {"das", "Haus", "ist", "klein", "gross", "rot", "wir", "sehen", "ein", "Hund"};

static void write_corpus(const char *src_path, const char *tgt_path, int lines, int extra_target_line) {
    FILE *s = fopen(src_path, "w"), *t = fopen(tgt_path, "w");
    tfm_rng rng;
    tfm_rng_init(&rng, 3);
    for (int i = 0; i < lines; i++) {
        if (i == 5) { fputs("\n", s); fputs("nur deutsch\n", t); continue; }             /* empty source: skipped */
        if (i == 9) {                                                                     /* far too long: skipped */
            for (int j = 0; j < 80; j++) fputs("house ", s);
            fputs("\n", s);
            fputs("Haus\n", t);
            continue;
        }
        int n = 1 + (int)(tfm_rng_bits(&rng) % 9);
        for (int j = 0; j < n; j++) {
            int w = (int)(tfm_rng_bits(&rng) % 10);
            fprintf(s, "%s%s", j ? " " : "", words_en[w]);
            fprintf(t, "%s%s", j ? " " : "", words_de[w]);
        }
        fputs(i % 7 == 0 ? "\r\n" : "\n", s);
        fputs("\n", t);
    }
    if (extra_target_line) fputs("ein\n", t);
    fclose(s);
    fclose(t);
}

int main(void) {
    char dir[] = "/tmp/tfm_s2s_data_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char src[256], tgt[256], bad[256];
    snprintf(src, sizeof src, "%s/train.en", dir);
    snprintf(tgt, sizeof tgt, "%s/train.de", dir);
    snprintf(bad, sizeof bad, "%s/bad.de", dir);
    enum { LINES = 300 };
    write_corpus(src, tgt, LINES, 0);
    write_corpus(src, bad, LINES, 1);

    /* A joint BPE trained on both sides, with <pad> <s> </s> as ids 0, 1, 2. */
    char *texts[2];
    size_t lengths[2];
    const char *paths[2] = {src, tgt};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "rb");
        fseek(f, 0, SEEK_END);
        lengths[i] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        texts[i] = malloc(lengths[i]);
        if (fread(texts[i], 1, lengths[i], f) != lengths[i]) return 1;
        fclose(f);
    }
    const char *specials[] = {"<pad>", "<s>", "</s>"};
    tfm_bpe_train_options to = {300, 2, specials, 3};
    tfm_bpe *tok = NULL;
    CHECK_OK(tfm_bpe_train(&tok, (const char *const *)texts, lengths, 2, &to));
    free(texts[0]);
    free(texts[1]);
    if (!tok) return test_summary();

    tfm_seq2seq_data_options o = {32, 32, 64, 0, 0, 1, 2};
    tfm_seq2seq_data d;
    CHECK(tfm_seq2seq_data_load(&d, tok, src, bad, &o, 1) == TFM_ERR_FORMAT && strstr(tfm_last_error(), "line-aligned") &&
              strstr(tfm_last_error(), "bad.de"),
          "misaligned files: %s", tfm_last_error());
    CHECK_OK(tfm_seq2seq_data_load(&d, tok, src, tgt, &o, 42));
    CHECK(d.lines == LINES && d.skipped_empty == 1 && d.skipped_long == 1 && d.pairs == LINES - 2,
          "lines %zu pairs %zu skipped %zu empty %zu long", d.lines, d.pairs, d.skipped_empty, d.skipped_long);

    /* A 300-token vocabulary: ids kept in 16 bits, read back as what a 32-bit pool of them gives. */
    CHECK(d.pool16 != NULL && d.pool32 == NULL, "a small vocabulary's ids are kept in 16 bits");
    tfm_seq2seq_data wide = d;
    wide.pool16 = NULL;
    wide.pool32 = malloc(sizeof(int32_t) * (d.pool_count ? d.pool_count : 1));
    for (size_t i = 0; i < d.pool_count; i++) wide.pool32[i] = d.pool16[i];
    int bad_ids = 0;
    for (size_t p = 0; p < d.pairs; p++) {
        int32_t narrow_ids[64], wide_ids[64];
        tfm_seq2seq_data_ids(&d, d.target_start[p], d.target_length[p], narrow_ids);
        tfm_seq2seq_data_ids(&wide, d.target_start[p], d.target_length[p], wide_ids);
        bad_ids += memcmp(narrow_ids, wide_ids, sizeof(int32_t) * (size_t)d.target_length[p]) != 0;
        for (int j = 0; j < d.target_length[p]; j++) bad_ids += narrow_ids[j] < 3 || narrow_ids[j] >= 300;
    }
    CHECK(bad_ids == 0, "%d pairs read back wrong ids", bad_ids);
    free(wide.pool32);

    /* Every batch within budget, every pair exactly once, specials and padding in place, text round-trips. */
    int *seen = calloc(LINES, sizeof(int));
    int bad_budget = 0, bad_layout = 0, bad_text = 0;
    for (size_t i = 0; i < d.batch_count; i++) {
        tfm_seq2seq_data_fill(&d, i);
        const tfm_seq2seq_batch *b = &d.batch;
        if (b->B > 1 && (long)b->B * (b->S > b->T ? b->S : b->T) > o.batch_tokens) bad_budget++;
        CHECK(tfm_seq2seq_data_batch_size(&d, i) == (long)b->B * (b->S > b->T ? b->S : b->T), "batch size accounting");
        for (int r = 0; r < b->B; r++) {
            seen[b->pairs[r]]++;
            int s = b->source_lengths[r], t = b->target_lengths[r];
            const int32_t *sr = b->source + (size_t)r * b->S, *in = b->target_input + (size_t)r * b->T, *out = b->target_output + (size_t)r * b->T;
            if (sr[s - 1] != 2 || in[0] != 1 || out[t - 1] != 2) bad_layout++;
            for (int j = s; j < b->S; j++) bad_layout += sr[j] != 0;
            for (int j = t; j < b->T; j++) bad_layout += in[j] != 0 || out[j] != 0;
            for (int j = 0; j + 1 < t; j++) bad_layout += in[j + 1] != out[j] || out[j] < 3;
            /* The target decodes to the file's line. */
            uint32_t ids[64];
            for (int j = 0; j + 1 < t; j++) ids[j] = (uint32_t)out[j];
            char *bytes = NULL;
            size_t len = 0, cap = 0;
            CHECK_OK(tfm_bpe_decode(tok, ids, (size_t)(t - 1), 0, &bytes, &len, &cap));
            FILE *f = fopen(tgt, "r");
            char line[512];
            for (size_t k = 0; k <= b->pairs[r]; k++)
                if (!fgets(line, sizeof line, f)) line[0] = 0;
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            bad_text += len != strlen(line) || memcmp(bytes, line, len) != 0;
            tfm_free(bytes, cap);
        }
    }
    int once = 1;
    for (int i = 0; i < LINES; i++) once &= (i == 5 || i == 9) ? seen[i] == 0 : seen[i] == 1;
    CHECK(once, "every kept pair is in exactly one batch");
    CHECK(bad_budget == 0, "%d batches over the token budget", bad_budget);
    CHECK(bad_layout == 0, "%d layout errors (EOS/BOS/padding/shift)", bad_layout);
    CHECK(bad_text == 0, "%d targets do not decode to their line", bad_text);
    CHECK(d.batch_count > 10, "several batches: %zu", d.batch_count);

    /* Epochs: each visits every batch once; the order depends only on (seed, epoch); seek resumes exactly. */
    size_t n = d.batch_count;
    size_t *first = malloc(sizeof(size_t) * n), *second = malloc(sizeof(size_t) * n);
    int *count = calloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) { tfm_seq2seq_data_next(&d); first[i] = d.order[d.position - 1]; count[first[i]]++; }
    int perm = 1;
    for (size_t i = 0; i < n; i++) perm &= count[i] == 1;
    CHECK(perm, "an epoch visits every batch once");
    for (size_t i = 0; i < n; i++) { tfm_seq2seq_data_next(&d); second[i] = d.order[d.position - 1]; }
    CHECK(d.epoch == 1 && memcmp(first, second, sizeof(size_t) * n) != 0, "the second epoch is reshuffled");
    int sorted_order = 1;
    for (size_t i = 0; i < n; i++) sorted_order &= first[i] == i;
    CHECK(!sorted_order, "batches are shuffled, not in length order");
    /* Resume in the middle of epoch 1 from (epoch, position). */
    tfm_seq2seq_data_seek(&d, 1, 3);
    tfm_seq2seq_data_next(&d);
    CHECK(d.order[d.position - 1] == second[3], "seek(1, 3) continues with the 4th batch of epoch 1");
    tfm_seq2seq_data other;
    CHECK_OK(tfm_seq2seq_data_load(&other, tok, src, tgt, &o, 42));
    CHECK(other.checksum == d.checksum, "same data, same checksum");
    tfm_seq2seq_data_next(&other);
    CHECK(other.order[0] == first[0], "the order depends only on the seed");
    tfm_seq2seq_data_free(&other);
    o.batch_tokens = 128;
    CHECK_OK(tfm_seq2seq_data_load(&other, tok, src, tgt, &o, 42));
    CHECK(other.batch_count < d.batch_count, "a larger token budget gives fewer batches (%zu vs %zu)", other.batch_count, d.batch_count);
    tfm_seq2seq_data_free(&other);

    free(first);
    free(second);
    free(count);
    free(seen);
    tfm_seq2seq_data_free(&d);
    tfm_bpe_free(tok);
    unlink(src);
    unlink(tgt);
    unlink(bad);
    rmdir(dir);
    return test_summary();
}
