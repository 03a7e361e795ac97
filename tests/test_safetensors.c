/* tests/test_safetensors.c: safetensors round trips (transposed entries, metadata), every malformed-file case, atomic-write failures.
 * Also a fixture tool for tests/test_safetensors_python.py: --write-fixture PATH, --check-python PATH. */
#define _POSIX_C_SOURCE 200809L
#include "io/file.h"
#include "tfm/io.h"

#include "test_util.h"

#include <dirent.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define TMP_DIR "test_safetensors_tmp"

/* A string literal's bytes without the terminating NUL. */
#define LITERAL(s) s, sizeof(s) - 1

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* A hand-made safetensors file: 8-byte length, the header (space-padded to 8 if pad), then `data`. */
static void write_raw(const char *path, const char *header, const void *data, size_t data_size, int pad) {
    size_t h = strlen(header), padded = pad ? (h + 7) / 8 * 8 : h;
    size_t total = 8 + padded + data_size;
    unsigned char *buf = calloc(1, total);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    memcpy(buf + 8, header, h);
    memset(buf + 8 + h, ' ', padded - h);
    if (data_size) memcpy(buf + 8 + padded, data, data_size);
    write_bytes(path, buf, total);
    free(buf);
}

/* Exactly representable test values, identical in C and numpy. */
static float fixture_value(int i, int k) { return (float)((i * 7 + k * 13) % 101 - 50) * 0.125f; }

static int files_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = tfm_file_read(a, &x, &nx) == TFM_OK && tfm_file_read(b, &y, &ny) == TFM_OK && nx == ny && memcmp(x, y, nx) == 0;
    if (x) tfm_free(x, nx + 1);
    if (y) tfm_free(y, ny + 1);
    return same;
}

/* No "<name>.tmp.<pid>" files may survive a failed write. */
static int temporaries_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* ---- A small "model": three parameters, one stored transposed (Conv1D layout). ---- */

typedef struct toy_model {
    tfm_params params;
    tfm_tensor wte, c_attn, bias;
} toy_model;

static void toy_init(toy_model *m, const char *prefix, int rows, int cols) {
    char name[128];
    tfm_params_init(&m->params);
    snprintf(name, sizeof name, "%swte.weight", prefix);
    CHECK_OK(tfm_params_declare(&m->params, name, 2, (int[]){5, 3}, &m->wte, 1));
    snprintf(name, sizeof name, "%sh.0.attn.c_attn.weight", prefix);
    CHECK_OK(tfm_params_declare(&m->params, name, 2, (int[]){rows, cols}, &m->c_attn, 1));
    tfm_params_find(&m->params, name)->stored_transposed = 1;
    snprintf(name, sizeof name, "%sh.0.attn.c_attn.bias", prefix);
    CHECK_OK(tfm_params_declare(&m->params, name, 1, (int[]){rows}, &m->bias, 0));
    CHECK_OK(tfm_params_allocate(&m->params));
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] = fixture_value((int)i, 1) + (float)i * 1e-3f;
}

