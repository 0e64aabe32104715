/*
 * A real embedded interpreter under a pc_gil: Lua 5.4, which is not
 * thread-safe, run by several threads at once the way CPython runs
 * bytecode.
 *
 * One lua_State (one Lua "global state": heap, garbage collector, globals)
 * is shared by every thread; each thread runs its scripts on its own Lua
 * thread (lua_newthread: its own stack, as a CPython thread has its own
 * frames).  A thread must hold the GIL to touch any of it.  A Lua count
 * hook calls pc_gil_check() every HOOK_COUNT VM instructions: that is the
 * eval breaker, and the only place where the GIL changes hands while a
 * script runs, so the interpreter's state is consistent at every switch
 * (a hook may call into Lua).  The C function io_wait(ms) sleeps with
 * pc_sleep(), which releases the GIL for the sleep because the thread is
 * attached to it, as CPython releases it around blocking calls.
 *
 * Three CPU-bound threads compute checksummed chunks and append each
 * result to one shared Lua table; one thread mostly waits on "IO".  The
 * program prints that every result is correct and that the table holds
 * exactly what was appended, and the IO thread's latency (how late it gets
 * the GIL back after each wait) with the default order and with
 * PC_GIL_IO_PRIORITY (bpo-7946's remedy).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../seed.h"

#define CPU_THREADS 3
#define HOOK_COUNT 1000 /* VM instructions between two checks */
#define IO_WAITS 40
#define IO_MS 2
#define STR_(x) #x
#define STR(x) STR_(x)

static pc_gil *gil;
static lua_State *L; /* guarded by gil */
static _Atomic bool stop;
static double lat[IO_WAITS]; /* written by the IO thread, read after its join */
static int nlat;

static void hook(lua_State *T, lua_Debug *ar) {
    (void)T;
    (void)ar;
    SEED_CHECK(pc_gil_check(gil));
}

/* io_wait(ms): a blocking call, made without the GIL. */
static int l_io_wait(lua_State *T) {
    double s = luaL_checknumber(T, 1) / 1000.0, due = pc_now() + s;
    pc_sleep(s); /* the thread is attached: the GIL is released meanwhile */
    if (nlat < IO_WAITS)
        lat[nlat++] = pc_now() - due;
    return 0;
}

static int l_stopped(lua_State *T) {
    lua_pushboolean(T, atomic_load(&stop));
    return 1;
}

static const char *cpu_script = "local chunks = 0\n"
                                "while not stopped() do\n"
                                "  local s = 0\n"
                                "  for i = 1, 20000 do s = s + i end\n"
                                "  table.insert(results, s)\n" /* a C call: never split */
                                "  chunks = chunks + 1\n"
                                "end\n"
                                "return chunks\n";

static const char *io_script = "for i = 1, ...  do io_wait(" STR(IO_MS) ") end\n";

/* Run `script` on a Lua thread of L, holding the GIL; its integer result. */
static void *run_script(void *arg) {
    const char **args = arg;
    SEED_CHECK(pc_gil_attach(gil));
    SEED_CHECK(pc_gil_acquire(gil, PC_FOREVER));
    lua_State *T = lua_newthread(L);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX); /* keeps T from the collector */
    lua_sethook(T, hook, LUA_MASKCOUNT, HOOK_COUNT);
    long result = -1;
    if (luaL_loadstring(T, args[0]) == LUA_OK) {
        lua_pushinteger(T, IO_WAITS);
        if (lua_pcall(T, 1, 1, 0) == LUA_OK)
            result = (long)lua_tointeger(T, -1);
    }
    if (result < 0)
        fprintf(stderr, "lua: %s\n", lua_tostring(T, -1));
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    SEED_CHECK(pc_gil_release(gil));
    SEED_CHECK(pc_gil_detach(gil));
    return (void *)result;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(unsigned flags, const char *label) {
    pc_gil_opts o = {.flags = flags};
    SEED_CHECK(pc_gil_new(&gil, &o));
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_register(L, "io_wait", l_io_wait);
    lua_register(L, "stopped", l_stopped);
    lua_newtable(L);
    lua_setglobal(L, "results");
    atomic_store(&stop, false);
    nlat = 0;

    pc_thread *cpu[CPU_THREADS], *io;
    const char *cpu_args[] = {cpu_script}, *io_args[] = {io_script};
    for (int i = 0; i < CPU_THREADS; i++) {
        SEED_CHECK(pc_thread_new(&cpu[i], run_script, cpu_args, NULL));
        SEED_CHECK(pc_thread_start(cpu[i]));
    }
    SEED_CHECK(pc_thread_new(&io, run_script, io_args, NULL));
    SEED_CHECK(pc_thread_start(io));
    SEED_CHECK(pc_thread_join(io, PC_FOREVER));
    atomic_store(&stop, true);
    long chunks = 0;
    for (int i = 0; i < CPU_THREADS; i++) {
        SEED_CHECK(pc_thread_join(cpu[i], PC_FOREVER));
        long c = (long)pc_thread_result(cpu[i]);
        if (c < 0)
            exit(1);
        chunks += c;
        pc_thread_free(cpu[i]);
    }
    pc_thread_free(io);

    /* Every result in the shared table, checked (no thread holds the GIL
     * any more: main may touch L). */
    lua_getglobal(L, "results");
    long n = (long)luaL_len(L, -1), bad = 0;
    for (long i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        bad += lua_tointeger(L, -1) != 200010000;
        lua_pop(L, 1);
    }
    lua_close(L);
    pc_gil_stats st;
    SEED_CHECK(pc_gil_get_stats(gil, &st));
    SEED_CHECK(pc_gil_free(gil));

    qsort(lat, (size_t)nlat, sizeof *lat, cmp);
    printf("%s:\n", label);
    printf("  %d CPU threads ran %ld chunks; the shared table holds %ld results, %ld wrong\n",
           CPU_THREADS, chunks, n, bad);
    printf("  IO thread: %d waits of %d ms; GIL back after the wait: median %.2f ms, "
           "worst %.2f ms (switch interval 5 ms)\n",
           nlat, IO_MS, lat[nlat / 2] * 1e3, lat[nlat - 1] * 1e3);
    printf("  %llu switches, %llu forced, %llu to a returning thread\n",
           (unsigned long long)st.switches, (unsigned long long)st.forced_switches,
           (unsigned long long)st.priority_handoffs);
}

int main(void) {
    seed_init();
    printf("Lua %s in one lua_State, %d CPU threads and 1 IO thread, one pc_gil,\n"
           "a count hook every %d VM instructions as the eval breaker\n\n",
           LUA_RELEASE + 4, CPU_THREADS, HOOK_COUNT);
    run(0, "default order, first in first out (as CPython 3.2+): the IO thread queues\n"
           "behind the CPU threads already waiting, about one interval each");
    run(PC_GIL_IO_PRIORITY, "PC_GIL_IO_PRIORITY (bpo-7946's remedy)");
    return 0;
}
