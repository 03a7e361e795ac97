/* cli/tokenizer_command.c: "tfm tokenizer train|encode|decode|info" for byte-level BPE (WordPiece is delegated). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/io.h" /* tfm_file_open_read, tfm_file_check_input */
#include "cli/common.h"
#include "cli/tokenizer_commands.h"
#include "tfm/bpe.h"

/* Weak so that the tool still links while the WordPiece command is absent from the tree. */
int tfm_cli_tokenizer_wordpiece(int argc, char **argv) __attribute__((weak));

#define MAX_LIST 256

typedef struct options {
    const char *verb;
    const char *tokenizer;            /* tokenizer.json */
    const char *gpt2_encoder, *gpt2_merges;
    const char *tiktoken;             /* .tiktoken rank file */
    const char *tiktoken_specials[MAX_LIST]; /* "TEXT=ID" */
    int tiktoken_special_count;
    const char *to_tokenizer, *to_gpt2_encoder, *to_gpt2_merges, *to_tiktoken; /* convert */
    const char *inputs[MAX_LIST];
    int input_count;
    const char *output;
    const char *format;               /* text | uint16 | uint32 */
    int allow_special, skip_special;
    long vocab_size, min_frequency;
    const char *specials[MAX_LIST];
    int special_count;
    const char *tokens[MAX_LIST];     /* info --token */
    int token_count;
    long ids[MAX_LIST];               /* info --id */
    int id_count;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: tfm tokenizer <verb> [--type bpe|wordpiece] [options]\n\n"
            "verbs (byte-level BPE; --type wordpiece for BERT's WordPiece):\n"
            "  encode  TOKENIZER [--input FILE|-] [--output FILE|-] [--format text|uint16|uint32] [--allow-special]\n"
            "  decode  TOKENIZER [--input FILE|-] [--output FILE|-] [--format text|uint16|uint32] [--skip-special]\n"
            "  info    TOKENIZER [--token TEXT]... [--id N]...\n"
            "  train   --input FILE... --output tokenizer.json --vocab-size N [--min-frequency N] [--special TOKEN]...\n"
            "  convert TOKENIZER [--to-tokenizer tokenizer.json] [--to-gpt2-encoder encoder.json --to-gpt2-merges vocab.bpe]\n"
            "          [--to-tiktoken FILE.tiktoken]   (every format gives the same ids)\n\n"
            "TOKENIZER is --tokenizer tokenizer.json (Hugging Face, byte-level BPE),\n"
            "--gpt2-encoder encoder.json --gpt2-merges vocab.bpe (GPT-2's own files; also vocab.json + merges.txt), or\n"
            "--tiktoken FILE.tiktoken (tiktoken's ranks, e.g. gpt2.tiktoken; GPT-2's pre-tokenizer pattern) with\n"
            "--tiktoken-special TEXT=ID for each special token (default <|endoftext|>=50256, as in gpt2, r50k, p50k).\n"
            "Input and output default to stdin/stdout. Text ids are decimal, separated by spaces; uint16/uint32\n"
            "are little-endian binary token files (uint16 fails if an id is above 65535).\n"
            "--allow-special: recognise special tokens such as <|endoftext|> in the text (otherwise plain text).\n");
}

static int fail(const char *what) {
    fprintf(stderr, "tfm tokenizer %s: %s\n", what, tfm_last_error());
    return 1;
}

static int parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->format = "text";
    o->min_frequency = 2;
    o->verb = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "tfm tokenizer: %s needs a value\n", a); return 0; } i++; } while (0)
