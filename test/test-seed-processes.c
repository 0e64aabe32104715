/*
 * The seed's process examples (examples/seed/process_*.c): info() from
 * the parent and from children under each start method, three workers
 * running at once beside cpu_count and active_children, ClockProcess
 * printing the time at its interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed-output.h"

static int value_after(const struct output *o, int i, const char *key) {
    cr_assert_geq(i, 0);
    const char *p = strstr(o->line[i], key);
    cr_assert_not_null(p, "no %s in: %s", key, o->line[i]);
    return atoi(p + strlen(key));
}

Test(seed_processes, info_from_parent_and_child_under_each_method, .timeout = 60) {
    struct output o;
    run_example(&o, "0", "process_basics");
    int main_line = find(&o, "main line", 0);
    cr_assert_eq(main_line, 0, "%s", o.text);
    int main_pid = value_after(&o, main_line + 3, "process id: ");
    const char *methods[] = {"spawn", "fork", "forkserver"};
    int from = 0;
    for (int i = 0; i < 3; i++) {
        char head[64];
        snprintf(head, sizeof head, "-- start method: %s", methods[i]);
        int h = find(&o, head, from);
        cr_assert_geq(h, 0, "%s", o.text);
        cr_assert_str_eq(o.line[h + 1], "function f");
        char name[32];
        snprintf(name, sizeof name, "process name: Process-%d", i + 1);
        cr_assert_str_eq(o.line[h + 2], name, "%s", o.text);
        cr_assert_eq(value_after(&o, h + 3, "parent process: "), main_pid, "%s", o.text);
        cr_assert_neq(value_after(&o, h + 4, "process id: "), main_pid);
        cr_assert_str_eq(o.line[h + 5], "hello bob");
        cr_assert_not_null(strstr(o.line[h + 6], "exitcode = 0"), "%s", o.text);
        from = h + 1;
    }
    cr_assert_geq(find(&o, "the default start method: forkserver", 0), 0, "%s", o.text);
    free_output(&o);
}

Test(seed_processes, three_workers_run_at_once, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_work");
    int end = find(&o, "END", 0);
    cr_assert_geq(end, 0, "%s", o.text);
    cr_assert_eq(count(&o, "child p.name:Process-"), 3, "%s", o.text);
    cr_assert_gt(value_after(&o, find(&o, "The number of CPU is:", 0), "The number of CPU is:"), 0);
    for (int n = 1; n <= 3; n++) {
        char w[16], e[16];
        snprintf(w, sizeof w, "work-%d", n);
        snprintf(e, sizeof e, "End work-%d", n);
        cr_assert_eq(count(&o, e), 1, "%s", o.text);
        /* every worker is still running when END is printed */
        cr_assert_gt(find(&o, e, 0), end, "%s", o.text);
    }
    cr_assert_lt(find(&o, "End work-1", 0), find(&o, "End work-3", 0), "%s", o.text);
    free_output(&o);
}

Test(seed_processes, clock_process_prints_the_time_at_its_interval, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_class"); /* 0.3 s apart */
    cr_assert_eq(o.n, 5, "%s", o.text);
    double prev = 0;
    for (int i = 0; i < 5; i++) {
        char day[8], mon[8];
        int d, h, m, s, ms, y;
        cr_assert_eq(sscanf(o.line[i], "The time is %3s %3s %d %d:%d:%d.%d %d", day, mon, &d, &h,
                            &m, &s, &ms, &y),
                     8, "%s", o.text);
        double t = h * 3600 + m * 60 + s + ms / 1000.0;
        if (i > 0 && t > prev) /* (not across midnight) */
            cr_assert_geq(t - prev, 0.25, "%s", o.text);
        prev = t;
    }
    free_output(&o);
}

/* `make demo` shows them under their questions, after the threads'. */
Test(seed_processes, tour_shows_them_under_their_questions, .timeout = 120) {
    struct output o;
    run_tour(&o, "0.01");
    const char *order[] = {
        "$ thread_queue",
        "Q: Python的多进程和多线程有什么区别？",
        "   How do processes differ from threads?",
        "$ process_basics",
        "-- start method: forkserver",
        "Q: 在使用Process时候使用函数和类的区别？（函数方式）",
        "$ process_work",
        "END",
        "Q: 在使用Process时候使用函数和类的区别？（类方式）",
        "$ process_class",
        "The time is",
        "$ process_pool apply",
        "$ process_pool apply_async",
        "$ process_pool map_async",
        "tour done in",
    };
    expect_in_order(&o, order, sizeof order / sizeof *order);
    free_output(&o);
}

/* The seed's shared Value (examples/seed/process_value.c): without the lock
 * the two jobs' prints interleave; with it p2's five steps come whole, then
 * p1's, as in the seed's run; at full speed the lock loses nothing. */
