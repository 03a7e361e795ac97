/* cli/tokenizer_wordpiece_command.c: "tfm tokenizer train|encode|decode|info --type wordpiece" (BERT WordPiece). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/io.h" /* tfm_file_open_read, tfm_file_check_input */
#include "cli/common.h"
#include "cli/tokenizer_commands.h"
#include "tfm/wordpiece.h"

#define MAX_LIST 256

typedef struct wp_options {
    const char *verb;
    const char *vocab;
    int cased;
    const char *inputs[MAX_LIST];
    int input_count;
    const char *output;
    const char *format; /* text | uint16 | uint32 */
    int lines, allow_special, skip_special;
    long vocab_size, min_frequency, limit_alphabet;
    const char *specials[MAX_LIST];
    int special_count;
    const char *tokens[MAX_LIST];
    int token_count;
    long ids[MAX_LIST];
    int id_count;
} wp_options;

static void wp_usage(FILE *f) {
    fprintf(f,
            "usage: tfm tokenizer <verb> --type wordpiece [options]\n\n"
            "  encode  --vocab vocab.txt [--cased] [--input FILE|-] [--output FILE|-] [--format text|uint16|uint32]\n"
            "          [--lines] [--allow-special]\n"
            "  decode  --vocab vocab.txt [--input FILE|-] [--output FILE|-] [--format text|uint16|uint32] [--lines]\n"
            "          [--skip-special]\n"
            "  info    --vocab vocab.txt [--token TEXT]... [--id N]...\n"
            "  train   --input FILE... --output vocab.txt [--vocab-size N (30000)] [--min-frequency N (2)]\n"
            "          [--limit-alphabet N (1000, 0 = none)] [--special TOKEN]... [--cased]\n\n"
            "BERT's WordPiece, as Hugging Face's BertWordPieceTokenizer: uncased (lower-case + strip accents)\n"
            "unless --cased. Input and output default to stdin/stdout. Text ids are decimal, separated by spaces;\n"
            "uint16/uint32 are little-endian binary token files. --lines: one line of ids per input line (text\n"
            "format); otherwise the whole input is one text, streamed with bounded memory.\n"
            "--allow-special: [CLS], [SEP], [PAD], [UNK], [MASK] written in the text are those tokens.\n"
            "train defaults follow BertWordPieceTokenizer.train; --special defaults to [PAD] [UNK] [CLS] [SEP] [MASK].\n");
}

static int wp_fail(const char *verb) {
    fprintf(stderr, "tfm tokenizer %s: %s\n", verb, tfm_last_error());
    return 1;
}

static int wp_parse(int argc, char **argv, wp_options *o) {
    memset(o, 0, sizeof *o);
    o->verb = argv[1];
    o->format = "text";
    o->vocab_size = 30000;
    o->min_frequency = 2;
    o->limit_alphabet = 1000;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                               \
    do {                                                                           \
        if (!v) {                                                                  \
            fprintf(stderr, "tfm tokenizer %s: %s needs a value\n", o->verb, a);   \
            return 0;                                                              \
        }                                                                          \
        i++;                                                                       \
    } while (0)
#define ADD_TO(list, count)                                                          \
    do {                                                                             \
        if (count >= MAX_LIST) {                                                     \
            fprintf(stderr, "tfm tokenizer %s: too many %s\n", o->verb, a);          \
            return 0;                                                                \
        }                                                                            \
        list[count++] = v;                                                           \
    } while (0)
        if (!strcmp(a, "--type")) {
            NEED_VALUE();
        } else if (!strcmp(a, "--vocab")) {
            NEED_VALUE();
            o->vocab = v;
        } else if (!strcmp(a, "--cased")) {
            o->cased = 1;
        } else if (!strcmp(a, "--input")) {
            NEED_VALUE();
            ADD_TO(o->inputs, o->input_count);
        } else if (!strcmp(a, "--output")) {
            NEED_VALUE();
            o->output = v;
        } else if (!strcmp(a, "--format")) {
            NEED_VALUE();
            if (strcmp(v, "text") && strcmp(v, "uint16") && strcmp(v, "uint32")) {
                fprintf(stderr, "tfm tokenizer %s: --format must be text, uint16 or uint32, not '%s'\n", o->verb, v);
                return 0;
            }
            o->format = v;
        } else if (!strcmp(a, "--lines")) {
            o->lines = 1;
        } else if (!strcmp(a, "--allow-special")) {
            o->allow_special = 1;
        } else if (!strcmp(a, "--skip-special")) {
            o->skip_special = 1;
        } else if (!strcmp(a, "--vocab-size") || !strcmp(a, "--min-frequency") || !strcmp(a, "--limit-alphabet") ||
                   !strcmp(a, "--id")) {
            NEED_VALUE();
            long x;
            if (!cli_parse_long(v, !strcmp(a, "--vocab-size") ? 1 : 0, 1L << 30, &x)) {
                fprintf(stderr, "tfm tokenizer %s: %s: '%s' is not an integer in range\n", o->verb, a, v);
                return 0;
            }
            if (!strcmp(a, "--vocab-size")) o->vocab_size = x;
            else if (!strcmp(a, "--min-frequency")) o->min_frequency = x;
            else if (!strcmp(a, "--limit-alphabet")) o->limit_alphabet = x;
            else {
                if (o->id_count >= MAX_LIST) return 0;
                o->ids[o->id_count++] = x;
            }
        } else if (!strcmp(a, "--special")) {
            NEED_VALUE();
            ADD_TO(o->specials, o->special_count);
        } else if (!strcmp(a, "--token")) {
            NEED_VALUE();
            ADD_TO(o->tokens, o->token_count);
        } else {
            fprintf(stderr, "tfm tokenizer %s: unknown option '%s'\n\n", o->verb, a);
            wp_usage(stderr);
            return 0;
        }
#undef NEED_VALUE
#undef ADD_TO
    }
    if (o->lines && strcmp(o->format, "text")) {
        fprintf(stderr, "tfm tokenizer %s: --lines needs --format text\n", o->verb);
        return 0;
    }
    return 1;
}