#define ADD_TO(list, count) do { if (count >= MAX_LIST) { fprintf(stderr, "tfm tokenizer: too many %s\n", a); return 0; } list[count++] = v; } while (0)
        if (!strcmp(a, "--tokenizer")) { NEED_VALUE(); o->tokenizer = v; }
        else if (!strcmp(a, "--gpt2-encoder")) { NEED_VALUE(); o->gpt2_encoder = v; }
        else if (!strcmp(a, "--gpt2-merges")) { NEED_VALUE(); o->gpt2_merges = v; }
        else if (!strcmp(a, "--tiktoken")) { NEED_VALUE(); o->tiktoken = v; }
        else if (!strcmp(a, "--tiktoken-special")) { NEED_VALUE(); ADD_TO(o->tiktoken_specials, o->tiktoken_special_count); }
        else if (!strcmp(a, "--to-tokenizer")) { NEED_VALUE(); o->to_tokenizer = v; }
        else if (!strcmp(a, "--to-gpt2-encoder")) { NEED_VALUE(); o->to_gpt2_encoder = v; }
        else if (!strcmp(a, "--to-gpt2-merges")) { NEED_VALUE(); o->to_gpt2_merges = v; }
        else if (!strcmp(a, "--to-tiktoken")) { NEED_VALUE(); o->to_tiktoken = v; }
        else if (!strcmp(a, "--input")) { NEED_VALUE(); ADD_TO(o->inputs, o->input_count); }
        else if (!strcmp(a, "--output")) { NEED_VALUE(); o->output = v; }
        else if (!strcmp(a, "--format")) {
            NEED_VALUE();
            if (strcmp(v, "text") && strcmp(v, "uint16") && strcmp(v, "uint32")) {
                fprintf(stderr, "tfm tokenizer: --format must be text, uint16 or uint32, not '%s'\n", v);
                return 0;
            }
            o->format = v;
        } else if (!strcmp(a, "--allow-special")) o->allow_special = 1;
        else if (!strcmp(a, "--skip-special")) o->skip_special = 1;
        else if (!strcmp(a, "--vocab-size") || !strcmp(a, "--min-frequency") || !strcmp(a, "--id")) {
            NEED_VALUE();
            long x;
            if (!cli_parse_long(v, !strcmp(a, "--min-frequency") ? 1 : 0, 1L << 24, &x)) {
                fprintf(stderr, "tfm tokenizer: %s: '%s' is not an integer in range\n", a, v);
                return 0;
            }
            if (!strcmp(a, "--vocab-size")) o->vocab_size = x;
            else if (!strcmp(a, "--min-frequency")) o->min_frequency = x;
            else { if (o->id_count >= MAX_LIST) return 0; o->ids[o->id_count++] = x; }
        } else if (!strcmp(a, "--special")) { NEED_VALUE(); ADD_TO(o->specials, o->special_count); }
        else if (!strcmp(a, "--token")) { NEED_VALUE(); ADD_TO(o->tokens, o->token_count); }
        else if (!strcmp(a, "--type")) {
            NEED_VALUE();
            if (strcmp(v, "bpe")) { fprintf(stderr, "tfm tokenizer: unknown --type '%s'\n", v); return 0; }
        } else {
            fprintf(stderr, "tfm tokenizer %s: unknown option '%s'\n\n", o->verb, a);
            usage(stderr);
            return 0;
        }
#undef NEED_VALUE
#undef ADD_TO
    }
    return 1;
}

/* A .tiktoken file with its special tokens ("TEXT=ID" options; GPT-2's <|endoftext|> by default). */
static tfm_status load_tiktoken(const options *o, tfm_bpe **tok) {
    const char *name = strrchr(o->tiktoken, '/') ? strrchr(o->tiktoken, '/') + 1 : o->tiktoken;
    if (strstr(name, "cl100k") || strstr(name, "o200k"))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: cl100k_base and o200k_base split text with another pre-tokenizer "
                         "pattern than GPT-2's, which tfm does not have yet", o->tiktoken);
    tfm_bpe_special_token specials[MAX_LIST];
    static char texts[MAX_LIST][256];
    size_t count = 0;
    if (!o->tiktoken_special_count) specials[count++] = (tfm_bpe_special_token){"<|endoftext|>", 50256};
    for (int i = 0; i < o->tiktoken_special_count; i++) {
        const char *v = o->tiktoken_specials[i], *eq = strrchr(v, '=');
        long id;
        if (!eq || eq == v || (size_t)(eq - v) >= sizeof texts[0] || !cli_parse_long(eq + 1, 0, (1L << 24) - 1, &id))
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "--tiktoken-special '%s': expected TEXT=ID with ID in [0, 2^24)", v);
        memcpy(texts[i], v, (size_t)(eq - v));
        texts[i][eq - v] = '\0';
        specials[count++] = (tfm_bpe_special_token){texts[i], (uint32_t)id};
    }
    return tfm_bpe_load_tiktoken(tok, o->tiktoken, specials, count);
}

