/*
 * The seed's gevent example: three greenlets print the current greenlet
 * and a counter, sleeping between lines; gevent switches to another
 * greenlet whenever one sleeps.
 *
 *   def test(n):
 *       for i in range(n):
 *           print(gevent.getcurrent(), i)
 *           gevent.sleep(1)
 *
 *   gevent.joinall([gevent.spawn(test, 3), gevent.spawn(test, 3),
 *                   gevent.spawn(test, 3)])
 *
 * The lines come in rounds: each greenlet prints 0, then each prints 1,
 * then 2, and the whole run takes about three sleeps, not nine.
 */
#include "seed.h"

static int test(void *arg, void **value) {
    (void)value;
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        pc_coro *me = pc_coro_current();
        printf("<Greenlet \"%s\" at %p: test(%d)> %d\n", pc_coro_name(me), (void *)me, n, i);
        int r = seed_coro_sleep(1);
        if (r)
            return r;
    }
    return 0;
}

int main(void) {
    seed_init();
    pc_coro *g[3];
    double t0 = pc_now();
    for (int i = 0; i < 3; i++)
        SEED_CHECK(pc_coro_spawn(&g[i], test, (void *)3, NULL));
    SEED_CHECK(pc_coro_joinall(g, 3, PC_FOREVER));
    printf("3 greenlets x 3 sleeps of %.2f s took %.2f s\n", seed_scale(), pc_now() - t0);
    for (int i = 0; i < 3; i++)
        pc_coro_free(g[i]);
    SEED_CHECK(pc_loop_close());
    return 0;
}
