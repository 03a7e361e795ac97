/* peak_rss: runs a command and reports its peak resident set size, for bench/bench_gpt.py.
 *
 *   peak_rss REPORT_FILE COMMAND [ARG ...]
 *
 * Writes {"max_rss_kb":N,"exit_code":C,"signal":S,"wall_seconds":W,"user_seconds":U,"system_seconds":Y} to
 * REPORT_FILE and exits with the command's exit code (128 + signal if it was killed). The CPU times let the caller
 * tell how much of the machine other processes used during the run (a busy machine makes timings meaningless). Why a separate program: Linux folds the RSS high-water mark of the address
 * space that calls exec() into the new program's ru_maxrss, so a child forked straight from a Python parent that
 * holds hundreds of MB would report at least the parent's size. This launcher is small, so the command's figure is
 * its own (plus at most this program's ~1 MB). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: peak_rss REPORT_FILE COMMAND [ARG ...]\n");
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "peak_rss: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "peak_rss: cannot run '%s': %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "peak_rss: wait4: %s\n", strerror(errno));
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double wall = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    double user = (double)usage.ru_utime.tv_sec + 1e-6 * (double)usage.ru_utime.tv_usec;
    double system = (double)usage.ru_stime.tv_sec + 1e-6 * (double)usage.ru_stime.tv_usec;
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    FILE *report = fopen(argv[1], "w");
    if (!report) {
        fprintf(stderr, "peak_rss: cannot write '%s': %s\n", argv[1], strerror(errno));
        return 2;
    }
    fprintf(report, "{\"max_rss_kb\":%ld,\"exit_code\":%d,\"signal\":%d,\"wall_seconds\":%.4f,\"user_seconds\":%.4f,"
                    "\"system_seconds\":%.4f}\n",
            usage.ru_maxrss, exit_code, signal_number, wall, user, system);
    if (fclose(report) != 0) {
        fprintf(stderr, "peak_rss: writing '%s' failed\n", argv[1]);
        return 2;
    }
    return exit_code;
}