static int load_tokenizer(const options *o, tfm_bpe **tok) {
    tfm_status st;
    int hf = o->tokenizer != NULL, gpt2 = o->gpt2_encoder || o->gpt2_merges, tiktoken = o->tiktoken != NULL;
    if (hf + gpt2 + tiktoken == 1 && hf) st = tfm_bpe_load_hf(tok, o->tokenizer);
    else if (hf + gpt2 + tiktoken == 1 && gpt2 && o->gpt2_encoder && o->gpt2_merges)
        st = tfm_bpe_load_gpt2(tok, o->gpt2_encoder, o->gpt2_merges);
    else if (hf + gpt2 + tiktoken == 1 && tiktoken) st = load_tiktoken(o, tok);
    else {
        fprintf(stderr, "tfm tokenizer %s: give one of --tokenizer FILE, both --gpt2-encoder and --gpt2-merges, "
                "or --tiktoken FILE\n", o->verb);
        return 0;
    }
    if (st) { fail(o->verb); return 0; }
    return 1;
}

/* Stream the input through the encoder in chunks: the unconsumed tail of each chunk is kept and
 * encoded with the next one, so memory stays bounded by the chunk size plus the longest piece. */
static int command_encode(const options *o) {
    tfm_bpe *tok;
    if (!load_tokenizer(o, &tok)) return 1;
    cli_files files;
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    if (!cli_files_open(&files, command, o->inputs, o->input_count, o->output)) { tfm_bpe_free(tok); return 1; }
    FILE *in = files.in, *out = files.out;
    size_t chunk = 1 << 20, cap = 2 * chunk, len = 0;
    char *buf = malloc(cap);
    tfm_tokens ids = {0};
    int ok = buf != NULL, first = 1, eof = 0;
    unsigned flags = o->allow_special ? TFM_BPE_ALLOW_SPECIAL : 0, continuation = 0;
    while (ok && !eof) {
        if (cap - len < chunk) {
            char *p = realloc(buf, cap * 2);
            if (!p) { ok = 0; break; }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, in);
        len += n;
        if (n == 0) {
            if (ferror(in)) { fprintf(stderr, "tfm tokenizer encode: read error\n"); ok = 0; break; }
            eof = 1;
        }
        size_t consumed = 0;
        ids.count = 0;
        if (tfm_bpe_encode(tok, buf, len, flags | continuation | (eof ? 0 : TFM_BPE_PARTIAL), &ids, &consumed)) {
            fail("encode");
            ok = 0;
            break;
        }
        if (consumed) continuation = TFM_BPE_CONTINUATION;
        ok = cli_write_ids(out, o->format, ids.ids, ids.count, &first);
        memmove(buf, buf + consumed, len - consumed);
        len -= consumed;
    }
    if (ok && !strcmp(o->format, "text")) fputc('\n', out);
    free(buf);
    tfm_tokens_free(&ids);
    tfm_bpe_free(tok);
    ok = cli_files_close(&files, ok);
    return ok ? 0 : 1;
}

static int command_decode(const options *o) {
    tfm_bpe *tok;
    if (!load_tokenizer(o, &tok)) return 1;
    cli_files files;
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    if (!cli_files_open(&files, command, o->inputs, o->input_count, o->output)) { tfm_bpe_free(tok); return 1; }
    FILE *in = files.in, *out = files.out;
    int ok = 1, text = !strcmp(o->format, "text");
    size_t width = !strcmp(o->format, "uint16") ? 2 : 4;
    uint32_t ids[4096];
    char *bytes = NULL;
    size_t bytes_len = 0, bytes_cap = 0, count = 0, position = 0;
    int c = 0;
    while (ok) {
        count = 0;
        if (text) {
            while (count < 4096 && (c = fgetc(in)) != EOF) {
                if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',') continue;
                if (c < '0' || c > '9') {
                    fprintf(stderr, "tfm tokenizer decode: id %zu: unexpected character '%c' (ids are decimal numbers)\n",
                            position + count, c);
                    ok = 0;
                    break;
                }
                uint64_t v = (uint64_t)(c - '0');
                while ((c = fgetc(in)) != EOF && c >= '0' && c <= '9')
                    if ((v = v * 10 + (uint64_t)(c - '0')) > UINT32_MAX) break;
                if (v > UINT32_MAX) { fprintf(stderr, "tfm tokenizer decode: id %zu is too large\n", position + count); ok = 0; break; }
                ids[count++] = (uint32_t)v;
                if (c != EOF && !(c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',')) {
                    fprintf(stderr, "tfm tokenizer decode: id %zu: unexpected character '%c'\n", position + count, c);
                    ok = 0;
                    break;
                }
            }
        } else {
            unsigned char b[4];
            size_t got;
            while (count < 4096 && (got = fread(b, 1, width, in)) == width)
                ids[count++] = width == 2 ? (uint32_t)(b[0] | b[1] << 8)
                                          : (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            if (count < 4096 && !feof(in) && ferror(in)) { fprintf(stderr, "tfm tokenizer decode: read error\n"); ok = 0; }
            else if (count < 4096 && got != 0 && got != width) {
                fprintf(stderr, "tfm tokenizer decode: input ends inside an id (%zu stray bytes)\n", got);
                ok = 0;
            }
        }
        if (!ok) break;
        bytes_len = 0;
        if (tfm_bpe_decode(tok, ids, count, o->skip_special, &bytes, &bytes_len, &bytes_cap)) {
            fprintf(stderr, "tfm tokenizer decode: near id %zu: %s\n", position, tfm_last_error());
            ok = 0;
            break;
        }
        fwrite(bytes, 1, bytes_len, out);
        position += count;
        if (count < 4096) break;
    }
    tfm_free(bytes, bytes_cap);
    tfm_bpe_free(tok);
    ok = cli_files_close(&files, ok);
    return ok ? 0 : 1;
}

