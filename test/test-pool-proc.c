/* The process pool under each start method: apply and its errors,
 * apply_async callbacks, map / starmap (array of structs) / imap /
 * imap_unordered, empty inputs, the initializer, maxtasksperchild, large
 * arguments and results, max_result, submissions after close, the scope
 * helper, a coroutine waiting on a process task. */
#include <stdio.h>
#include <unistd.h>

#include "pool-helpers.h"

#define POOL_TEST(name, ...) PROC_POOL_TEST(pool, name, __VA_ARGS__)

static int my_pid(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    int pid = getpid();
    return pc_task_return(out, &pid, sizeof pid);
}

POOL_TEST(apply_runs_in_another_process, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    cr_assert_eq(pc_pool_workers(p), 2);
    int x = 12, y = 0;
    size_t n = 0;
    expect_rc(pc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, &n, 30.0), 0);
    cr_assert_eq(y, 144);
    cr_assert_eq(n, sizeof y);
    int pid = 0;
    expect_rc(pc_pool_apply(p, my_pid, NULL, 0, &pid, sizeof pid, NULL, 30.0), 0);
    cr_assert(pid > 0 && pid != getpid());
    char msg[64];
    x = 3;
    expect_rc(pc_pool_apply(p, square_but_3_7, &x, sizeof x, msg, sizeof msg, NULL, 30.0), -EIO);
    cr_assert_str_eq(msg, "bad 3");
    end_pool(p);
}

static _Atomic int cb_ok, cb_err;

static void on_ok(pc_future *f, void *arg) {
    (void)f, (void)arg;
    atomic_fetch_add(&cb_ok, 1);
}

static void on_err(pc_future *f, void *arg) {
    (void)f, (void)arg;
    atomic_fetch_add(&cb_err, 1);
}

POOL_TEST(apply_async_callbacks, .timeout = 60) {
    atomic_store(&cb_ok, 0);
    atomic_store(&cb_err, 0);
    pc_pool *p = proc_pool(m, 2);
    pc_future *f[10];
    for (int i = 0; i < 10; i++)
        expect_rc(pc_pool_apply_async(p, square_but_3_7, &i, sizeof i,
                                      &(pc_pool_callbacks){on_ok, on_err, NULL}, &f[i]),
                  0);
    for (int i = 0; i < 10; i++) {
        const void *b;
        size_t n;
        int r = pc_future_result(f[i], &b, &n, 30.0);
        if (i == 3 || i == 7) {
            expect_rc(r, -EIO);
        } else {
            expect_rc(r, 0);
            cr_assert_eq(*(const int *)b, i * i);
        }
        pc_future_release(f[i]);
    }
    end_pool(p); /* the callbacks ran before the futures were settled for waiters */
    cr_assert_eq(atomic_load(&cb_ok), 8);
    cr_assert_eq(atomic_load(&cb_err), 2);
}

typedef struct pair {
    int a, b;
} pair;

static int add_pair(const void *arg, size_t len, pc_task_result *out) {
    if (len != sizeof(pair))
        return pc_task_fail(out, -EINVAL, "want a pair");
    pair q;
    memcpy(&q, arg, sizeof q);
    int s = q.a + q.b;
    return pc_task_return(out, &s, sizeof s);
}

