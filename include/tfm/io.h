/* tfm/io.h: whole-file reads, atomic file writes, safetensors files, and checkpoint directories. */
#ifndef TFM_IO_H
#define TFM_IO_H

#include "tfm/base.h"
#include "tfm/tensor.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Files ---- */

/* Read a whole file into memory that ends with an extra '\0' (so text can be parsed in place).
 * Free with tfm_free(*data, *size + 1). Missing file: TFM_ERR_IO "cannot open <path>: No such file or directory". */
tfm_status tfm_file_read(const char *path, char **data, size_t *size);
/* Open a file for reading only if it is a regular file: a directory, FIFO, socket or device is TFM_ERR_IO
 * naming the path and what it is (a FIFO would block the open, so it is opened non-blocking and checked
 * first). Every reader in tfm opens files through these. */
tfm_status tfm_file_open_regular(const char *path, int *fd);
tfm_status tfm_file_open_read(const char *path, FILE **file);
/* An already open input such as stdin: refused when it is a directory (reading one gives no bytes and no
 * error); pipes, terminals and regular files are fine. `name` is how the message calls it. */
tfm_status tfm_file_check_input(FILE *file, const char *name);

/* An atomic write in progress: the bytes go to "<path>.tmp.<pid>" in the same directory; commit flushes,
 * fsyncs, renames it over `path` and fsyncs the directory. Any failure (or an abort) removes the temporary
 * and leaves the old file at `path` untouched. */
typedef struct tfm_atomic_file {
    FILE *stream;
    char *path;          /* the target */
    char *temp_path;     /* "<path>.tmp.<pid>" */
    char *directory;     /* the directory to fsync after the rename (allocated up front: nothing can fail late) */
    tfm_status status;   /* the first failure; later writes are no-ops */
    size_t written;      /* bytes accepted so far */
} tfm_atomic_file;

tfm_status tfm_atomic_file_open(tfm_atomic_file *file, const char *path);
tfm_status tfm_atomic_file_write(tfm_atomic_file *file, const void *data, size_t size);
/* Finish: on success `path` holds the new bytes; on failure the temporary is gone and the old file kept
 * (except when only the final directory fsync fails: the new file is then in place but the error is still
 * reported, since its durability is not assured). Always releases the handle. */
tfm_status tfm_atomic_file_commit(tfm_atomic_file *file);
void tfm_atomic_file_abort(tfm_atomic_file *file);
/* One-shot form of the above. */
tfm_status tfm_file_write_atomic(const char *path, const void *data, size_t size);
/* mkdir for one level: create `dir` if missing (0755); error names the path. */
tfm_status tfm_file_make_directory(const char *dir);
/* "<dir>/<name>" in fresh memory; free with tfm_free(p, strlen(p) + 1). */
char *tfm_file_join(const char *dir, const char *name);
/* The absolute form of an existing path (realpath), else the path as given, in fresh memory (free as tfm_file_join's):
 * what a run records so that --resume works from any directory. */
char *tfm_file_absolute(const char *path);
/* Copy a (small) file into `to`, atomically (temporary + rename); errors name the file. */
tfm_status tfm_file_copy(const char *from, const char *to);
/* 1 if a path exists (any kind). */
int tfm_file_exists(const char *path);
/* TFM_OK when bytes[0 .. size) are valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF);
 * else TFM_ERR_FORMAT "<name>: invalid UTF-8 at byte offset N (line L): expected UTF-8 text". */
tfm_status tfm_text_check_utf8(const char *bytes, size_t size, const char *name);


/* ---- Token files: a tokenized corpus, "TFMTOK01", u32 vocab_size, u32 0, u64 count, then count u32 ids (LE) ---- */

/* Write atomically; every id must be below vocab_size (else an error naming the token's position). */
tfm_status tfm_token_file_write(const char *path, const uint32_t *ids, size_t count, uint32_t vocab_size);
/* Read a whole token file into fresh memory (tfm_free(*ids, *count * 4)). vocab_size > 0: the file's vocabulary
 * must not be larger (a model cannot embed ids it does not have); each id is checked against the file's own
 * vocabulary. Errors name the file and, for a bad id, its position; a truncated file says so. */
tfm_status tfm_token_file_read(const char *path, uint32_t vocab_size, uint32_t **ids, size_t *count, uint32_t *file_vocab_size);
/* 1 when `path` is a readable file that starts with the token-file header (0 may leave a message in tfm_last_error). */
int tfm_token_file_is(const char *path);

/* ---- GGUF (llama.cpp's file): the tensor types tfm writes (ggml's type numbers) ---- */
enum { TFM_GGUF_F32 = 0, TFM_GGUF_F16 = 1, TFM_GGUF_Q8_0 = 8 };

/* ---- safetensors (Hugging Face): u64 LE header length N, N bytes of JSON header, raw LE tensor data ---- */

