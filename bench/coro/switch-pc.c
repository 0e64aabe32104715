/*
 * pyconc's context switch (src/coro/ctx.h): pc__ctx_switch between
 * contexts made with pc__ctx_make.  Ping-pong of two contexts, or
 * --ring N.  Figure: ns_per_switch.  See ctxbench.h.
 */
#include "../../src/coro/ctx.h"

#define CB_CTX pc__ctx
#define CB_MAKE pc__ctx_make
#define CB_SWITCH pc__ctx_switch
#include "ctxbench.h"

int main(int argc, char **argv) {
    return cb_run(argc, argv);
}
