"""Peer: Python's queue.Queue / queue.SimpleQueue, the same pass as the C
harness (bench/common/qbench.h), run by Debian's /usr/bin/python3.

  --kind queue|simple   queue.Queue(maxsize) or queue.SimpleQueue()
  --producers P --consumers C --items N --maxsize M   (as qbench.h)

P producer threads each put N/P ints (1..N in all); once they are done the
main thread puts one None per consumer; consumers get until None.  Threads
start behind a threading.Barrier; the clock (time.monotonic_ns, i.e.
CLOCK_MONOTONIC) runs from the barrier to the last consumer's exit.  A
warm-up pass of N/10 items runs first, then $BENCH_PASSES (default 3)
measured passes; the figures are the median pass's, printed as
"metric value unit" lines.
"""
import os
import queue
import statistics
import sys
import threading
import time


def parse(argv):
    opts = {"kind": "queue", "producers": "1", "consumers": "1",
            "items": "300000", "maxsize": "0"}
    if len(argv) % 2:
        sys.exit("usage: pyqueue.py [--key value]...")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pyqueue.py: unknown option {key}")
        opts[key[2:]] = val
    return opts


def one_pass(make, np_, nc, items):
    q = make()
    start = threading.Barrier(np_ + nc + 1)
    per = items // np_
    tallies = [None] * nc

    def producer(first, count):
        put = q.put
        start.wait()
        for i in range(first, first + count):
            put(i)

    def consumer(k):
        get = q.get
        total = got = 0
        start.wait()
        while True:
            it = get()
            if it is None:
                break
            total += it
            got += 1
        tallies[k] = (total, got)

    prods = [threading.Thread(target=producer,
                              args=(1 + per * i, items - per * i if i == np_ - 1 else per))
             for i in range(np_)]
    cons = [threading.Thread(target=consumer, args=(k,)) for k in range(nc)]
    for t in prods + cons:
        t.start()
    start.wait()
    t0 = time.monotonic_ns()
    for t in prods:
        t.join()
    for _ in range(nc):
        q.put(None)
    for t in cons:
        t.join()
    t1 = time.monotonic_ns()
    total = sum(s for s, _ in tallies)
    got = sum(g for _, g in tallies)
    if got != items or total != items * (items + 1) // 2:
        sys.exit(f"pyqueue.py: items lost or doubled: got {got} of {items}")
    return (t1 - t0) * 1e-9


def main():
    o = parse(sys.argv[1:])
    np_, nc, items, maxsize = (int(o[k]) for k in ("producers", "consumers", "items", "maxsize"))
    if o["kind"] == "queue":
        def make():
            return queue.Queue(maxsize)
    elif o["kind"] == "simple":
        def make():
            return queue.SimpleQueue()
    else:
        sys.exit("pyqueue.py: --kind queue|simple")
    one_pass(make, np_, nc, items // 10)
    passes = max(1, min(99, int(os.environ.get("BENCH_PASSES", "3"))))
    secs = []
    for i in range(passes):
        secs.append(one_pass(make, np_, nc, items))
        print(f"# pass {i + 1}: {items / secs[-1]:.4g} items/s")
    s = statistics.median(secs)
    print(f"items {items} items")
    print(f"seconds {s:.6g} s")
    print(f"items_per_s {items / s:.6g} items/s")
    print(f"ns_per_item {s * 1e9 / items:.6g} ns/item")


if __name__ == "__main__":
    main()