static int wp_load(const wp_options *o, tfm_wordpiece **tok) {
    if (!o->vocab) {
        fprintf(stderr, "tfm tokenizer %s: give --vocab vocab.txt\n", o->verb);
        return 0;
    }
    if (tfm_wordpiece_load(tok, o->vocab, !o->cased) != TFM_OK) {
        wp_fail(o->verb);
        return 0;
    }
    return 1;
}

/* Streams the input in 1 MB reads: complete lines (--lines) are encoded whole, anything else goes
 * through tfm_wordpiece_encode_chunk, so memory stays bounded whatever the line lengths. */
static int wp_encode(const wp_options *o) {
    tfm_wordpiece *tok;
    if (!wp_load(o, &tok)) return 1;
    cli_files files;
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    if (!cli_files_open(&files, command, o->inputs, o->input_count, o->output)) {
        tfm_wordpiece_free(tok);
        return 1;
    }
    FILE *in = files.in, *out = files.out;
    const size_t chunk = 1 << 20;
    size_t capacity = 2 * chunk, len = 0;
    char *buf = malloc(capacity);
    tfm_tokens ids = {0};
    unsigned flags = o->allow_special ? TFM_WORDPIECE_ALLOW_SPECIAL : 0;
    int ok = buf != NULL, first = 1, eof = 0, line_open = 0;
    while (ok && !eof) {
        size_t n = fread(buf + len, 1, capacity - len, in);
        len += n;
        if (n == 0) {
            if (ferror(in)) {
                fprintf(stderr, "tfm tokenizer encode: read error\n");
                ok = 0;
                break;
            }
            eof = 1;
        }
        size_t pos = 0;
        if (o->lines) {
            char *nl;
            while (ok && (nl = memchr(buf + pos, '\n', len - pos)) != NULL) {
                size_t end = (size_t)(nl - buf);
                ids.count = 0;
                if (tfm_wordpiece_encode_chunk(tok, buf + pos, end - pos, flags, 1, &ids, NULL) != TFM_OK) {
                    ok = !wp_fail("encode");
                    break;
                }
                ok = cli_write_ids(out, o->format, ids.ids, ids.count, &first);
                fputc('\n', out);
                first = 1;
                line_open = 0;
                pos = end + 1;
            }
        }
        if (!ok) break;
        if (eof || len - pos >= chunk) {
            size_t consumed = 0;
            ids.count = 0;
            if (tfm_wordpiece_encode_chunk(tok, buf + pos, len - pos, flags, eof, &ids, &consumed) != TFM_OK) {
                ok = !wp_fail("encode");
                break;
            }
            ok = cli_write_ids(out, o->format, ids.ids, ids.count, &first);
            if (len - pos > 0) line_open = 1;
            pos += consumed;
        }
        memmove(buf, buf + pos, len - pos);
        len -= pos;
    }
    if (ok && !strcmp(o->format, "text") && (!o->lines || line_open)) fputc('\n', out);
    free(buf);
    tfm_free(ids.ids, ids.capacity * sizeof(uint32_t));
    tfm_wordpiece_free(tok);
    ok = cli_files_close(&files, ok);
    return ok ? 0 : 1;
}

