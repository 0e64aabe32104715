/*
 * The seed's thread examples (examples/seed/thread_*.c) and the tour that
 * shows them: each program is run as the tour runs it, its output captured,
 * and what the seed says it shows is checked: the lost update and its two
 * fixes, interleaved threads, a lock keeping one thread's lines together,
 * five names each processed once by three workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "seed-output.h"

/* The value printed after "num = " on the line at index i. */
static long num_on(const struct output *o, int i) {
    cr_assert_geq(i, 0);
    const char *p = strstr(o->line[i], "num = ");
    cr_assert_not_null(p, "no value in: %s", o->line[i]);
    return strtol(p + strlen("num = "), NULL, 10);
}

/* ------------------------------------------------------------------ race */

Test(seed_threads, race_loses_updates_lock_and_atomic_do_not, .timeout = 120) {
    struct output o;
    run_example(&o, "0", "thread_race");
    int last_racy = find_last(&o, "(a) no lock:");
    cr_assert_geq(last_racy, 0, "no unprotected run in:\n%s", o.text);
    cr_assert_neq(num_on(&o, last_racy), 0, "no update lost:\n%s", o.text);
    /* Every run before the last one ended at 0, or it would have stopped. */
    for (int i = find(&o, "(a) no lock:", 0); i < last_racy; i++)
        cr_assert_eq(num_on(&o, i), 0, "%s", o.text);
    cr_assert_eq(num_on(&o, find(&o, "(b) with a pc_lock", 0)), 0, "%s", o.text);
    cr_assert_eq(num_on(&o, find(&o, "(c) with a pc_atomic_long", 0)), 0, "%s", o.text);
    cr_assert_not_null(strstr(o.text, "CPython 3.11"), "no explanation:\n%s", o.text);
    free_output(&o);
}

Test(seed_threads, race_iterations_argument) {
    struct output o;
    run_example(&o, "0", "thread_race 1000");
    int first = find(&o, "(a) no lock:", 0);
    cr_assert_geq(first, 0, "%s", o.text);
    cr_assert_not_null(strstr(o.line[first], "(1000 calls each)"), "%s", o.text);
    cr_assert_not_null(strstr(o.line[find(&o, "(b)", 0)], "(1000 calls each)"), "%s", o.text);
    free_output(&o);

    char cmd[512];
    const char *bad[] = {"0", "-5", "12x", "1000000001", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "'%s'/thread_race %s 2>/dev/null", PC_SEED_BIN_DIR, bad[i]);
        run_cmd(&o, "0", cmd);
        cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2, "thread_race %s: %#x", bad[i],
                  o.status);
        free_output(&o);
    }
}

/* ------------------------------------------------------------- aaa / bbb */

Test(seed_threads, aaa_bbb_run_at_the_same_time, .timeout = 60) {
    struct output o;
    /* 0.1 s sleeps: bbb must print its first line before aaa's third,
     * 0.2 s after aaa's first; starting a thread takes far less. */
    run_example(&o, "0.1", "thread_basics");
    cr_assert_eq(count(&o, "aaa and aaa"), 3, "%s", o.text);
    cr_assert_eq(count(&o, "bbb and bbb"), 3, "%s", o.text);
    cr_assert_lt(find(&o, "aaa and aaa", 0), find_last(&o, "bbb and bbb"), "%s", o.text);
    cr_assert_lt(find(&o, "bbb and bbb", 0), find_last(&o, "aaa and aaa"), "%s", o.text);

    cr_assert_geq(find(&o, "getName: Thread-", 0), 0, "%s", o.text);
    cr_assert_geq(find(&o, "setName: the second thread is now bbb-thread", 0), 0, "%s", o.text);
    int before = find(&o, "before start:", 0), after = find(&o, "after join:", 0);
    cr_assert(before >= 0 && after >= 0, "%s", o.text);
    cr_assert_lt(before, find(&o, "aaa and aaa", 0));
    cr_assert_gt(after, find_last(&o, "bbb and bbb"));
    cr_assert_eq(after, o.n - 1);
    const char *dead = ".is_alive() = False, bbb-thread.is_alive() = False";
    cr_assert_not_null(strstr(o.line[before], dead), "%s", o.line[before]);
    cr_assert_not_null(strstr(o.line[after], dead), "%s", o.line[after]);
    free_output(&o);
}

/* -------------------------------------------------------- MyThread + Lock */