POOL_TEST(map_starmap_imap, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    int xs[200];
    for (int i = 0; i < 200; i++)
        xs[i] = i;
    size_t chunks[] = {0, 1, 7};
    for (size_t c = 0; c < 3; c++) {
        pc_pool_map_result *r;
        expect_rc(pc_pool_map(p, square_but_3_7, PC_POOL_ARRAY(xs, 200), chunks[c], &r, 30.0),
                  -EIO);
        for (size_t i = 0; i < 200; i++) {
            const void *b;
            size_t n;
            int e = pc_pool_map_get(r, i, &b, &n);
            if (i == 3 || i == 7)
                expect_rc(e, -EIO);
            else
                cr_assert(e == 0 && *(const int *)b == (int)(i * i));
        }
        pc_pool_map_free(r);
    }
    /* starmap: an array of structs */
    pair ps[50];
    for (int i = 0; i < 50; i++)
        ps[i] = (pair){i, 1000 * i};
    pc_pool_map_result *r;
    expect_rc(pc_pool_map(p, add_pair, PC_POOL_ARRAY(ps, 50), 0, &r, 30.0), 0);
    for (size_t i = 0; i < 50; i++) {
        const void *b;
        expect_rc(pc_pool_map_get(r, i, &b, NULL), 0);
        cr_assert_eq(*(const int *)b, 1001 * (int)i);
    }
    pc_pool_map_free(r);
    /* imap, ordered and unordered */
    for (int unordered = 0; unordered < 2; unordered++) {
        pc_pool_iter *it;
        if (unordered)
            expect_rc(pc_pool_imap_unordered(p, square, PC_POOL_ARRAY(xs, 100), 3, 8, &it), 0);
        else
            expect_rc(pc_pool_imap(p, square, PC_POOL_ARRAY(xs, 100), 3, 8, &it), 0);
        bool seen[100] = {0};
        size_t idx, n;
        const void *b;
        int e, count = 0;
        while ((e = pc_pool_iter_next(it, &idx, &b, &n, 30.0)) == 0) {
            if (!unordered)
                cr_assert_eq(idx, (size_t)count);
            cr_assert(!seen[idx]);
            seen[idx] = true;
            cr_assert_eq(*(const int *)b, (int)(idx * idx));
            count++;
        }
        expect_rc(e, -ENOENT);
        cr_assert_eq(count, 100);
        pc_pool_iter_free(it);
    }
    /* empty inputs */
    expect_rc(pc_pool_map(p, square, PC_POOL_ARRAY(xs, 0), 0, &r, 30.0), 0);
    cr_assert_eq(pc_pool_map_count(r), 0);
    pc_pool_map_free(r);
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, square, PC_POOL_ARRAY(xs, 0), 0, 0, &it), 0);
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 1.0), -ENOENT);
    pc_pool_iter_free(it);
    end_pool(p);
}

static int g_init = -1;

static void init_worker(const void *arg, size_t len) {
    cr_assert_eq(len, sizeof(int));
    memcpy(&g_init, arg, sizeof g_init);
    g_init += 1;
}

static int read_init(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    int v[2] = {g_init, getpid()};
    g_init += 100; /* a second initializer run would reset it */
    return pc_task_return(out, v, sizeof v);
}

POOL_TEST(initializer_runs_once_per_worker, .timeout = 60) {
    int seed = 41;
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES,
                                              .workers = 1,
                                              .method = m,
                                              .initializer = init_worker,
                                              .initargs = &seed,
                                              .initargs_len = sizeof seed}),
              0);
    for (int i = 0; i < 3; i++) {
        int v[2];
        expect_rc(pc_pool_apply(p, read_init, NULL, 0, v, sizeof v, NULL, 30.0), 0);
        cr_assert_eq(v[0], 42 + 100 * i);
    }
    end_pool(p);
}

POOL_TEST(maxtasksperchild_replaces_the_process, .timeout = 60) {
    int seed = 1;
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES,
                                              .workers = 1,
                                              .method = m,
                                              .maxtasksperchild = 2,
                                              .initializer = init_worker,
                                              .initargs = &seed,
                                              .initargs_len = sizeof seed}),
              0);
    int pids[6];
    for (int i = 0; i < 6; i++) {
        int v[2];
        expect_rc(pc_pool_apply(p, read_init, NULL, 0, v, sizeof v, NULL, 30.0), 0);
        cr_assert_eq(v[0], 2 + 100 * (i % 2), "task %d saw %d", i, v[0]);
        pids[i] = v[1];
    }
    for (int i = 0; i < 6; i += 2) {
        cr_assert_eq(pids[i], pids[i + 1]);
        if (i)
            cr_assert_neq(pids[i], pids[i - 1]);
    }
    end_pool(p);
}

/* bytes -> the same bytes reversed */
static int reverse(const void *arg, size_t len, pc_task_result *out) {
    unsigned char *b = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        b[i] = ((const unsigned char *)arg)[len - 1 - i];
    int r = pc_task_return(out, b, len);
    free(b);
    return r;
}