/* Decodes each line (--lines) or the whole input (all ids are read first: decoding joins pieces). */
static int wp_decode(const wp_options *o) {
    tfm_wordpiece *tok;
    if (!wp_load(o, &tok)) return 1;
    cli_files files;
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    if (!cli_files_open(&files, command, o->inputs, o->input_count, o->output)) {
        tfm_wordpiece_free(tok);
        return 1;
    }
    FILE *in = files.in, *out = files.out;
    int ok = 1, text = !strcmp(o->format, "text");
    size_t width = !strcmp(o->format, "uint16") ? 2 : 4, count = 0, capacity = 4096, position = 0;
    uint32_t *ids = malloc(capacity * sizeof *ids);
    char *decoded = NULL;
    size_t decoded_len = 0, decoded_capacity = 0;
    int c = 0, done = 0;
    while (ok && !done && ids) {
        /* Read one line's ids (or everything). */
        count = 0;
        for (;;) {
            uint64_t v = 0;
            if (text) {
                while ((c = fgetc(in)) == ' ' || c == '\t' || c == '\r' || c == ',' || (c == '\n' && !o->lines)) {
                }
                if (c == EOF) {
                    done = 1;
                    break;
                }
                if (c == '\n') break;
                if (c < '0' || c > '9') {
                    fprintf(stderr, "tfm tokenizer decode: id %zu: unexpected character '%c' (ids are decimal numbers)\n",
                            position + count, c);
                    ok = 0;
                    break;
                }
                v = (uint64_t)(c - '0');
                while ((c = fgetc(in)) != EOF && c >= '0' && c <= '9') {
                    v = v * 10 + (uint64_t)(c - '0');
                    if (v > UINT32_MAX) break;
                }
                if (v > UINT32_MAX) {
                    fprintf(stderr, "tfm tokenizer decode: id %zu is too large\n", position + count);
                    ok = 0;
                    break;
                }
                if (c != EOF) ungetc(c, in);
            } else {
                unsigned char b[4];
                size_t got = fread(b, 1, width, in);
                if (got != width) {
                    if (got != 0) {
                        fprintf(stderr, "tfm tokenizer decode: input ends inside an id (%zu stray bytes)\n", got);
                        ok = 0;
                    }
                    done = 1;
                    break;
                }
                v = width == 2 ? (uint64_t)(b[0] | b[1] << 8)
                               : (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
            }
            if (count == capacity) {
                uint32_t *grown = realloc(ids, 2 * capacity * sizeof *ids);
                if (!grown) {
                    fprintf(stderr, "tfm tokenizer decode: out of memory\n");
                    ok = 0;
                    break;
                }
                ids = grown;
                capacity *= 2;
            }
            ids[count++] = (uint32_t)v;
        }
        if (!ok) break;
        if (done && count == 0 && o->lines) break;
        decoded_len = 0;
        if (tfm_wordpiece_decode(tok, ids, count, o->skip_special, &decoded, &decoded_len, &decoded_capacity) != TFM_OK) {
            fprintf(stderr, "tfm tokenizer decode: %s\n", tfm_last_error());
            ok = 0;
            break;
        }
        fwrite(decoded, 1, decoded_len, out);
        fputc('\n', out);
        position += count;
        if (!o->lines) break;
    }
    free(ids);
    tfm_free(decoded, decoded_capacity);
    tfm_wordpiece_free(tok);
    ok = cli_files_close(&files, ok);
    return ok ? 0 : 1;
}

static int wp_info(const wp_options *o) {
    tfm_wordpiece *tok;
    if (!wp_load(o, &tok)) return 1;
    printf("type: WordPiece\nvocab_size: %zu\nlowercase: %s\n", tfm_wordpiece_vocab_size(tok),
           tfm_wordpiece_lowercase(tok) ? "yes (and strip accents)" : "no");
    const char *names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int64_t special_ids[] = {tfm_wordpiece_pad_id(tok), tfm_wordpiece_unk_id(tok), tfm_wordpiece_cls_id(tok),
                             tfm_wordpiece_sep_id(tok), tfm_wordpiece_mask_id(tok)};
    for (int i = 0; i < 5; i++) {
        if (special_ids[i] >= 0) printf("  %s %" PRId64 "\n", names[i], special_ids[i]);
        else printf("  %s missing\n", names[i]);
    }
    int ok = 1;
    for (int i = 0; i < o->token_count; i++) {
        int64_t id = tfm_wordpiece_token_to_id(tok, o->tokens[i], strlen(o->tokens[i]));
        if (id >= 0) {
            printf("token %s -> %" PRId64 "\n", o->tokens[i], id);
        } else {
            printf("token %s -> not in the vocabulary\n", o->tokens[i]);
            ok = 0;
        }
    }
    for (int i = 0; i < o->id_count; i++) {
        size_t n;
        const char *s = tfm_wordpiece_id_to_token(tok, (uint32_t)o->ids[i], &n);
        if (s) {
            printf("id %ld -> \"%.*s\"\n", o->ids[i], (int)n, s);
        } else {
            printf("id %ld -> not in the vocabulary\n", o->ids[i]);
            ok = 0;
        }
    }
    tfm_wordpiece_free(tok);
    return ok ? 0 : 1;
}

/* Feeds each input to the trainer line by line (as the reference's trainer reads files), in 1 MB reads. */
static int wp_train_file(tfm_wordpiece_trainer *trainer, const char *path) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "tfm tokenizer train: %s: %s\n", path, strerror(errno));
        return 0;
    }
    if (tfm_file_check_input(f, strcmp(path, "-") ? path : "standard input")) { /* a directory reads as empty */
        fprintf(stderr, "tfm tokenizer train: %s\n", tfm_last_error());
        if (f != stdin) fclose(f);
        return 0;
    }
    size_t capacity = 1 << 20, len = 0;
    char *buf = malloc(capacity);
    int ok = buf != NULL, eof = 0;
    while (ok && !eof) {
        if (len == capacity) { /* a line longer than the buffer: grow (the trainer needs whole words) */
            char *grown = realloc(buf, capacity * 2);
            if (!grown) {
                ok = 0;
                break;
            }
            buf = grown;
            capacity *= 2;
        }
        size_t n = fread(buf + len, 1, capacity - len, f);
        len += n;
        if (n == 0) eof = 1;
        char *last_nl = NULL;
        for (size_t i = len; i > 0; i--) {
            if (buf[i - 1] == '\n') {
                last_nl = buf + i - 1;
                break;
            }
        }
        size_t cut = eof ? len : last_nl ? (size_t)(last_nl - buf) + 1 : 0;
        if (cut && tfm_wordpiece_trainer_add_text(trainer, buf, cut) != TFM_OK) {
            wp_fail("train");
            ok = 0;
            break;
        }
        memmove(buf, buf + cut, len - cut);
        len -= cut;
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "tfm tokenizer train: %s: read error\n", path);
        ok = 0;
    }
    if (!buf) fprintf(stderr, "tfm tokenizer train: out of memory\n");
    free(buf);
    if (f != stdin) fclose(f);
    return ok;
}