static void test_round_trip(void) {
    toy_model a, b;
    toy_init(&a, "transformer.", 6, 4);
    toy_init(&b, "transformer.", 6, 4);
    memset(b.params.data, 0, sizeof(float) * b.params.total);
    const char *path = TMP_DIR "/model.safetensors";
    CHECK_OK(tfm_safetensors_save_params(path, &a.params, (const char *[]){"step", "7", "note", "hello \"world\"", NULL}));
    CHECK_OK(tfm_safetensors_load_params(path, &b.params));
    /* Bit-exact, and only the tensors' own floats (alignment padding stays zero). */
    for (int i = 0; i < a.params.count; i++) {
        const tfm_param *p = &a.params.entries[i];
        CHECK(memcmp(a.params.data + p->offset, b.params.data + p->offset, p->size * sizeof(float)) == 0, "%s bit-exact", p->name);
    }
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(path, &f));
    if (f) {
        CHECK(tfm_safetensors_count(f) == 3, "three tensors");
        const tfm_safetensors_tensor *t = tfm_safetensors_find(f, "transformer.h.0.attn.c_attn.weight");
        CHECK(t && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 6 && t->dtype == TFM_DTYPE_F32,
              "Conv1D weight stored as [in, out] = [4, 6]");
        /* Read it untransposed: the file's [4, 6] is the transpose of memory [6, 4]. */
        float stored[24];
        CHECK_OK(tfm_safetensors_read_f32(f, "transformer.h.0.attn.c_attn.weight", 2, (int[]){4, 6}, 0, stored));
        int transposed_ok = 1;
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 4; c++) transposed_ok &= stored[c * 6 + r] == a.c_attn.data[r * 4 + c];
        CHECK(transposed_ok, "on-disk data is the transpose");
        const char *format = tfm_safetensors_metadata(f, "format"), *step = tfm_safetensors_metadata(f, "step");
        const char *note = tfm_safetensors_metadata(f, "note");
        CHECK(format && strcmp(format, "pt") == 0, "format pt added");
        CHECK(step && strcmp(step, "7") == 0, "step metadata");
        CHECK(note && strcmp(note, "hello \"world\"") == 0, "metadata with quotes");
        CHECK(tfm_safetensors_metadata(f, "absent") == NULL, "absent metadata");
        CHECK(tfm_safetensors_find(f, "nope") == NULL, "find of an absent name");
        tfm_safetensors_close(f);
    }
    /* Layout: header length a multiple of 8, header starts with '{' and is space padded. */
    char *raw = NULL;
    size_t n = 0;
    CHECK_OK(tfm_file_read(path, &raw, &n));
    if (raw) {
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = (h << 8) | (unsigned char)raw[i];
        CHECK(h % 8 == 0 && raw[8] == '{' && n == 8 + h + sizeof(float) * (5 * 3 + 6 * 4 + 6), "layout: header %llu, file %zu",
              (unsigned long long)h, n);
        tfm_free(raw, n + 1);
    }
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

static void test_named_arrays(void) {
    const char *path = TMP_DIR "/arrays.safetensors";
    float big[300 * 70];
    for (int i = 0; i < 300 * 70; i++) big[i] = fixture_value(i, 2);
    float scalar = 3.25f;
    tfm_safetensors_entry entries[] = {
        {.name = "m.exp_avg", .data = big, .ndim = 2, .shape = {300, 70}, .transpose = 1},
        {.name = "zeros", .data = NULL, .ndim = 3, .shape = {2, 3, 4}},
        {.name = "scalar", .data = &scalar, .ndim = 0},
        {.name = "empty", .data = NULL, .ndim = 1, .shape = {0}},
    };
    CHECK_OK(tfm_safetensors_write(path, entries, 4, NULL));
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(path, &f));
    if (!f) return;
    static float back[300 * 70];
    CHECK_OK(tfm_safetensors_read_f32(f, "m.exp_avg", 2, (int[]){300, 70}, 1, back));
    CHECK(memcmp(back, big, sizeof big) == 0, "blocked transpose round trip (300 x 70)");
    float z[24];
    memset(z, 0xff, sizeof z);
    CHECK_OK(tfm_safetensors_read_f32(f, "zeros", 3, (int[]){2, 3, 4}, 0, z));
    int all_zero = 1;
    for (int i = 0; i < 24; i++) all_zero &= z[i] == 0.0f;
    CHECK(all_zero, "NULL data writes zeros");
    float s = 0;
    CHECK_OK(tfm_safetensors_read_f32(f, "scalar", 0, NULL, 0, &s));
    CHECK(s == 3.25f, "scalar");
    const tfm_safetensors_tensor *e = tfm_safetensors_find(f, "empty");
    CHECK(e && e->elements == 0 && e->data_begin == e->data_end, "empty tensor");
    CHECK(tfm_safetensors_metadata(f, "format") == NULL, "no metadata when none given");
    EXPECT_ERROR(tfm_safetensors_read_f32(f, "zeros", 2, (int[]){6, 4}, 0, z), TFM_ERR_FORMAT,
                 "arrays.safetensors: tensor \"zeros\": shape mismatch: the file has [2, 3, 4], the model expects [6, 4]");
    EXPECT_ERROR(tfm_safetensors_read_f32(f, "absent", 1, (int[]){1}, 0, z), TFM_ERR_FORMAT, "missing tensor \"absent\"");
    tfm_safetensors_close(f);
    /* Bad entries are refused before anything is written. */
    tfm_safetensors_entry twice[] = {{.name = "a", .ndim = 1, .shape = {1}}, {.name = "a", .ndim = 1, .shape = {1}}};
    EXPECT_ERROR(tfm_safetensors_write(TMP_DIR "/twice.safetensors", twice, 2, NULL), TFM_ERR_INVALID_ARGUMENT, "\"a\" appears twice");
    tfm_safetensors_entry reserved[] = {{.name = "__metadata__", .ndim = 1, .shape = {1}}};
    EXPECT_ERROR(tfm_safetensors_write(TMP_DIR "/reserved.safetensors", reserved, 1, NULL), TFM_ERR_INVALID_ARGUMENT, "reserved");
    CHECK(!tfm_file_exists(TMP_DIR "/twice.safetensors"), "nothing written for bad entries");
}