Test(seed_threads, lock_keeps_thread1_lines_before_thread2, .timeout = 60) {
    struct output o;
    run_example(&o, "0.01", "thread_lock");
    cr_assert_eq(count(&o, "开启进程：Thread-1"), 1, "%s", o.text);
    cr_assert_eq(count(&o, "开启进程：Thread-2"), 1, "%s", o.text);
    cr_assert_eq(count(&o, "Thread-1: "), 3, "%s", o.text);
    cr_assert_eq(count(&o, "Thread-2: "), 3, "%s", o.text);
    cr_assert_lt(find(&o, "开启进程：Thread-1", 0), find(&o, "Thread-1: ", 0));
    cr_assert_lt(find(&o, "开启进程：Thread-2", 0), find(&o, "Thread-2: ", 0));
    cr_assert_lt(find_last(&o, "Thread-1: "), find(&o, "Thread-2: ", 0), "%s", o.text);
    cr_assert_str_eq(o.line[o.n - 1], "done", "%s", o.text);
    /* A timestamp as time.ctime() writes it, with milliseconds. */
    char day[8], mon[8];
    int d, h, m, s, ms, y;
    cr_assert_eq(sscanf(o.line[find(&o, "Thread-2: ", 0)], "Thread-2: %3s %3s %d %d:%d:%d.%d %d",
                        day, mon, &d, &h, &m, &s, &ms, &y),
                 8, "%s", o.text);
    free_output(&o);
}

/* ------------------------------------------------------------------ Queue */

Test(seed_threads, queue_names_each_processed_once, .timeout = 60) {
    struct output o;
    run_example(&o, "0.01", "thread_queue");
    const char *names[] = {"One", "Two", "Three", "Four", "Five"};
    int seen[5] = {0};
    for (int i = 0; i < o.n; i++) {
        char who[32], what[32];
        if (sscanf(o.line[i], "%31s processing %31s", who, what) != 2)
            continue;
        int k = who[strlen(who) - 1] - '0';
        cr_assert(strncmp(who, "Thread-", 7) == 0 && strlen(who) == 8 && k >= 1 && k <= 3,
                  "not a worker: %s", o.line[i]);
        /* Processed while its worker ran: after its start line, before its exit line. */
        char start[64], exit_line[64];
        snprintf(start, sizeof start, "开启线程：%s", who);
        snprintf(exit_line, sizeof exit_line, "退出线程：%s", who);
        int st = find(&o, start, 0);
        cr_assert(st >= 0 && st < i, "%s before its start line", o.line[i]);
        cr_assert_gt(find(&o, exit_line, 0), i, "%s after its exit line", o.line[i]);
        int j = 0;
        while (j < 5 && strcmp(what, names[j]) != 0)
            j++;
        cr_assert_lt(j, 5, "unknown name: %s", o.line[i]);
        seen[j]++;
    }
    for (int j = 0; j < 5; j++)
        cr_assert_eq(seen[j], 1, "%s processed %d times:\n%s", names[j], seen[j], o.text);
    for (int k = 1; k <= 3; k++) {
        char line[64];
        snprintf(line, sizeof line, "开启线程：Thread-%d", k);
        cr_assert_eq(count(&o, line), 1, "%s", o.text);
        snprintf(line, sizeof line, "退出线程：Thread-%d", k);
        cr_assert_eq(count(&o, line), 1, "%s", o.text);
    }
    cr_assert_eq(o.n, 3 + 5 + 3 + 1, "%s", o.text);
    cr_assert_str_eq(o.line[o.n - 1], "exit main thread", "%s", o.text);
    free_output(&o);
}

/* ------------------------------------------------------- scale and tour */

Test(seed_threads, bad_scale_is_refused) {
    struct output o;
    char cmd[512];
    const char *bad[] = {"abc", "-1", "nan", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "'%s'/thread_basics 2>/dev/null", PC_SEED_BIN_DIR);
        run_cmd(&o, bad[i], cmd);
        cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2, "scale %s: %#x", bad[i],
                  o.status);
        cr_assert_eq(o.n, 0, "scale %s printed:\n%s", bad[i], o.text);
        free_output(&o);
    }
}

/* `make demo`: every example under its question, in the seed's order. */
Test(seed_threads, tour_shows_each_example_under_its_question, .timeout = 120) {
    struct output o;
    run_tour(&o, "0.01");
    const char *order[] = {
        "Q: 那么有GIL锁了是否线程就是一定安全了？",
        "   So with the GIL",
        "$ thread_race",
        "(c) with a pc_atomic_long",
        "Q: Python中如何使用多线程的基本操作？",
        "   How are the basic thread operations",
        "$ thread_basics",
        "after join:",
        "Q: 多个线程一起对某个数据修改",
        "   When several threads modify",
        "$ thread_lock",
        "done",
        "Q: 如何使用线程优先级队列来实现进程间的同步？",
        "   How is a thread priority queue",
        "$ thread_queue",
        "exit main thread",
        "tour done in",
    };
    expect_in_order(&o, order, sizeof order / sizeof *order);
    free_output(&o);
}

Test(seed_threads, tour_fails_without_the_programs) {
    struct output o;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s'/tour.sh /nonexistent 2>/dev/null", PC_SEED_SRC_DIR);
    run_cmd(&o, "0", cmd);
    cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) != 0, "%#x", o.status);
    free_output(&o);
}
