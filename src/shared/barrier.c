/*
 * pc_shbarrier (pyconc/shared.h): a cyclic barrier in the shared heap.
 *
 * State under mu (a robust pc__shmutex): count (arrivals this cycle),
 * gen (the cycle), broken, reset_gen.  The last arrival of a cycle bumps
 * gen and notifies; the others sleep on an eventcount until gen moves or
 * the barrier breaks.  A cycle ended by reset (not by its last arrival)
 * is recorded in reset_gen, so its waiters report PC_EBROKEN.
 *
 * Death: a process that dies holding mu (a few stores long) leaves the
 * next caller -EOWNERDEAD from the mutex: the state may be half-written,
 * so that caller breaks the barrier.  A party that dies before arriving
 * or while sleeping cannot be told from a slow one (parties are not
 * registered): the others' timeout breaks the barrier, as in Python.
 *
 * gen and broken are atomics so sleepers can test them without mu; they
 * change only under mu, whose acquire/release orders everything else.
 */
#include <errno.h>

#include "shared-internal.h"

struct pc_shbarrier {
    _Atomic uint32_t magic;
    int32_t parties; /* fixed */
    pc__shmutex mu;
    _Atomic uint32_t count;  /* guarded by mu; atomic for n_waiting's snapshot */
    _Atomic uint32_t gen;    /* written under mu */
    _Atomic uint32_t broken; /* written under mu */
    uint32_t reset_gen;      /* guarded by mu: the last cycle ended by reset, + 1 */
    pc__shec ec;             /* notified when gen moves or it breaks */
    _Atomic uint32_t nwait;  /* sleepers now (for free) */
};

int pc_shbarrier_new(pc_shbarrier **b, int parties) {
    if (!b || parties < 1)
        return -EINVAL;
    int rc = pc__sh_alloc(sizeof **b, PC__SH_BARRIER, (void **)b);
    if (rc == 0)
        (*b)->parties = parties;
    return rc;
}

int pc_shbarrier_free(pc_shbarrier *b) {
    if (pc__sh_kind(b) != PC__SH_BARRIER)
        return -EINVAL;
    if (atomic_load_explicit(&b->nwait, memory_order_relaxed) != 0)
        return -EBUSY;
    return pc__sh_free(b);
}

/* Take mu; a holder that died inside leaves a barrier we break. */
static void lock(pc_shbarrier *b) {
    int rc;
    while ((rc = pc__shmutex_lock(&b->mu, PC__NO_DEADLINE)) == -ECANCELED)
        ; /* a few stores long: finish before honouring the cancel */
    if (rc == -EOWNERDEAD)
        atomic_store_explicit(&b->broken, 1, memory_order_relaxed);
}

static void unlock_notify(pc_shbarrier *b) {
    pc__shmutex_unlock(&b->mu);
    pc__shec_notify(&b->ec);
}

static void break_it(pc_shbarrier *b) {
    atomic_store_explicit(&b->broken, 1, memory_order_relaxed);
}

int pc_shbarrier_wait(pc_shbarrier *b, double timeout) {
    int64_t deadline;
    if (pc__sh_kind(b) != PC__SH_BARRIER || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    lock(b);
    if (atomic_load_explicit(&b->broken, memory_order_relaxed)) {
        unlock_notify(b);
        return PC_EBROKEN;
    }
    uint32_t idx = atomic_load_explicit(&b->count, memory_order_relaxed);
    uint32_t gen = atomic_load_explicit(&b->gen, memory_order_relaxed);
    if (idx + 1 == (uint32_t)b->parties) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_store_explicit(&b->gen, gen + 1, memory_order_relaxed);
        unlock_notify(b);
        return (int)idx;
    }
    atomic_store_explicit(&b->count, idx + 1, memory_order_relaxed);
    pc__shmutex_unlock(&b->mu);
    int rc = 0;
    for (;;) {
        uint32_t t = pc__shec_prepare(&b->ec);
        if (atomic_load_explicit(&b->gen, memory_order_relaxed) != gen ||
            atomic_load_explicit(&b->broken, memory_order_relaxed))
            break;
        if (rc < 0)
            break;
        rc = pc__sh_sleep(&b->ec, t, &b->nwait, deadline);
    }
    lock(b);
    int out;
    if (atomic_load_explicit(&b->gen, memory_order_relaxed) != gen)
        out = b->reset_gen == gen + 1 ? PC_EBROKEN : (int)idx;
    else {
        out = atomic_load_explicit(&b->broken, memory_order_relaxed) ? PC_EBROKEN : rc;
        break_it(b); /* our timeout or cancel breaks it, as in Python */
        uint32_t n = atomic_load_explicit(&b->count, memory_order_relaxed);
        atomic_store_explicit(&b->count, n ? n - 1 : 0, memory_order_relaxed); /* we leave */
    }
    unlock_notify(b);
    return out;
}

int pc_shbarrier_abort(pc_shbarrier *b) {
    if (pc__sh_kind(b) != PC__SH_BARRIER)
        return -EINVAL;
    lock(b);
    break_it(b);
    unlock_notify(b);
    return 0;
}

int pc_shbarrier_reset(pc_shbarrier *b) {
    if (pc__sh_kind(b) != PC__SH_BARRIER)
        return -EINVAL;
    lock(b);
    uint32_t gen = atomic_load_explicit(&b->gen, memory_order_relaxed);
    if (atomic_load_explicit(&b->count, memory_order_relaxed) > 0 ||
        atomic_load_explicit(&b->broken, memory_order_relaxed)) {
        b->reset_gen = gen + 1;
        atomic_store_explicit(&b->gen, gen + 1, memory_order_relaxed);
    }
    atomic_store_explicit(&b->count, 0, memory_order_relaxed);
    atomic_store_explicit(&b->broken, 0, memory_order_relaxed);
    unlock_notify(b);
    return 0;
}

int pc_shbarrier_parties(const pc_shbarrier *b) {
    return pc__sh_kind(b) == PC__SH_BARRIER ? b->parties : -EINVAL;
}

int pc_shbarrier_n_waiting(const pc_shbarrier *b) {
    if (pc__sh_kind(b) != PC__SH_BARRIER)
        return -EINVAL;
    return (int)atomic_load_explicit((_Atomic uint32_t *)&b->count, memory_order_relaxed);
}

bool pc_shbarrier_broken(const pc_shbarrier *b) {
    return pc__sh_kind(b) == PC__SH_BARRIER &&
           atomic_load_explicit((_Atomic uint32_t *)&b->broken, memory_order_relaxed) != 0;
}

int pc__barrier_nwait(const void *obj) {
    return (int)atomic_load_explicit(&((pc_shbarrier *)obj)->nwait, memory_order_relaxed);
}
