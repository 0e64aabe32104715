/*
 * Thread records: allocation, names and reference counting.
 *
 * See rec.h for who holds a reference and the state machine.  A record is
 * freed by whoever drops the last reference, which may be the thread
 * itself as its very last act, after its joiners have been woken; that is
 * why the woken joiner's owner may free its object right away.
 *
 * Names come from one counter shared by "Thread-N" and "Dummy-N", as in
 * Python (threading._counter), starting at 1.
 *
 * Rejected: a record per object allocated separately from a function
 * thread's pc_thread.  One allocation holding both (fobj) keeps
 * pc_thread_new to a single allocation and lets the object outlive
 * pc_thread_free while the thread still runs, with no second refcount.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../internal/alloc.h"
#include "rec.h"

/* Relaxed: it only has to hand out distinct numbers. */
static _Atomic long name_counter;

int pc__rec_default_name(char *buf, size_t len, const char *prefix) {
    long n = atomic_fetch_add_explicit(&name_counter, 1, memory_order_relaxed) + 1;
    return snprintf(buf, len, "%s-%ld", prefix, n);
}

int pc__opts_check(const pc_thread_opts *opts) {
    if (!opts)
        return 0;
    if (opts->name && strnlen(opts->name, PC__NAME_MAX + 1) > PC__NAME_MAX)
        return -EINVAL;
    if (opts->stack_size && opts->stack_size < (size_t)PTHREAD_STACK_MIN)
        return -EINVAL;
    return 0;
}

void pc__rec_init_static(pc__thread_rec *r, int kind, const char *name) {
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    atomic_init(&r->state, PC__T_RUNNING);
    r->kind = kind;
    r->obj = &r->fobj;
    r->fobj._rec = r;
    if (name)
        snprintf(r->name, sizeof r->name, "%s", name);
    else
        pc__rec_default_name(r->name, sizeof r->name, "Dummy");
}

pc__thread_rec *pc__rec_new(int kind, const pc_thread_opts *opts) {
    pc__thread_rec *r = pc__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->state, PC__T_NEW);
    r->kind = kind;
    if (kind == PC__K_FUNC) {
        r->obj = &r->fobj;
        r->fobj._rec = r;
    }
    if (opts && opts->name)
        snprintf(r->name, sizeof r->name, "%s", opts->name);
    else
        pc__rec_default_name(r->name, sizeof r->name, "Thread");
    r->daemon = opts && opts->daemon;
    r->stack_size = opts ? opts->stack_size : 0;
    return r;
}

void pc__rec_retain(pc__thread_rec *r) {
    /* relaxed: the caller already holds a reference, which orders it */
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void pc__rec_release(pc__thread_rec *r) {
    if (r->kind != PC__K_CLASS && r->kind != PC__K_FUNC)
        return; /* main and dummy records are not heap memory */
    /* acq_rel: the release orders this holder's uses before the free; the
     * acquire makes the freeing holder see every other holder's uses. */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        pc__free(r);
}

/* The OS keeps 15 bytes of a thread's name. */
void pc__rec_set_os_name(pthread_t pt, const char *name) {
    char os[16];
    snprintf(os, sizeof os, "%s", name);
    pthread_setname_np(pt, os);
}
