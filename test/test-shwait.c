/* Waiting on a word shared between processes (src/internal/shwait.h):
 * coroutines parked through the watcher thread, threads on the futex. */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/internal/clock.h"
#include "../src/internal/shwait.h"
#include "helpers.h"

#define NS 1000000000LL

static _Atomic uint32_t *shared_words(size_t n) {
    void *p =
        mmap(NULL, n * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* A raw shared wake: how many sleepers it woke. */
static long futex_wake(_Atomic uint32_t *w, int n) {
    return syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Wake one sleeper on `w` without changing it, once one sleeps there: the
 * kernel counts a sleeper only if the watcher (or a thread) is in the
 * futex with that word.  False if none came within `secs`. */
static bool wake_a_sleeper(_Atomic uint32_t *w, double secs) {
    int64_t end = pc__mono_ns() + (int64_t)(secs * NS);
    while (futex_wake(w, 1) != 1) {
        if (pc__mono_ns() > end)
            return false;
        usleep(200);
    }
    return true;
}

static bool watched(void) {
    return pc__shwait_watchers() != -ENOSYS;
}

/* ---------------------------------------------------- one waiting coroutine */

struct one {
    _Atomic uint32_t *word;
    uint32_t expected;
    double timeout;
    _Atomic int result; /* what pc__shwait returned; 1 until then */
    double took;
};

static int wait_once(void *arg, void **value) {
    (void)value;
    struct one *o = arg;
    int64_t t0 = pc__mono_ns();
    int64_t deadline = o->timeout < 0 ? PC__NO_DEADLINE : t0 + (int64_t)(o->timeout * NS);
    int r = pc__shwait(o->word, o->expected, deadline);
    o->took = (double)(pc__mono_ns() - t0) / NS;
    atomic_store(&o->result, r);
    return 0;
}

static void *thread_wakes(void *arg) {
    struct one *o = arg;
    cr_assert(wake_a_sleeper(o->word, 20), "no sleeper on the word");
    return NULL;
}

/* A coroutine waits once on o's word (wait_once) while a plain thread
 * wakes it through the futex (thread_wakes); returns once both are done. */
static void woken_by_a_thread(struct one *o) {
    pthread_t t = start_pthread(thread_wakes, o);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_once, o, NULL), 0);
    expect_rc(pc_coro_join(c, 40), 0);
    pthread_join(t, NULL);
    pc_coro_free(c);
}

Test(shwait, a_coroutine_is_woken_from_another_thread_with_the_word_unchanged, .timeout = 60) {
    cr_assert(watched(), "futex_waitv missing: the coroutine path polls");
    /* no deadline, and a waker pyconc does not know: the loop must sleep,
     * not end its run with -EDEADLK (LoopExit) */
    struct one o = {.word = shared_words(1), .timeout = -1, .result = 1};
    woken_by_a_thread(&o);
    /* the word never changed: only a wake-up through the watcher ends it */
    expect_rc(atomic_load(&o.result), 0);
    cr_assert_lt(o.took, 25);
    cr_assert_eq(pc__shwait_watchers(), 1);
}

Test(shwait, a_coroutine_is_woken_from_another_process, .timeout = 60) {
    cr_assert(watched());
    struct one o = {.word = shared_words(2), .timeout = -1, .result = 1}; /* see above */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* the child wakes the parent's coroutine twice: once with the word
         * unchanged, once changing it */
        if (!wake_a_sleeper(o.word, 20))
            _exit(2);
        if (!wake_a_sleeper(o.word + 1, 20))
            _exit(3);
        atomic_store(o.word + 1, 7);
        futex_wake(o.word + 1, 1);
        _exit(0);
    }
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_once, &o, NULL), 0);
    expect_rc(pc_coro_join(c, 40), 0);
    expect_rc(atomic_load(&o.result), 0);
    pc_coro_free(c);
    /* second: wait until the word changes */
    struct one o2 = {.word = o.word + 1, .timeout = 30, .result = 1};
    int r;
    do {
        o2.result = 1;
        expect_rc(pc_coro_spawn(&c, wait_once, &o2, NULL), 0);
        expect_rc(pc_coro_join(c, 40), 0);
        pc_coro_free(c);
        r = atomic_load(&o2.result);
        expect_rc(r, 0);
    } while (atomic_load(o2.word) == 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

Test(shwait, a_coroutine_wait_times_out, .timeout = 60) {
    struct one o = {.word = shared_words(1), .timeout = 0.2, .result = 1};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_once, &o, NULL), 0);
    expect_rc(pc_coro_join(c, 30), 0);
    expect_rc(atomic_load(&o.result), -ETIMEDOUT);
    cr_assert(o.took >= 0.18 && o.took < 5, "waited %.3f s", o.took);
    pc_coro_free(c);
    /* withdrawn: the watcher stops sleeping on the word */
    int64_t end = pc__mono_ns() + 10 * NS;
    while (futex_wake(o.word, 1) != 0)
        cr_assert_lt(pc__mono_ns(), end, "the watcher still sleeps on a withdrawn word");
}

