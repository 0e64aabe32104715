/*
 * The seed's Queue between processes: a putter process puts 1000 random
 * numbers, a getter process prints them until the queue stays empty for
 * its timeout.
 *
 *   def getter(name, queue):
 *       print('Son process %s' % name)
 *       while True:
 *           try:
 *               value = queue.get(True, 10)
 *               print("Process getter get: %f" % value)
 *           except QueueEmpty:
 *               break
 *
 *   def putter(name, queue):
 *       print("Son process %s" % name)
 *       for i in range(0, 1000):
 *           value = random.random()
 *           queue.put(value)
 *           print("Process putter put: %f" % value)
 *
 *   queue = Queue()
 *   getter_process = Process(target=getter, args=("Getter", queue))
 *   putter_process = Process(target=putter, args=("Putter", queue))
 *   getter_process.start()
 *   putter_process.start()
 *
 * Bytes cross processes, pointers don't: the queue lives in the shared
 * heap and each child is given its reference (pc_mpqueue_ref), which it
 * turns back into a queue with pc_mpqueue_from_ref; each value travels as
 * the 8 bytes of a double.  Queue.Empty after the timeout is -ETIMEDOUT.
 * The getter's 10 seconds are scaled by PYCONC_SEED_SCALE, but never below
 * one second, so that the getter does not give up before the putter has
 * started.  Children print through a copy of the parent's stdout, so they
 * flush each line.
 *
 *   process_queue [COUNT]    COUNT values (default 1000)
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seed.h"

struct son {
    char name[16];
    pc_shared_ref queue;
    long count;     /* putter: how many values */
    double timeout; /* getter: queue.get(True, timeout) */
    unsigned seed;  /* putter: random.random()'s seed */
};

static pc_mpqueue *queue_of(const struct son *s) {
    pc_mpqueue *q;
    SEED_CHECK(pc_mpqueue_from_ref(s->queue, &q));
    return q;
}

static int getter(void *arg, size_t len) {
    (void)len;
    const struct son *s = arg;
    pc_mpqueue *queue = queue_of(s);
    printf("Son process %s\n", s->name);
    fflush(stdout);
    long got = 0;
    for (;;) {
        double value;
        size_t n;
        int rc = pc_mpqueue_get(queue, &value, sizeof value, &n, s->timeout);
        if (rc == -ETIMEDOUT)
            break; /* except QueueEmpty: break */
        SEED_CHECK(rc);
        printf("Process getter get: %f\n", value);
        fflush(stdout);
        got++;
    }
    printf("Process getter: the queue stayed empty for %g s after %ld values: done\n", s->timeout,
           got);
    fflush(stdout);
    return 0;
}

static int putter(void *arg, size_t len) {
    (void)len;
    const struct son *s = arg;
    pc_mpqueue *queue = queue_of(s);
    printf("Son process %s\n", s->name);
    fflush(stdout);
    unsigned short xs[3] = {(unsigned short)s->seed, (unsigned short)(s->seed >> 16), 0x330e};
    for (long i = 0; i < s->count; i++) {
        double value = erand48(xs); /* random.random() */
        SEED_CHECK(pc_mpqueue_put(queue, &value, sizeof value, PC_FOREVER));
        printf("Process putter put: %f\n", value);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    seed_init();
    long count = 1000;
    if (argc > 1) {
        char *end;
        count = strtol(argv[1], &end, 10);
        if (*end || count < 0 || count > 1000000) {
            fprintf(stderr, "usage: process_queue [COUNT (0..1000000)]\n");
            return 2;
        }
    }
    pc_mpqueue *queue;
    SEED_CHECK(pc_mpqueue_new(&queue, NULL)); /* queue = Queue() */
    struct son g = {.name = "Getter", .timeout = 10 * seed_scale()};
    if (g.timeout < 1)
        g.timeout = 1;
    struct son p = {.name = "Putter", .count = count, .seed = (unsigned)time(NULL) ^ getpid()};
    SEED_CHECK(pc_mpqueue_ref(queue, &g.queue));
    p.queue = g.queue;
    pc_process *getter_process, *putter_process;
    SEED_CHECK(pc_process_new(&getter_process, getter, &g, sizeof g, NULL));
    SEED_CHECK(pc_process_new(&putter_process, putter, &p, sizeof p, NULL));
    SEED_CHECK(pc_process_start(getter_process));
    SEED_CHECK(pc_process_start(putter_process));
    /* Python joins non-daemon children at exit; so do we, and check them */
    int code = 0, c;
    SEED_CHECK(pc_process_join(putter_process, PC_FOREVER));
    SEED_CHECK(pc_process_exitcode(putter_process, &c));
    code |= c;
    SEED_CHECK(pc_process_join(getter_process, PC_FOREVER));
    SEED_CHECK(pc_process_exitcode(getter_process, &c));
    code |= c;
    pc_process_free(getter_process);
    pc_process_free(putter_process);
    SEED_CHECK(pc_mpqueue_free(queue));
    return code ? 1 : 0;
}
