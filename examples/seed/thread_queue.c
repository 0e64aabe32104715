/*
 * The seed's work queue: three worker threads drain a Queue of five names.
 *
 *   class myThread(threading.Thread):
 *       def __init__(self, threadID, name, q): ...
 *       def run(self):
 *           print('开启线程：' + self.name)
 *           process_data(self.name, self.q)
 *           print("退出线程：" + self.name)
 *
 *   def process_data(threadName, q):
 *       while not exitFlag:
 *           queueLock.acquire()
 *           if not workQueue.empty():
 *               data = q.get()
 *               queueLock.release()
 *               print("%s processing %s" % (threadName, data))
 *           else:
 *               queueLock.release()
 *           time.sleep(1)
 *
 *   workQueue = queue.Queue(10); start three myThreads
 *   queueLock.acquire(); put the five names; queueLock.release()
 *   while not workQueue.empty(): pass
 *   exitFlag = 1; join the threads; print('exit main thread')
 *
 * This follows the seed step by step.  With pyconc (and with Python) the
 * queue needs neither queueLock, nor the empty() check, nor exitFlag nor
 * the polling sleep: a worker blocks in pc_queue_get(q, &data, PC_FOREVER)
 * until an item comes, and main ends the workers with pc_queue_shutdown(q,
 * false), after which each get returns -EPIPE once the queue is drained.
 * Or pc_queue_join() waits until every item was marked pc_queue_task_done().
 */
#include "seed.h"

static pc_atomic_long exit_flag = PC_ATOMIC_LONG_INIT(0);
static pc_lock queue_lock = PC_LOCK_INIT;
static pc_queue *work_queue;

typedef struct my_thread {
    pc_thread base; /* threading.Thread.__init__(self); first, so run() can cast */
    int thread_id;
    pc_queue *q;
} my_thread;

static void process_data(const char *thread_name, pc_queue *q) {
    while (!pc_atomic_long_load(&exit_flag)) {
        SEED_CHECK(pc_lock_acquire(&queue_lock, true, PC_FOREVER));
        if (!pc_queue_empty(work_queue)) {
            void *data;
            SEED_CHECK(pc_queue_get(q, &data, PC_FOREVER));
            SEED_CHECK(pc_lock_release(&queue_lock));
            printf("%s processing %s\n", thread_name, (const char *)data);
        } else {
            SEED_CHECK(pc_lock_release(&queue_lock));
        }
        seed_sleep(1);
    }
}

static void my_thread_run(pc_thread *self) {
    my_thread *t = (my_thread *)self;
    printf("开启线程：%s\n", pc_thread_name(self)); /* "starting thread: <name>" */
    process_data(pc_thread_name(self), t->q);
    printf("退出线程：%s\n", pc_thread_name(self)); /* "exiting thread: <name>" */
}

int main(void) {
    seed_init();
    static const char *const thread_list[] = {"Thread-1", "Thread-2", "Thread-3"};
    static const char *const name_list[] = {"One", "Two", "Three", "Four", "Five"};
    my_thread threads[3];

    SEED_CHECK(pc_queue_new(&work_queue, &(pc_queue_opts){.maxsize = 10}));

    /* Create the threads. */
    for (int i = 0; i < 3; i++) {
        SEED_CHECK(pc_thread_init(&threads[i].base, my_thread_run,
                                  &(pc_thread_opts){.name = thread_list[i]}));
        threads[i].thread_id = i + 1;
        threads[i].q = work_queue;
        SEED_CHECK(pc_thread_start(&threads[i].base));
    }

    /* Fill the queue. */
    SEED_CHECK(pc_lock_acquire(&queue_lock, true, PC_FOREVER));
    for (int i = 0; i < 5; i++)
        SEED_CHECK(pc_queue_put(work_queue, (void *)name_list[i], PC_FOREVER));
    SEED_CHECK(pc_lock_release(&queue_lock));

    /* Wait for the queue to empty: the seed spins on `pass`; yield instead. */
    while (!pc_queue_empty(work_queue))
        pc_sleep(0);

    pc_atomic_long_store(&exit_flag, 1);
    for (int i = 0; i < 3; i++)
        SEED_CHECK(pc_thread_join(&threads[i].base, PC_FOREVER));
    printf("exit main thread\n");

    for (int i = 0; i < 3; i++)
        SEED_CHECK(pc_thread_destroy(&threads[i].base));
    pc_queue_free(work_queue);
    return 0;
}