typedef enum tfm_dtype {
    TFM_DTYPE_UNKNOWN = 0,
    TFM_DTYPE_F32, TFM_DTYPE_F16, TFM_DTYPE_BF16, TFM_DTYPE_F64,
    TFM_DTYPE_I8, TFM_DTYPE_I16, TFM_DTYPE_I32, TFM_DTYPE_I64,
    TFM_DTYPE_U8, TFM_DTYPE_U16, TFM_DTYPE_U32, TFM_DTYPE_U64,
    TFM_DTYPE_BOOL, TFM_DTYPE_F8_E4M3, TFM_DTYPE_F8_E5M2,
} tfm_dtype;

/* "F32" etc.; and the size of one element in bytes. */
const char *tfm_dtype_name(tfm_dtype dtype);
size_t tfm_dtype_size(tfm_dtype dtype);

/* One named float array to write. `data` holds `shape` row-major; NULL data writes zeros.
 * transpose = 1 (2-D only): `data` is [shape[0], shape[1]] in memory but the file gets the transpose,
 * [shape[1], shape[0]] (Hugging Face GPT-2 Conv1D weights). */
typedef struct tfm_safetensors_entry {
    const char *name;
    const float *data;
    int ndim;
    int shape[TFM_MAX_DIMS];
    int transpose;
} tfm_safetensors_entry;

/* Write F32 tensors (in the given order) and optional string metadata, atomically.
 * `metadata`: alternating key, value strings ending with NULL, e.g. (const char *[]){"step", "100", NULL}; may be NULL. */
tfm_status tfm_safetensors_write(const char *path, const tfm_safetensors_entry *entries, int count, const char *const *metadata);

/* An open file (read-only mapping; the data is never loaded twice). */
typedef struct tfm_safetensors tfm_safetensors;

typedef struct tfm_safetensors_tensor {
    const char *name;
    tfm_dtype dtype;
    const char *dtype_name;   /* as written in the file, e.g. "F16" */
    int ndim;                 /* 0 for a scalar */
    int64_t shape[TFM_MAX_DIMS];
    size_t elements;
    size_t data_begin, data_end; /* byte offsets within the data section */
} tfm_safetensors_tensor;

/* Open and check the header: JSON, dtypes known, shapes consistent with byte ranges, ranges contiguous and
 * inside the file. Errors: TFM_ERR_IO (cannot open), TFM_ERR_FORMAT (not safetensors / truncated / malformed). */
tfm_status tfm_safetensors_open(const char *path, tfm_safetensors **file);
void tfm_safetensors_close(tfm_safetensors *file);
int tfm_safetensors_count(const tfm_safetensors *file);
/* Tensors in data-offset order; index in [0, count). */
const tfm_safetensors_tensor *tfm_safetensors_tensor_at(const tfm_safetensors *file, int index);
const tfm_safetensors_tensor *tfm_safetensors_find(const tfm_safetensors *file, const char *name);
/* A "__metadata__" value, or NULL. */
const char *tfm_safetensors_metadata(const tfm_safetensors *file, const char *key);
const char *tfm_safetensors_path(const tfm_safetensors *file);
/* Copy a tensor into `out` as fp32 (F32, F16 and BF16 are converted; others are TFM_ERR_UNSUPPORTED).
 * `shape`/`ndim` must match the stored shape exactly (error names both shapes). transpose = 1: the file holds
 * [shape[1], shape[0]] and `out` receives [shape[0], shape[1]]. out = NULL only checks (name, shape, dtype). */
tfm_status tfm_safetensors_read_f32(const tfm_safetensors *file, const char *name, int ndim, const int *shape,
                                    int transpose, float *out);

/* Integer tensors (I8/I16/I32/I64/U8/U16/U32/U64) as int32, e.g. token ids; a value outside int32 is
 * TFM_ERR_FORMAT, a floating-point dtype TFM_ERR_UNSUPPORTED. Shape checked as above (no transpose). */
tfm_status tfm_safetensors_read_i32(const tfm_safetensors *file, const char *name, int ndim, const int *shape, int32_t *out);
/* The tensor's raw little-endian bytes inside the mapping (data_end - data_begin of them; valid until close). */
const void *tfm_safetensors_raw(const tfm_safetensors *file, const tfm_safetensors_tensor *tensor);

/* Every parameter by name, stored_transposed entries transposed; metadata as for tfm_safetensors_write
 * ("format": "pt" is always added so Hugging Face transformers accepts the file). */
tfm_status tfm_safetensors_save_params(const char *path, const tfm_params *params, const char *const *metadata);
/* Fill every declared parameter of an allocated tfm_params. Fails on the first problem: a missing tensor,
 * a shape mismatch, a dtype that cannot be converted, or an unexpected extra tensor (Hugging Face GPT-2's
 * ".attn.bias" / ".attn.masked_bias" buffers are ignored). */
tfm_status tfm_safetensors_load_params(const char *path, tfm_params *params);
/* What loaders accept; zero-initialised (or a NULL pointer) is the default. */
typedef struct tfm_load_options {
    int allow_nonfinite; /* 1: accept weights holding NaN or infinity (refused by default: TFM_ERR_NUMERIC naming the tensor) */
} tfm_load_options;
tfm_status tfm_safetensors_load_params_with(const char *path, tfm_params *params, const tfm_load_options *options);
/* The index of the tensor's first NaN or infinity, or SIZE_MAX when every element is finite (integer dtypes
 * always are); tfm_safetensors_check_finite turns one into TFM_ERR_NUMERIC naming the file, tensor and element. */
