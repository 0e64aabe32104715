/*
 * Waiting on a 32-bit word in memory shared between processes.
 *
 * The waiter interface (waiter.h) queues waiters in process-local memory:
 * a waker in another process cannot reach them.  Process-shared objects
 * (shared.h, mpqueue.h) therefore wait on a word of the shared mapping
 * itself, the way a futex does, and every kind of caller parks its own way:
 *
 *   - a thread sleeps in FUTEX_WAIT on the word (a shared futex: the kernel
 *     keys it by the page, so every process mapping it meets there), inside
 *     pc__blocking_begin/end so an attached GIL is released meanwhile;
 *   - a coroutine parks only itself: a per-process watcher thread waits on
 *     the words of all parked coroutines at once (futex_waitv) and makes a
 *     coroutine runnable when its word is woken or no longer holds the
 *     expected value.
 *
 * The eventcount on top (pc__shec) is the pattern every shared object uses:
 * a waker that finds nobody asleep pays one fence and one load, no system
 * call.
 */
#ifndef PC_INTERNAL_SHWAIT_H
#define PC_INTERNAL_SHWAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Sleep while *word == expected, until woken by pc__shwake, the absolute
 * CLOCK_MONOTONIC deadline passes (PC__NO_DEADLINE: none), or the calling
 * coroutine is cancelled.  Returns 0 (woken, changed, or spuriously: the
 * caller re-checks its condition), -ETIMEDOUT, -ECANCELED (coroutine
 * killed or timed out by a scope; the word is not waited on any more).
 * `word` must be 4-byte aligned; it may lie in any mapping, shared or not.
 */
int pc__shwait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline);

/* Wake up to n sleepers (INT32_MAX: all) of every process on `word`,
 * threads and parked coroutines alike. */
void pc__shwake(_Atomic uint32_t *word, int n);

/* For tests.  The number of coroutine watcher threads running in this
 * process (0 before the first coroutine wait, and in a fork child until
 * its first one), or -ENOSYS where futex_waitv is missing and coroutines
 * poll the word.  pc__shwait_force_poll(true) makes later coroutine waits
 * poll as without futex_waitv. */
int pc__shwait_watchers(void);
void pc__shwait_force_poll(bool on);

/*
 * Eventcount in shared memory.  word = sequence << 1 | SLEEPERS.
 *
 * Waiter:  t = pc__shec_prepare(ec);  if (condition holds) done;
 *          else pc__shec_wait(ec, t, deadline) and start over.
 * Notifier: make the condition true (a store), then pc__shec_notify(ec).
 *
 * Pairing: prepare's fetch_or and notify's load are each followed /
 * preceded by a seq_cst fence, so either the notifier sees SLEEPERS (and
 * bumps the sequence and wakes) or the waiter's re-check sees the
 * condition: the Dekker pattern, no lost wake-up.  A waiter that dies
 * leaves SLEEPERS set: it costs the next notifier one futex_wake, no more.
 */
typedef struct pc__shec {
    _Atomic uint32_t word;
} pc__shec;

#define PC__SHEC_SLEEPERS 1u

static inline uint32_t pc__shec_prepare(pc__shec *ec) {
    uint32_t t = atomic_fetch_or_explicit(&ec->word, PC__SHEC_SLEEPERS, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in pc__shec_notify */
    return t | PC__SHEC_SLEEPERS;
}

static inline int pc__shec_wait(pc__shec *ec, uint32_t ticket, int64_t deadline) {
    return pc__shwait(&ec->word, ticket, deadline);
}

/* Wakes every sleeper: a sleeper's ticket goes stale with the new sequence,
 * and one left asleep with SLEEPERS cleared would miss the next notify. */
static inline void pc__shec_notify(pc__shec *ec) {
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in pc__shec_prepare */
    uint32_t w = atomic_load_explicit(&ec->word, memory_order_relaxed);
    if (!(w & PC__SHEC_SLEEPERS))
        return;
    /* New sequence, SLEEPERS cleared: every sleeper's ticket is stale now;
     * those that sleep again set the bit again. */
    while (!atomic_compare_exchange_weak_explicit(&ec->word, &w, (w & ~PC__SHEC_SLEEPERS) + 2,
                                                  memory_order_relaxed, memory_order_relaxed))
        if (!(w & PC__SHEC_SLEEPERS))
            return;
    pc__shwake(&ec->word, INT32_MAX);
}

#endif
