/*
 * The seed's Pipe example (examples/seed/proc_pipe.c): the child prints
 * every message the parent sent, in order, ends on the end of the stream,
 * and the parent prints "Main Done" after joining it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "seed-output.h"

Test(seed_pipe, son_process_reads_a_thousand_messages_until_end_of_stream, .timeout = 60) {
    struct output o;
    run_example(&o, "0", "proc_pipe");
    cr_assert_eq(o.n, 1002, "%d lines", o.n);
    for (int i = 0; i < 1000; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        cr_assert_str_eq(o.line[i], want);
    }
    cr_assert_str_eq(o.line[1000], "son_process: end of stream after 1000 messages");
    cr_assert_str_eq(o.line[1001], "Main Done");
    free_output(&o);
}

Test(seed_pipe, count_argument) {
    struct output o;
    run_example(&o, "0", "proc_pipe 0");
    cr_assert_eq(o.n, 2);
    cr_assert_str_eq(o.line[0], "son_process: end of stream after 0 messages");
    free_output(&o);
    run_cmd(&o, "0", "'" PC_SEED_BIN_DIR "'/proc_pipe -1 2>/dev/null");
    cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2);
    free_output(&o);
}
