/*
 * The seed's asyncio example: three coroutines, each sleeping one second
 * between two lines, on one event loop.
 *
 *   async def test(i):
 *       print('test_1', i)
 *       await asyncio.sleep(1)
 *       print('test_2', i)
 *
 *   loop = asyncio.get_event_loop()
 *   tasks = [test(i) for i in range(3)]
 *   loop.run_until_complete(asyncio.wait(tasks))
 *
 * While one coroutine sleeps the loop runs the others, so the three
 * sleeps overlap: the whole run takes about one sleep, not three.
 */
#include "seed.h"

static int test(void *arg, void **value) {
    (void)value;
    int i = (int)(intptr_t)arg;
    printf("test_1 %d\n", i);
    int r = seed_coro_sleep(1);
    printf("test_2 %d\n", i);
    return r;
}

int main(void) {
    seed_init();
    pc_coro *tasks[3];
    double t0 = pc_now();
    for (int i = 0; i < 3; i++)
        SEED_CHECK(pc_coro_spawn(&tasks[i], test, (void *)(intptr_t)i, NULL));
    /* loop.run_until_complete(asyncio.wait(tasks)): joining from the
     * loop's own thread runs the loop until they are done */
    SEED_CHECK(pc_coro_joinall(tasks, 3, PC_FOREVER));
    double took = pc_now() - t0;
    printf("3 coroutines sleeping %.2f s each took %.2f s together\n", seed_scale(), took);
    for (int i = 0; i < 3; i++)
        pc_coro_free(tasks[i]);
    SEED_CHECK(pc_loop_close());
    return 0;
}