static void test_dtypes(void) {
    const char *path = TMP_DIR "/dtypes.safetensors";
    /* F16: 1.5, -2, 65504, 2^-24 (subnormal), +inf; BF16: 1, -3.5, 0.15625, 256 */
    unsigned char data[10 + 8 + 16 + 8];
    uint16_t half[5] = {0x3e00, 0xc000, 0x7bff, 0x0001, 0x7c00};
    uint16_t bf[4] = {0x3f80, 0xc060, 0x3e20, 0x4380};
    int64_t ids[2] = {7, -1};
    double f64 = 0.5;
    memcpy(data, half, 10);
    memcpy(data + 10, bf, 8);
    memcpy(data + 18, ids, 16);
    memcpy(data + 34, &f64, 8);
    write_raw(path,
              "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[10,18]},"
              "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[18,34]},"
              "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[34,42]}}",
              data, sizeof data, 1);
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(path, &f));
    if (!f) return;
    float h[5], b[4], x[2];
    CHECK_OK(tfm_safetensors_read_f32(f, "h", 1, (int[]){5}, 0, h));
    CHECK(h[0] == 1.5f && h[1] == -2.0f && h[2] == 65504.0f && h[3] == 0x1p-24f && isinf(h[4]) && h[4] > 0,
          "F16 decoding: %g %g %g %g %g", h[0], h[1], h[2], h[3], h[4]);
    CHECK_OK(tfm_safetensors_read_f32(f, "b", 2, (int[]){2, 2}, 0, b));
    CHECK(b[0] == 1.0f && b[1] == -3.5f && b[2] == 0.15625f && b[3] == 256.0f, "BF16 decoding");
    EXPECT_ERROR(tfm_safetensors_read_f32(f, "ids", 1, (int[]){2}, 0, x), TFM_ERR_UNSUPPORTED,
                 "dtypes.safetensors: tensor \"ids\": unsupported dtype I64");
    EXPECT_ERROR(tfm_safetensors_read_f32(f, "d", 0, NULL, 0, x), TFM_ERR_UNSUPPORTED, "tensor \"d\": unsupported dtype F64");
    CHECK(strcmp(tfm_safetensors_find(f, "ids")->dtype_name, "I64") == 0, "dtype name kept");
    int32_t ids_back[2] = {0, 0};
    CHECK_OK(tfm_safetensors_read_i32(f, "ids", 1, (int[]){2}, ids_back));
    CHECK(ids_back[0] == 7 && ids_back[1] == -1, "I64 read as int32");
    EXPECT_ERROR(tfm_safetensors_read_i32(f, "h", 1, (int[]){5}, ids_back), TFM_ERR_UNSUPPORTED,
                 "tensor \"h\": dtype F16 is not an integer type");
    EXPECT_ERROR(tfm_safetensors_read_i32(f, "ids", 1, (int[]){3}, ids_back), TFM_ERR_FORMAT, "shape mismatch");
    const unsigned char *raw = tfm_safetensors_raw(f, tfm_safetensors_find(f, "b"));
    CHECK(raw[0] == 0x80 && raw[1] == 0x3f, "raw bytes of the BF16 tensor");
    CHECK(tfm_dtype_size(TFM_DTYPE_BF16) == 2 && strcmp(tfm_dtype_name(TFM_DTYPE_F8_E4M3), "F8_E4M3") == 0, "dtype table");
    tfm_safetensors_close(f);
    /* Token ids beyond int32 are refused, not wrapped. */
    int64_t wide[2] = {3, (int64_t)1 << 40};
    write_raw(TMP_DIR "/wide.safetensors", "{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", wide, 16, 1);
    CHECK_OK(tfm_safetensors_open(TMP_DIR "/wide.safetensors", &f));
    if (f) {
        int32_t w[2];
        EXPECT_ERROR(tfm_safetensors_read_i32(f, "w", 1, (int[]){2}, w), TFM_ERR_FORMAT,
                     "wide.safetensors: tensor \"w\": element 1 does not fit in 32 bits");
        tfm_safetensors_close(f);
    }
}