/* Print bytes readably: printable ASCII as is, the rest as \xNN. */
static void print_escaped(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') fputc(c, f);
        else if (c == '\\') fputs("\\\\", f);
        else fprintf(f, "\\x%02x", c);
    }
}

static int command_info(const options *o) {
    tfm_bpe *tok;
    if (!load_tokenizer(o, &tok)) return 1;
    printf("type: byte-level BPE\nvocab_size: %zu\nmerges: %zu\nadded_tokens: %zu\n", tfm_bpe_vocab_size(tok),
           tfm_bpe_merge_count(tok), tfm_bpe_special_count(tok));
    for (size_t i = 0; i < tfm_bpe_special_count(tok); i++) {
        uint32_t id;
        const char *s = tfm_bpe_special(tok, i, &id);
        size_t n;
        tfm_bpe_id_to_token(tok, id, &n);
        printf("  %u ", id);
        print_escaped(stdout, s, n);
        printf("%s\n", tfm_bpe_is_special(tok, id) ? " (special)" : "");
    }
    int ok = 1;
    for (int i = 0; i < o->token_count; i++) {
        int64_t id = tfm_bpe_token_to_id(tok, o->tokens[i], strlen(o->tokens[i]));
        printf("token ");
        print_escaped(stdout, o->tokens[i], strlen(o->tokens[i]));
        if (id >= 0) printf(" -> %" PRId64 "\n", id);
        else { printf(" -> not in the vocabulary\n"); ok = 0; }
    }
    for (int i = 0; i < o->id_count; i++) {
        size_t n;
        const char *s = tfm_bpe_id_to_token(tok, (uint32_t)o->ids[i], &n);
        printf("id %ld -> ", o->ids[i]);
        if (s) { putchar('"'); print_escaped(stdout, s, n); printf("\"\n"); }
        else { printf("not in the vocabulary\n"); ok = 0; }
    }
    tfm_bpe_free(tok);
    return ok ? 0 : 1;
}

static int read_file(const char *path, char **data, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) { fprintf(stderr, "tfm tokenizer train: %s: %s\n", path, strerror(errno)); return 0; }
    if (tfm_file_check_input(f, strcmp(path, "-") ? path : "standard input")) { /* a directory reads as empty */
        fprintf(stderr, "tfm tokenizer train: %s\n", tfm_last_error());
        if (f != stdin) fclose(f);
        return 0;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || err) { free(buf); fprintf(stderr, "tfm tokenizer train: %s: read error\n", path); return 0; }
    *data = buf;
    *len = n;
    return 1;
}