Test(seed_processes, value_with_and_without_the_lock, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_value");
    int without = find(&o, "without a lock:", 0);
    int with = find(&o, "with the lock:", 0);
    cr_assert(without >= 0 && with > without, "%s", o.text);
    int n = 0, last = 0; /* ten values, the last at most 20 */
    for (const char *p = o.line[without + 1]; *p; p++)
        if (*p == ',')
            n++;
    cr_assert_eq(n, 10, "%s", o.text);
    cr_assert_eq(sscanf(o.line[without + 2], "final value %d", &last), 1, "%s", o.text);
    cr_assert(last > 0 && last <= 20, "%s", o.text);
    int got = -1;
    int fast = find(&o, "without a lock, 100000", 0);
    cr_assert_geq(fast, 0, "%s", o.text);
    cr_assert_eq(sscanf(strstr(o.line[fast], "speed: "), "speed: %d", &got), 1);
    cr_assert(got > 0 && got <= 400000, "%s", o.text);
    cr_assert_str_eq(o.line[with + 1], "3,6,9,12,15,16,17,18,19,20,", "%s", o.text);
    cr_assert_str_eq(o.line[with + 2], "final value 20");
    cr_assert_str_eq(o.line[with + 3],
                     "with the lock, 100000 += 1 and 100000 += 3 at full speed: 400000 of 400000");
    free_output(&o);
}

/* The seed's Pool (examples/seed/process_pool.c).  apply: 0..9 in order,
 * one at a time (ten sleeps of 0.3 s take >= 2.7 s), `test` after them.
 * apply_async: `test` first, the ten sleeps side by side (well under the
 * sequential 3 s).  map_async over range(500) with 2 processes: `test`
 * first, every item once, in chunks of 63 (Python's chunksize) each run
 * in order, and two at a time (500 sleeps of 3 ms: 1.5 s one by one). */
static double took(const struct output *o) {
    int i = find(o, "(took ", 0);
    cr_assert_geq(i, 0, "%s", o->text);
    return atof(o->line[i] + strlen("(took "));
}

Test(seed_processes, pool_apply_runs_tasks_one_by_one, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_pool apply");
    cr_assert_eq(o.n, 13, "%s", o.text);
    for (int i = 0; i < 10; i++) {
        char want[8];
        snprintf(want, sizeof want, "%d", i);
        cr_assert_str_eq(o.line[1 + i], want, "%s", o.text);
    }
    cr_assert_str_eq(o.line[11], "test", "%s", o.text);
    cr_assert_geq(took(&o), 2.7, "%s", o.text);
    free_output(&o);
}

Test(seed_processes, pool_apply_async_runs_tasks_side_by_side, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_pool apply_async");
    cr_assert_eq(o.n, 13, "%s", o.text);
    int t0 = find(&o, "test", 0); /* apply_async returned at once */
    cr_assert(t0 >= 1 && t0 <= 3, "%s", o.text);
    bool seen[10] = {0};
    for (int i = 1; i < 12; i++) {
        if (i == t0)
            continue;
        int v = atoi(o.line[i]);
        cr_assert(v >= 0 && v < 10 && !seen[v], "%s", o.text);
        seen[v] = true;
    }
    double t = took(&o);
    cr_assert(t >= 0.28 && t < 2.0, "took %.2f s, sequential is 3 s:\n%s", t, o.text);
    free_output(&o);
}

Test(seed_processes, pool_map_async_two_at_a_time, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "process_pool map_async");
    cr_assert_eq(o.n, 503, "%s", o.text);
    /* map_async returned at once: `test` comes within the first tenth of
     * the items (the workers start printing while the parent returns
     * from map_async; under a sanitizer a few items come first), never
     * after the map (a blocking map would print it last) */
    int t0 = find(&o, "test", 0);
    cr_assert(t0 >= 1 && t0 <= 50, "%s", o.text);
    bool seen[500] = {0};
    int first[2], nf = 0;
    for (int i = 1; i < 502; i++) {
        if (i == t0)
            continue;
        int v = atoi(o.line[i]);
        if (nf < 2)
            first[nf++] = v;
        cr_assert(v >= 0 && v < 500 && !seen[v], "line %d: %s", i, o.line[i]);
        seen[v] = true;
    }
    /* chunks of 63 (Python's rule): the first item printed begins chunk 0
     * or 1, and each chunk runs in order on one worker */
    cr_assert(first[0] == 0 || first[0] == 63, "%d %d", first[0], first[1]);
    int last0 = -1, last1 = 62;
    for (int i = 1; i < 502; i++) {
        if (i == t0)
            continue;
        int v = atoi(o.line[i]);
        if (v < 63) {
            cr_assert_gt(v, last0, "chunk 0 out of order at line %d", i);
            last0 = v;
        } else if (v < 126) {
            cr_assert_gt(v, last1, "chunk 1 out of order at line %d", i);
            last1 = v;
        }
    }
    double t = took(&o);
    cr_assert(t >= 0.7 && t < 1.4, "took %.2f s: one at a time is 1.5 s, two 0.75 s", t);
    free_output(&o);
}
