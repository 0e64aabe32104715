/*
 * The seed's multiprocessing basics: info() from the parent and from a
 * child started with a function and an argument, under each start method.
 *
 *   def info(title):
 *       print(title)
 *       print('module name:', __name__)
 *       print('parent process:', os.getppid())
 *       print('process id:', os.getpid())
 *   def f(name):
 *       info('function f')
 *       print('hello', name)
 *   info('main line')
 *   p = Process(target=f, args=('bob',)); p.start(); p.join()
 *
 * The start-method question: spawn starts a fresh image of the program,
 * fork copies the parent, forkserver asks a small server (itself started
 * fresh) to fork.  The child's "parent process" is this program under
 * each; the pid that getppid() gives differs under forkserver (the server
 * is the real parent), so the example prints pyconc's parent pid.
 */
#include <string.h>
#include <unistd.h>

#include "seed.h"

static void info(const char *title) {
    printf("%s\n", title);
    pc_process *me = pc_process_current(), *parent = pc_process_parent();
    printf("process name: %s\n", pc_process_name(me));
    printf("parent process: %d\n", parent ? (int)pc_process_pid(parent) : (int)getppid());
    printf("process id: %d\n", (int)getpid());
}

static int f(void *name, size_t len) {
    (void)len;
    info("function f");
    printf("hello %s\n", (const char *)name);
    return 0;
}

int main(void) {
    seed_init();
    info("main line");
    const pc_start_method methods[] = {PC_START_SPAWN, PC_START_FORK, PC_START_FORKSERVER};
    for (int i = 0; i < 3; i++) {
        printf("\n-- start method: %s\n", pc_start_method_name(methods[i]));
        pc_process *p;
        SEED_CHECK(pc_process_new(&p, f, "bob", strlen("bob") + 1,
                                  &(pc_process_opts){.method = methods[i]}));
        SEED_CHECK(pc_process_start(p));
        SEED_CHECK(pc_process_join(p, PC_FOREVER));
        int code;
        SEED_CHECK(pc_process_exitcode(p, &code));
        printf("%s exitcode = %d\n", pc_process_name(p), code);
        pc_process_free(p);
    }
    printf("\nthe default start method: %s\n", pc_start_method_name(pc_get_start_method()));
    return 0;
}