size_t tfm_safetensors_first_nonfinite(const tfm_safetensors *file, const tfm_safetensors_tensor *tensor);
tfm_status tfm_safetensors_check_finite(const tfm_safetensors *file, const tfm_safetensors_tensor *tensor);

/* ---- Checkpoints: a directory with model.safetensors, config.json, and optionally
 *      optimizer.safetensors ("<param>.exp_avg", "<param>.exp_avg_sq") + trainer_state.json ---- */

/* Save parameters, the model config (JSON text, e.g. from tfm_gpt_config_to_json) and, unless
 * trainer_state_json is NULL, the optimizer moments and the trainer's state (any JSON object; if it has a
 * numeric "step" it is recorded in both safetensors files). Creates the directory if needed; every file is
 * written atomically, and the files of one save share a save id that loading checks, so a directory left
 * half-written by a crash is reported rather than silently mixed. A model-only save removes any older
 * trainer state in the directory (it would no longer match). */
tfm_status tfm_checkpoint_save(const char *dir, const tfm_params *params, const char *config_json,
                               const char *trainer_state_json);
/* config.json's text; free with tfm_free(*config_json, strlen(*config_json) + 1). */
tfm_status tfm_checkpoint_load_config(const char *dir, char **config_json);
tfm_status tfm_checkpoint_load_params(const char *dir, tfm_params *params);
tfm_status tfm_checkpoint_load_params_with(const char *dir, tfm_params *params, const tfm_load_options *options);
/* Allocates the moment slabs if needed and fills them; returns the trainer's JSON (same free rule as above).
 * Fails if the optimizer, trainer-state and model files are not from the same save. */
tfm_status tfm_checkpoint_load_trainer_state(const char *dir, tfm_params *params, char **trainer_state_json);
/* 1 if the directory holds a resumable training state (trainer_state.json exists), else 0. */
int tfm_checkpoint_has_trainer_state(const char *dir);

/* ---- Run directories: what a training run writes, one complete checkpoint per save ----
 *
 *   RUN/checkpoints/step-00000200/   a checkpoint directory as above (all four files); a step saved twice
 *                                    (a run resumed at a step it had saved) is step-00000200.1, .2, ...
 *   RUN/current -> checkpoints/step-00000200
 *                                    a symbolic link, switched by one atomic rename only once the new
 *                                    checkpoint is complete and synced to disk
 *   RUN/log.jsonl, RUN/best/, RUN/tokenizer.json
 *
 * So a kill or a full disk at any moment of a save leaves `current` naming a complete checkpoint (and if a
 * kill came before the first link existed, the newest checkpoint directory is used). Every loader above
 * accepts RUN as well as a checkpoint directory; a run written before this layout (the four files directly
 * in RUN) still loads and is moved under checkpoints/ by its first new save. */

/* Save a checkpoint of `step` into a new RUN/checkpoints/step-<step>[.<revision>]/ (written under a temporary
 * name, synced, renamed), point RUN/current at it, then keep only the `keep` newest checkpoints (keep >= 1;
 * the current one is never removed). On failure the previous checkpoint stays current and nothing is left. */
tfm_status tfm_checkpoint_save_step(const char *run_dir, long step, int keep, const tfm_params *params,
                                    const char *config_json, const char *trainer_state_json);
/* The checkpoint directory that `dir` stands for: RUN/current's target (or RUN's newest checkpoint when
 * there is no link) for a run, else `dir` itself.
 * Free *path with tfm_free(*path, strlen(*path) + 1). */
tfm_status tfm_checkpoint_resolve(const char *dir, char **path);

/* What a directory holds, so a command can refuse to overwrite what it did not make. */
typedef enum tfm_directory_kind {
    TFM_DIRECTORY_MISSING = 0, /* no such path */
    TFM_DIRECTORY_EMPTY,       /* an empty directory */
    TFM_DIRECTORY_OTHER,       /* a directory with none of tfm's files (or a path that is not a directory) */
    TFM_DIRECTORY_MODEL,       /* model.safetensors or config.json, but no training state */
    TFM_DIRECTORY_RUN,         /* a training run or checkpoint: trainer state, checkpoints/ or current */
} tfm_directory_kind;
tfm_directory_kind tfm_checkpoint_directory_kind(const char *dir);
/* Remove what tfm wrote in `dir` (current, checkpoints/step-*, the checkpoint files, best/, log.jsonl*) and
 * nothing else; for `--force` over an existing run. */
tfm_status tfm_checkpoint_remove_run(const char *dir);
/* Remove the temporaries that killed processes left in a run (their process ids are no longer alive):
 * "*.tmp.<pid>" files, "checkpoints/step-*.tmp-<pid>" directories, "current.tmp-<pid>" links. */
tfm_status tfm_checkpoint_clean_stale(const char *run_dir, int *removed);

#ifdef __cplusplus
}
#endif
#endif
