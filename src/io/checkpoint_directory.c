/* io/checkpoint_directory.c: run directories: one complete checkpoint per save under checkpoints/, made current by one atomic rename of a link. */
#define _DEFAULT_SOURCE /* symlink, readlink, kill */
#include "io/file.h"
#include "io/train_state.h"
#include "tfm/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKPOINTS "checkpoints"
#define CURRENT "current"
#define STEP_PREFIX "step-"
/* The files of one checkpoint, as checkpoint.c writes them. */
static const char *const checkpoint_files[] = {"model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json"};
enum { CHECKPOINT_FILES = 4 };

static void free_string(char *s) {
    if (s) tfm_free(s, strlen(s) + 1);
}

/* "dir/a/b" in one allocation (NULL when out of memory). */
static char *join2(const char *dir, const char *a, const char *b) {
    char *first = tfm_file_join(dir, a);
    if (!first || !b) return first;
    char *both = tfm_file_join(first, b);
    free_string(first);
    return both;
}

static int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_link(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* fsync a directory so the renames inside it survive a power cut (EINVAL: the file system cannot, fine). */
static tfm_status sync_directory(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return tfm_error(TFM_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
    int failed = fsync(fd) != 0 && errno != EINVAL && errno != EROFS;
    int saved = errno;
    close(fd);
    if (failed) return tfm_error(TFM_ERR_IO, "cannot sync directory %s: %s", dir, strerror(saved));
    return TFM_OK;
}

/* A checkpoint directory's name: "step-<digits>" or, when that step was saved twice (a resumed run saving
 * the step it resumed at), "step-<digits>.<revision>". Temporaries ("step-00000200.tmp-123") are not names. */
typedef struct {
    long step, revision;
} step_name;

static int parse_digits(const char *p, const char *end, long *value) {
    if (p == end) return 0;
    long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > 100000000000L) return 0;
        v = v * 10 + (*p - '0');
    }
    *value = v;
    return 1;
}

/* 1 and *out when `name` is a checkpoint directory's name. */
static void format_step_name(char *buffer, size_t size, step_name name) {
    if (name.revision) snprintf(buffer, size, STEP_PREFIX "%08ld.%ld", name.step, name.revision);
    else snprintf(buffer, size, STEP_PREFIX "%08ld", name.step);
}

static int parse_step_name(const char *name, step_name *out) {
    size_t n = strlen(STEP_PREFIX);
    if (strncmp(name, STEP_PREFIX, n) != 0) return 0;
    const char *digits = name + n, *dot = strchr(digits, '.'), *end = digits + strlen(digits);
    out->revision = 0;
    if (!parse_digits(digits, dot ? dot : end, &out->step)) return 0;
    if (dot && !parse_digits(dot + 1, end, &out->revision)) return 0;
    /* Only the names tfm writes ("step-00000007", "step-00000007.1"): another spelling of the same step
     * ("step-7", "step-7.0") would be re-spelled, and resolved to a directory that does not exist. */
    char canonical[64];
    format_step_name(canonical, sizeof canonical, *out);
    return strcmp(canonical, name) == 0;
}

static int step_name_before(step_name a, step_name b) { return a.step < b.step || (a.step == b.step && a.revision < b.revision); }

/* The pid of a name ending in "<marker><digits>", or 0. */
static long pid_after(const char *name, const char *marker) {
    const char *m = strstr(name, marker);
    if (!m) return 0;
    const char *digits = m + strlen(marker);
    if (!*digits) return 0;
    long pid = 0;
    for (const char *p = digits; *p; p++) {
        if (*p < '0' || *p > '9' || pid > 100000000L) return 0;
        pid = pid * 10 + (*p - '0');
    }
    return pid;
}