POOL_TEST(large_arguments_and_results, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    size_t sizes[] = {0, 1, 100, 8191, 8192, 40000, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        unsigned char *in = malloc(n + 1), *out = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 7 + s);
        size_t got = 0;
        expect_rc(pc_pool_apply(p, reverse, in, n, out, n, &got, 30.0), 0);
        cr_assert_eq(got, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(out[i], in[n - 1 - i]);
        free(in);
        free(out);
    }
    end_pool(p);
}

POOL_TEST(max_result_fails_one_task, .timeout = 60) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES,
                                              .workers = 1,
                                              .method = m,
                                              .max_result = 100}),
              0);
    unsigned char in[200] = {1}, out[200];
    char msg[128];
    expect_rc(pc_pool_apply(p, reverse, in, 101, msg, sizeof msg, NULL, 30.0), -EMSGSIZE);
    cr_assert(strstr(msg, "max_result") != NULL, "%s", msg);
    expect_rc(pc_pool_apply(p, reverse, in, 100, out, sizeof out, NULL, 30.0), 0);
    end_pool(p);
}

POOL_TEST(close_join_and_errors, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    expect_rc(pc_pool_join(p, 0), -EINVAL); /* neither closed nor terminated */
    pc_future *f;
    int x = 5;
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), 0);
    expect_rc(pc_pool_close(p), 0);
    /* queued work still runs after close */
    cr_assert_eq(result_int(f), 25);
    pc_future_release(f);
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), -EPIPE);
    pc_pool_map_result *r;
    expect_rc(pc_pool_map_async(p, square, PC_POOL_ARRAY(&x, 1), 0, &r), -EPIPE);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_free(p);
}

static int with_body(pc_pool *p, void *arg) {
    pc_future **out = arg;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pc_pool_apply_async(p, square, &i, sizeof i, NULL, &out[i]), 0);
    return 7;
}

POOL_TEST(the_scope_joins, .timeout = 60) {
    pc_future *fs[4] = {0};
    expect_rc(pc_pool_with(&(pc_pool_opts){.kind = PC_POOL_PROCESSES, .workers = 2, .method = m},
                           with_body, fs),
              7);
    for (int i = 0; i < 4; i++) {
        cr_assert(pc_future_done(fs[i])); /* joined: every task ran */
        cr_assert_eq(result_int(fs[i]), i * i);
        pc_future_release(fs[i]);
    }
}

Test(pool_proc, defaults_to_cpu_count, .timeout = 60) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES}), 0);
    cr_assert_eq(pc_pool_workers(p), pc_cpu_count());
    int x = 4;
    cr_assert_eq(pc_pool_apply(p, square, &x, sizeof x, &x, sizeof x, NULL, 30.0), 0);
    cr_assert_eq(x, 16);
    end_pool(p);
}

/* ---- coroutines: waiting on a process task parks only the coroutine ---- */

static int nap(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    pc_sleep(0.3);
    return 0;
}

static _Atomic int other_done;

static int coro_waiter(void *arg, void **value) {
    pc_pool *p = arg;
    int r = pc_pool_apply(p, nap, NULL, 0, NULL, 0, NULL, 30.0);
    *value = (void *)(long)atomic_load(&other_done);
    return r;
}

static int coro_other(void *arg, void **value) {
    (void)arg, (void)value;
    pc_sleep(0.01);
    atomic_store(&other_done, 1);
    return 0;
}

Test(pool_proc, a_coroutine_parks_alone, .timeout = 60) {
    pc_pool *p = proc_pool(PC_START_FORKSERVER, 1);
    pc_coro *a, *b;
    expect_rc(pc_coro_spawn(&a, coro_waiter, p, NULL), 0);
    expect_rc(pc_coro_spawn(&b, coro_other, NULL, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(a), 0);
    cr_assert_eq((long)pc_coro_value(a), 1, "the other coroutine did not run meanwhile");
    pc_coro_free(a);
    pc_coro_free(b);
    end_pool(p);
}