/* Open must fail with `want` and a message naming the file. */
static void expect_open_error(int line, const char *path, tfm_status want, const char *part) {
    tfm_safetensors *f = NULL;
    tfm_status s = tfm_safetensors_open(path, &f);
    test_expect_error_at(line, s, want, path, part, (const char *)NULL);
    CHECK(f == NULL, "line %d: no handle on failure", line);
    if (f) tfm_safetensors_close(f);
}
#define EXPECT_OPEN_ERROR(path, want, part) expect_open_error(__LINE__, path, want, part)

static void test_bad_files(void) {
    char path[256];
    float four[4] = {1, 2, 3, 4};
    EXPECT_OPEN_ERROR(TMP_DIR "/absent.safetensors", TFM_ERR_IO, "cannot open " TMP_DIR "/absent.safetensors: No such file or directory");
    EXPECT_OPEN_ERROR(TMP_DIR, TFM_ERR_IO, "it is a directory");
#define BAD(name) (snprintf(path, sizeof path, TMP_DIR "/" name), path)
    write_bytes(BAD("empty.safetensors"), LITERAL(""));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: only 0 bytes long");
    write_bytes(BAD("short.safetensors"), LITERAL("\x10\0\0"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: only 3 bytes long");
    write_bytes(BAD("text.safetensors"), LITERAL("hello, this is a README\nsecond line\n"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: it looks like text: \"hello, this is a README\"");
    write_bytes(BAD("json.safetensors"), LITERAL("{\"model_type\": \"gpt2\"}\n"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: it looks like JSON text");
    write_bytes(BAD("pytorch.bin"), LITERAL("PK\x03\x04\x14\0\0\0\0\0archive/data.pkl"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: it is a zip archive (a PyTorch .bin/.pt checkpoint?)");
    write_bytes(BAD("legacy.pt"), LITERAL("\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01."));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "it is a Python pickle");
    const char *lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 548105171\n";
    write_bytes(BAD("lfs.safetensors"), lfs, strlen(lfs));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "it is a Git LFS pointer");
    write_bytes(BAD("gguf.safetensors"), LITERAL("GGUF\x03\0\0\0\0\0\0\0\0\0\0\0"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "GGUF");
    write_bytes(BAD("binary.safetensors"), LITERAL("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "is absurd (more than 100 MB)");
    write_bytes(BAD("zero.safetensors"), LITERAL("\0\0\0\0\0\0\0\0{}"));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "header length 0 is zero");
    /* Length field larger than the file. */
    write_bytes(BAD("cut_header.safetensors"), LITERAL("\xe8\x03\0\0\0\0\0\0{\"a\":{\"dtype\""));
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "truncated: the header length says 1000 bytes but only 13 follow");
    write_raw(BAD("notjson.safetensors"), "{\"a\": {\"dtype\": F32}}", NULL, 0, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "safetensors header: invalid JSON at line 1, column 17: unexpected 'F32}}");
    write_raw(BAD("array.safetensors"), "[1, 2, 3]", NULL, 0, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "not a safetensors file: the header does not start with '{'");
    /* Data section problems. */
    write_raw(BAD("truncated.safetensors"),
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
              four, 12, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "truncated: header says 16 bytes of tensor data, file has 12");
    write_raw(BAD("overlap.safetensors"),
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              four, 12, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"b\" (bytes 4..12) overlaps \"a\" (bytes 0..8)");
    write_raw(BAD("gap.safetensors"),
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
              four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"b\" starts at byte 8, leaving a gap of 4 bytes after a");
    write_raw(BAD("extra_bytes.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "8 bytes of data after the last tensor");
    write_raw(BAD("span.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", four, 8, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"a\": data_offsets [0, 8] span 8 bytes, but F32 with 4 elements needs 16");
    write_raw(BAD("backwards.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", four, 8, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "data_offsets [8, 0] end before they begin");
    /* Header entries. */
    write_raw(BAD("dtype.safetensors"), "{\"a\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,16]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"a\": unknown dtype \"Q4_K\"");
    write_raw(BAD("nodtype.safetensors"), "{\"a\":{\"shape\":[4],\"data_offsets\":[0,16]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"a\": missing or non-string \"dtype\"");
    write_raw(BAD("shape.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"a\": shape entries must be non-negative integers");
    write_raw(BAD("dims.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_UNSUPPORTED, "tensor \"a\" has 5 dimensions; tfm supports at most 4");
    write_raw(BAD("offsets.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", four, 16, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "\"data_offsets\" must be two non-negative integers");
    write_raw(BAD("entry.safetensors"), "{\"a\": 3}", NULL, 0, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "tensor \"a\": header entry is not an object");
    write_raw(BAD("meta.safetensors"), "{\"__metadata__\":{\"step\":7}}", NULL, 0, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "\"__metadata__\".\"step\": expected a string value");
    write_raw(BAD("dupkey.safetensors"),
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              four, 8, 1);
    EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "key \"a\" appears twice");
    /* 200,000 tensors with the duplicate last: found by sorting the keys (pairwise it took hours; the fuzzer's hang). */
    {
        size_t n = 200000, cap = n * 64 + 64, len = 0;
        char *many = malloc(cap);
        len += (size_t)snprintf(many + len, cap - len, "{");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(many + len, cap - len, "\"t%zu\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},", i % (n - 1));
        many[len - 1] = '}';
        write_raw(BAD("many.safetensors"), many, NULL, 0, 1);
        free(many);
        EXPECT_OPEN_ERROR(path, TFM_ERR_FORMAT, "key \"t0\" appears twice");
    }
    /* An unpadded header is still valid safetensors. */
    write_raw(BAD("unpadded.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", four, 12, 0);
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(path, &f));
    float three[3] = {0};
    if (f) CHECK_OK(tfm_safetensors_read_f32(f, "a", 1, (int[]){3}, 0, three));
    CHECK(three[0] == 1 && three[2] == 3, "unaligned data read");
    tfm_safetensors_close(f);
#undef BAD
}

/* Writes `names` (with shapes) as F32 to path, for load_params error cases. */
static void write_named(const char *path, int count, const char *const *names, const int (*shapes)[2], const int *ndims) {
    tfm_safetensors_entry entries[8];
    float zeros[64] = {0};
    for (int i = 0; i < count; i++) {
        memset(&entries[i], 0, sizeof entries[i]);
        entries[i].name = names[i];
        entries[i].data = zeros;
        entries[i].ndim = ndims[i];
        entries[i].shape[0] = shapes[i][0];
        entries[i].shape[1] = shapes[i][1];
    }
    CHECK_OK(tfm_safetensors_write(path, entries, count, NULL));
}

static void test_load_params_errors(void) {
    toy_model m;
    toy_init(&m, "transformer.", 6, 4);
    float *before = malloc(sizeof(float) * m.params.total);
    memcpy(before, m.params.data, sizeof(float) * m.params.total);
    const char *path = TMP_DIR "/wrong.safetensors";
    const int ndims[] = {2, 2, 1, 1};
    {
        const char *names[] = {"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight"};
        write_named(path, 2, names, (const int[][2]){{5, 3}, {4, 6}}, ndims);
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "wrong.safetensors: missing tensor \"transformer.h.0.attn.c_attn.bias\" (the file has 2 of the model's 3 parameters)");
    }
    {
        const char *names[] = {"bert.embeddings.word_embeddings.weight", "bert.pooler.dense.bias"};
        write_named(path, 2, names, (const int[][2]){{5, 3}, {4, 0}}, (const int[]){2, 1});
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "missing tensor \"transformer.wte.weight\": none of the model's 3 parameters are in the file (it holds 2 tensors",
                     "a different model");
    }
    {
        /* Hugging Face GPT2Model files have no "transformer." prefix. */
        const char *names[] = {"wte.weight", "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias"};
        write_named(path, 3, names, (const int[][2]){{5, 3}, {4, 6}, {6, 0}}, (const int[]){2, 2, 1});
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "missing tensor \"transformer.wte.weight\"; the file has \"wte.weight\": its names lack the prefix \"transformer.\"");
    }
    {
        const char *names[] = {"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias"};
        write_named(path, 3, names, (const int[][2]){{5, 2}, {4, 6}, {6, 0}}, (const int[]){2, 2, 1});
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "tensor \"transformer.wte.weight\": shape mismatch: the file has [5, 2], the model expects [5, 3]");
        /* The Conv1D weight written untransposed. */
        write_named(path, 3, names, (const int[][2]){{5, 3}, {6, 4}, {6, 0}}, (const int[]){2, 2, 1});
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "\"transformer.h.0.attn.c_attn.weight\": shape mismatch: the file has [6, 4], the model expects [4, 6]",
                     "the file holds it untransposed");
    }
    {
        const char *names[] = {"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                               "lm_head.weight"};
        write_named(path, 4, names, (const int[][2]){{5, 3}, {4, 6}, {6, 0}, {5, 3}}, (const int[]){2, 2, 1, 2});
        EXPECT_ERROR(tfm_safetensors_load_params(path, &m.params), TFM_ERR_FORMAT,
                     "wrong.safetensors: unexpected tensor \"lm_head.weight\": not a parameter of this model");
    }
    CHECK(memcmp(before, m.params.data, sizeof(float) * m.params.total) == 0, "failed loads leave the parameters untouched");
    {
        /* Hugging Face's causal-mask buffers are ignored. */
        const char *names[] = {"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                               "transformer.h.0.attn.bias", "transformer.h.0.attn.masked_bias"};
        tfm_safetensors_entry entries[5];
        float zeros[64] = {0};
        const int shapes[5][2] = {{5, 3}, {4, 6}, {6, 0}, {4, 4}, {0, 0}};
        const int nd[5] = {2, 2, 1, 2, 0};
        for (int i = 0; i < 5; i++) {
            memset(&entries[i], 0, sizeof entries[i]);
            entries[i].name = names[i];
            entries[i].data = zeros;
            entries[i].ndim = nd[i];
            entries[i].shape[0] = shapes[i][0];
            entries[i].shape[1] = shapes[i][1];
        }
        CHECK_OK(tfm_safetensors_write(path, entries, 5, NULL));
        CHECK_OK(tfm_safetensors_load_params(path, &m.params));
        CHECK(m.wte.data[0] == 0.0f && m.bias.data[5] == 0.0f, "loaded the zeros");
    }
    free(before);
    tfm_params_free(&m.params);
}

static void test_atomic_writes(void) {
    toy_model a, b;
    toy_init(&a, "transformer.", 64, 32);
    toy_init(&b, "transformer.", 64, 32);
    for (size_t i = 0; i < b.params.total; i++) b.params.data[i] = -1.0f;
    const char *path = TMP_DIR "/atomic.safetensors", *copy = TMP_DIR "/atomic.copy";
    CHECK_OK(tfm_safetensors_save_params(path, &a.params, NULL));
    CHECK_OK(tfm_safetensors_save_params(copy, &a.params, NULL));
    tfm_file_fault faults[] = {TFM_FILE_FAULT_WRITE, TFM_FILE_FAULT_FSYNC, TFM_FILE_FAULT_RENAME};
    const char *words[] = {"cannot write", "cannot sync", "cannot rename"};
    for (int k = 0; k < 3; k++) {
        tfm_file_set_fault(faults[k], 1000, 0);
        EXPECT_ERROR(tfm_safetensors_save_params(path, &b.params, NULL), TFM_ERR_IO, words[k], "atomic.safetensors.tmp.", "injected");
        tfm_file_set_fault(TFM_FILE_FAULT_NONE, 0, 0);
        CHECK(files_equal(path, copy), "fault %d: the old file is intact", k);
        CHECK(temporaries_in(TMP_DIR) == 0, "fault %d: no temporary left behind", k);
    }
    /* A directory that does not exist. */
    EXPECT_ERROR(tfm_safetensors_save_params(TMP_DIR "/no/such/dir/model.safetensors", &a.params, NULL), TFM_ERR_IO,
                 "cannot create " TMP_DIR "/no/such/dir/model.safetensors.tmp.", "No such file or directory");
    /* One-shot write and read, and the read helper's errors. */
    CHECK_OK(tfm_file_write_atomic(TMP_DIR "/note.txt", "first", 5));
    CHECK_OK(tfm_file_write_atomic(TMP_DIR "/note.txt", "second", 6));
    char *text = NULL;
    size_t n = 0;
    CHECK_OK(tfm_file_read(TMP_DIR "/note.txt", &text, &n));
    CHECK(text && n == 6 && strcmp(text, "second") == 0, "atomic overwrite");
    if (text) tfm_free(text, n + 1);
    /* Files that report no size (procfs) grow the buffer; big files come back whole. */
    CHECK_OK(tfm_file_read("/proc/self/maps", &text, &n));
    CHECK(text && n > 0 && strlen(text) == n, "procfs file read: %zu bytes", n);
    if (text) tfm_free(text, n + 1);
    static char pattern[100003];
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (char)('a' + i % 26);
    CHECK_OK(tfm_file_write_atomic(TMP_DIR "/big.txt", pattern, sizeof pattern));
    CHECK_OK(tfm_file_read(TMP_DIR "/big.txt", &text, &n));
    CHECK(text && n == sizeof pattern && memcmp(text, pattern, n) == 0 && text[n] == '\0', "big file read back");
    if (text) tfm_free(text, n + 1);
    EXPECT_ERROR(tfm_file_read(TMP_DIR "/missing.txt", &text, &n), TFM_ERR_IO,
                 "cannot open " TMP_DIR "/missing.txt: No such file or directory");
    EXPECT_ERROR(tfm_file_read(TMP_DIR, &text, &n), TFM_ERR_IO, "it is a directory");
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

static void test_allocation_failures(void) {
    toy_model a, b;
    toy_init(&a, "transformer.", 6, 4);
    toy_init(&b, "transformer.", 6, 4);
    const char *path = TMP_DIR "/oom.safetensors", *copy = TMP_DIR "/oom.copy";
    CHECK_OK(tfm_safetensors_save_params(path, &a.params, (const char *[]){"step", "1", NULL}));
    CHECK_OK(tfm_safetensors_save_params(copy, &a.params, (const char *[]){"step", "1", NULL}));
    for (size_t i = 0; i < b.params.total; i++) b.params.data[i] = 9.0f;
    int saw_failure = 0, finished = 0;
    for (long n = 0; n < 200 && !finished; n++) {
        test_alloc_countdown = n;
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status s = tfm_safetensors_save_params(path, &b.params, (const char *[]){"step", "2", NULL});
        tfm_set_allocator(NULL, NULL);
        if (s == TFM_OK) {
            finished = 1;
        } else {
            saw_failure = 1;
            CHECK(s == TFM_ERR_OUT_OF_MEMORY, "allocation %ld: %s", n, tfm_last_error());
            CHECK(files_equal(path, copy), "allocation %ld: old file intact", n);
        }
    }
    CHECK(saw_failure && finished, "save eventually succeeded after failing");
    saw_failure = finished = 0;
    for (long n = 0; n < 200 && !finished; n++) {
        test_alloc_countdown = n;
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status s = tfm_safetensors_load_params(path, &a.params);
        tfm_set_allocator(NULL, NULL);
        if (s == TFM_OK) {
            finished = 1;
        } else {
            saw_failure = 1;
            CHECK(s == TFM_ERR_OUT_OF_MEMORY, "allocation %ld: %s", n, tfm_last_error());
        }
    }
    CHECK(saw_failure && finished, "load eventually succeeded after failing");
    for (int i = 0; i < a.params.count; i++) {
        const tfm_param *p = &a.params.entries[i];
        CHECK(memcmp(a.params.data + p->offset, b.params.data + p->offset, sizeof(float) * p->size) == 0,
              "%s loaded after the failures", p->name);
    }
    tfm_params_free(&a.params);
    tfm_params_free(&b.params);
}

/* ---- Fixture modes for tests/test_safetensors_python.py ---- */

static int write_fixture(const char *path) {
    float x[2 * 3], y[4];
    for (int i = 0; i < 6; i++) x[i] = fixture_value(i, 0);
    for (int i = 0; i < 4; i++) y[i] = fixture_value(i, 1);
    tfm_safetensors_entry entries[] = {
        {.name = "x.weight", .data = x, .ndim = 2, .shape = {2, 3}, .transpose = 1},
        {.name = "y.bias", .data = y, .ndim = 1, .shape = {4}},
    };
    tfm_status s = tfm_safetensors_write(path, entries, 2, (const char *[]){"format", "pt", "step", "5", NULL});
    if (s != TFM_OK) fprintf(stderr, "%s\n", tfm_last_error());
    return s == TFM_OK ? 0 : 1;
}

/* The file tests/test_safetensors_python.py writes with numpy. */
static int check_python(const char *path) {
    tfm_safetensors *f = NULL;
    CHECK_OK(tfm_safetensors_open(path, &f));
    if (!f) return test_summary();
    CHECK(tfm_safetensors_count(f) == 5, "five tensors");
    float a[3 * 5], a_t[5 * 3], h[4], b[4], s = 0;
    CHECK_OK(tfm_safetensors_read_f32(f, "a.weight", 2, (int[]){3, 5}, 0, a));
    int ok = 1;
    for (int i = 0; i < 15; i++) ok &= a[i] == fixture_value(i, 0);
    CHECK(ok, "a.weight values");
    CHECK_OK(tfm_safetensors_read_f32(f, "a.weight", 2, (int[]){5, 3}, 1, a_t));
    ok = 1;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++) ok &= a_t[r * 3 + c] == a[c * 5 + r];
    CHECK(ok, "a.weight read transposed");
    CHECK_OK(tfm_safetensors_read_f32(f, "b.half", 1, (int[]){4}, 0, h));
    CHECK(h[0] == 1.5f && h[1] == -2.0f && h[2] == 65504.0f && h[3] == 0x1p-24f, "F16 from numpy");
    CHECK_OK(tfm_safetensors_read_f32(f, "c.bf16", 2, (int[]){2, 2}, 0, b));
    CHECK(b[0] == 1.0f && b[1] == -3.5f && b[2] == 0.15625f && b[3] == 256.0f, "BF16 from numpy");
    CHECK_OK(tfm_safetensors_read_f32(f, "d.scalar", 0, NULL, 0, &s));
    CHECK(s == 42.0f, "scalar");
    EXPECT_ERROR(tfm_safetensors_read_f32(f, "e.ids", 1, (int[]){2}, 0, h), TFM_ERR_UNSUPPORTED, "\"e.ids\"", "I64");
    const char *who = tfm_safetensors_metadata(f, "who");
    CHECK(who && strcmp(who, "python") == 0, "metadata from python");
    tfm_safetensors_close(f);
    return test_summary();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-fixture") == 0) return write_fixture(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--check-python") == 0) return check_python(argv[2]);
    mkdir(TMP_DIR, 0755);
    test_round_trip();
    test_named_arrays();
    test_dtypes();
    test_bad_files();
    test_load_params_errors();
    test_atomic_writes();
    test_allocation_failures();
    return test_summary();
}
