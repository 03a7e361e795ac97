/* tests/tools/tool_files.h: reading and writing the raw arrays the parity tools exchange with their Python tests. */
#ifndef TFM_TESTS_TOOL_FILES_H
#define TFM_TESTS_TOOL_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* DIR/NAME, exactly `bytes` long, or a message on stderr and exit(1) (these are test tools, not the library). */
static inline void *tool_read(const char *tool, const char *dir, const char *name, size_t bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    void *data = malloc(bytes ? bytes : 1);
    size_t got = f && data ? fread(data, 1, bytes, f) : 0;
    if (f) fclose(f);
    if (got != bytes) {
        fprintf(stderr, "%s: %s: expected %zu bytes\n", tool, path, bytes);
        exit(1);
    }
    return data;
}

static inline void tool_write(const char *tool, const char *dir, const char *name, const void *data, size_t bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", tool, path);
        exit(1);
    }
}

#endif
