/*
 * The seed's coroutine examples (examples/seed/coro_*.c): the asyncio
 * tasks overlap their sleeps (about one sleep in all, not three) and print
 * every test_1 before any test_2; the gevent greenlets print in rounds.
 */
#include "seed-output.h"

/* The seconds printed after "took " on the last line. */
static double took(const struct output *o) {
    const char *p = strstr(o->line[o->n - 1], "took ");
    cr_assert_not_null(p, "no timing line: %s", o->text);
    return atof(p + 5);
}

Test(seed_coro, asyncio_sleeps_overlap, .timeout = 60) {
    struct output o;
    run_example(&o, "0.5", "coro_asyncio"); /* 0.5 s apart from 1.5 s: room for a loaded machine */
    cr_assert_eq(o.n, 7, "output:\n%s", o.text);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "test_1 %d", i);
        cr_assert_str_eq(o.line[i], want);
        snprintf(want, sizeof want, "test_2 %d", i);
        cr_assert_str_eq(o.line[3 + i], want);
    }
    double t = took(&o);
    cr_assert(t >= 0.49 && t < 1.2, "three 0.5 s sleeps took %.2f s: they did not overlap", t);
    free_output(&o);
}

Test(seed_coro, gevent_greenlets_take_turns, .timeout = 60) {
    struct output o;
    run_example(&o, "0.1", "coro_gevent");
    cr_assert_eq(o.n, 10, "output:\n%s", o.text);
    for (int round = 0; round < 3; round++)
        for (int g = 0; g < 3; g++) {
            const char *line = o.line[round * 3 + g];
            char name[32], tail[16];
            snprintf(name, sizeof name, "<Greenlet \"Coro-");
            cr_assert(strncmp(line, name, strlen(name)) == 0, "line %s", line);
            snprintf(tail, sizeof tail, "> %d", round);
            cr_assert(strstr(line, tail) != NULL, "round %d line %s", round, line);
            if (round > 0) /* the same greenlet order every round */
                cr_assert(strncmp(line, o.line[g], strchr(line, '>') - line) == 0);
        }
    double t = took(&o);
    cr_assert(t >= 0.29 && t < 0.65, "3 rounds of 0.1 s took %.2f s", t);
    free_output(&o);
}
