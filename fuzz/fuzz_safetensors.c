/* fuzz/fuzz_safetensors.c: libFuzzer target for .safetensors files: open, every tensor read as f32/i32 (plain and transposed), load into a small tfm_params, save and reload. */
#include "fuzz_io_common.h"

#include <math.h>

static char file_path[512], copy_path[512];
static io_fuzz_model model;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    io_fuzz_install_allocator();
    io_fuzz_temp_path(file_path, sizeof file_path, "safetensors");
    io_fuzz_temp_path(copy_path, sizeof copy_path, "safetensors_copy");
    io_fuzz_model_create(&model);
    return 0;
}

static int is_float_dtype(tfm_dtype d) { return d == TFM_DTYPE_F32 || d == TFM_DTYPE_F16 || d == TFM_DTYPE_BF16; }
static int is_int_dtype(tfm_dtype d) {
    return d == TFM_DTYPE_I8 || d == TFM_DTYPE_I16 || d == TFM_DTYPE_I32 || d == TFM_DTYPE_I64 || d == TFM_DTYPE_U8 ||
           d == TFM_DTYPE_U16 || d == TFM_DTYPE_U32 || d == TFM_DTYPE_U64;
}

/* Read one tensor every way the API offers and check the answers agree with its header entry. */
static void check_tensor(const tfm_safetensors *f, const tfm_safetensors_tensor *t) {
    IO_FUZZ_REQUIRE(tfm_safetensors_find(f, t->name) == t, "find returns the entry (names are unique)");
    IO_FUZZ_REQUIRE(t->ndim >= 0 && t->ndim <= TFM_MAX_DIMS, "ndim in range");
    size_t elements = 1;
    int shape[TFM_MAX_DIMS] = {0};
    for (int i = 0; i < t->ndim; i++) {
        IO_FUZZ_REQUIRE(t->shape[i] >= 0 && t->shape[i] <= INT32_MAX, "dimension in range");
        shape[i] = (int)t->shape[i];
        elements *= (size_t)t->shape[i];
    }
    IO_FUZZ_REQUIRE(elements == t->elements, "elements = product of the shape");
    size_t element_size = tfm_dtype_size(t->dtype);
    IO_FUZZ_REQUIRE(element_size > 0 && t->data_end - t->data_begin == elements * element_size, "byte range = elements x dtype size");
    IO_FUZZ_REQUIRE(strcmp(tfm_dtype_name(t->dtype), t->dtype_name) == 0, "dtype name");
    const unsigned char *raw = tfm_safetensors_raw(f, t);
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < t->data_end - t->data_begin; i++) sink ^= raw[i]; /* ASan: the whole range is mapped */
    (void)sink;

    size_t at = tfm_safetensors_first_nonfinite(f, t);
    tfm_status finite = tfm_safetensors_check_finite(f, t);
    IO_FUZZ_REQUIRE((at == SIZE_MAX) == (finite == TFM_OK), "check_finite agrees with first_nonfinite");
    IO_FUZZ_REQUIRE(at == SIZE_MAX || (at < elements && is_float_dtype(t->dtype)), "a non-finite element is inside a float tensor");

    float *out = malloc((elements ? elements : 1) * sizeof *out);
    IO_FUZZ_REQUIRE(out != NULL, "allocate");
    tfm_status s = tfm_safetensors_read_f32(f, t->name, t->ndim, shape, 0, out);
    IO_FUZZ_REQUIRE((s == TFM_OK) == is_float_dtype(t->dtype), "read_f32 succeeds exactly for F32/F16/BF16");
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a failed read_f32 leaves a message");
    IO_FUZZ_REQUIRE(tfm_safetensors_read_f32(f, t->name, t->ndim, shape, 0, NULL) == s, "out = NULL only checks");
    if (s == TFM_OK) {
        size_t finite_prefix = at == SIZE_MAX ? elements : at;
        for (size_t i = 0; i < finite_prefix; i++) IO_FUZZ_REQUIRE(isfinite(out[i]), "elements before the first non-finite are finite");
        if (at != SIZE_MAX) IO_FUZZ_REQUIRE(!isfinite(out[at]), "the first non-finite element decodes as non-finite");
    }
    if (t->ndim == 2) {
        float *transposed = malloc((elements ? elements : 1) * sizeof *transposed);
        IO_FUZZ_REQUIRE(transposed != NULL, "allocate");
        int memory_shape[2] = {shape[1], shape[0]};
        tfm_status ts = tfm_safetensors_read_f32(f, t->name, 2, memory_shape, 1, transposed);
        IO_FUZZ_REQUIRE(ts == s, "a transposed read succeeds when a plain one does");
        if (ts == TFM_OK) {
            size_t rows = (size_t)shape[0], cols = (size_t)shape[1];
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++)
                    IO_FUZZ_REQUIRE(memcmp(&transposed[c * rows + r], &out[r * cols + c], sizeof(float)) == 0,
                                    "transposed read is the transpose");
        }
        free(transposed);
    }
    /* A wrong shape is an error, not a read. */
    if (t->ndim < TFM_MAX_DIMS) {
        shape[t->ndim] = 1;
        IO_FUZZ_REQUIRE(tfm_safetensors_read_f32(f, t->name, t->ndim + 1, shape, 0, out) != TFM_OK, "an extra dimension is refused");
        shape[t->ndim] = 0;
    }
    free(out);

    int32_t *ints = malloc((elements ? elements : 1) * sizeof *ints);
    IO_FUZZ_REQUIRE(ints != NULL, "allocate");
    s = tfm_safetensors_read_i32(f, t->name, t->ndim, shape, ints);
    /* An empty tensor of a float dtype once read as i32 (the dtype was checked per element). Regression seed:
     * seeds/fuzz_safetensors/empty-float-as-i32. */
    IO_FUZZ_REQUIRE(s != TFM_OK || is_int_dtype(t->dtype), "read_i32 succeeds only for integer dtypes");
    IO_FUZZ_FAILED_WITH_MESSAGE(s, "a failed read_i32 leaves a message");
    IO_FUZZ_REQUIRE(tfm_safetensors_read_i32(f, t->name, t->ndim, shape, NULL) == s, "out = NULL only checks");
    free(ints);
}

