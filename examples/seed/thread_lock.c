/*
 * The seed's MyThread: a thread "class" and a Lock that keeps one thread's
 * lines together.
 *
 *   class MyThread(threading.Thread):
 *       def __init__(self, threadID, name, counter):
 *           threading.Thread.__init__(self)
 *           self.threadID = threadID
 *           self.name = name
 *           self.counter = counter
 *       def run(self):
 *           print("开启进程：" + self.name)
 *           threadLock.acquire()
 *           print_time(self.name, self.counter, 3)
 *           threadLock.release()
 *
 *   def print_time(threadName, delay, counter):
 *       while counter:
 *           time.sleep(delay)
 *           print("%s: %s" % (threadName, time.ctime(time.time())))
 *           counter -= 1
 *
 *   threadLock = threading.Lock()
 *   thread1 = MyThread(1, 'Thread-1', 1); thread2 = MyThread(2, 'Thread-2', 2)
 *   start both, join both, print('done')
 *
 * In C a "class" derived from threading.Thread is a struct that embeds a
 * pc_thread as its first member; run() receives that member and casts back.
 * The timestamps carry milliseconds, since the sleeps are scaled down.
 */
#include <time.h>

#include "seed.h"

typedef struct my_thread {
    pc_thread base; /* threading.Thread.__init__(self); first, so run() can cast */
    int thread_id;
    double counter; /* seconds between lines, as the seed's `counter` */
} my_thread;

static pc_lock thread_lock = PC_LOCK_INIT;

/*
 * The seed's output shows Thread-1's lines first, but only because
 * thread1.start() came first and it usually wins the race to the lock;
 * nothing promises that.  Here main() waits until Thread-1 holds the lock
 * before starting Thread-2, so the order is the seed's every time.
 */
static pc_event *lock_taken;

/* time.ctime(time.time()), with milliseconds: "Sat Jul 31 22:15:26.123 2021". */
static void ctime_ms(char *buf, size_t size) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%a %b %e %H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ld %d", ts.tv_nsec / 1000000, tm.tm_year + 1900);
}

static void print_time(const char *thread_name, double delay, int counter) {
    while (counter) {
        char now[64];
        seed_sleep(delay);
        ctime_ms(now, sizeof now);
        printf("%s: %s\n", thread_name, now);
        counter--;
    }
}

static void my_thread_run(pc_thread *self) {
    my_thread *t = (my_thread *)self;
    printf("开启进程：%s\n", pc_thread_name(self)); /* "starting: <name>" */
    SEED_CHECK(pc_lock_acquire(&thread_lock, true, PC_FOREVER));
    SEED_CHECK(pc_event_set(lock_taken));
    print_time(pc_thread_name(self), t->counter, 3);
    SEED_CHECK(pc_lock_release(&thread_lock));
}

static void my_thread_init(my_thread *t, int thread_id, const char *name, double counter) {
    SEED_CHECK(pc_thread_init(&t->base, my_thread_run, &(pc_thread_opts){.name = name}));
    t->thread_id = thread_id;
    t->counter = counter;
}

int main(void) {
    seed_init();
    SEED_CHECK(pc_event_new(&lock_taken));

    my_thread thread1, thread2;
    my_thread_init(&thread1, 1, "Thread-1", 1);
    my_thread_init(&thread2, 2, "Thread-2", 2);

    SEED_CHECK(pc_thread_start(&thread1.base));
    SEED_CHECK(pc_event_wait(lock_taken, PC_FOREVER)); /* see lock_taken */
    SEED_CHECK(pc_thread_start(&thread2.base));

    my_thread *threads[] = {&thread1, &thread2};
    for (int i = 0; i < 2; i++)
        SEED_CHECK(pc_thread_join(&threads[i]->base, PC_FOREVER));
    printf("done\n");

    for (int i = 0; i < 2; i++)
        SEED_CHECK(pc_thread_destroy(&threads[i]->base));
    pc_event_free(lock_taken);
    return 0;
}
