/* The shared heap (pyconc/shared.h) and the robust shared mutex underneath
 * every shared lock: blocks and references across the three start methods,
 * misuse, and a holder killed with the lock held. */
#include <pyconc.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/shared/shared-internal.h"
#include "process-helpers.h"

Test(shared_heap, alloc_free_size_and_refs) {
    void *a, *b;
    expect_rc(pc_shared_alloc(100, &a), 0);
    expect_rc(pc_shared_alloc(100, &b), 0);
    cr_assert_neq(a, b);
    cr_assert_eq((uintptr_t)a % 64, 0);
    cr_assert_geq(pc_shared_size(a), 100);
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(((char *)a)[i], 0);
    memset(a, 0x5a, 100);
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(a, &r), 0);
    void *back;
    expect_rc(pc_shared_deref(r, &back), 0);
    cr_assert_eq(back, a);
    expect_rc(pc_shared_free(a), 0);
    expect_rc(pc_shared_deref(r, &back), -EINVAL); /* freed */
    void *c;
    expect_rc(pc_shared_alloc(100, &c), 0); /* recycled: zeroed again */
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(((char *)c)[i], 0);
    expect_rc(pc_shared_free(b), 0);
    expect_rc(pc_shared_free(c), 0);
}

Test(shared_heap, misuse_is_an_error) {
    void *a;
    expect_rc(pc_shared_alloc(0, &a), -EINVAL);
    expect_rc(pc_shared_alloc(8, NULL), -EINVAL);
    expect_rc(pc_shared_alloc((size_t)PC_SHARED_HEAP_MAX, &a), -ENOMEM);
    expect_rc(pc_shared_alloc(8, &a), 0);
    expect_rc(pc_shared_free(NULL), -EINVAL);
    expect_rc(pc_shared_free((char *)a + 8), -EINVAL);
    int local;
    expect_rc(pc_shared_free(&local), -EINVAL);
    cr_assert_eq(pc_shared_size(&local), 0);
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(&local, &r), -EINVAL);
    void *p;
    expect_rc(pc_shared_deref((pc_shared_ref){0, 0}, &p), -EINVAL);
    expect_rc(pc_shared_ref_of(a, &r), 0);
    expect_rc(pc_shared_deref((pc_shared_ref){r.heap ^ 2, r.off}, &p), -ENXIO);
    expect_rc(pc_shared_deref((pc_shared_ref){r.heap, r.off + 8}, &p), -EINVAL);
    expect_rc(pc_shared_deref((pc_shared_ref){r.heap, ~0ull}, &p), -EINVAL);
    expect_rc(pc_shared_free(a), 0);
    expect_rc(pc_shared_free(a), -EINVAL); /* double free */
}

Test(shared_heap, a_big_block_costs_only_the_pages_touched) {
    void *a;
    size_t big = (size_t)256 << 20;
    expect_rc(pc_shared_alloc(big, &a), 0);
    unsigned char v[4];
    cr_assert_eq(mincore((char *)a + big / 2 - ((uintptr_t)a + big / 2) % 4096, 4096, v), 0);
    cr_assert_eq(v[0] & 1, 0, "an untouched page of a fresh block is resident");
    ((char *)a)[big - 1] = 1;
    expect_rc(pc_shared_free(a), 0);
    expect_rc(pc_shared_alloc(big, &a), 0); /* recycled: its last byte reads zero again */
    cr_assert_eq(((char *)a)[big - 1], 0);
    expect_rc(pc_shared_free(a), 0);
}

/* What the parent gives the child: a block to read and to answer in. */
struct box {
    char text[32];
    pc_shared_ref reply; /* written by the child: a block it made */
};

static int child_reads_and_answers(void *arg, size_t len) {
    if (len != sizeof(pc_shared_ref))
        return 90;
    struct box *b;
    if (pc_shared_deref(*(pc_shared_ref *)arg, (void **)&b) < 0)
        return 91;
    if (strcmp(b->text, "from the parent") != 0)
        return 92;
    char *mine;
    if (pc_shared_alloc(64, (void **)&mine) < 0)
        return 93;
    strcpy(mine, "from the child");
    if (pc_shared_ref_of(mine, &b->reply) < 0)
        return 94;
    return 0;
}