static int command_train(const options *o) {
    if (!o->input_count || !o->output || !o->vocab_size) {
        fprintf(stderr, "tfm tokenizer train: needs --input FILE (one or more), --output FILE and --vocab-size N\n");
        return 2;
    }
    tfm_bpe_trainer *trainer;
    if (tfm_bpe_trainer_create(&trainer)) return fail("train");
    for (int i = 0; i < o->input_count; i++) {
        char *data;
        size_t len;
        if (!read_file(o->inputs[i], &data, &len)) { tfm_bpe_trainer_free(trainer); return 1; }
        tfm_status st = tfm_bpe_trainer_add_text(trainer, data, len);
        free(data);
        if (st) { tfm_bpe_trainer_free(trainer); return fail("train"); }
    }
    tfm_bpe_train_options opt = {(size_t)o->vocab_size, (uint64_t)o->min_frequency, o->specials, (size_t)o->special_count};
    tfm_bpe *tok;
    tfm_status st = tfm_bpe_trainer_finish(trainer, &opt, &tok);
    tfm_bpe_trainer_free(trainer);
    if (st) return fail("train");
    st = tfm_bpe_save_hf(tok, o->output);
    if (!st)
        fprintf(stderr, "tfm tokenizer train: wrote %s: %zu tokens, %zu merges\n", o->output, tfm_bpe_vocab_size(tok),
                tfm_bpe_merge_count(tok));
    tfm_bpe_free(tok);
    return st ? fail("train") : 0;
}

/* Write the loaded tokenizer in every format asked for. */
static int command_convert(const options *o) {
    if (!o->to_tokenizer && !o->to_tiktoken && !o->to_gpt2_encoder && !o->to_gpt2_merges) {
        fprintf(stderr, "tfm tokenizer convert: give --to-tokenizer, --to-tiktoken or --to-gpt2-encoder + --to-gpt2-merges\n");
        return 2;
    }
    if (!o->to_gpt2_encoder != !o->to_gpt2_merges) {
        fprintf(stderr, "tfm tokenizer convert: --to-gpt2-encoder and --to-gpt2-merges go together\n");
        return 2;
    }
    tfm_bpe *tok;
    if (!load_tokenizer(o, &tok)) return 1;
    tfm_status st = TFM_OK;
    if (!st && o->to_tokenizer) st = tfm_bpe_save_hf(tok, o->to_tokenizer);
    if (!st && o->to_gpt2_encoder) st = tfm_bpe_save_gpt2(tok, o->to_gpt2_encoder, o->to_gpt2_merges);
    if (!st && o->to_tiktoken) st = tfm_bpe_save_tiktoken(tok, o->to_tiktoken);
    if (!st)
        fprintf(stderr, "tfm tokenizer convert: %zu tokens, %zu merges written\n", tfm_bpe_vocab_size(tok),
                tfm_bpe_merge_count(tok));
    tfm_bpe_free(tok);
    return st ? fail("convert") : 0;
}

/* 1 (after a message) when an output of the command would replace one of its inputs: the tokenizer files or
 * the text (same file by device and inode). */
static int overwrites_an_input(const options *o) {
    const char *inputs[MAX_LIST + 4];
    int n = 0;
    inputs[n++] = o->tokenizer;
    inputs[n++] = o->gpt2_encoder;
    inputs[n++] = o->gpt2_merges;
    inputs[n++] = o->tiktoken;
    for (int i = 0; i < o->input_count; i++) inputs[n++] = o->inputs[i];
    const char *outputs[] = {o->output, o->to_tokenizer, o->to_gpt2_encoder, o->to_gpt2_merges, o->to_tiktoken};
    const char *names[] = {"--output", "--to-tokenizer", "--to-gpt2-encoder", "--to-gpt2-merges", "--to-tiktoken"};
    char command[64];
    snprintf(command, sizeof command, "tokenizer %s", o->verb);
    for (int i = 0; i < 5; i++)
        if (cli_output_overwrites_input(command, names[i], outputs[i], inputs, n)) return 1;
    return 0;
}

int tfm_cli_tokenizer(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--type") && !strcmp(argv[i + 1], "wordpiece")) {
            if (!tfm_cli_tokenizer_wordpiece) {
                fprintf(stderr, "tfm tokenizer: this build has no WordPiece tokenizer command\n");
                return 1;
            }
            return tfm_cli_tokenizer_wordpiece(argc, argv);
        }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    options o;
    if (!parse_options(argc, argv, &o)) return 2;
    if (overwrites_an_input(&o)) return 1;
    if (!strcmp(o.verb, "encode")) return command_encode(&o);
    if (!strcmp(o.verb, "decode")) return command_decode(&o);
    if (!strcmp(o.verb, "info")) return command_info(&o);
    if (!strcmp(o.verb, "train")) return command_train(&o);
    if (!strcmp(o.verb, "convert")) return command_convert(&o);
    fprintf(stderr, "tfm tokenizer: unknown verb '%s'\n\n", o.verb);
    usage(stderr);
    return 2;
}
