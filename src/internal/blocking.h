/*
 * The hook around a call that blocks the thread in the kernel (a futex
 * sleep, nanosleep, poll, epoll_wait): a thread attached to a GIL
 * (pyconc/gil.h) releases it while it blocks and takes it back after, as
 * CPython does around blocking system calls.  For a thread that is not
 * attached it is one thread-local load.
 *
 *     pc_gil *g = pc__blocking_begin();
 *     ... the blocking system call ...
 *     pc__blocking_end(g);
 *
 * Nests: an inner begin finds the GIL released and returns NULL.
 */
#ifndef PC_INTERNAL_BLOCKING_H
#define PC_INTERNAL_BLOCKING_H

#include "pyconc/gil.h"

/* The calling thread's attached GIL (pc_gil_attach), or NULL. */
extern _Thread_local pc_gil *pc__tls_gil;

static inline pc_gil *pc__blocking_begin(void) {
    return __builtin_expect(pc__tls_gil != NULL, 0) ? pc_gil_save() : NULL;
}

static inline void pc__blocking_end(pc_gil *saved) {
    if (saved)
        (void)pc_gil_restore(saved); /* forever: cannot fail for the thread that saved it */
}

#endif