Test(shwait, a_word_already_changed_returns_at_once, .timeout = 30) {
    struct one o = {.word = shared_words(1), .expected = 4, .timeout = 20, .result = 1};
    atomic_store(o.word, 5);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_once, &o, NULL), 0);
    expect_rc(pc_coro_join(c, 30), 0);
    expect_rc(atomic_load(&o.result), 0);
    cr_assert_lt(o.took, 5);
    pc_coro_free(c);
    /* and from a thread */
    expect_rc(pc__shwait(o.word, 4, pc__mono_ns() + 20 * NS), 0);
}

/* Two coroutines on one word: a wake-up of one ends one wait. */
struct pair {
    _Atomic uint32_t *word;
    _Atomic int woken;
    pc_event *parked;
};

static int wait_no_deadline(void *arg, void **value) {
    (void)value;
    struct pair *p = arg;
    int r = pc__shwait(p->word, 0, PC__NO_DEADLINE);
    atomic_fetch_add(&p->woken, 1);
    return r;
}

static int both_parked(void *arg, void **value) {
    (void)value;
    return pc_event_set(((struct pair *)arg)->parked); /* runs after the two parked */
}

static void *wake_one_at_a_time(void *arg) {
    struct pair *p = arg;
    cr_assert_eq(pc_event_wait(p->parked, 20), 0);
    for (int i = 1; i <= 2; i++) {
        cr_assert(wake_a_sleeper(p->word, 20));
        while (atomic_load(&p->woken) < i)
            usleep(200);
        usleep(50000); /* room for a wrong second wake-up to show */
        cr_assert_eq(atomic_load(&p->woken), i, "one wake-up ended %d waits",
                     atomic_load(&p->woken));
    }
    return NULL;
}

