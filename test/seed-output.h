/* Running the seed's example programs and reading their output, for the
 * test-seed-*.c files. */
#ifndef PC_TEST_SEED_OUTPUT_H
#define PC_TEST_SEED_OUTPUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"

#define MAX_LINES 8192 /* the whole tour: about 3,100 lines */

struct output {
    char *text; /* all of stdout */
    char *buf;  /* a copy, cut into the lines */
    char *line[MAX_LINES];
    int n;
    int status; /* as pclose() returns it */
};

/* Run `cmd` through the shell with PYCONC_SEED_SCALE=scale and capture its
 * stdout, split into lines.  `timeout` makes sure no example outlives the
 * test. */
static inline void run_cmd(struct output *out, const char *scale, const char *cmd) {
    char full[1024];
    snprintf(full, sizeof full, "PYCONC_SEED_SCALE='%s' timeout -k 5 50 %s", scale, cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", full);
    size_t len = 0, cap = 4096;
    out->text = malloc(cap);
    cr_assert_not_null(out->text);
    size_t got;
    while ((got = fread(out->text + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            out->text = realloc(out->text, cap *= 2);
            cr_assert_not_null(out->text);
        }
    }
    out->text[len] = '\0';
    out->status = pclose(p);
    out->buf = strdup(out->text);
    cr_assert_not_null(out->buf);
    out->n = 0;
    for (char *save, *l = strtok_r(out->buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cr_assert_lt(out->n, MAX_LINES, "too much output from %s", cmd);
        out->line[out->n++] = l;
    }
}

/* Run the example `args` (its name and arguments) at `scale`; it must exit 0. */
static inline void run_example(struct output *out, const char *scale, const char *args) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s'/%s", PC_SEED_BIN_DIR, args);
    run_cmd(out, scale, cmd);
    cr_assert(WIFEXITED(out->status) && WEXITSTATUS(out->status) == 0,
              "%s: exit status %#x; output:\n%s", args, out->status, out->text);
}

static inline void free_output(struct output *out) {
    free(out->text);
    free(out->buf);
}

/* Index of the first line at or after `from` that starts with `prefix`, -1 if none. */
static inline int find(const struct output *o, const char *prefix, int from) {
    for (int i = from; i < o->n; i++)
        if (strncmp(o->line[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

/* Index of the last line that starts with `prefix`, -1 if none. */
static inline int find_last(const struct output *o, const char *prefix) {
    for (int i = o->n - 1; i >= 0; i--)
        if (strncmp(o->line[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

/* Run the whole `make demo` tour (examples/seed/tour.sh) at `scale`; it
 * must exit 0.  Only in the test-seed-* programs, which know both dirs. */
#ifdef PC_SEED_SRC_DIR
static inline void run_tour(struct output *out, const char *scale) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s'/tour.sh '%s'", PC_SEED_SRC_DIR, PC_SEED_BIN_DIR);
    run_cmd(out, scale, cmd);
    cr_assert(WIFEXITED(out->status) && WEXITSTATUS(out->status) == 0, "tour: %#x\n%s", out->status,
              out->text);
}
#endif

/* Lines starting with each of `prefixes`, in this order (others between). */
static inline void expect_in_order(const struct output *o, const char *const *prefixes, size_t n) {
    int at = 0;
    for (size_t i = 0; i < n; i++) {
        int next = find(o, prefixes[i], at);
        cr_assert_geq(next, 0, "\"%s\" missing or out of order in:\n%s", prefixes[i], o->text);
        at = next + 1;
    }
}

static inline int count(const struct output *o, const char *prefix) {
    int c = 0;
    for (int i = find(o, prefix, 0); i >= 0; i = find(o, prefix, i + 1))
        c++;
    return c;
}

#endif
