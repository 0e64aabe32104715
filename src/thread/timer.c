/*
 * pc_timer: threading.Timer.
 *
 * A timer is a "class" thread (it embeds its pc_thread first) whose run()
 * waits on a private pc_event with the interval as the timeout.  cancel()
 * sets the event.  If the wait timed out and the event is still not set,
 * the timer fires: it marks `fired` and calls fn(arg), keeping its return
 * value as the thread's result.  As in Python, a cancel that lands after
 * that check does not stop the call.
 *
 * Rejected: one shared timer thread with a heap of deadlines (what an
 * event loop does).  Python's Timer is a thread per timer, with a name,
 * an ident and join(); this keeps that contract, and the loop module
 * provides the cheap kind (call_later).
 */
#include <errno.h>
#include <math.h>

#include "../internal/alloc.h"
#include "pyconc/sync.h"
#include "rec.h"

struct pc_timer {
    pc_thread th; /* first: timer_run() casts back */
    pc_event *cancelled;
    double interval;
    pc_thread_fn fn;
    void *arg;
    _Atomic bool fired; /* seq_cst: read by any thread, written once */
};

static void timer_run(pc_thread *self) {
    pc_timer *tm = (pc_timer *)self;
    if (pc_event_wait(tm->cancelled, tm->interval) == -ETIMEDOUT &&
        !pc_event_is_set(tm->cancelled)) {
        atomic_store(&tm->fired, true);
        self->_rec->result = tm->fn(tm->arg);
    }
    pc_event_set(tm->cancelled); /* Python: self.finished.set() */
}

int pc_timer_new(pc_timer **out, double interval, pc_thread_fn fn, void *arg) {
    if (!out || !fn || isnan(interval) || interval < 0)
        return -EINVAL;
    pc_timer *tm = pc__calloc(1, sizeof *tm);
    if (!tm)
        return -ENOMEM;
    int rc = pc_thread_init(&tm->th, timer_run, NULL);
    if (rc == 0) {
        rc = pc_event_new(&tm->cancelled);
        if (rc)
            pc_thread_destroy(&tm->th);
    }
    if (rc) {
        pc__free(tm);
        return rc;
    }
    tm->interval = interval;
    tm->fn = fn;
    tm->arg = arg;
    *out = tm;
    return 0;
}

int pc_timer_start(pc_timer *tm) {
    return tm ? pc_thread_start(&tm->th) : -EINVAL;
}

int pc_timer_cancel(pc_timer *tm) {
    return tm ? pc_event_set(tm->cancelled) : -EINVAL;
}

int pc_timer_join(pc_timer *tm, double timeout) {
    return tm ? pc_thread_join(&tm->th, timeout) : -EINVAL;
}

bool pc_timer_fired(const pc_timer *tm) {
    return tm && atomic_load(&tm->fired);
}

pc_thread *pc_timer_thread(pc_timer *tm) {
    return tm ? &tm->th : NULL;
}

void pc_timer_free(pc_timer *tm) {
    if (!tm)
        return;
    pc_event_set(tm->cancelled);
    pc_thread_join(&tm->th, PC_FOREVER); /* -ESRCH when never started: fine */
    if (pc_thread_destroy(&tm->th) == -EBUSY)
        return; /* freed from its own fn: leak rather than pull the rug */
    pc_event_free(tm->cancelled);
    pc__free(tm);
}
