/*
 * The seed's Process as a class: ClockProcess prints the time five times,
 * `interval` seconds apart.
 *
 *   class ClockProcess(multiprocessing.Process):
 *       def __init__(self, interval):
 *           multiprocessing.Process.__init__(self)
 *           self.interval = interval
 *       def run(self):
 *           n = 5
 *           while n > 0:
 *               print("The time is {0}".format(time.ctime()))
 *               time.sleep(self.interval)
 *               n -= 1
 *   p = ClockProcess(3); p.start()
 *
 * In C the class is a struct whose first member is a pc_process; the child
 * runs run() on its copy of the struct (plain data: under spawn and
 * forkserver the child is a fresh image of the program).  The seed does
 * not join: Python waits for non-daemon children at exit; C does not, so
 * main joins.
 */
#include <sys/time.h>
#include <time.h>

#include "seed.h"

struct clock_process {
    pc_process base;
    double interval;
};

static int run(pc_process *self) {
    struct clock_process *c = (struct clock_process *)self;
    for (int n = 5; n > 0; n--) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        char buf[64];
        struct tm tm;
        strftime(buf, sizeof buf, "%a %b %e %H:%M:%S", localtime_r(&tv.tv_sec, &tm));
        printf("The time is %s.%03d %d\n", buf, (int)(tv.tv_usec / 1000), tm.tm_year + 1900);
        fflush(stdout);
        seed_sleep(c->interval);
    }
    return 0;
}

int main(void) {
    seed_init();
    struct clock_process p = {.interval = 3};
    SEED_CHECK(pc_process_init(&p.base, run, sizeof p, NULL));
    SEED_CHECK(pc_process_start(&p.base));
    SEED_CHECK(pc_process_join(&p.base, PC_FOREVER));
    SEED_CHECK(pc_process_destroy(&p.base));
    return 0;
}
