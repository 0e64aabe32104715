/* Shared by the thread tests: a thread held in run() until released. */
#ifndef PC_TEST_THREAD_HELPERS_H
#define PC_TEST_THREAD_HELPERS_H

#include "helpers.h"

/* The held thread sets `in` once it runs, then waits for `go`. */
struct hold {
    pc_event *in, *go;
    pc_thread *seen_current; /* pc_thread_current() inside the thread */
};

static inline void hold_init(struct hold *h) {
    expect_rc(pc_event_new(&h->in), 0);
    expect_rc(pc_event_new(&h->go), 0);
    h->seen_current = NULL;
}

static inline void hold_fini(struct hold *h) {
    pc_event_free(h->in);
    pc_event_free(h->go);
}

/* A function-thread target: returns its argument's address as the result. */
static inline void *held_target(void *arg) {
    struct hold *h = arg;
    h->seen_current = pc_thread_current();
    pc_event_set(h->in);
    pc_event_wait(h->go, 30.0);
    return h;
}

/* A held function thread, started and known to be running. */
static inline pc_thread *start_held(struct hold *h, const pc_thread_opts *opts) {
    pc_thread *t;
    expect_rc(pc_thread_new(&t, held_target, h, opts), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_event_wait(h->in, 10.0), 0);
    return t;
}

#endif