PROC_TEST(a_block_travels_by_reference_both_ways, .timeout = 60) {
    struct box *b;
    expect_rc(pc_shared_alloc(sizeof *b, (void **)&b), 0);
    strcpy(b->text, "from the parent");
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(b, &r), 0);
    pc_process *p = start_fn(m, child_reads_and_answers, &r, sizeof r, NULL, 0);
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
    char *answer;
    expect_rc(pc_shared_deref(b->reply, (void **)&answer), 0);
    cr_assert_str_eq(answer, "from the child");
    expect_rc(pc_shared_free(answer), 0);
    expect_rc(pc_shared_free(b), 0);
}

/* ---- pc__shmutex ---- */

struct locked {
    pc__shmutex mu;
    int value;
    int ready; /* the child holds the lock */
};

static int hold_and_die(void *arg, size_t len) {
    (void)len;
    struct locked *l;
    if (pc_shared_deref(*(pc_shared_ref *)arg, (void **)&l) < 0)
        return 90;
    if (pc__shmutex_lock(&l->mu, PC__NO_DEADLINE) != 0)
        return 91;
    l->value = 1; /* half an update */
    __atomic_store_n(&l->ready, 1, __ATOMIC_RELEASE);
    for (;;)
        pause(); /* killed here, holding the lock */
}

PROC_TEST(a_holder_killed_holding_the_lock_hands_it_over_with_eownerdead, .timeout = 60) {
    struct locked *l;
    expect_rc(pc_shared_alloc(sizeof *l, (void **)&l), 0);
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(l, &r), 0);
    pc_process *p = start_fn(m, hold_and_die, &r, sizeof r, NULL, 0);
    while (!__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    expect_rc(pc__shmutex_trylock(&l->mu), -EAGAIN);
    int64_t t0 = pc__mono_ns();
    expect_rc(pc__shmutex_lock(&l->mu, t0 + 50000000), -ETIMEDOUT); /* alive: it waits */
    expect_rc(pc_process_kill(p), 0);
    /* not reaped yet: the child is a zombie, which counts as dead */
    expect_rc(pc__shmutex_lock(&l->mu, pc__mono_ns() + 10 * 1000000000ll), -EOWNERDEAD);
    cr_assert_eq(l->value, 1);
    cr_assert_eq(pc__shmutex_holder(&l->mu), pc__tid());
    expect_rc(pc__shmutex_unlock(&l->mu), 0);
    expect_rc(pc__shmutex_lock(&l->mu, PC__NO_DEADLINE), 0); /* usable again */
    expect_rc(pc__shmutex_unlock(&l->mu), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shared_free(l), 0);
}

Test(shared_heap, shmutex_unlock_by_a_non_holder_is_eperm) {
    pc__shmutex mu = {0};
    expect_rc(pc__shmutex_unlock(&mu), -EPERM);
    expect_rc(pc__shmutex_lock(&mu, PC__NO_DEADLINE), 0);
    atomic_store(&mu.word, atomic_load(&mu.word) + 1); /* pretend another thread holds it */
    expect_rc(pc__shmutex_unlock(&mu), -EPERM);
}

/* Two processes add under the lock: no update lost. */
struct counter {
    pc__shmutex mu;
    long n;
};

static int add_many(void *arg, size_t len) {
    (void)len;
    struct counter *c;
    if (pc_shared_deref(*(pc_shared_ref *)arg, (void **)&c) < 0)
        return 90;
    for (int i = 0; i < 20000; i++) {
        if (pc__shmutex_lock(&c->mu, PC__NO_DEADLINE) != 0)
            return 91;
        long v = c->n;
        c->n = v + 1;
        if (pc__shmutex_unlock(&c->mu) != 0)
            return 92;
    }
    return 0;
}

PROC_TEST(two_processes_lose_no_update_under_the_lock, .timeout = 60) {
    struct counter *c;
    expect_rc(pc_shared_alloc(sizeof *c, (void **)&c), 0);
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(c, &r), 0);
    pc_process *p = start_fn(m, add_many, &r, sizeof r, NULL, 0);
    cr_assert_eq(add_many(&r, sizeof r), 0);
    cr_assert_eq(join_code(p), 0);
    cr_assert_eq(c->n, 40000);
    pc_process_free(p);
    expect_rc(pc_shared_free(c), 0);
}
