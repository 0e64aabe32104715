/*
 * "With the GIL, are threads always safe?"  No: the seed's `num += n` is
 * several bytecodes (load, add, store), and the GIL may change hands
 * between them (check_interval, now the switch interval).
 *
 *   def change_num(n):
 *       global num
 *       num += n
 *       num -= n
 *
 * Two threads run change_num 1000 times each (the seed's numbers) under
 * one pc_gil.  The eval breaker, pc_gil_check(), runs between the load and
 * the store, as CPython may run it between bytecodes; a count-based check
 * interval (Python 2's sys.setcheckinterval) makes the switches frequent.
 * Updates are lost.  Then the fix the seed gives, a Lock around the
 * change: the threads are attached to the GIL, so a thread blocked on the
 * Lock releases the GIL (as CPython does) and the Lock's holder runs on.
 */
#include <stdatomic.h>

#include "seed.h"

#define CALLS 1000

static pc_gil *gil;
static long num; /* guarded by gil (and num_lock in (b)) */
static pc_lock num_lock = PC_LOCK_INIT;
static bool use_lock;

static void add(long n) {
    long v = num;                  /* LOAD_GLOBAL num */
    SEED_CHECK(pc_gil_check(gil)); /* a switch may fall here */
    num = v + n;                   /* STORE_GLOBAL num */
}

static void change_num(long n) {
    if (use_lock)
        SEED_CHECK(pc_lock_acquire(&num_lock, true, PC_FOREVER));
    add(n);
    add(-n);
    if (use_lock)
        SEED_CHECK(pc_lock_release(&num_lock));
    SEED_CHECK(pc_gil_check(gil)); /* the loop's own bytecodes */
}

static void *run(void *arg) {
    long n = (long)(intptr_t)arg;
    SEED_CHECK(pc_gil_attach(gil));
    SEED_CHECK(pc_gil_acquire(gil, PC_FOREVER));
    for (int i = 0; i < CALLS; i++)
        change_num(n);
    SEED_CHECK(pc_gil_release(gil));
    SEED_CHECK(pc_gil_detach(gil));
    return NULL;
}

static long race(bool locked) {
    use_lock = locked;
    num = 0;
    /* main holds the GIL until both threads queue for it, so that they
     * run together (a thread starts slower than it runs 1000 calls) */
    SEED_CHECK(pc_gil_acquire(gil, PC_FOREVER));
    pc_thread *t1, *t2;
    SEED_CHECK(pc_thread_new(&t1, run, (void *)5, NULL));
    SEED_CHECK(pc_thread_new(&t2, run, (void *)6, NULL));
    SEED_CHECK(pc_thread_start(t1));
    SEED_CHECK(pc_thread_start(t2));
    pc_gil_stats st;
    do
        SEED_CHECK(pc_gil_get_stats(gil, &st));
    while (st.waiting < 2 && pc_sleep(0.001) == 0);
    SEED_CHECK(pc_gil_release(gil));
    SEED_CHECK(pc_thread_join(t1, PC_FOREVER));
    SEED_CHECK(pc_thread_join(t2, PC_FOREVER));
    pc_thread_free(t1);
    pc_thread_free(t2);
    return num;
}

int main(void) {
    seed_init();
    pc_gil_opts o = {.check_interval = 5}; /* drop at the 5th check while the other waits */
    SEED_CHECK(pc_gil_new(&gil, &o));
    printf("two threads call change_num(5) and change_num(6) %d times each, under one GIL\n",
           CALLS);
    long r = race(false);
    pc_gil_stats st;
    SEED_CHECK(pc_gil_get_stats(gil, &st));
    printf("(a) GIL only:       num = %ld   (%llu switches%s)\n", r,
           (unsigned long long)st.switches,
           r ? "; updates lost: a switch fell between a load and its store" : "");
    uint64_t before = st.switches;
    r = race(true);
    SEED_CHECK(pc_gil_get_stats(gil, &st));
    printf("(b) GIL and a Lock: num = %ld   (%llu switches; a thread waiting for the Lock\n"
           "                    released the GIL %llu times in all)\n",
           r, (unsigned long long)(st.switches - before), (unsigned long long)st.blocking_releases);
    SEED_CHECK(pc_gil_free(gil));
    printf("\nThe GIL keeps the interpreter's own state (reference counts) consistent;\n"
           "it does not make a read-modify-write of your data atomic.  Use a Lock.\n");
    return 0;
}
