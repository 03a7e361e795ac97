/* train/data.c: a text file as a stream of byte tokens, split into training windows and a validation tail. */
#include "tfm/io.h" /* tfm_file_open_read, tfm_file_check_input */
#include "tfm/train.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

tfm_status tfm_dataset_load_text(tfm_dataset *d, const char *path, int seq_len, float valid_fraction, uint64_t seed) {
    memset(d, 0, sizeof *d);
    FILE *f = NULL;
    tfm_status opened = tfm_file_open_read(path, &f);
    if (opened) return tfm_error_prefix(opened, "data file: ");
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return tfm_error(TFM_ERR_IO, "%s: cannot seek: %s", path, strerror(errno)); }
    long size = ftell(f);
    rewind(f);
    if (size < 0) { fclose(f); return tfm_error(TFM_ERR_IO, "%s: cannot tell its size", path); }
    if (size == 0) { fclose(f); return tfm_error(TFM_ERR_FORMAT, "data file %s is empty: expected UTF-8 text", path); }
    unsigned char *bytes = tfm_malloc((size_t)size);
    if (!bytes) { fclose(f); return TFM_ERR_OUT_OF_MEMORY; }
    size_t got = fread(bytes, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) { tfm_free(bytes, (size_t)size); return tfm_error(TFM_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, size); }

    tfm_status checked = tfm_text_check_utf8((const char *)bytes, (size_t)size, path);
    if (checked) {
        tfm_free(bytes, (size_t)size);
        return tfm_error_prefix(checked, "data file ");
    }

    size_t count = (size_t)size;
    size_t valid = (size_t)((double)count * valid_fraction);
    size_t window = (size_t)seq_len + 1;
    if (count - valid < window || (valid_fraction > 0 && valid < window)) {
        tfm_free(bytes, (size_t)size);
        return tfm_error(TFM_ERR_FORMAT, "data file %s has %zu tokens: too small for a %zu-token training window%s", path,
                         count, window, valid_fraction > 0 ? " and a validation window" : "");
    }
    d->tokens = tfm_malloc(sizeof(uint16_t) * count);
    if (!d->tokens) { tfm_free(bytes, (size_t)size); return TFM_ERR_OUT_OF_MEMORY; }
    for (size_t i = 0; i < count; i++) d->tokens[i] = bytes[i];
    tfm_free(bytes, (size_t)size);
    d->count = count;
    d->train_count = count - valid;
    tfm_rng_init(&d->position_rng, seed ^ 0xDA7A5E7ull);
    return TFM_OK;
}

/* Stored tokens are 16-bit (half the memory of int32; any vocabulary up to 65,536, GPT-2's included). */
static void widen(int32_t *out, const uint16_t *in, int n) {
    for (int i = 0; i < n; i++) out[i] = in[i];
}

void tfm_dataset_free(tfm_dataset *d) {
    tfm_free(d->tokens, sizeof(uint16_t) * d->count);
    memset(d, 0, sizeof *d);
}

void tfm_dataset_next_train_batch(tfm_dataset *d, int32_t *inputs, int32_t *targets, int B, int T) {
    size_t starts = d->train_count - (size_t)T; /* window [s, s+T] must fit: s + T < train_count */
    for (int b = 0; b < B; b++) {
        size_t s = (size_t)(tfm_rng_bits(&d->position_rng) % starts);
        widen(inputs + (size_t)b * T, d->tokens + s, T);
        widen(targets + (size_t)b * T, d->tokens + s + 1, T);
    }
}

void tfm_dataset_valid_batch(const tfm_dataset *d, long index, int32_t *inputs, int32_t *targets, int B, int T) {
    size_t valid = d->count - d->train_count;
    size_t windows = (valid - 1) / (size_t)T; /* non-overlapping windows in the validation tail */
    if (windows == 0) windows = 1;
    for (int b = 0; b < B; b++) {
        size_t w = ((size_t)index * (size_t)B + (size_t)b) % windows;
        size_t s = d->train_count + w * (size_t)T;
        widen(inputs + (size_t)b * T, d->tokens + s, T);
        widen(targets + (size_t)b * T, d->tokens + s + 1, T);
    }
}
