/*
 * The seed's process pool: Pool(10) with apply (blocking), with
 * apply_async (not blocking), and Pool(2).map_async over range(500).
 *
 *   def test(interval):
 *       print(interval)
 *       time.sleep(3)
 *
 *   pool = multiprocessing.Pool(processes=10)
 *   for i in range(10):
 *       pool.apply(test, args=(i,))         # or pool.apply_async(...)
 *   print('test')
 *   pool.close()
 *   pool.join()
 *   >>> 0 1 2 ... 9 test                    # apply: one at a time
 *   >>> test 0 1 2 ...                      # apply_async: all at once
 *
 *   pool = multiprocessing.Pool(processes=2)
 *   pool.map_async(test, range(500))
 *   print('test')
 *   pool.close(); pool.join()
 *   >>> test 0 64 63 ...
 *
 * Usage: process_pool [apply | apply_async | map_async] (none: all three).
 *
 * apply waits for each task, so the ten tasks run one after another in a
 * pool of ten processes and `test` comes last; apply_async returns at
 * once, `test` comes first and the ten tasks sleep side by side.
 * map_async cuts range(500) into chunks of Python's default size
 * (ceil(500 / (4 * 2)) = 63), so one worker begins at 0, the other at 63,
 * as in the seed's run.  Its 500 sleeps of 3 s would take 12 minutes on
 * two workers even in Python; here each is 3 s / 100 (then scaled by
 * PYCONC_SEED_SCALE like every sleep of the tour): the shape, two at a
 * time, is the seed's.
 *
 * The task prints from the worker process, so each line is flushed at
 * once.  The elapsed time after each part shows what ran in parallel.
 */
#include <errno.h>
#include <string.h>

#include "seed.h"

static int test(const void *arg, size_t len, pc_task_result *out) {
    (void)out;
    int interval;
    double secs;
    if (len != sizeof interval + sizeof secs)
        return pc_task_fail(out, -EINVAL, "want an int and a double");
    memcpy(&interval, arg, sizeof interval);
    memcpy(&secs, (const char *)arg + sizeof interval, sizeof secs);
    printf("%d\n", interval);
    fflush(stdout);
    seed_sleep(secs);
    return 0;
}

struct targ {
    int interval;
    double secs;
} __attribute__((packed));

static pc_pool *new_pool(int n) {
    pc_pool *p;
    SEED_CHECK(pc_pool_new(&p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES, .workers = n}));
    return p;
}

static void end_pool(pc_pool *p, double t0) {
    SEED_CHECK(pc_pool_close(p));
    SEED_CHECK(pc_pool_join(p, PC_FOREVER));
    pc_pool_free(p);
    printf("(took %.2f s)\n", pc_now() - t0);
}

static void part_apply(void) {
    printf("-- Pool(10).apply: one task at a time\n");
    double t0 = pc_now();
    pc_pool *p = new_pool(10);
    for (int i = 0; i < 10; i++) {
        struct targ a = {i, 3};
        SEED_CHECK(pc_pool_apply(p, test, &a, sizeof a, NULL, 0, NULL, PC_FOREVER));
    }
    printf("test\n");
    end_pool(p, t0);
}

static void part_apply_async(void) {
    printf("-- Pool(10).apply_async: all tasks at once\n");
    double t0 = pc_now();
    pc_pool *p = new_pool(10);
    for (int i = 0; i < 10; i++) {
        struct targ a = {i, 3};
        pc_future *f;
        SEED_CHECK(pc_pool_apply_async(p, test, &a, sizeof a, NULL, &f));
        pc_future_release(f); /* the pool runs it anyway; join waits for it */
    }
    printf("test\n");
    fflush(stdout);
    end_pool(p, t0);
}

static void part_map_async(void) {
    printf("-- Pool(2).map_async over range(500): two at a time\n");
    double t0 = pc_now();
    pc_pool *p = new_pool(2);
    static struct targ args[500];
    for (int i = 0; i < 500; i++)
        args[i] = (struct targ){i, 3.0 / 100};
    pc_pool_map_result *m;
    SEED_CHECK(pc_pool_map_async(p, test, PC_POOL_ARRAY(args, 500), 0, &m));
    printf("test\n");
    fflush(stdout);
    end_pool(p, t0);
    SEED_CHECK(pc_pool_map_wait(m, 0));
    pc_pool_map_free(m);
}

int main(int argc, char **argv) {
    seed_init();
    const char *only = argc > 1 ? argv[1] : NULL;
    if (!only || !strcmp(only, "apply"))
        part_apply();
    if (!only || !strcmp(only, "apply_async"))
        part_apply_async();
    if (!only || !strcmp(only, "map_async"))
        part_map_async();
    return 0;
}