static int process_alive(long pid) { return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

/* Remove a directory tfm wrote and the plain files in it (checkpoints hold no subdirectories). */
static tfm_status remove_directory_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? TFM_OK : tfm_error(TFM_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
    tfm_status st = TFM_OK;
    for (struct dirent *e; st == TFM_OK && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *path = tfm_file_join(dir, e->d_name);
        if (!path) st = TFM_ERR_OUT_OF_MEMORY;
        else if (unlink(path) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        free_string(path);
    }
    closedir(d);
    if (st == TFM_OK && rmdir(dir) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove directory %s: %s", dir, strerror(errno));
    return st;
}

/* ---- Which checkpoint a directory stands for ---- */

/* The checkpoint directories in RUN/checkpoints, in no order (the allocator is told each block's size). */
typedef struct {
    step_name *items;
    int count, capacity;
} step_list;

static void free_steps(step_list *list) {
    if (list->items) tfm_free(list->items, (size_t)list->capacity * sizeof *list->items);
    *list = (step_list){0};
}

static tfm_status append_step(step_list *list, step_name name) {
    if (list->count == list->capacity) {
        int grown = list->capacity ? 2 * list->capacity : 16;
        step_name *bigger = tfm_realloc(list->items, (size_t)list->capacity * sizeof *bigger, (size_t)grown * sizeof *bigger);
        if (!bigger) return TFM_ERR_OUT_OF_MEMORY;
        list->items = bigger;
        list->capacity = grown;
    }
    list->items[list->count++] = name;
    return TFM_OK;
}

/* Every checkpoint directory of RUN (none when RUN/checkpoints does not exist). */
static tfm_status list_steps(const char *run_dir, step_list *list) {
    *list = (step_list){0};
    char *dir = tfm_file_join(run_dir, CHECKPOINTS);
    if (!dir) return TFM_ERR_OUT_OF_MEMORY;
    DIR *d = opendir(dir);
    tfm_status st = d || errno == ENOENT || errno == ENOTDIR ? TFM_OK : tfm_error(TFM_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
    for (struct dirent *e; d && !st && (e = readdir(d)) != NULL;) {
        step_name name;
        struct stat info; /* a file of that name is not a checkpoint */
        if (parse_step_name(e->d_name, &name) && fstatat(dirfd(d), e->d_name, &info, 0) == 0 && S_ISDIR(info.st_mode))
            st = append_step(list, name);
    }
    if (d) closedir(d);
    free_string(dir);
    if (st) free_steps(list);
    return st;
}

/* RUN/checkpoints/<newest>, NULL when there is none (a run killed between its first save's rename and link). */
static char *newest_checkpoint(const char *run_dir, tfm_status *st) {
    step_list steps;
    *st = list_steps(run_dir, &steps);
    if (*st || steps.count == 0) return NULL;
    step_name newest = steps.items[0];
    for (int i = 1; i < steps.count; i++)
        if (step_name_before(newest, steps.items[i])) newest = steps.items[i];
    free_steps(&steps);
    char name[64];
    format_step_name(name, sizeof name, newest);
    char *path = join2(run_dir, CHECKPOINTS, name);
    if (!path) *st = TFM_ERR_OUT_OF_MEMORY;
    return path;
}

/* RUN/current's target as "RUN/checkpoints/step-N", or NULL when there is no link (*st set when it is unusable). */
static char *current_target(const char *run_dir, tfm_status *st) {
    *st = TFM_OK;
    char *link = tfm_file_join(run_dir, CURRENT);
    if (!link) {
        *st = TFM_ERR_OUT_OF_MEMORY;
        return NULL;
    }
    char target[512];
    ssize_t n = readlink(link, target, sizeof target - 1);
    char *path = NULL;
    step_name name;
    if (n < 0) {
        if (errno != ENOENT && errno != ENOTDIR) *st = tfm_error(TFM_ERR_IO, "%s: %s (expected a link to checkpoints/step-N)", link, strerror(errno));
    } else {
        target[n] = '\0';
        size_t prefix = strlen(CHECKPOINTS) + 1;
        if (strncmp(target, CHECKPOINTS "/", prefix) != 0 || !parse_step_name(target + prefix, &name))
            *st = tfm_error(TFM_ERR_FORMAT, "%s: links to \"%s\", expected checkpoints/step-N", link, target);
        else if (!(path = tfm_file_join(run_dir, target)))
            *st = TFM_ERR_OUT_OF_MEMORY;
        else if (!is_directory(path)) {
            *st = tfm_error(TFM_ERR_IO, "%s: links to %s, which is missing", link, path);
            free_string(path);
            path = NULL;
        }
    }
    free_string(link);
    return path;
}

tfm_status tfm_checkpoint_resolve(const char *dir, char **path) {
    *path = NULL;
    tfm_status st;
    char *target = current_target(dir, &st);
    if (!st && !target) target = newest_checkpoint(dir, &st);
    if (st) return st;
    *path = target ? target : tfm_strdup(dir);
    return *path ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

tfm_directory_kind tfm_checkpoint_directory_kind(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return TFM_DIRECTORY_MISSING;
    if (!is_directory(dir)) return TFM_DIRECTORY_OTHER;
    const char *run_names[] = {CURRENT, CHECKPOINTS, "trainer_state.json", "optimizer.safetensors"};
    const char *model_names[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 4; i++) {
        char *p = tfm_file_join(dir, run_names[i]);
        int found = p && lstat(p, &st) == 0;
        free_string(p);
        if (found) return TFM_DIRECTORY_RUN;
    }
    for (int i = 0; i < 2; i++) {
        char *p = tfm_file_join(dir, model_names[i]);
        int found = p && lstat(p, &st) == 0;
        free_string(p);
        if (found) return TFM_DIRECTORY_MODEL;
    }
    DIR *d = opendir(dir);
    if (!d) return TFM_DIRECTORY_OTHER;
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;) empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty ? TFM_DIRECTORY_EMPTY : TFM_DIRECTORY_OTHER;
}

/* ---- Saving a step ---- */

/* Point RUN/current at checkpoints/<name>: a new link under a temporary name, renamed over the old one. */
static tfm_status switch_current(const char *run_dir, const char *name) {
    char target[256], temp_name[64];
    snprintf(target, sizeof target, CHECKPOINTS "/%s", name);
    snprintf(temp_name, sizeof temp_name, CURRENT ".tmp-%ld", (long)getpid());
    char *temp = tfm_file_join(run_dir, temp_name), *link = tfm_file_join(run_dir, CURRENT);
    tfm_status st = temp && link ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
    if (!st) unlink(temp);
    if (!st && symlink(target, temp) != 0) st = tfm_error(TFM_ERR_IO, "cannot create the link %s: %s", temp, strerror(errno));
    if (!st && rename(temp, link) != 0) {
        st = tfm_error(TFM_ERR_IO, "cannot rename %s to %s: %s", temp, link, strerror(errno));
        unlink(temp);
    }
    if (!st) st = sync_directory(run_dir);
    free_string(temp);
    free_string(link);
    return st;
}

/* Keep the `keep` newest checkpoint directories and the current one; remove the others. */
static tfm_status prune(const char *run_dir, int keep, step_name current) {
    step_list list;
    tfm_status st = list_steps(run_dir, &list);
    step_name *steps = list.items;
    int count = list.count;
    for (int left = count; !st && left > keep; left--) {
        int oldest = -1; /* the oldest directory not yet removed that is not current */
        for (int i = 0; i < count; i++)
            if (steps[i].step >= 0 && !(steps[i].step == current.step && steps[i].revision == current.revision) &&
                (oldest < 0 || step_name_before(steps[i], steps[oldest])))
                oldest = i;
        if (oldest < 0) break;
        char name[64];
        format_step_name(name, sizeof name, steps[oldest]);
        char *path = join2(run_dir, CHECKPOINTS, name);
        st = path ? remove_directory_files(path) : TFM_ERR_OUT_OF_MEMORY;
        free_string(path);
        steps[oldest].step = -1;
    }
    free_steps(&list);
    return st;
}

/* The name a new checkpoint of `step` takes: "step-N", or the next free revision when a directory of that
 * step exists already (it may be the current one, which must stay until the new one is complete). */
static tfm_status free_step_name(const char *run_dir, long step, step_name *out) {
    step_list steps;
    tfm_status st = list_steps(run_dir, &steps);
    *out = (step_name){step, 0};
    for (int i = 0; i < steps.count; i++)
        if (steps.items[i].step == step && steps.items[i].revision >= out->revision) out->revision = steps.items[i].revision + 1;
    free_steps(&steps);
    return st;
}

/* A complete checkpoint in RUN/checkpoints/<temporary> becomes RUN/checkpoints/<name> and then current:
 * synced, renamed, the parent synced, the link switched. A kill before the switch leaves the previous
 * checkpoint current (and this one complete, found when there is no link at all). */
static tfm_status publish(const char *run_dir, const char *temp, step_name name) {
    char final_name[64];
    format_step_name(final_name, sizeof final_name, name);
    char *checkpoints = tfm_file_join(run_dir, CHECKPOINTS), *final = join2(run_dir, CHECKPOINTS, final_name);
    tfm_status st = checkpoints && final ? sync_directory(temp) : TFM_ERR_OUT_OF_MEMORY;
    if (!st && rename(temp, final) != 0) st = tfm_error(TFM_ERR_IO, "cannot rename %s to %s: %s", temp, final, strerror(errno));
    if (!st) st = sync_directory(checkpoints);
    if (!st) st = switch_current(run_dir, final_name);
    free_string(checkpoints);
    free_string(final);
    return st;
}

/* "RUN/checkpoints/step-N.tmp-<pid>": where a checkpoint of `step` is written before it is published. */
static char *temporary_directory(const char *run_dir, long step) {
    char name[96];
    snprintf(name, sizeof name, STEP_PREFIX "%08ld.tmp-%ld", step, (long)getpid());
    return join2(run_dir, CHECKPOINTS, name);
}

static tfm_status remove_flat_files(const char *run_dir) {
    tfm_status st = TFM_OK;
    for (int i = CHECKPOINT_FILES - 1; i >= 0 && !st; i--) { /* trainer state first: the flat copy is no longer a checkpoint */
        char *flat_file = tfm_file_join(run_dir, checkpoint_files[i]);
        if (!flat_file) st = TFM_ERR_OUT_OF_MEMORY;
        else if (unlink(flat_file) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", flat_file, strerror(errno));
        free_string(flat_file);
    }
    return st;
}

/* The step recorded in a flat run's trainer_state.json. */
static tfm_status flat_step(const char *run_dir, long *step) {
    char *text = NULL, *path = tfm_file_join(run_dir, "trainer_state.json");
    size_t size = 0;
    tfm_train_state *parsed = NULL;
    tfm_status st = path ? tfm_file_read(path, &text, &size) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = tfm_train_state_parse(&parsed, text, path);
    if (!st) st = tfm_train_state_get_count(parsed, "step", step);
    tfm_train_state_free(parsed);
    if (text) tfm_free(text, size + 1);
    free_string(path);
    return st;
}

/* A run saved before checkpoints/ existed (the four files directly in RUN): hard-link them into
 * checkpoints/step-N, publish that, then remove the flat names. A kill at any point leaves either the flat
 * checkpoint or a published one (which every loader prefers). */
static tfm_status adopt_flat_checkpoint(const char *run_dir) {
    char *state = tfm_file_join(run_dir, "trainer_state.json"), *link_path = tfm_file_join(run_dir, CURRENT);
    int flat = state && tfm_file_exists(state), published = link_path && is_link(link_path);
    free_string(state);
    free_string(link_path);
    if (!flat) return TFM_OK;
    if (published) return remove_flat_files(run_dir); /* a kill came between the switch and the removal */
    long step = 0;
    step_name name;
    tfm_status st = flat_step(run_dir, &step);
    if (st) return tfm_error_prefix(st, "adopting the checkpoint saved directly in %s: ", run_dir);
    char *checkpoints = tfm_file_join(run_dir, CHECKPOINTS), *temp = temporary_directory(run_dir, step < 0 ? 0 : step);
    st = checkpoints && temp ? tfm_file_make_directory(checkpoints) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = free_step_name(run_dir, step < 0 ? 0 : step, &name);
    if (!st && is_directory(temp)) st = remove_directory_files(temp);
    if (!st) st = tfm_file_make_directory(temp);
    for (int i = 0; i < CHECKPOINT_FILES && !st; i++) {
        char *from = tfm_file_join(run_dir, checkpoint_files[i]), *to = tfm_file_join(temp, checkpoint_files[i]);
        if (!from || !to) st = TFM_ERR_OUT_OF_MEMORY;
        else if (link(from, to) != 0 && !(errno == ENOENT && !tfm_file_exists(from)))
            st = tfm_error(TFM_ERR_IO, "cannot link %s to %s: %s", from, to, strerror(errno));
        free_string(from);
        free_string(to);
    }
    if (!st) st = publish(run_dir, temp, name);
    if (!st) st = remove_flat_files(run_dir);
    if (st && temp && is_directory(temp)) remove_directory_files(temp);
    free_string(checkpoints);
    free_string(temp);
    return st;
}

tfm_status tfm_checkpoint_save_step(const char *run_dir, long step, int keep, const tfm_params *params,
                                    const char *config_json, const char *trainer_state_json) {
    if (step < 0 || keep < 1)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "saving %s: step %ld and keep %d (expected step >= 0, keep >= 1)", run_dir, step, keep);
    char *checkpoints = tfm_file_join(run_dir, CHECKPOINTS), *temp = temporary_directory(run_dir, step);
    step_name name;
    tfm_status st = checkpoints && temp ? tfm_file_make_directory(run_dir) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = adopt_flat_checkpoint(run_dir);
    if (!st) st = tfm_file_make_directory(checkpoints);
    if (!st) st = free_step_name(run_dir, step, &name);
    if (!st && is_directory(temp)) st = remove_directory_files(temp);
    if (!st) st = tfm_checkpoint_save(temp, params, config_json, trainer_state_json);
    if (!st) st = publish(run_dir, temp, name);
    if (!st) st = prune(run_dir, keep, name);
    if (st && temp && is_directory(temp)) remove_directory_files(temp); /* a failed save leaves nothing behind */
    free_string(checkpoints);
    free_string(temp);
    if (st) return tfm_error_prefix(st, "saving step %ld in %s (the previous checkpoint stays current): ", step, run_dir);
    return st;
}

/* ---- Removing a run, cleaning after killed runs ---- */

tfm_status tfm_checkpoint_remove_run(const char *dir) {
    if (!is_directory(dir)) return TFM_OK;
    tfm_status st = TFM_OK;
    char *link = tfm_file_join(dir, CURRENT), *checkpoints = tfm_file_join(dir, CHECKPOINTS), *best = tfm_file_join(dir, "best");
    if (!link || !checkpoints || !best) st = TFM_ERR_OUT_OF_MEMORY;
    if (!st && unlink(link) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", link, strerror(errno));
    DIR *d = !st ? opendir(checkpoints) : NULL;
    for (struct dirent *e; d && !st && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, STEP_PREFIX, strlen(STEP_PREFIX)) != 0) continue;
        char *path = tfm_file_join(checkpoints, e->d_name);
        st = path ? remove_directory_files(path) : TFM_ERR_OUT_OF_MEMORY;
        free_string(path);
    }
    if (d) closedir(d);
    if (!st && rmdir(checkpoints) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        st = tfm_error(TFM_ERR_IO, "cannot remove directory %s: %s", checkpoints, strerror(errno));
    if (!st && is_directory(best)) st = remove_directory_files(best);
    const char *files[] = {"trainer_state.json", "optimizer.safetensors", "model.safetensors", "config.json", "log.jsonl"};
    for (int i = 0; i < 5 && !st; i++) {
        char *path = tfm_file_join(dir, files[i]);
        if (!path) st = TFM_ERR_OUT_OF_MEMORY;
        else if (unlink(path) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        free_string(path);
    }
    free_string(link);
    free_string(checkpoints);
    free_string(best);
    return st;
}

/* Remove the dead processes' temporaries directly in `dir`: files "*.tmp.<pid>", and (when `directories`)
 * directories "*.tmp-<pid>" and links "current.tmp-<pid>". */
static tfm_status clean_directory(const char *dir, int directories, int *removed) {
    DIR *d = opendir(dir);
    if (!d) return TFM_OK;
    tfm_status st = TFM_OK;
    for (struct dirent *e; !st && (e = readdir(d)) != NULL;) {
        long file_pid = pid_after(e->d_name, ".tmp."), dir_pid = directories ? pid_after(e->d_name, ".tmp-") : 0;
        long pid = file_pid ? file_pid : dir_pid;
        if (!pid || process_alive(pid)) continue;
        char *path = tfm_file_join(dir, e->d_name);
        if (!path) st = TFM_ERR_OUT_OF_MEMORY;
        else if (dir_pid && is_directory(path) && !is_link(path)) st = remove_directory_files(path);
        else if (unlink(path) != 0 && errno != ENOENT) st = tfm_error(TFM_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        if (!st) (*removed)++;
        free_string(path);
    }
    closedir(d);
    return st;
}

tfm_status tfm_checkpoint_clean_stale(const char *run_dir, int *removed) {
    int count = 0;
    char *checkpoints = tfm_file_join(run_dir, CHECKPOINTS), *best = tfm_file_join(run_dir, "best");
    tfm_status st = checkpoints && best ? clean_directory(run_dir, 1, &count) : TFM_ERR_OUT_OF_MEMORY;
    if (!st) st = clean_directory(checkpoints, 1, &count);
    if (!st) st = clean_directory(best, 0, &count);
    free_string(checkpoints);
    free_string(best);
    if (removed) *removed = count;
    return st;
}
