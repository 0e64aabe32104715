/*
 * The seed's Queue between processes (examples/seed/process_queue.c): the
 * getter prints every value the putter put, in the same order, and ends
 * once the queue stays empty for its timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "seed-output.h"

#define PUT "Process putter put: "
#define GOT "Process getter get: "

Test(seed_queue, the_getter_gets_every_value_in_order_then_ends_on_an_empty_queue, .timeout = 60) {
    struct output o;
    run_example(&o, "0", "process_queue");
    cr_assert_eq(o.n, 2003, "%d lines", o.n);
    cr_assert_geq(find(&o, "Son process Getter", 0), 0);
    cr_assert_geq(find(&o, "Son process Putter", 0), 0);
    int put = -1, got = -1;
    for (int i = 0; i < 1000; i++) {
        put = find(&o, PUT, put + 1);
        got = find(&o, GOT, got + 1);
        cr_assert(put >= 0 && got >= 0, "value %d missing", i);
        cr_assert_str_eq(o.line[put] + strlen(PUT), o.line[got] + strlen(GOT), "value %d", i);
    }
    cr_assert_eq(find(&o, PUT, put + 1), -1);
    cr_assert_eq(find(&o, GOT, got + 1), -1);
    int end = find(&o, "Process getter: the queue stayed empty", 0);
    cr_assert_eq(end, o.n - 1, "the getter's last word is the last line");
    cr_assert_str_eq(o.line[end],
                     "Process getter: the queue stayed empty for 1 s after 1000 values: done");
    free_output(&o);
}

Test(seed_queue, count_argument, .timeout = 60) {
    struct output o;
    run_example(&o, "0", "process_queue 0");
    cr_assert_eq(o.n, 3);
    cr_assert_str_eq(o.line[2],
                     "Process getter: the queue stayed empty for 1 s after 0 values: done");
    free_output(&o);
    run_cmd(&o, "0", "'" PC_SEED_BIN_DIR "'/process_queue -1 2>/dev/null");
    cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2);
    free_output(&o);
}

Test(seed_queue, tour_shows_it_under_its_question, .timeout = 120) {
    struct output o;
    run_tour(&o, "0.01");
    const char *order[] = {
        "Q: 多进程中如何进行不同进程的沟通交流？",
        "$ proc_pipe",
        "Main Done",
        "Q: 多进程中如何进行不同进程的沟通交流？",
        "   How do processes communicate? (A Queue",
        "$ process_queue",
        "Process getter: the queue stayed empty for 1 s after 1000 values: done",
        "tour done in",
    };
    expect_in_order(&o, order, sizeof order / sizeof *order);
    free_output(&o);
}
