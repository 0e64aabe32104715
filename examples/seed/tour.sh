#!/bin/sh
# The seed tour: runs every example of the seed under its question, in the
# seed's order.  Add an example with one `example` line below.
#   tour.sh BUILD_DIR/examples/seed
# PYCONC_SEED_SCALE scales the seed's sleeps (default: examples/seed/seed.h).
set -eu
bin=${1:?usage: tour.sh BUILD_DIR/examples/seed}
start=$(date +%s)

# example NAME QUESTION TRANSLATION [ARGS...]
example() {
    name=$1 question=$2 translation=$3
    shift 3
    printf '\n======================================================================\n'
    printf 'Q: %s\n   %s\n\n$ %s\n' "$question" "$translation" "$name${*:+ $*}"
    if [ ! -x "$bin/$name" ]; then
        echo "tour: $bin/$name is missing (build first: make demo)" >&2
        exit 1
    fi
    "$bin/$name" "$@"
}

# optional_example: the same, skipped when the program was not built (it
# needs an optional package, such as liblua5.4-dev).
optional_example() {
    if [ ! -x "$bin/$1" ]; then
        printf '\n(skipped %s: not built; see scripts/deps.sh)\n' "$1"
        return 0
    fi
    example "$@"
}

echo "pyconc seed tour: the Python examples of the seed, in C"

example gil_pseudo_parallel \
    "Python中的GIL是什么？" \
    "What is the GIL in Python? (A lock every thread must hold to run: the threads are only pseudo-parallel.)"

example gil_refcount \
    "为什么要引入GIL呢？" \
    "Why was the GIL introduced? (CPython counts references; two threads updating one count lose updates.)"

optional_example gil_lua \
    "为什么要引入GIL呢？" \
    "The same for a real embedded interpreter: Lua 5.4, one lua_State, threads taking turns under a pc_gil."

example gil_race \
    "那么有GIL锁了是否线程就是一定安全了？" \
    "So with the GIL, are threads always safe? (Under the GIL: no, num += n still loses updates.)"

example thread_race \
    "那么有GIL锁了是否线程就是一定安全了？" \
    "So with the GIL, are threads always safe?"

example thread_basics \
    "Python中如何使用多线程的基本操作？" \
    "How are the basic thread operations used in Python?"

example thread_lock \
    "多个线程一起对某个数据修改，可能会出现不可预料的结果，为了确保数据的正确性，需要多个进程同步的。如何使用threading中的Lock进行进程同步。" \
    "When several threads modify the same data the result is unpredictable; to keep the data correct they must be synchronized. How is threading's Lock used for that?"

example thread_queue \
    "如何使用线程优先级队列来实现进程间的同步？" \
    "How is a thread priority queue used to synchronize processes? (The answer uses a plain queue.Queue between threads.)"

example process_basics \
    "Python的多进程和多线程有什么区别？ / multiprocessing有多种启动进程的方法，分别有什么不同？" \
    "How do processes differ from threads? And the three start methods: spawn, fork, forkserver."

example process_work \
    "在使用Process时候使用函数和类的区别？（函数方式）" \
    "Process with a function: three workers, cpu_count and active_children."

example process_class \
    "在使用Process时候使用函数和类的区别？（类方式）" \
    "Process as a class: ClockProcess prints the time at intervals."

example process_value \
    "如何在多进程中使用Lock进行同步或者不使用锁的情况下进行同步操作？" \
    "How do processes synchronize with a Lock, or without one? (A shared Value: updates interleave and get lost without the lock.)"

example process_pool \
    "Python的进程池如何使用，是同步还是异步的？要如何实现异步？（apply）" \
    "How is a process Pool used; is it synchronous? (apply: each call waits, the tasks run one by one, 'test' comes last.)" \
    apply

example process_pool \
    "Python的进程池如何使用，是同步还是异步的？要如何实现异步？（apply_async）" \
    "How is it made asynchronous? (apply_async: 'test' comes first, the ten tasks run side by side.)" \
    apply_async

example process_pool \
    "Python的进程池如何使用，是同步还是异步的？要如何实现异步？（map_async）" \
    "map_async over range(500) with two processes: 'test' first, then the items two at a time." \
    map_async

example coro_asyncio \
    "asyncio + async/await" \
    "asyncio: coroutines on one event loop; while one awaits a sleep, the loop runs the others."

example coro_gevent \
    "Gevent" \
    "gevent: greenlets switch to one another whenever one blocks on IO (here, a sleep)."

example proc_pipe \
    "多进程中如何进行不同进程的沟通交流？" \
    "How do processes communicate? (A Pipe: the parent sends 1000 messages, the child reads until end of stream.)"

example process_queue \
    "多进程中如何进行不同进程的沟通交流？" \
    "How do processes communicate? (A Queue: a putter process puts 1000 values, a getter process gets them until the queue stays empty.)"

printf '\n======================================================================\n'
echo "tour done in $(($(date +%s) - start)) s"
