/* The thread pool's many-task calls: map, map_async, starmap as a map of
 * structs, imap and imap_unordered (ordering, chunking, laziness), empty
 * inputs, errors among results, terminate during a map. */
#include <stdio.h>

#include "pool-helpers.h"

static pc_pool *new_pool(int workers) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = workers}), 0);
    return p;
}

static int get_int(pc_pool_map_result *m, size_t i) {
    const void *b;
    size_t n;
    expect_rc(pc_pool_map_get(m, i, &b, &n), 0);
    cr_assert_eq(n, sizeof(int));
    int v;
    memcpy(&v, b, sizeof v);
    return v;
}

Test(pool_map, results_in_order, .timeout = 30) {
    pc_pool *p = new_pool(3);
    int xs[1000];
    for (int i = 0; i < 1000; i++)
        xs[i] = i;
    for (size_t chunk = 0; chunk <= 7; chunk += 7) {
        pc_pool_map_result *m;
        expect_rc(pc_pool_map(p, square, PC_POOL_ARRAY(xs, 1000), chunk, &m, 30.0), 0);
        cr_assert_eq(pc_pool_map_count(m), 1000);
        cr_assert(pc_pool_map_ready(m));
        for (int i = 0; i < 1000; i++)
            cr_assert_eq(get_int(m, (size_t)i), i * i);
        expect_rc(pc_pool_map_get(m, 1000, NULL, NULL), -ERANGE);
        pc_pool_map_free(m);
    }
    end_pool(p);
}

/* starmap: one struct per call */
typedef struct pair {
    int a, b;
} pair;

static int add_pair(const void *arg, size_t len, pc_task_result *out) {
    cr_assert_eq(len, sizeof(pair));
    pair pr;
    memcpy(&pr, arg, sizeof pr);
    int s = pr.a + pr.b;
    return pc_task_return(out, &s, sizeof s);
}

Test(pool_map, starmap_is_a_map_of_structs, .timeout = 30) {
    pc_pool *p = new_pool(2);
    pair ps[50];
    for (int i = 0; i < 50; i++)
        ps[i] = (pair){i, 1000 * i};
    pc_pool_map_result *m;
    expect_rc(pc_pool_map(p, add_pair, PC_POOL_ARRAY(ps, 50), 0, &m, 30.0), 0);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(get_int(m, (size_t)i), 1001 * i);
    pc_pool_map_free(m);
    end_pool(p);
}

/* items of their own length: the task returns the length it got */
static int length_of(const void *arg, size_t len, pc_task_result *out) {
    (void)arg;
    return pc_task_return(out, &(int){(int)len}, sizeof(int));
}

Test(pool_map, items_of_their_own_length, .timeout = 30) {
    pc_pool *p = new_pool(2);
    const char *words[] = {"", "a", "bb", "ccc", "dddd", "hello world"};
    pc_pool_item items[6];
    for (int i = 0; i < 6; i++)
        items[i] = (pc_pool_item){words[i], strlen(words[i])};
    pc_pool_map_result *m;
    expect_rc(pc_pool_map(p, length_of, &(pc_pool_input){.items = items, .n = 6}, 1, &m, 30.0), 0);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(get_int(m, (size_t)i), (int)strlen(words[i]));
    pc_pool_map_free(m);
    end_pool(p);
}

/* A pulled input: counts from 0 to limit, recording how far it was read. */
typedef struct counter {
    int next, limit;
    int value; /* the bytes handed out: valid until the next call */
} counter;

static int count_up(void *arg, const void **ptr, size_t *len) {
    counter *c = arg;
    if (c->next >= c->limit)
        return 0;
    c->value = c->next++;
    *ptr = &c->value;
    *len = sizeof c->value;
    return 1;
}

static pc_pool_input *counted(counter *c) {
    static _Thread_local pc_pool_input in;
    in = (pc_pool_input){.next = count_up, .next_arg = c};
    return &in;
}

Test(pool_map, map_reads_a_pulled_input, .timeout = 30) {
    pc_pool *p = new_pool(2);
    counter c = {0, 100, 0};
    pc_pool_map_result *m;
    expect_rc(pc_pool_map(p, square, counted(&c), 0, &m, 30.0), 0);
    cr_assert_eq(pc_pool_map_count(m), 100);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(get_int(m, (size_t)i), i * i);
    pc_pool_map_free(m);
    end_pool(p);
}

