/* io/file.c: whole-file reads and atomic writes (temporary + fsync + rename + directory fsync). */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Fault injection (tests) ---- */

static tfm_file_fault fault_kind = TFM_FILE_FAULT_NONE;
static size_t fault_after_bytes = 0;
static int fault_skip = 0;

void tfm_file_set_fault(tfm_file_fault fault, size_t after_bytes, int skip) {
    fault_kind = fault;
    fault_after_bytes = after_bytes;
    fault_skip = skip;
}

/* Called once per atomic file opened: does an armed fault apply to this one? */
static tfm_file_fault fault_for_new_file(void) {
    if (fault_kind == TFM_FILE_FAULT_NONE) return TFM_FILE_FAULT_NONE;
    if (fault_skip > 0) {
        fault_skip--;
        return TFM_FILE_FAULT_NONE;
    }
    return fault_kind;
}

/* ---- Small path helpers ---- */

char *tfm_file_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = tfm_malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + (size_t)slash, name, b + 1);
    return p;
}

char *tfm_file_absolute(const char *path) {
    char *absolute = realpath(path, NULL);
    char *copy = tfm_strdup(absolute ? absolute : path);
    free(absolute);
    return copy;
}

int tfm_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

tfm_status tfm_file_make_directory(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return tfm_error(TFM_ERR_IO, "%s: exists but is not a directory", dir);
        return TFM_OK;
    }
    /* Create missing parents first, like mkdir -p: "--out runs/gpt" works in a fresh clone. */
    size_t n = strlen(dir);
    char *parent = tfm_malloc(n + 1);
    if (!parent) return TFM_ERR_OUT_OF_MEMORY;
    memcpy(parent, dir, n + 1);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    tfm_status status = TFM_OK;
    if (slash && slash != parent) {
        *slash = '\0';
        status = tfm_file_make_directory(parent);
    }
    tfm_free(parent, strlen(dir) + 1);
    if (status) return status;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return tfm_error(TFM_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
    return TFM_OK;
}

static void free_string(char *s) {
    if (s) tfm_free(s, strlen(s) + 1);
}

/* ---- Reading ---- */

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

tfm_status tfm_file_open_regular(const char *path, int *fd) {
    *fd = -1;
    int d = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* O_NONBLOCK: opening a FIFO would wait for a writer */
    if (d < 0) return tfm_error(TFM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(d, &st) != 0) {
        int e = errno;
        close(d);
        return tfm_error(TFM_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(d);
        return tfm_error(TFM_ERR_IO, "cannot read %s: it is %s, expected a regular file", path, kind_of(st.st_mode));
    }
    int flags = fcntl(d, F_GETFL);
    if (flags >= 0) fcntl(d, F_SETFL, flags & ~O_NONBLOCK);
    *fd = d;
    return TFM_OK;
}

tfm_status tfm_file_open_read(const char *path, FILE **file) {
    *file = NULL;
    int fd = -1;
    tfm_status st = tfm_file_open_regular(path, &fd);
    if (st) return st;
    *file = fdopen(fd, "rb");
    if (!*file) {
        int e = errno;
        close(fd);
        return tfm_error(TFM_ERR_IO, "cannot open %s: %s", path, strerror(e));
    }
    return TFM_OK;
}

tfm_status tfm_file_check_input(FILE *file, const char *name) {
    struct stat st;
    if (fstat(fileno(file), &st) == 0 && S_ISDIR(st.st_mode))
        return tfm_error(TFM_ERR_IO, "cannot read %s: it is a directory", name);
    return TFM_OK;
}

tfm_status tfm_file_read(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = NULL;
    tfm_status status = tfm_file_open_read(path, &f);
    if (status) return status;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return tfm_error(TFM_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    /* Grow as we go: st_size is only a hint (pipes, /proc files report 0). */
    size_t capacity = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, used = 0;
    char *buffer = tfm_malloc(capacity);
    if (!buffer) {
        fclose(f);
        return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "reading %s: ", path);
    }
    for (;;) {
        size_t wanted = capacity - 1 - used;
        size_t n = fread(buffer + used, 1, wanted, f);
        used += n;
        if (n < wanted) break; /* end of file or an error (checked below): no need to grow */
        /* Full: a regular file ends here (st_size was exact), so probe before doubling the buffer. */
        int c = fgetc(f);
        if (c == EOF) break;
        size_t grown = capacity * 2;
        char *b = tfm_realloc(buffer, capacity, grown);
        if (!b) {
            tfm_free(buffer, capacity);
            fclose(f);
            return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "reading %s: ", path);
        }
        buffer = b;
        capacity = grown;
        buffer[used++] = (char)c;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        tfm_free(buffer, capacity);
        return tfm_error(TFM_ERR_IO, "cannot read %s: read error", path);
    }
    /* Exactly used + 1 bytes, so that the caller can free with the size it knows (a regular file needed
     * no growing, so no copy either). */
    char *exact = capacity == used + 1 ? buffer : tfm_realloc(buffer, capacity, used + 1);
    if (!exact) {
        tfm_free(buffer, capacity);
        return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "reading %s: ", path);
    }
    exact[used] = '\0';
    *data = exact;
    *size = used;
    return TFM_OK;
}