static int wp_train(const wp_options *o) {
    if (!o->input_count || !o->output) {
        fprintf(stderr, "tfm tokenizer train: needs --input FILE (one or more) and --output vocab.txt\n");
        return 2;
    }
    tfm_wordpiece_trainer *trainer;
    if (tfm_wordpiece_trainer_create(&trainer, !o->cased) != TFM_OK) return wp_fail("train");
    for (int i = 0; i < o->input_count; i++) {
        if (!wp_train_file(trainer, o->inputs[i])) {
            tfm_wordpiece_trainer_free(trainer);
            return 1;
        }
    }
    tfm_wordpiece_train_options options = {
        .vocab_size = (size_t)o->vocab_size,
        .min_frequency = (uint64_t)o->min_frequency,
        .special_tokens = o->special_count ? o->specials : NULL,
        .special_count = (size_t)o->special_count,
        .limit_alphabet = (size_t)o->limit_alphabet,
        .lowercase = !o->cased,
    };
    tfm_wordpiece *tok;
    tfm_status status = tfm_wordpiece_trainer_finish(trainer, &options, &tok);
    tfm_wordpiece_trainer_free(trainer);
    if (status != TFM_OK) return wp_fail("train");
    status = tfm_wordpiece_save(tok, o->output);
    if (status == TFM_OK) fprintf(stderr, "tfm tokenizer train: wrote %s: %zu pieces\n", o->output, tfm_wordpiece_vocab_size(tok));
    tfm_wordpiece_free(tok);
    return status == TFM_OK ? 0 : wp_fail("train");
}

/* 1 (after a message) when --output is the vocabulary or one of the --input files (device and inode). */
static int wp_overwrites_an_input(const wp_options *o) {
    const char *inputs[MAX_LIST + 1];
    int n = 0;
    inputs[n++] = o->vocab;
    for (int i = 0; i < o->input_count; i++) inputs[n++] = o->inputs[i];
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    return cli_output_overwrites_input(command, "--output", o->output, inputs, n);
}

int tfm_cli_tokenizer_wordpiece(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        wp_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            wp_usage(stdout);
            return 0;
        }
    }
    wp_options o;
    if (!wp_parse(argc, argv, &o)) return 2;
    if (wp_overwrites_an_input(&o)) return 1;
    if (!strcmp(o.verb, "encode")) return wp_encode(&o);
    if (!strcmp(o.verb, "decode")) return wp_decode(&o);
    if (!strcmp(o.verb, "info")) return wp_info(&o);
    if (!strcmp(o.verb, "train")) return wp_train(&o);
    fprintf(stderr, "tfm tokenizer: unknown verb '%s'\n\n", o.verb);
    wp_usage(stderr);
    return 2;
}
