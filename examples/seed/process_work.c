/*
 * The seed's Process by function: three work_N processes, cpu_count and
 * active_children while they run, then "END" before they end.
 *
 *   p1 = multiprocessing.Process(target = work_1, args = (2,))
 *   ... p1.start(); p2.start(); p3.start()
 *   print("The number of CPU is:" + str(multiprocessing.cpu_count()))
 *   for p in multiprocessing.active_children():
 *       print("child p.name:" + p.name + "\tpid:" + str(p.pid))
 *   print("END")
 *
 * Each child prints "work-N", sleeps N+1 (scaled) seconds, prints
 * "End work-N".  A child's stdout is a copy of the parent's stream, so
 * each flushes after printing.
 */
#include "seed.h"

static int work(void *arg, size_t len) {
    (void)len;
    int n = *(int *)arg;
    printf("work-%d\n", n);
    fflush(stdout);
    seed_sleep(n + 1);
    printf("End work-%d\n", n);
    fflush(stdout);
    return 0;
}

int main(void) {
    seed_init();
    pc_process *p[3];
    for (int i = 0; i < 3; i++) {
        int n = i + 1;
        SEED_CHECK(pc_process_new(&p[i], work, &n, sizeof n, NULL));
    }
    for (int i = 0; i < 3; i++)
        SEED_CHECK(pc_process_start(p[i]));
    printf("The number of CPU is:%d\n", pc_cpu_count());
    pc_process *alive[8];
    int n = pc_active_children(alive, 8);
    for (int i = 0; i < n && i < 8; i++)
        printf("child p.name:%s\tpid:%d\n", pc_process_name(alive[i]),
               (int)pc_process_pid(alive[i]));
    printf("END\n");
    for (int i = 0; i < 3; i++) {
        SEED_CHECK(pc_process_join(p[i], PC_FOREVER));
        pc_process_free(p[i]);
    }
    return 0;
}