/* Chunks: the items of one chunk run one after the other on one worker. */
static void check_chunks(pc_pool_map_result *m, size_t n, size_t chunk) {
    for (size_t i = 0; i < n; i++) {
        const void *b;
        expect_rc(pc_pool_map_get(m, i, &b, NULL), 0);
        ran r;
        memcpy(&r, b, sizeof r);
        if (i % chunk) {
            ran prev;
            expect_rc(pc_pool_map_get(m, i - 1, &b, NULL), 0);
            memcpy(&prev, b, sizeof prev);
            cr_assert_eq(r.tid, prev.tid, "item %zu: same worker as %zu", i, i - 1);
            cr_assert_eq(r.seq, prev.seq + 1, "item %zu right after %zu", i, i - 1);
        }
    }
}

Test(pool_map, chunks_run_together, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int xs[100] = {0};
    pc_pool_map_result *m;
    expect_rc(pc_pool_map(p, where, PC_POOL_ARRAY(xs, 20), 5, &m, 30.0), 0);
    check_chunks(m, 20, 5);
    pc_pool_map_free(m);
    /* the default: ceil(100 / (4 * 2)) = 13 */
    expect_rc(pc_pool_map(p, where, PC_POOL_ARRAY(xs, 100), 0, &m, 30.0), 0);
    check_chunks(m, 100, 13);
    /* and a run of one worker breaks only at a chunk's start */
    int breaks = 0;
    for (size_t i = 1; i < 100; i++) {
        const void *a, *b;
        pc_pool_map_get(m, i - 1, &a, NULL);
        pc_pool_map_get(m, i, &b, NULL);
        ran ra, rb;
        memcpy(&ra, a, sizeof ra);
        memcpy(&rb, b, sizeof rb);
        if (ra.tid != rb.tid || rb.seq != ra.seq + 1) {
            cr_assert_eq(i % 13, 0, "a break inside a chunk at %zu", i);
            breaks++;
        }
    }
    pc_pool_map_free(m);
    end_pool(p);
    cr_log_info("chunk breaks: %d", breaks);
}

Test(pool_map, errors_among_results, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int xs[10];
    for (int i = 0; i < 10; i++)
        xs[i] = i;
    pc_pool_map_result *m;
    expect_rc(pc_pool_map(p, square_but_3_7, PC_POOL_ARRAY(xs, 10), 1, &m, 30.0), -EIO);
    cr_assert_str_eq(pc_future_error_message(pc_pool_map_future(m)), "bad 3", "lowest index");
    for (int i = 0; i < 10; i++) {
        if (i == 3 || i == 7) {
            expect_rc(pc_pool_map_get(m, (size_t)i, NULL, NULL), -EIO);
            char want[8];
            snprintf(want, sizeof want, "bad %d", i);
            cr_assert_str_eq(pc_future_error_message(pc_pool_map_item(m, (size_t)i)), want);
        } else {
            cr_assert_eq(get_int(m, (size_t)i), i * i, "the others complete");
        }
    }
    pc_pool_map_free(m);
    end_pool(p);
}

static pc_event *gate;

static int gated(const void *arg, size_t len, pc_task_result *out) {
    if (pc_event_wait(gate, 30.0))
        return -ETIMEDOUT;
    return square(arg, len, out);
}

Test(pool_map, map_async_handle, .timeout = 30) {
    cr_assert_eq(pc_event_new(&gate), 0);
    pc_pool *p = new_pool(2);
    int xs[40];
    for (int i = 0; i < 40; i++)
        xs[i] = i;
    pc_pool_map_result *m;
    expect_rc(pc_pool_map_async(p, gated, PC_POOL_ARRAY(xs, 40), 0, &m), 0);
    cr_assert(!(pc_pool_map_ready(m)));
    expect_rc(pc_pool_map_get(m, 39, NULL, NULL), -EAGAIN);
    expect_rc(pc_pool_map_wait(m, 0.05), -ETIMEDOUT);
    pc_event_set(gate);
    expect_rc(pc_future_result(pc_pool_map_future(m), NULL, NULL, 30.0), 0);
    expect_rc(pc_pool_map_wait(m, 0), 0);
    cr_assert(pc_pool_map_ready(m));
    for (int i = 0; i < 40; i++)
        cr_assert_eq(get_int(m, (size_t)i), i * i);
    pc_pool_map_free(m);
    end_pool(p);
    pc_event_free(gate);
}

