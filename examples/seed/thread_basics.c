/*
 * The seed's basic thread operations: two threads from functions with an
 * argument, started, then joined; and getName/setName/isAlive.
 *
 *   def aaa(word):
 *       for _ in range(3):
 *           print('aaa and %s' % word)
 *           time.sleep(1)
 *   def bbb(word): ... the same with 'bbb'
 *
 *   thread1 = threading.Thread(target=aaa, args=['aaa'])
 *   thread2 = threading.Thread(target=bbb, args=['bbb'])
 *   for t in threads: t.start()
 *   for t in threads: t.join()
 *
 * Both threads sleep between their lines, so their lines interleave: the
 * two run at the same time.
 */
#include <stdbool.h>

#include "seed.h"

static void *aaa(void *word) {
    for (int i = 0; i < 3; i++) {
        printf("aaa and %s\n", (const char *)word);
        seed_sleep(1);
    }
    return NULL;
}

static void *bbb(void *word) {
    for (int i = 0; i < 3; i++) {
        printf("bbb and %s\n", (const char *)word);
        seed_sleep(1);
    }
    return NULL;
}

static const char *yes_no(bool b) {
    return b ? "True" : "False";
}

static void show(const char *when, pc_thread **threads) {
    printf("%s: %s.is_alive() = %s, %s.is_alive() = %s\n", when, pc_thread_name(threads[0]),
           yes_no(pc_thread_is_alive(threads[0])), pc_thread_name(threads[1]),
           yes_no(pc_thread_is_alive(threads[1])));
}

int main(void) {
    seed_init();
    pc_thread *threads[2];
    SEED_CHECK(pc_thread_new(&threads[0], aaa, "aaa", NULL));
    SEED_CHECK(pc_thread_new(&threads[1], bbb, "bbb", NULL));

    /* getName / setName: threads are named "Thread-N" unless told otherwise. */
    printf("getName: %s, %s\n", pc_thread_name(threads[0]), pc_thread_name(threads[1]));
    SEED_CHECK(pc_thread_set_name(threads[1], "bbb-thread"));
    printf("setName: the second thread is now %s\n", pc_thread_name(threads[1]));

    show("before start", threads);
    for (int i = 0; i < 2; i++)
        SEED_CHECK(pc_thread_start(threads[i]));
    show("after start", threads);
    for (int i = 0; i < 2; i++)
        SEED_CHECK(pc_thread_join(threads[i], PC_FOREVER));
    show("after join", threads);

    for (int i = 0; i < 2; i++)
        pc_thread_free(threads[i]);
    return 0;
}
