"""The convoy effect (bpo-7946) on CPython, as bench/gil/gil-convoy.c
measures it on pyconc: one thread does 1 ms sleeps while CPU-bound
threads run; latency is how long after its sleep ended it runs again.
Prints p50_intervals and p99_intervals (latency / switch interval).

    pyconvoy.py [--cpu 1] [--waits 200] [--interval-ms 5]
"""
import argparse
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--waits", type=int, default=200)
    ap.add_argument("--interval-ms", type=int, default=5)
    a = ap.parse_args()
    interval = a.interval_ms / 1e3
    sys.setswitchinterval(interval)
    stop = False

    def cpu():
        x = 0
        while not stop:
            x += 1

    threads = [threading.Thread(target=cpu) for _ in range(a.cpu)]
    for t in threads:
        t.start()
    lat = []
    for _ in range(a.waits):
        t0 = time.perf_counter()
        time.sleep(0.001)
        lat.append((time.perf_counter() - t0 - 0.001) / interval)
    stop = True
    for t in threads:
        t.join()
    lat.sort()

    def q(p):
        return lat[int(p * (len(lat) - 1) + 0.5)]

    print(f"# latency in ms: p50 {q(0.5) * interval * 1e3:.3f} "
          f"p99 {q(0.99) * interval * 1e3:.3f} max {lat[-1] * interval * 1e3:.3f}")
    print(f"p50_intervals {q(0.5):.4f} intervals")
    print(f"p99_intervals {q(0.99):.4f} intervals")


if __name__ == "__main__":
    main()
