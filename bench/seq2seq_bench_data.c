/* seq2seq_bench_data: tfm's own data pipeline, exported for the PyTorch side of bench/bench_seq2seq.py.
 *
 *   seq2seq_bench_data batches --config CONFIG.json --data DIR --out DIR [--seed N] [--epochs E]
 *       Loads DIR/train.<src>/train.<tgt> exactly as "tfm train" does (same tokenizer, length limits, length-sorted
 *       buckets, token-count batches, per-epoch shuffle from the seed) and writes to --out:
 *         batches.json      counts, options and special ids
 *         lengths.i32       [pairs, 2] source / target token counts (no specials), in the sorted order
 *         ids.i32           every pair's source ids then target ids, in the sorted order
 *         batch_begin.i64   [batch_count + 1] batch boundaries into the sorted order
 *         order.i64         [E, batch_count] the batches' training order in epochs 0 .. E-1
 *         init/             the initial weights "tfm train --seed N" starts from (model.safetensors, config.json,
 *                           tokenizer.json): tfm_seq2seq_init_weights with the same seed
 *       (all little-endian). Row r of a batch is then: source = ids + EOS, target input = BOS + ids, target output
 *       = ids + EOS, right-padded (tfm_seq2seq_data_fill).
 *   seq2seq_bench_data encode --tokenizer tokenizer.json < lines > id-lines
 *       One line of space-separated ids per input line, tokenised alone as "tfm translate" does (one trailing
 *       "\r" dropped; an all-whitespace line gives an empty line).
 *   seq2seq_bench_data decode --tokenizer tokenizer.json < id-lines > lines
 *       The inverse, as "tfm translate" writes its output: special tokens skipped, newlines inside become spaces.
 */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/file.h"
#include "tfm/bpe.h"
#include "tfm/io.h"
#include "tfm/seq2seq.h"
#include "train/seq2seq_data.h"
#include "tfm/train.h"

static int fail(const char *what) {
    fprintf(stderr, "seq2seq_bench_data: %s: %s\n", what, tfm_last_error());
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: seq2seq_bench_data batches --config FILE --data DIR --out DIR [--seed N] [--epochs E]\n"
                    "       seq2seq_bench_data encode|decode --tokenizer tokenizer.json < in > out\n");
    return 2;
}

static const char *option(int argc, char **argv, const char *name) {
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}

static int write_file(const char *dir, const char *name, const void *data, size_t size) {
    char *path = tfm_file_join(dir, name);
    tfm_status st = path ? tfm_file_write_atomic(path, data, size) : TFM_ERR_OUT_OF_MEMORY;
    if (path) tfm_free(path, strlen(path) + 1);
    return st ? fail(name) : 0;
}

static int copy_file(const char *from, const char *dir, const char *name) {
    char *data = NULL;
    size_t size = 0;
    if (tfm_file_read(from, &data, &size)) return fail(from);
    int rc = write_file(dir, name, data, size);
    tfm_free(data, size + 1);
    return rc;
}

