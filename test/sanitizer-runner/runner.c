/* The sanitizer builds' test runner: see criterion/criterion.h beside it. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion/criterion.h"

static struct pc_shim_test *tests;

void pc_shim_register(struct pc_shim_test *t) {
    t->next = tests;
    tests = t;
}

void pc_shim_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

/* Run one test in a child; true if it passed within its timeout. */
static bool run(const struct pc_shim_test *t, double default_timeout) {
    double timeout = t->timeout > 0 ? t->timeout : default_timeout;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        if (t->init)
            t->init();
        t->fn();
        if (t->fini)
            t->fini();
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 > timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "[FAIL] %s::%s: timed out after %.0f s\n", t->suite, t->name, timeout);
            return false;
        }
        usleep(2000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFSIGNALED(status))
        fprintf(stderr, "[FAIL] %s::%s: crashed with signal %d\n", t->suite, t->name,
                WTERMSIG(status));
    else
        fprintf(stderr, "[FAIL] %s::%s: exit status %d\n", t->suite, t->name, WEXITSTATUS(status));
    return false;
}

int main(int argc, char **argv) {
    double default_timeout = 60;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--timeout", 9) == 0 && i + 1 < argc)
            default_timeout = atof(argv[++i]);
    int passed = 0, failed = 0, skipped = 0;
    for (struct pc_shim_test *t = tests; t; t = t->next) {
        if (t->disabled) {
            skipped++;
            continue;
        }
        if (run(t, default_timeout))
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
