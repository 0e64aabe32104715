/*
 * pc_gil under fire: threads take it blocking, non-blocking and with short
 * timeouts, check, yield, and release through save/restore, with and
 * without priority; at most one of them is ever inside, and a plain
 * counter guarded by the GIL loses nothing (TSan sees the GIL's
 * happens-before edges or reports the counter).
 */
#include "gil-helpers.h"

#define THREADS 4
#define ROUNDS 20000

struct st {
    pc_gil *g;
    _Atomic int *inside;
    long *counter; /* guarded by g */
    long mine;
    int bad;
    unsigned seed;
    pthread_barrier_t *go;
};

static void enter(struct st *s) {
    if (atomic_fetch_add(s->inside, 1) != 0)
        s->bad = 1;
}

static void leave(struct st *s) {
    atomic_fetch_sub(s->inside, 1);
}

static void *stress_main(void *arg) {
    struct st *s = arg;
    if (pc_gil_attach(s->g))
        s->bad = 2;
    pthread_barrier_wait(s->go);
    for (int i = 0; i < ROUNDS && !s->bad; i++) {
        int how = (int)(rand_r(&s->seed) % 4), r;
        r = how == 0   ? pc_gil_acquire(s->g, 0)
            : how == 1 ? pc_gil_acquire(s->g, 0.0001)
                       : pc_gil_acquire(s->g, PC_FOREVER);
        if (r == -EAGAIN || r == -ETIMEDOUT)
            continue;
        if (r) {
            s->bad = 3;
            break;
        }
        for (int k = 0; k < 3; k++) {
            enter(s);
            (*s->counter)++;
            s->mine++;
            for (volatile int w = 0; w < 200; w++) /* a little work inside */
                ;
            leave(s);
            int c = rand_r(&s->seed) % 8;
            if (c == 0)
                r = pc_gil_yield(s->g) < 0;
            else if (c == 1)
                r = pc_gil_restore(pc_gil_save()); /* a "blocking call" */
            else
                r = pc_gil_check(s->g) < 0;
            if (r || !pc_gil_held(s->g))
                s->bad = 4;
        }
        if (pc_gil_release(s->g))
            s->bad = 5;
    }
    pc_gil_detach(s->g);
    return NULL;
}

static void stress(const pc_gil_opts *o) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, o), 0);
    _Atomic int inside = 0;
    long counter = 0;
    struct st s[THREADS];
    pthread_t t[THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct st){
            .g = g, .inside = &inside, .counter = &counter, .seed = 7u * i + 1, .go = &go};
        t[i] = start_pthread(stress_main, &s[i]);
    }
    long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].bad, 0, "thread %d: failure %d", i, s[i].bad);
        sum += s[i].mine;
    }
    pthread_barrier_destroy(&go);
    cr_assert_eq(counter, sum);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.waiting, 0);
    cr_log_info("%ld entries, %llu switches, %llu forced, %llu prioritized", sum,
                (unsigned long long)st.switches, (unsigned long long)st.forced_switches,
                (unsigned long long)st.priority_handoffs);
    expect_rc(pc_gil_free(g), 0);
}

Test(gil_stress, timer_based, .timeout = 120) {
    pc_gil_opts o = {.switch_interval = 0.0001};
    stress(&o);
}

Test(gil_stress, count_based, .timeout = 120) {
    pc_gil_opts o = {.check_interval = 2};
    stress(&o);
}

Test(gil_stress, io_priority, .timeout = 120) {
    pc_gil_opts o = {.switch_interval = 0.0001, .flags = PC_GIL_IO_PRIORITY, .max_bypass = 1};
    stress(&o);
}