Test(pool_map, empty_inputs, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int x = 0;
    counter c = {0, 0, 0};
    pc_pool_item none[1];
    const pc_pool_input *ins[] = {PC_POOL_ARRAY(&x, 0), &(pc_pool_input){.items = none, .n = 0},
                                  counted(&c), &(pc_pool_input){0}};
    for (int k = 0; k < 4; k++) {
        pc_pool_map_result *m;
        expect_rc(pc_pool_map(p, square, ins[k], 0, &m, 30.0), 0);
        cr_assert_eq(pc_pool_map_count(m), 0);
        cr_assert(pc_pool_map_ready(m));
        pc_pool_map_free(m);
        expect_rc(pc_pool_map_async(p, square, ins[k], 0, &m), 0);
        expect_rc(pc_pool_map_wait(m, 0), 0);
        pc_pool_map_free(m);
        pc_pool_iter *it;
        expect_rc(pc_pool_imap(p, square, ins[k], 0, 0, &it), 0);
        expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 0), -ENOENT);
        pc_pool_iter_free(it);
        expect_rc(pc_pool_imap_unordered(p, square, ins[k], 0, 0, &it), 0);
        expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 0), -ENOENT);
        pc_pool_iter_free(it);
    }
    expect_rc(pc_pool_map(p, square, &(pc_pool_input){.n = 3}, 0, &(pc_pool_map_result *){0}, 1),
              -EINVAL);
    end_pool(p);
}

/* ---- imap ---- */

Test(pool_map, imap_is_ordered_and_lazy, .timeout = 30) {
    pc_pool *p = new_pool(3);
    counter c = {0, 200, 0};
    pc_pool_iter *it;
    enum { WINDOW = 6 };
    expect_rc(pc_pool_imap(p, square, counted(&c), 2, WINDOW, &it), 0);
    cr_assert_leq(c.next, WINDOW, "read %d items ahead at the start", c.next);
    for (int i = 0; i < 200; i++) {
        size_t idx;
        const void *b;
        size_t n;
        expect_rc(pc_pool_iter_next(it, &idx, &b, &n, 30.0), 0);
        cr_assert_eq(idx, (size_t)i);
        int v;
        memcpy(&v, b, sizeof v);
        cr_assert_eq(v, i * i);
        cr_assert_leq(c.next, i + 1 + WINDOW, "read %d items after %d results", c.next, i + 1);
    }
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), -ENOENT);
    pc_pool_iter_free(it);
    end_pool(p);
}

Test(pool_map, imap_unordered_gives_every_item_once, .timeout = 30) {
    pc_pool *p = new_pool(3);
    counter c = {0, 300, 0};
    pc_pool_iter *it;
    expect_rc(pc_pool_imap_unordered(p, square, counted(&c), 0, 5, &it), 0);
    bool seen[300] = {0};
    for (int i = 0; i < 300; i++) {
        size_t idx;
        const void *b;
        expect_rc(pc_pool_iter_next(it, &idx, &b, NULL, 30.0), 0);
        cr_assert_lt(idx, 300);
        cr_assert(!(seen[idx]));
        seen[idx] = true;
        int v;
        memcpy(&v, b, sizeof v);
        cr_assert_eq(v, (int)(idx * idx));
        cr_assert_leq(c.next, i + 1 + 5);
    }
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), -ENOENT);
    pc_pool_iter_free(it);
    end_pool(p);
}

Test(pool_map, imap_reports_errors_and_goes_on, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int xs[10];
    for (int i = 0; i < 10; i++)
        xs[i] = i;
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, square_but_3_7, PC_POOL_ARRAY(xs, 10), 0, 0, &it), 0);
    for (int i = 0; i < 10; i++) {
        size_t idx;
        int r = pc_pool_iter_next(it, &idx, NULL, NULL, 30.0);
        cr_assert_eq(idx, (size_t)i);
        if (i == 3 || i == 7) {
            expect_rc(r, -EIO);
            cr_assert_not_null(pc_pool_iter_error_message(it));
        } else {
            expect_rc(r, 0);
        }
    }
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), -ENOENT);
    pc_pool_iter_free(it);
    end_pool(p);
}