/* After a successful load every parameter must hold what read_f32 gives for its tensor. */
static void check_loaded(const char *path) {
    tfm_safetensors *f = NULL;
    IO_FUZZ_REQUIRE(tfm_safetensors_open(path, &f) == TFM_OK, "a file that loads also opens");
    for (int i = 0; i < model.params.count; i++) {
        const tfm_param *p = &model.params.entries[i];
        float buffer[64];
        IO_FUZZ_REQUIRE(p->size <= 64, "small parameters");
        IO_FUZZ_REQUIRE(tfm_safetensors_read_f32(f, p->name, p->ndim, p->shape, p->stored_transposed, buffer) == TFM_OK,
                        "a loaded parameter reads");
        IO_FUZZ_REQUIRE(memcmp(buffer, model.params.data + p->offset, p->size * sizeof(float)) == 0, "loaded = read");
    }
    tfm_safetensors_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    io_fuzz_write_file(file_path, data, size);
    tfm_error_clear();
    tfm_safetensors *f = NULL;
    tfm_status opened = tfm_safetensors_open(file_path, &f);
    if (opened != TFM_OK) {
        IO_FUZZ_REQUIRE(f == NULL && tfm_last_error()[0] != '\0', "a failed open leaves a message and no handle");
    } else {
        IO_FUZZ_REQUIRE(strcmp(tfm_safetensors_path(f), file_path) == 0, "path");
        int n = tfm_safetensors_count(f);
        IO_FUZZ_REQUIRE(n >= 0, "count");
        size_t previous_end = 0;
        for (int i = 0; i < n; i++) {
            const tfm_safetensors_tensor *t = tfm_safetensors_tensor_at(f, i);
            IO_FUZZ_REQUIRE(t != NULL, "tensor_at in range");
            IO_FUZZ_REQUIRE(t->data_begin == previous_end, "tensors in data-offset order, back to back");
            previous_end = t->data_end;
            check_tensor(f, t);
        }
        IO_FUZZ_REQUIRE(tfm_safetensors_tensor_at(f, n) == NULL && tfm_safetensors_tensor_at(f, -1) == NULL, "tensor_at out of range");
        IO_FUZZ_REQUIRE(tfm_safetensors_find(f, "no such tensor \x01") == NULL, "find of a missing name");
        (void)tfm_safetensors_metadata(f, "format");
        (void)tfm_safetensors_metadata(f, "tfm_save_id");
        tfm_safetensors_close(f);
    }

    /* Into a model: a failure must leave the parameters as they were. */
    for (int allow = 0; allow < 2; allow++) {
        io_fuzz_model_mark(&model, 0.25f);
        tfm_load_options options = {allow};
        tfm_status s = allow ? tfm_safetensors_load_params_with(file_path, &model.params, &options)
                             : tfm_safetensors_load_params(file_path, &model.params);
        IO_FUZZ_REQUIRE(opened == TFM_OK || s != TFM_OK, "a file that does not open does not load");
        if (s != TFM_OK) {
            IO_FUZZ_REQUIRE(tfm_last_error()[0] != '\0', "a failed load leaves a message");
            IO_FUZZ_REQUIRE(io_fuzz_model_is_marked(&model, 0.25f), "a failed load leaves the parameters untouched");
            continue;
        }
        check_loaded(file_path);
        /* What loaded saves, and the saved file loads back to the same bits. */
        const char *metadata[] = {"note", "fuzz", NULL};
        IO_FUZZ_REQUIRE(tfm_safetensors_save_params(copy_path, &model.params, metadata) == TFM_OK, "save what loaded");
        float saved[256];
        IO_FUZZ_REQUIRE(model.params.total <= 256, "small model");
        memcpy(saved, model.params.data, model.params.total * sizeof(float));
        io_fuzz_model_mark(&model, 0.5f);
        IO_FUZZ_REQUIRE(tfm_safetensors_load_params_with(copy_path, &model.params, &options) == TFM_OK, "reload what was saved");
        for (int i = 0; i < model.params.count; i++) {
            const tfm_param *p = &model.params.entries[i];
            IO_FUZZ_REQUIRE(memcmp(saved + p->offset, model.params.data + p->offset, p->size * sizeof(float)) == 0,
                            "save + load round trip");
        }
        remove(copy_path);
    }
    remove(file_path);
    return 0;
}
