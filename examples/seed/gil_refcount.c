/*
 * Why the GIL: "CPython manages memory with reference counts; two threads
 * updating one count at once can lose an increment, and the object is
 * freed while still in use" (the seed's second answer).
 *
 *   a = [1]
 *   b = a
 *   print(sys.getrefcount(a))
 *
 * In C: a small reference-counted object (retain, release, count) whose
 * count is atomic, then the hazard itself: a count updated the way an
 * interpreter does it without atomics — load, add, store — loses updates
 * from two threads, and is exact when both threads hold one pc_gil (the
 * GIL changes hands only at pc_gil_check(), never inside an update).
 */
#include <stdatomic.h>

#include "seed.h"

/* ------------------------------------------- a reference-counted object */

typedef struct obj {
    _Atomic long refcnt;
    int value;
} obj;

static obj *obj_new(int value) {
    obj *o = malloc(sizeof *o);
    if (!o)
        exit(1);
    atomic_init(&o->refcnt, 1);
    o->value = value;
    return o;
}

static obj *obj_retain(obj *o) {
    /* relaxed: a new reference is made from an existing one, which keeps
     * the object alive meanwhile */
    atomic_fetch_add_explicit(&o->refcnt, 1, memory_order_relaxed);
    return o;
}

static void obj_release(obj *o) {
    /* acq_rel: the last release sees every other owner's writes before it
     * frees */
    if (atomic_fetch_sub_explicit(&o->refcnt, 1, memory_order_acq_rel) == 1)
        free(o);
}

static long obj_count(obj *o) {
    return atomic_load(&o->refcnt);
}

/* sys.getrefcount(a): the argument is one more reference while it runs. */
static long getrefcount(obj *arg) {
    return obj_count(arg);
}

/* ----------------------------------------------- the hazard: load/store */

#define ROUNDS 2000000

static _Atomic long plain_count; /* updated by load + store, as a non-atomic count */
static pc_gil *gil;              /* NULL: the threads run without it */

static void *incref_loop(void *arg) {
    (void)arg;
    if (gil)
        SEED_CHECK(pc_gil_acquire(gil, PC_FOREVER));
    for (long i = 0; i < ROUNDS; i++) {
        /* Py_INCREF without atomics: read, add, write.  Relaxed on purpose:
         * this is the race the example shows. */
        long v = atomic_load_explicit(&plain_count, memory_order_relaxed);
        atomic_store_explicit(&plain_count, v + 1, memory_order_relaxed);
        if (gil && i % 64 == 0)
            SEED_CHECK(pc_gil_check(gil)); /* between "bytecodes" */
    }
    if (gil)
        SEED_CHECK(pc_gil_release(gil));
    return NULL;
}

static long two_threads_incref(void) {
    atomic_store(&plain_count, 0);
    pc_thread *t1, *t2;
    SEED_CHECK(pc_thread_new(&t1, incref_loop, NULL, NULL));
    SEED_CHECK(pc_thread_new(&t2, incref_loop, NULL, NULL));
    SEED_CHECK(pc_thread_start(t1));
    SEED_CHECK(pc_thread_start(t2));
    SEED_CHECK(pc_thread_join(t1, PC_FOREVER));
    SEED_CHECK(pc_thread_join(t2, PC_FOREVER));
    pc_thread_free(t1);
    pc_thread_free(t2);
    return atomic_load(&plain_count);
}

int main(void) {
    seed_init();
    obj *a = obj_new(1);       /* a = [1] */
    obj *b = obj_retain(a);    /* b = a */
    obj *arg = obj_retain(a);  /* getrefcount(a): the argument */
    long n = getrefcount(arg); /* a, b and the argument */
    obj_release(arg);
    printf("a = [1]; b = a; getrefcount(a) = %ld   (a, b, and getrefcount's argument)\n", n);
    obj_release(b);
    printf("del b:                  count = %ld\n", obj_count(a));
    obj_release(a); /* 0: freed */

    printf("\ntwo threads each add 1 to a non-atomic count %d times (want %d):\n", ROUNDS,
           2 * ROUNDS);
    long lost = 0, got = 0;
    double start = pc_now();
    for (int run = 0; run < 50 && lost == 0 && pc_now() - start < 5; run++) {
        got = two_threads_incref();
        lost = 2 * ROUNDS - got;
    }
    printf("  without a GIL:  count = %ld   (%ld increments lost%s)\n", got, lost,
           lost ? ": an object like this would be freed while still in use" : "");
    pc_gil_opts o = {.switch_interval = 0.00005}; /* many switches in a short run */
    SEED_CHECK(pc_gil_new(&gil, &o));
    got = two_threads_incref();
    pc_gil_stats st;
    SEED_CHECK(pc_gil_get_stats(gil, &st));
    printf("  under one GIL:  count = %ld   (%ld lost; the GIL changed hands %llu times,\n"
           "                  only between increments)\n",
           got, 2 * ROUNDS - got, (unsigned long long)st.switches);
    SEED_CHECK(pc_gil_free(gil));
    return 0;
}
