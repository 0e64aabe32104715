"""Peer: Python's multiprocessing.Queue between two processes, the same
scenario as bench/mpqueue/mpqueue-pc.c, run by Debian's /usr/bin/python3.

  --items N    messages per pass (default 100000)
  --size B     bytes per message (default 8): a bytes object of B bytes
  --method M   start method of the child (default fork)

Each pass: the parent puts a go message (N) on a second queue, the child
puts N bytes objects, the parent takes them with blocking get().  A
warm-up pass of N/10, then $BENCH_PASSES (default 3) passes; prints the
median pass's "items_per_s value items/s".
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def child(data, ctl, size, passes):
    msg = bytes(size)
    put = data.put
    for _ in range(passes):
        n = ctl.get()
        for _ in range(n):
            put(msg)


def one_pass(data, ctl, n, size):
    get = data.get
    t0 = time.monotonic_ns()
    ctl.put(n)
    for _ in range(n):
        if len(get()) != size:
            sys.exit("pympqueue.py: short message")
    return (time.monotonic_ns() - t0) * 1e-9


def main(argv):
    opts = {"items": "100000", "size": "8", "method": "fork"}
    if len(argv) % 2:
        sys.exit("usage: pympqueue.py [--key value]...")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pympqueue.py: unknown option {key}")
        opts[key[2:]] = val
    items, size = int(opts["items"]), int(opts["size"])
    passes = max(1, min(99, int(os.environ.get("BENCH_PASSES", "3"))))
    ctx = mp.get_context(opts["method"])
    data, ctl = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=child, args=(data, ctl, size, passes + 1))
    p.start()
    one_pass(data, ctl, items // 10, size)
    secs = []
    for i in range(passes):
        secs.append(one_pass(data, ctl, items, size))
        print(f"# pass {i + 1}: {items / secs[-1]:.4g} items/s")
    p.join()
    if p.exitcode != 0:
        sys.exit("pympqueue.py: the child failed")
    s = statistics.median(secs)
    print(f"items_per_s {items / s:.6g} items/s")


if __name__ == "__main__":
    main(sys.argv[1:])