Test(shwait, a_wake_up_of_one_ends_one_of_two_waits_on_a_word, .timeout = 60) {
    cr_assert(watched());
    struct pair p = {.word = shared_words(1)};
    expect_rc(pc_event_new(&p.parked), 0);
    pc_coro *c[3];
    expect_rc(pc_coro_spawn(&c[0], wait_no_deadline, &p, NULL), 0);
    expect_rc(pc_coro_spawn(&c[1], wait_no_deadline, &p, NULL), 0);
    expect_rc(pc_coro_spawn(&c[2], both_parked, &p, NULL), 0);
    pthread_t t = start_pthread(wake_one_at_a_time, &p);
    expect_rc(pc_coro_joinall(c, 3, 40), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    pc_event_free(p.parked);
}

/* ------------------------------------------------------------ cancellation */

static int killer(void *arg, void **value) {
    (void)value;
    return pc_coro_kill(arg); /* runs after the victim parked: same loop, spawned after */
}

Test(shwait, a_coroutine_killed_while_it_waits_returns_ECANCELED, .timeout = 60) {
    struct one o = {.word = shared_words(1), .timeout = -1, .result = 1};
    pc_coro *v, *k;
    expect_rc(pc_coro_spawn(&v, wait_once, &o, NULL), 0);
    expect_rc(pc_coro_spawn(&k, killer, v, NULL), 0);
    expect_rc(pc_coro_join(v, 30), 0);
    expect_rc(pc_coro_join(k, 30), 0);
    expect_rc(atomic_load(&o.result), -ECANCELED);
    cr_assert_lt(o.took, 20);
    pc_coro_free(v);
    pc_coro_free(k);
    int64_t end = pc__mono_ns() + 10 * NS;
    while (futex_wake(o.word, 1) != 0)
        cr_assert_lt(pc__mono_ns(), end, "the watcher still sleeps on a withdrawn word");
}

/* ------------------------------------------------------- many coroutines */

#define MANY 300

struct many {
    _Atomic uint32_t *words;
    _Atomic int done;
    int order[MANY];
};

struct many_arg {
    struct many *m;
    int i;
};

static int wait_for_change(void *arg, void **value) {
    (void)value;
    struct many_arg *a = arg;
    _Atomic uint32_t *w = &a->m->words[a->i];
    int64_t deadline = pc__mono_ns() + 40 * NS;
    while (atomic_load(w) == 0) {
        int r = pc__shwait(w, 0, deadline);
        if (r)
            return r;
    }
    atomic_fetch_add(&a->m->done, 1);
    return atomic_load(w) == 1 ? 0 : -EPROTO;
}

static void *wake_shuffled(void *arg) {
    struct many *m = arg;
    /* every watcher is up once 255 waits are in: most of them are parked */
    int64_t end = pc__mono_ns() + 30 * NS;
    while (pc__shwait_watchers() < 3 && pc__mono_ns() < end)
        usleep(500);
    for (int i = 0; i < MANY; i++) {
        atomic_store(&m->words[m->order[i]], 1);
        pc__shwake(&m->words[m->order[i]], 1);
    }
    return NULL;
}

Test(shwait, three_hundred_coroutines_on_distinct_words_woken_in_random_order, .timeout = 90) {
    cr_assert(watched());
    static struct many m;
    static struct many_arg a[MANY];
    static pc_coro *c[MANY];
    m.words = shared_words(MANY);
    srand(12345);
    for (int i = 0; i < MANY; i++)
        m.order[i] = i;
    for (int i = MANY - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = m.order[i];
        m.order[i] = m.order[j];
        m.order[j] = t;
    }
    for (int i = 0; i < MANY; i++) {
        a[i] = (struct many_arg){&m, i};
        expect_rc(
            pc_coro_spawn(&c[i], wait_for_change, &a[i], &(pc_coro_opts){.stack_size = 32768}), 0);
    }
    pthread_t t = start_pthread(wake_shuffled, &m);
    expect_rc(pc_coro_joinall(c, MANY, 60), 0);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&m.done), MANY);
    for (int i = 0; i < MANY; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    /* 127 waits a watcher: three of them */
    cr_assert_eq(pc__shwait_watchers(), 3);
}

static void *store_slowly(void *arg) {
    struct many *m = arg;
    for (int i = 0; i < 8; i++) {
        usleep(3000); /* not for order: so that the coroutines poll meanwhile */
        atomic_store(&m->words[m->order[i]], 1);
        pc__shwake(&m->words[m->order[i]], 1);
    }
    return NULL;
}