/* ---- Atomic writing ---- */

/* The directory holding `path` ("." for a bare name), in fresh memory. */
static char *parent_directory(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return tfm_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = tfm_malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

/* fsync a directory, so a rename inside it survives a power cut. */
static tfm_status sync_directory(const char *dir) {
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return tfm_error(TFM_ERR_IO, "cannot open directory %s to sync it: %s", dir, strerror(errno));
    tfm_status status = TFM_OK;
    /* Some file systems refuse fsync on directories (EINVAL); the rename is still done. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        status = tfm_error(TFM_ERR_IO, "cannot sync directory %s: %s", dir, strerror(errno));
    close(fd);
    return status;
}

/* Per-open fault, kept beside the handle without widening the public struct. */
static _Thread_local tfm_atomic_file *faulty_file = NULL;
static _Thread_local tfm_file_fault faulty_kind = TFM_FILE_FAULT_NONE;

static void release(tfm_atomic_file *file) {
    if (file->stream) fclose(file->stream);
    file->stream = NULL;
    free_string(file->path);
    free_string(file->temp_path);
    free_string(file->directory);
    file->path = file->temp_path = file->directory = NULL;
    if (faulty_file == file) {
        faulty_file = NULL;
        faulty_kind = TFM_FILE_FAULT_NONE;
    }
}

tfm_status tfm_atomic_file_open(tfm_atomic_file *file, const char *path) {
    memset(file, 0, sizeof *file);
    char suffix[48];
    snprintf(suffix, sizeof suffix, ".tmp.%ld", (long)getpid());
    size_t n = strlen(path);
    file->path = tfm_strdup(path);
    file->temp_path = tfm_malloc(n + strlen(suffix) + 1);
    if (file->temp_path) {
        memcpy(file->temp_path, path, n);
        memcpy(file->temp_path + n, suffix, strlen(suffix) + 1);
    }
    file->directory = parent_directory(path);
    if (!file->path || !file->temp_path || !file->directory) {
        release(file);
        return tfm_error_prefix(TFM_ERR_OUT_OF_MEMORY, "writing %s: ", path);
    }
    file->stream = fopen(file->temp_path, "wb");
    if (!file->stream) {
        tfm_status s = tfm_error(TFM_ERR_IO, "cannot create %s: %s", file->temp_path, strerror(errno));
        release(file);
        return s;
    }
    tfm_file_fault fault = fault_for_new_file();
    if (fault != TFM_FILE_FAULT_NONE) {
        faulty_file = file;
        faulty_kind = fault;
    }
    return TFM_OK;
}

tfm_status tfm_atomic_file_write(tfm_atomic_file *file, const void *data, size_t size) {
    if (file->status != TFM_OK) return file->status;
    if (!file->stream) return file->status = tfm_error(TFM_ERR_INVALID_ARGUMENT, "write to a closed atomic file");
    if (faulty_file == file && faulty_kind == TFM_FILE_FAULT_WRITE && file->written + size > fault_after_bytes)
        return file->status = tfm_error(TFM_ERR_IO, "cannot write %s: %s (injected)", file->temp_path, strerror(ENOSPC));
    if (size && fwrite(data, 1, size, file->stream) != size)
        return file->status = tfm_error(TFM_ERR_IO, "cannot write %s: %s", file->temp_path, strerror(errno));
    file->written += size;
    return TFM_OK;
}

void tfm_atomic_file_abort(tfm_atomic_file *file) {
    if (file->stream) {
        fclose(file->stream);
        file->stream = NULL;
    }
    if (file->temp_path) remove(file->temp_path);
    release(file);
}

tfm_status tfm_atomic_file_commit(tfm_atomic_file *file) {
    tfm_status status = file->status;
    int fault = faulty_file == file ? (int)faulty_kind : TFM_FILE_FAULT_NONE;
    if (status == TFM_OK && !file->stream)
        status = tfm_error(TFM_ERR_INVALID_ARGUMENT, "commit of a closed atomic file");
    if (status == TFM_OK && fflush(file->stream) != 0)
        status = tfm_error(TFM_ERR_IO, "cannot write %s: %s", file->temp_path, strerror(errno));
    if (status == TFM_OK) {
        if (fault == TFM_FILE_FAULT_FSYNC)
            status = tfm_error(TFM_ERR_IO, "cannot sync %s: %s (injected)", file->temp_path, strerror(EIO));
        else if (fsync(fileno(file->stream)) != 0)
            status = tfm_error(TFM_ERR_IO, "cannot sync %s: %s", file->temp_path, strerror(errno));
    }
    if (status == TFM_OK) {
        int rc = fclose(file->stream);
        file->stream = NULL;
        if (rc != 0) status = tfm_error(TFM_ERR_IO, "cannot close %s: %s", file->temp_path, strerror(errno));
    }
    if (status == TFM_OK) {
        if (fault == TFM_FILE_FAULT_RENAME)
            status = tfm_error(TFM_ERR_IO, "cannot rename %s to %s: %s (injected)", file->temp_path, file->path,
                               strerror(EXDEV));
        else if (rename(file->temp_path, file->path) != 0)
            status = tfm_error(TFM_ERR_IO, "cannot rename %s to %s: %s", file->temp_path, file->path, strerror(errno));
    }
    if (status != TFM_OK) {
        tfm_atomic_file_abort(file);
        return status;
    }
    status = sync_directory(file->directory);
    release(file);
    return status;
}

tfm_status tfm_file_write_atomic(const char *path, const void *data, size_t size) {
    tfm_atomic_file file;
    tfm_status s = tfm_atomic_file_open(&file, path);
    if (s != TFM_OK) return s;
    tfm_atomic_file_write(&file, data, size);
    return tfm_atomic_file_commit(&file);
}

tfm_status tfm_file_copy(const char *from, const char *to) {
    char *data = NULL;
    size_t size = 0;
    tfm_status st = tfm_file_read(from, &data, &size);
    if (st) return st;
    st = tfm_file_write_atomic(to, data, size);
    tfm_free(data, size + 1);
    return st;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid (overlong, surrogate, > U+10FFFF). */
static int utf8_sequence_length(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned min;
    if ((c & 0xE0) == 0xC0) { n = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if ((size_t)n > left) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return n;
}

tfm_status tfm_text_check_utf8(const char *text, size_t size, const char *name) {
    const unsigned char *bytes = (const unsigned char *)text;
    long line = 1;
    for (size_t i = 0; i < size;) {
        int n = utf8_sequence_length(bytes + i, size - i);
        if (n == 0) return tfm_error(TFM_ERR_FORMAT, "%s: invalid UTF-8 at byte offset %zu (line %ld): expected UTF-8 text", name, i, line);
        if (bytes[i] == '\n') line++;
        i += (size_t)n;
    }
    return TFM_OK;
}