static int batches(int argc, char **argv) {
    const char *config_path = option(argc, argv, "--config"), *data_dir = option(argc, argv, "--data");
    const char *out_dir = option(argc, argv, "--out"), *seed_arg = option(argc, argv, "--seed");
    const char *epochs_arg = option(argc, argv, "--epochs");
    if (!config_path || !data_dir || !out_dir) return usage();
    long epochs = epochs_arg ? atol(epochs_arg) : 20;
    if (epochs < 1) return usage();

    tfm_seq2seq_config mc;
    tfm_train_config train;
    tfm_seq2seq_config_default(&mc);
    if (tfm_seq2seq_config_load(config_path, &mc, &train)) return fail(config_path);
    if (seed_arg) train.seed = strtoull(seed_arg, NULL, 10);
    const tfm_seq2seq_train_config tc = train.seq2seq;
    char *tokenizer_path = tfm_file_join(data_dir, "tokenizer.json");
    tfm_bpe *tokenizer = NULL;
    if (!tokenizer_path || tfm_bpe_load_hf(&tokenizer, tokenizer_path)) return fail("tokenizer");

    /* The options and paths of seq2seq_task.c's load_split("train"), seeded as the task seeds it. */
    tfm_seq2seq_data_options o = {mc.max_source_length, mc.max_target_length, tc.batch_tokens, tc.max_sentences,
                                  mc.pad_id, mc.bos_id, mc.eos_id};
    char source[4096], target[4096];
    snprintf(source, sizeof source, "%s/train.%s", data_dir, tc.source_lang);
    snprintf(target, sizeof target, "%s/train.%s", data_dir, tc.target_lang);
    tfm_seq2seq_data d;
    if (tfm_seq2seq_data_load(&d, tokenizer, source, target, &o, train.seed)) return fail("train data");

    int32_t *lengths = malloc(sizeof(int32_t) * 2 * d.pairs);
    int32_t *ids = malloc(sizeof(int32_t) * (d.pool_count ? d.pool_count : 1));
    int64_t *begin = malloc(sizeof(int64_t) * (d.batch_count + 1));
    int64_t *order = malloc(sizeof(int64_t) * d.batch_count * (size_t)epochs);
    if (!lengths || !ids || !begin || !order) { fprintf(stderr, "seq2seq_bench_data: out of memory\n"); return 1; }
    size_t n = 0;
    for (size_t i = 0; i < d.pairs; i++) {
        size_t p = d.sorted[i];
        lengths[2 * i] = d.source_length[p];
        lengths[2 * i + 1] = d.target_length[p];
        tfm_seq2seq_data_ids(&d, d.source_start[p], d.source_length[p], ids + n);
        n += (size_t)d.source_length[p];
        tfm_seq2seq_data_ids(&d, d.target_start[p], d.target_length[p], ids + n);
        n += (size_t)d.target_length[p];
    }
    for (size_t b = 0; b <= d.batch_count; b++) begin[b] = (int64_t)d.batch_begin[b];
    for (long e = 0; e < epochs; e++) {
        tfm_seq2seq_data_seek(&d, e, 0);
        for (size_t b = 0; b < d.batch_count; b++) order[(size_t)e * d.batch_count + b] = (int64_t)d.order[b];
    }

    if (tfm_file_make_directory(out_dir)) return fail(out_dir);
    char meta[2048];
    int len = snprintf(meta, sizeof meta,
                       "{\"pairs\": %zu, \"lines\": %zu, \"ids\": %zu, \"batch_count\": %zu, \"epochs\": %ld, "
                       "\"skipped_empty\": %zu, \"skipped_long\": %zu, \"checksum\": \"%llu\", \"seed\": \"%llu\", "
                       "\"batch_tokens\": %d, \"max_sentences\": %d, \"pad_id\": %d, \"bos_id\": %d, \"eos_id\": %d}\n",
                       d.pairs, d.lines, n, d.batch_count, epochs, d.skipped_empty, d.skipped_long, (unsigned long long)d.checksum,
                       train.seed, o.batch_tokens, o.max_sentences, o.pad_id, o.bos_id, o.eos_id);
    int rc = write_file(out_dir, "lengths.i32", lengths, sizeof(int32_t) * 2 * d.pairs);
    if (!rc) rc = write_file(out_dir, "ids.i32", ids, sizeof(int32_t) * n);
    if (!rc) rc = write_file(out_dir, "batch_begin.i64", begin, sizeof(int64_t) * (d.batch_count + 1));
    if (!rc) rc = write_file(out_dir, "order.i64", order, sizeof(int64_t) * d.batch_count * (size_t)epochs);
    if (!rc) rc = write_file(out_dir, "batches.json", meta, (size_t)len);

    /* The initial weights: what cli_train_seq2seq creates before its first step. */
    tfm_seq2seq *model = NULL;
    char *init_dir = tfm_file_join(out_dir, "init");
    if (!rc && (!init_dir || tfm_seq2seq_create(&model, &mc))) rc = fail("model");
    if (!rc) {
        tfm_seq2seq_init_weights(model, train.seed);
        if (tfm_seq2seq_save(model, init_dir)) rc = fail(init_dir);
    }
    if (!rc) rc = copy_file(tokenizer_path, init_dir, "tokenizer.json");
    if (!rc) fprintf(stderr, "seq2seq_bench_data: %zu pairs (%zu empty, %zu too long skipped) in %zu batches, %ld epochs -> %s\n",
                     d.pairs, d.skipped_empty, d.skipped_long, d.batch_count, epochs, out_dir);
    tfm_seq2seq_free(model);
    if (init_dir) tfm_free(init_dir, strlen(init_dir) + 1);
    free(lengths);
    free(ids);
    free(begin);
    free(order);
    tfm_seq2seq_data_free(&d);
    tfm_bpe_free(tokenizer);
    tfm_free(tokenizer_path, strlen(tokenizer_path) + 1);
    return rc;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

/* encode (decode = 0) or decode stdin to stdout, line by line. */
static int lines(int argc, char **argv, int decode) {
    const char *tokenizer_path = option(argc, argv, "--tokenizer");
    if (!tokenizer_path) return usage();
    tfm_bpe *tokenizer = NULL;
    if (tfm_bpe_load_hf(&tokenizer, tokenizer_path)) return fail(tokenizer_path);
    char *line = NULL;
    size_t capacity = 0, bytes_capacity = 0, bytes_len = 0, id_capacity = 0;
    ssize_t got;
    tfm_tokens tokens = {0};
    char *bytes = NULL;
    uint32_t *ids = NULL;
    int rc = 0;
    while (!rc && (got = getline(&line, &capacity, stdin)) >= 0) {
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (!decode) {
            tokens.count = 0;
            if (!is_blank(line, len) && tfm_bpe_encode(tokenizer, line, len, 0, &tokens, NULL)) { rc = fail("encode"); break; }
            for (size_t i = 0; i < tokens.count; i++) printf(i ? " %u" : "%u", tokens.ids[i]);
        } else {
            size_t count = 0;
            for (char *s = line, *end; s < line + len; s = end) {
                unsigned long v = strtoul(s, &end, 10);
                if (end == s) break;
                if (count == id_capacity) {
                    id_capacity = id_capacity ? 2 * id_capacity : 256;
                    ids = realloc(ids, sizeof(uint32_t) * id_capacity);
                    if (!ids) { fprintf(stderr, "seq2seq_bench_data: out of memory\n"); return 1; }
                }
                ids[count++] = (uint32_t)v;
            }
            bytes_len = 0;
            if (count && tfm_bpe_decode(tokenizer, ids, count, 1, &bytes, &bytes_len, &bytes_capacity)) { rc = fail("decode"); break; }
            for (size_t i = 0; i < bytes_len; i++) putchar(bytes[i] == '\n' || bytes[i] == '\r' ? ' ' : bytes[i]);
        }
        putchar('\n');
    }
    free(line);
    free(ids);
    tfm_free(bytes, bytes_capacity);
    tfm_tokens_free(&tokens);
    tfm_bpe_free(tokenizer);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    if (strcmp(argv[1], "batches") == 0) return batches(argc, argv);
    if (strcmp(argv[1], "encode") == 0) return lines(argc, argv, 0);
    if (strcmp(argv[1], "decode") == 0) return lines(argc, argv, 1);
    return usage();
}