Test(shwait, polling_still_works_when_forced, .timeout = 60) {
    pc__shwait_force_poll(true);
    static struct many m;
    static struct many_arg a[8];
    static pc_coro *c[8];
    m.words = shared_words(8);
    for (int i = 0; i < 8; i++) {
        m.order[i] = 7 - i;
        a[i] = (struct many_arg){&m, i};
        expect_rc(pc_coro_spawn(&c[i], wait_for_change, &a[i], NULL), 0);
    }
    pthread_t t = start_pthread(store_slowly, &m);
    expect_rc(pc_coro_joinall(c, 8, 30), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < 8; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    cr_assert_eq(pc__shwait_watchers() > 0, false);
}

/* ----------------------------------------------------------------- threads */

static void *store_and_wake(void *arg) {
    _Atomic uint32_t *w = arg;
    cr_assert(wake_a_sleeper(w, 20)); /* the main thread, asleep on the word */
    atomic_store(w, 1);
    pc__shwake(w, INT32_MAX);
    return NULL;
}

Test(shwait, threads_still_wait_on_the_futex, .timeout = 30) {
    _Atomic uint32_t *w = shared_words(1);
    int64_t t0 = pc__mono_ns();
    expect_rc(pc__shwait(w, 0, t0 + NS / 5), -ETIMEDOUT);
    double took = (double)(pc__mono_ns() - t0) / NS;
    cr_assert(took >= 0.18 && took < 5, "waited %.3f s", took);
    pthread_t t = start_pthread(store_and_wake, (void *)w);
    while (atomic_load(w) == 0)
        expect_rc(pc__shwait(w, 0, pc__mono_ns() + 20 * NS), 0);
    pthread_join(t, NULL);
    cr_assert_eq(pc__shwait_watchers() > 0, false, "a thread wait started a watcher");
}

/* -------------------------------------------------------------------- fork */

static int fork_child_waits(void *arg, void **value) {
    (void)value;
    struct one *o = arg;
    return pc__shwait(o->word, 0, pc__mono_ns() + 20 * NS);
}

/* The child starts a watcher thread: unsupported under TSan after a
 * multi-threaded fork. */
Test(shwait, a_fork_child_restarts_the_watcher, .timeout = 60, .disabled = PC_UNDER_TSAN) {
    cr_assert(watched());
    struct one o = {.word = shared_words(2), .timeout = 30, .result = 1};
    woken_by_a_thread(&o);
    expect_rc(atomic_load(&o.result), 0);
    cr_assert_eq(pc__shwait_watchers(), 1);

    struct one oc = {.word = o.word + 1};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (pc__shwait_watchers() != 0)
            _exit(2);
        pc_coro *c;
        if (pc_coro_spawn(&c, fork_child_waits, &oc, NULL) || pc_coro_join(c, 40))
            _exit(3);
        if (pc_coro_error(c) != 0)
            _exit(4); /* woken with the word unchanged: by a watcher */
        _exit(pc__shwait_watchers() == 1 ? 0 : 5);
    }
    cr_assert(wake_a_sleeper(oc.word, 30), "the child's coroutine never slept on the word");
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

/* A coroutine of the forking thread parked at the fork: in the child its
 * watcher is gone, so it is woken (spuriously) and may wait again.  Off
 * under TSan: after a multi-threaded fork it stops tracking the forking
 * fiber's synchronization and reports races between that fiber and one
 * made before the fork. */
struct at_fork {
    struct one o;
    pc_coro *waiter;
};

static int forker(void *arg, void **value) {
    (void)value;
    struct at_fork *f = arg;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int r = pc_coro_join(f->waiter, 20);
        _exit(r ? 2 : atomic_load(&f->o.result) == 0 ? 0 : 3);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPROTO;
}

Test(shwait, a_coroutine_parked_at_a_fork_wakes_in_the_child, .timeout = 60,
     .disabled = PC_UNDER_TSAN) {
    cr_assert(watched());
    struct at_fork f = {.o = {.word = shared_words(1), .timeout = 30, .result = 1}};
    pc_coro *fk;
    expect_rc(pc_coro_spawn(&f.waiter, wait_once, &f.o, NULL), 0);
    expect_rc(pc_coro_spawn(&fk, forker, &f, NULL), 0); /* runs once the waiter parked */
    expect_rc(pc_coro_join(fk, 40), 0);
    expect_rc(pc_coro_error(fk), 0);
    cr_assert_eq(atomic_load(&f.o.result), 1, "the parent's waiter was woken");
    atomic_store(f.o.word, 1);
    pc__shwake(f.o.word, 1);
    expect_rc(pc_coro_join(f.waiter, 30), 0);
    expect_rc(atomic_load(&f.o.result), 0);
    pc_coro_free(fk);
    pc_coro_free(f.waiter);
}
