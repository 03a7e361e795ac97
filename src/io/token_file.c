/* io/token_file.c: token files, a tokenized corpus as 32-bit ids behind a small header, written atomically. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tfm/io.h"

/* The layout, all little-endian:
 *   [0, 8)   "TFMTOK01"
 *   [8, 12)  vocab_size: every id is below it
 *   [12, 16) 0 (reserved)
 *   [16, 24) count
 *   [24, 24 + 4 count) the ids */
#define MAGIC "TFMTOK01"
#define HEADER_BYTES 24

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

tfm_status tfm_token_file_write(const char *path, const uint32_t *ids, size_t count, uint32_t vocab_size) {
    for (size_t i = 0; i < count; i++)
        if (ids[i] >= vocab_size)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: token %zu is id %" PRIu32 ", outside the vocabulary of %" PRIu32, path, i, ids[i], vocab_size);
    unsigned char header[HEADER_BYTES] = {0}, chunk[4096];
    memcpy(header, MAGIC, 8);
    put_u32(header + 8, vocab_size);
    put_u64(header + 16, count);
    tfm_atomic_file f;
    tfm_status st = tfm_atomic_file_open(&f, path);
    if (st) return st;
    tfm_atomic_file_write(&f, header, sizeof header);
    for (size_t i = 0; i < count;) { /* through a little-endian chunk: the same bytes on any host */
        size_t n = 0;
        for (; i < count && n + 4 <= sizeof chunk; i++, n += 4) put_u32(chunk + n, ids[i]);
        tfm_atomic_file_write(&f, chunk, n);
    }
    return tfm_atomic_file_commit(&f);
}

int tfm_token_file_is(const char *path) {
    FILE *f = NULL;
    if (tfm_file_open_read(path, &f) != TFM_OK) return 0;
    char magic[8];
    int is = fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0;
    fclose(f);
    return is;
}

static tfm_status read_ids(FILE *f, const char *path, uint32_t *ids, size_t count, uint32_t vocab_size) {
    unsigned char chunk[4096];
    for (size_t i = 0; i < count;) {
        size_t want = (count - i) * 4 < sizeof chunk ? (count - i) * 4 : sizeof chunk;
        if (fread(chunk, 1, want, f) != want) return tfm_error(TFM_ERR_FORMAT, "%s: truncated at token %zu of %zu", path, i, count);
        for (size_t n = 0; n < want; n += 4, i++) {
            ids[i] = get_u32(chunk + n);
            if (ids[i] >= vocab_size)
                return tfm_error(TFM_ERR_FORMAT, "%s: token %zu is id %" PRIu32 ", outside the vocabulary of %" PRIu32, path, i, ids[i], vocab_size);
        }
    }
    return TFM_OK;
}

tfm_status tfm_token_file_read(const char *path, uint32_t vocab_size, uint32_t **ids, size_t *count, uint32_t *file_vocab_size) {
    *ids = NULL, *count = 0;
    FILE *f = NULL;
    tfm_status st = tfm_file_open_read(path, &f);
    if (st) return st;
    unsigned char header[HEADER_BYTES];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    rewind(f);
    if (size < HEADER_BYTES || fread(header, 1, sizeof header, f) != sizeof header || memcmp(header, MAGIC, 8) != 0) {
        fclose(f);
        return tfm_error(TFM_ERR_FORMAT, "%s: not a token file (expected the \"" MAGIC "\" header that tfm writes)", path);
    }
    uint32_t stored_vocab = get_u32(header + 8);
    uint64_t n = get_u64(header + 16);
    if (n != (uint64_t)(size - HEADER_BYTES) / 4 || (size - HEADER_BYTES) % 4 != 0) {
        fclose(f);
        return tfm_error(TFM_ERR_FORMAT, "%s: the header says %" PRIu64 " tokens but the file has %ld bytes of ids (expected %" PRIu64 "): "
                                         "truncated or not written by tfm", path, n, size - HEADER_BYTES, n * 4);
    }
    if (vocab_size && stored_vocab > vocab_size) {
        fclose(f);
        return tfm_error(TFM_ERR_FORMAT, "%s: tokenized with a vocabulary of %" PRIu32 ", larger than the model's %" PRIu32, path, stored_vocab, vocab_size);
    }
    uint32_t *data = n ? tfm_malloc((size_t)n * sizeof *data) : NULL;
    if (n && !data) {
        fclose(f);
        return tfm_error(TFM_ERR_OUT_OF_MEMORY, "%s: out of memory for %" PRIu64 " tokens", path, n);
    }
    st = read_ids(f, path, data, (size_t)n, stored_vocab);
    fclose(f);
    if (st) {
        tfm_free(data, (size_t)n * sizeof *data);
        return st;
    }
    *ids = data, *count = (size_t)n;
    if (file_vocab_size) *file_vocab_size = stored_vocab;
    return TFM_OK;
}
