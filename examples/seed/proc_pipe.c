/*
 * The seed's Pipe: the parent sends 1000 messages to a child process,
 * which prints them until the end of the stream.
 *
 *   def son_process(x, pipe):
 *       _out_pipe, _in_pipe = pipe
 *       _in_pipe.close()                  # the child's copy of the input end
 *       while True:
 *           try:
 *               msg = _out_pipe.recv()
 *               print(msg)
 *           except EOFError:              # every input end closed, all read
 *               break
 *
 *   out_pipe, in_pipe = Pipe(True)
 *   son_p = Process(target=son_process, args=(100, (out_pipe, in_pipe)))
 *   son_p.start()
 *   out_pipe.close()                      # the parent's copy of the output end
 *   for i in range(1000):
 *       in_pipe.send(i)
 *   in_pipe.close()
 *   son_p.join()
 *   print('Main Done')
 *
 * Bytes cross processes, pointers don't: each message is the number as
 * text.  EOFError is -EPIPE from pc_conn_recv.  As the seed explains, after
 * the fork there are four ends; each process closes the one it does not
 * use, or the child would wait for its own copy of the input end forever.
 *
 *   proc_pipe [COUNT]    COUNT messages (default 1000)
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seed.h"

static void son_process(int x, pc_conn *out_pipe, pc_conn *in_pipe) {
    (void)x;
    pc_conn_free(in_pipe);
    char msg[32];
    size_t len;
    long n = 0;
    int rc;
    while ((rc = pc_conn_recv(out_pipe, msg, sizeof msg - 1, &len, PC_FOREVER)) == 0) {
        msg[len] = '\0';
        printf("%s\n", msg);
        n++;
    }
    if (rc != -EPIPE) { /* anything but the end of the stream */
        fprintf(stderr, "son_process: %s\n", pc_strerror(rc));
        exit(1);
    }
    printf("son_process: end of stream after %ld messages\n", n);
    pc_conn_free(out_pipe);
}

/*
 * Process(target=son_process).start(), by a plain fork().  pyconc's
 * process module (pc_process, with the fork, spawn and forkserver start
 * methods) replaces these two helpers: the connection's fd survives the
 * start, and under spawn the child rebuilds it with pc_conn_from_fd().
 */
static pid_t start_son(int x, pc_conn *out_pipe, pc_conn *in_pipe) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        son_process(x, out_pipe, in_pipe);
        fflush(stdout);
        _exit(0);
    }
    return pid;
}

static int join_son(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

int main(int argc, char **argv) {
    seed_init();
    long count = 1000;
    if (argc > 1) {
        char *end;
        count = strtol(argv[1], &end, 10);
        if (*end || count < 0 || count > 1000000) {
            fprintf(stderr, "usage: proc_pipe [COUNT (0..1000000)]\n");
            return 2;
        }
    }
    pc_conn *out_pipe, *in_pipe;
    SEED_CHECK(pc_pipe(&out_pipe, &in_pipe, true));
    pid_t son = start_son(100, out_pipe, in_pipe);
    SEED_CHECK(son < 0 ? -errno : 0);
    pc_conn_free(out_pipe);
    for (long i = 0; i < count; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "%ld", i);
        SEED_CHECK(pc_conn_send(in_pipe, msg, (size_t)len, PC_FOREVER));
    }
    pc_conn_free(in_pipe);
    SEED_CHECK(join_son(son));
    printf("Main Done\n");
    return 0;
}