Test(pool_map, imap_outlives_close, .timeout = 30) {
    pc_pool *p = new_pool(2);
    counter c = {0, 50, 0};
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, square, counted(&c), 1, 4, &it), 0);
    expect_rc(pc_pool_close(p), 0);
    for (int i = 0; i < 50; i++)
        expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), 0);
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), -ENOENT);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_iter_free(it);
    pc_pool_free(p);
}

Test(pool_map, imap_with_big_chunks, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int xs[1000];
    for (int i = 0; i < 1000; i++)
        xs[i] = i;
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, square, PC_POOL_ARRAY(xs, 1000), 300, 0, &it), 0);
    for (int i = 0; i < 1000; i++) {
        const void *b;
        expect_rc(pc_pool_iter_next(it, NULL, &b, NULL, 30.0), 0);
        int v;
        memcpy(&v, b, sizeof v);
        cr_assert_eq(v, i * i);
    }
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), -ENOENT);
    pc_pool_iter_free(it);
    end_pool(p);
}

Test(pool_map, imap_next_times_out_and_goes_on, .timeout = 30) {
    cr_assert_eq(pc_event_new(&gate), 0);
    pc_pool *p = new_pool(2);
    int xs[4] = {1, 2, 3, 4};
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, gated, PC_POOL_ARRAY(xs, 4), 1, 0, &it), 0);
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 0.05), -ETIMEDOUT);
    pc_event_set(gate);
    for (int i = 0; i < 4; i++) {
        size_t idx;
        expect_rc(pc_pool_iter_next(it, &idx, NULL, NULL, 30.0), 0);
        cr_assert_eq(idx, (size_t)i, "no item lost to the timeout");
    }
    pc_pool_iter_free(it);
    end_pool(p);
    pc_event_free(gate);
}

Test(pool_map, iterator_freed_early, .timeout = 30) {
    pc_pool *p = new_pool(2);
    counter c = {0, 1000, 0};
    pc_pool_iter *it;
    expect_rc(pc_pool_imap_unordered(p, square, counted(&c), 1, 8, &it), 0);
    expect_rc(pc_pool_iter_next(it, NULL, NULL, NULL, 30.0), 0);
    pc_pool_iter_free(it);
    cr_assert_leq(c.next, 9);
    expect_rc(pc_pool_imap(p, square, counted(&c), 1, 8, &it), 0);
    pc_pool_iter_free(it);
    end_pool(p);
}

/* ---- terminate during a long map ---- */

static pc_sem *started;

static int slow(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    pc_sem_release(started, 1);
    return pc_event_wait(gate, 30.0) ? -ETIMEDOUT : 0;
}

typedef struct waiter_arg {
    pc_pool_map_result *m;
    double returned;
    int rc;
} waiter_arg;

static void *map_waiter(void *arg) {
    waiter_arg *w = arg;
    w->rc = pc_pool_map_wait(w->m, 30.0);
    w->returned = pc_now();
    return NULL;
}

Test(pool_map, terminate_during_a_long_map, .timeout = 30) {
    cr_assert_eq(pc_event_new(&gate), 0);
    cr_assert_eq(pc_sem_new(&started, 0), 0);
    pc_pool *p = new_pool(2);
    int xs[1000] = {0};
    pc_pool_map_result *m;
    expect_rc(pc_pool_map_async(p, slow, PC_POOL_ARRAY(xs, 1000), 1, &m), 0);
    expect_rc(pc_sem_acquire(started, true, 30.0), 0);
    expect_rc(pc_sem_acquire(started, true, 30.0), 0);
    waiter_arg w = {m, 0, 1};
    pthread_t t = start_pthread(map_waiter, &w);
    double t0 = pc_now();
    expect_rc(pc_pool_terminate(p), 0);
    cr_assert_lt(pc_now() - t0, 1.0, "terminate returns within a second");
    pthread_join(t, NULL);
    expect_rc(w.rc, -ECANCELED);
    cr_assert_lt(w.returned - t0, 1.0, "the map's waiter wakes within a second");
    pc_event_set(gate);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_map_free(m);
    pc_pool_free(p);
    pc_event_free(gate);
    pc_sem_free(started);
}
