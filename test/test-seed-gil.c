/*
 * The seed's GIL examples (examples/seed/gil_*.c): run as the tour runs
 * them, their output checked for what each one shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seed-output.h"

/* The number after `key` on line i. */
static double value_after(const struct output *o, int i, const char *key) {
    cr_assert_geq(i, 0, "line missing in:\n%s", o->text);
    const char *p = strstr(o->line[i], key);
    cr_assert_not_null(p, "no \"%s\" in: %s", key, o->line[i]);
    return strtod(p + strlen(key), NULL);
}

Test(seed_gil, pseudo_parallel_prints_three_times, .timeout = 60) {
    struct output o;
    run_example(&o, "0.2", "gil_pseudo_parallel"); /* long enough for switches under load */
    double seq = value_after(&o, find(&o, "two jobs one after the other:", 0), "other:");
    double gil = value_after(&o, find(&o, "two threads under one GIL:", 0), "GIL:");
    double free_ = value_after(&o, find(&o, "two threads without a GIL:", 0), "GIL:");
    cr_assert(seq > 0 && gil > 0 && free_ > 0, "%s", o.text);
    /* Under the GIL the threads never overlap: one core busy at a time.
     * Measured as CPU time over wall time, which a loaded machine cannot
     * fake (wall times alone can: a sequential run slowed by another job
     * once made the GIL run look twice as fast). */
    int gil_line = find(&o, "two threads under one GIL:", 0);
    cr_assert_lt(value_after(&o, gil_line, "ms; "), 1.3, "%s", o.text);
    cr_assert_gt(value_after(&o, gil_line, "time; "), 0, "%s", o.text);
    free_output(&o);
}

Test(seed_gil, refcount_lost_without_gil_exact_with_it, .timeout = 60) {
    struct output o;
    run_example(&o, "0.01", "gil_refcount");
    cr_assert_eq(value_after(&o, find(&o, "a = [1]; b = a;", 0), "getrefcount(a) ="), 3, "%s",
                 o.text);
    cr_assert_eq(value_after(&o, find(&o, "del b:", 0), "count ="), 1, "%s", o.text);
    int with = find(&o, "  under one GIL:", 0);
    cr_assert_eq(value_after(&o, with, "count ="), 4000000, "%s", o.text);
    cr_assert_eq(value_after(&o, with, "("), 0, "%s", o.text);
    cr_assert_geq(find(&o, "  without a GIL:", 0), 0, "%s", o.text);
    free_output(&o);
}

Test(seed_gil, race_under_the_gil_loses_updates_a_lock_fixes_it, .timeout = 60) {
    struct output o;
    run_example(&o, "0.01", "gil_race");
    cr_assert_neq(value_after(&o, find(&o, "(a) GIL only:", 0), "num ="), 0, "%s", o.text);
    cr_assert_eq(value_after(&o, find(&o, "(b) GIL and a Lock:", 0), "num ="), 0, "%s", o.text);
    free_output(&o);
}

Test(seed_gil, tour_shows_the_gil_questions_first, .timeout = 120) {
    struct output o;
    run_tour(&o, "0.01");
    const char *order[] = {
        "Q: Python中的GIL是什么？",
        "$ gil_pseudo_parallel",
        "two threads without a GIL:",
        "Q: 为什么要引入GIL呢？",
        "$ gil_refcount",
        "  under one GIL:",
        "Q: 那么有GIL锁了",
        "$ gil_race",
        "(b) GIL and a Lock:",
        "$ thread_race",
    };
    expect_in_order(&o, order, sizeof order / sizeof *order);
    free_output(&o);
}

/* Built only where lua5.4 was found (liblua5.4-dev). */
Test(seed_gil, lua_threads_share_one_state_under_the_gil, .timeout = 60) {
    char path[512];
    snprintf(path, sizeof path, "%s/gil_lua", PC_SEED_BIN_DIR);
    if (access(path, X_OK) != 0) {
        cr_log_info("gil_lua not built (no lua5.4): skipped");
        return;
    }
    struct output o;
    run_example(&o, "0.01", "gil_lua");
    for (int at = find(&o, "  3 CPU threads ran", 0), k = 0; k < 2; k++) {
        cr_assert_geq(at, 0, "%s", o.text);
        long ran = (long)value_after(&o, at, "ran ");
        cr_assert_gt(ran, 0, "%s", o.text);
        cr_assert_eq((long)value_after(&o, at, "holds "), ran, "%s", o.text);
        cr_assert_eq(value_after(&o, at, "results, "), 0, "%s", o.text);
        at = find(&o, "  3 CPU threads ran", at + 1);
    }
    /* With the priority option the IO thread gets the GIL back at the
     * holder's next check: under the 5 ms interval (median). */
    int prio = find(&o, "PC_GIL_IO_PRIORITY", 0);
    double med = value_after(&o, find(&o, "  IO thread:", prio), "median ");
    cr_assert_lt(med, 5.0, "%s", o.text); /* one interval; the default order: about three */
    free_output(&o);
}
