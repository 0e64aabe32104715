/*
 * The calling thread's object: pc_thread_current(), pc_thread_main(),
 * dummy threads and the thread-exit hook.
 *
 * A thread started by pyconc sets pc__tls_self to its object before it
 * runs user code, so current() is one thread-local load.  Otherwise, on
 * first use: the main thread (its kernel tid equals the pid) gets the
 * static "MainThread" record; any other thread gets a "Dummy-N" record in
 * its own thread-local storage, registered until the thread exits.
 *
 * The exit hook is one pthread key whose destructor runs at a thread's
 * exit with the record it was armed with: a dummy leaves the registry
 * there, and a pyconc thread whose run() left through pthread_exit (or
 * was cancelled) finishes there, so its joiners are woken all the same.
 *
 * Module set-up (the key, the main record, the fork handlers) runs once,
 * from a constructor so that the main thread's ident is known even when
 * the first pyconc call comes from another thread, and from every entry
 * point through pthread_once in case another constructor calls us first.
 *
 * Rejected: dummies on the heap with a reference count.  current() must
 * never fail, and an allocation can; thread-local storage cannot, and the
 * record is only needed while its thread lives.  The price: a pointer to
 * a dummy held past its thread's exit dangles (in Python it would keep the
 * object alive), which docs/thread.md states.
 */
#include <unistd.h>

#include "rec.h"

_Thread_local pc_thread *pc__tls_self;
static _Thread_local pc__thread_rec tls_dummy;

static pc__thread_rec main_rec;
/* The child of a fork makes the forking thread its main thread (fork.c);
 * relaxed: it changes only there, while the process has one thread. */
static _Atomic(pc__thread_rec *) main_ptr = &main_rec;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok; /* written once under `once` */

void pc__fork_handlers_install(void);

static void on_thread_exit(void *p) {
    pc__thread_finish(p);
}

static void module_init(void) {
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    pc__rec_init_static(&main_rec, PC__K_MAIN, "MainThread");
    /* relaxed: pthread_once orders module_init() before every use */
    atomic_store_explicit(&main_rec.native_id, (long)getpid(), memory_order_relaxed);
    if (gettid() == getpid()) {
        atomic_store_explicit(&main_rec.ident, (unsigned long)pthread_self(), memory_order_relaxed);
        pc__tls_self = main_rec.obj;
    }
    pc__registry_lock();
    pc__registry_add(&main_rec);
    pc__registry_unlock();
    pc__fork_handlers_install();
}

void pc__thread_module_init(void) {
    pthread_once(&once, module_init);
}

__attribute__((constructor)) static void module_ctor(void) {
    pc__thread_module_init();
}

pc__thread_rec *pc__main_rec(void) {
    return &main_rec;
}

void pc__set_main_rec(pc__thread_rec *r) {
    atomic_store_explicit(&main_ptr, r, memory_order_relaxed);
}

int pc__exit_hook_arm(pc__thread_rec *r) {
    return exit_key_ok ? -pthread_setspecific(exit_key, r) : -EAGAIN;
}

void pc__exit_hook_disarm(void) {
    if (exit_key_ok)
        pthread_setspecific(exit_key, NULL);
}

static pc_thread *become_main(void) {
    pc__thread_rec *m = atomic_load_explicit(&main_ptr, memory_order_relaxed);
    unsigned long none = 0;
    /* relaxed: a snapshot id, as in attr.c */
    atomic_compare_exchange_strong_explicit(&m->ident, &none, (unsigned long)pthread_self(),
                                            memory_order_relaxed, memory_order_relaxed);
    pc__tls_self = m->obj;
    return m->obj;
}

static pc_thread *become_dummy(void) {
    pc__thread_rec *r = &tls_dummy;
    pc__rec_init_static(r, PC__K_DUMMY, NULL);
    r->daemon = true; /* as Python's _DummyThread */
    /* relaxed: written once by this thread; others read a snapshot, after
     * the registry guard published the record */
    atomic_store_explicit(&r->ident, (unsigned long)pthread_self(), memory_order_relaxed);
    atomic_store_explicit(&r->native_id, (long)gettid(), memory_order_relaxed);
    pc__tls_self = r->obj;
    /* Without the exit hook the record could not leave the registry at
     * exit, so it is registered only with it. */
    if (pc__exit_hook_arm(r) == 0) {
        pc__registry_lock();
        pc__registry_add(r);
        pc__registry_unlock();
    }
    return r->obj;
}

pc_thread *pc_thread_current(void) {
    pc_thread *t = pc__tls_self;
    if (__builtin_expect(t != NULL, 1))
        return t;
    pc__thread_module_init();
    if (gettid() == getpid())
        return become_main();
    return become_dummy();
}

pc_thread *pc_thread_main(void) {
    pc__thread_module_init();
    return atomic_load_explicit(&main_ptr, memory_order_relaxed)->obj;
}
