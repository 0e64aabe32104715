"""HTTP/1.1 keep-alive "hello world" under wrk: one server, one run.

    httpbench.py --server pc|epoll|uring|uring-poll|gevent|uvloop
                 [--seconds 3] [--warmup 1] [--connections 50] [--build DIR]

Starts the server pinned to CPU 1 (taskset), checks that it answers with
the bytes every server of bench/http/ sends (http-reply.h), warms it up
with a short wrk run, then runs `wrk -t1 -cC -dNs --latency` pinned to
CPU 0 and reads the server's CPU time before and after (the scheduler's
nanosecond count of its threads, /proc/PID/task/*/schedstat; utime + stime
of /proc/PID/stat, in 10 ms ticks, where that is missing).  wrk takes a whole core, so the server may not be
saturated: server CPU per request, and requests per server-CPU-second
("capacity per core"), compare the servers fairly where requests/s alone
would measure wrk.  Prints, as bench/runner.py reads them:

    server_ns_per_req   server CPU time per request (ns/req)
    req_per_cpu_s       requests per second of server CPU (req/s)
    req_per_s           requests per second of wall time (wrk's figure)
    server_cpu_util     server CPU seconds per wall second (core)
    latency_p50_us, latency_p99_us   wrk's latency distribution (us)

Servers: pc = examples/http_server.c (pyconc, one coroutine per
connection); epoll = http-epoll.c; uring / uring-poll = http-uring.c
--mode recv / poll; gevent = http-gevent.py; uvloop = http-uvloop.py.
The build directory is --build, else $PC_BENCH_BUILD (bench/runner.py
sets it), else build-bench beside bench/.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
REPLY = (b"HTTP/1.1 200 OK\r\n"
         b"Content-Type: text/plain\r\n"
         b"Content-Length: 13\r\n"
         b"\r\n"
         b"Hello, world!")
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def server_argv(name, build, port):
    port = str(port)
    return {
        "pc": [os.path.join(build, "examples", "http_server"), port],
        "epoll": [os.path.join(build, "bench", "http-epoll"), "--port", port],
        "uring": [os.path.join(build, "bench", "http-uring"), "--port", port, "--mode", "recv"],
        "uring-poll": [os.path.join(build, "bench", "http-uring"), "--port", port,
                       "--mode", "poll"],
        "gevent": [PYTHON, "-I", os.path.join(HERE, "http-gevent.py"), "--port", port],
        "uvloop": [PYTHON, "-I", os.path.join(HERE, "http-uvloop.py"), "--port", port],
    }[name]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """The server's CPU time: the scheduler's nanosecond count summed over
    its threads (/proc/PID/task/*/schedstat), else utime + stime of
    /proc/PID/stat, which counts in ticks of 10 ms."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_reply(port, deadline):
    """Wait until the server accepts, then check one reply byte for byte
    (twice on one connection: keep-alive)."""
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"httpbench: server on port {port} never accepted")
            time.sleep(0.05)
    with s:
        for _ in range(2):
            s.sendall(REQUEST)
            got = b""
            while len(got) < len(REPLY):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if got != REPLY:
                sys.exit(f"httpbench: server replied {got!r}, not the reference reply")


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv if cpu is not None else argv


def wrk(cpu, port, conns, seconds, latency):
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s"] + (["--latency"] if latency else [])
    argv.append(f"http://127.0.0.1:{port}/")
    p = subprocess.run(pinned(cpu, argv), capture_output=True, text=True,
                       timeout=seconds + 30)
    if p.returncode != 0:
        sys.exit(f"httpbench: wrk failed: {p.stderr.strip() or p.stdout.strip()}")
    out = p.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        bad = [ln.strip() for ln in out.splitlines() if "Non-2xx" in ln or "Socket errors" in ln]
        sys.exit("httpbench: wrk saw errors: " + "; ".join(bad))
    return out


def latency_us(out, pct):
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True,
                    choices=["pc", "epoll", "uring", "uring-poll", "gevent", "uvloop"])
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--build", default=os.environ.get("PC_BENCH_BUILD")
                    or os.path.join(os.path.dirname(HERE), "..", "build-bench"))
    a = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"httpbench: {tool} missing (scripts/deps.sh bench installs it)")
    ncpu = len(os.sched_getaffinity(0))
    server_cpu, wrk_cpu = (1, 0) if ncpu >= 2 and {0, 1} <= os.sched_getaffinity(0) \
        else (None, None)
    if server_cpu is None:
        print("# fewer than 2 CPUs: nothing pinned, the figures are not comparable")

    port = free_port()
    argv = server_argv(a.server, a.build, port)
    if not os.access(argv[0], os.X_OK):
        sys.exit(f"httpbench: {argv[0]} missing (build it: bench/run.sh builds it)")
    srv = subprocess.Popen(pinned(server_cpu, argv), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        check_reply(port, time.monotonic() + 10)
        if a.warmup > 0:
            wrk(wrk_cpu, port, a.connections, a.warmup, False)
        cpu0, t0 = cpu_seconds(srv.pid), time.monotonic()
        out = wrk(wrk_cpu, port, a.connections, a.seconds, True)
        cpu1, t1 = cpu_seconds(srv.pid), time.monotonic()
        if srv.poll() is not None:
            sys.exit(f"httpbench: server exited: {srv.stderr.read().decode().strip()}")
        if re.search(r"^\s*0 requests in", out, re.M):
            # stuck, or starved by other work?  Ask it once more.
            check_reply(port, time.monotonic() + 5)
            sys.exit("httpbench: no request answered in the run, yet the server answers "
                     "afterwards: starved by other work?")
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps:
        sys.exit("httpbench: cannot read wrk's output:\n" + out)
    requests = int(m.group(1))
    cpu = cpu1 - cpu0
    if cpu <= 0:
        sys.exit(f"httpbench: {requests} requests, {cpu} s of server CPU: nothing to divide; "
                 "wrk said: " + " | ".join(ln.strip() for ln in out.splitlines() if ln.strip()))
    print(f"# {a.server}: {requests} requests, server CPU {cpu:.2f} s in {t1 - t0:.2f} s")
    print(f"server_ns_per_req {cpu / requests * 1e9:.1f} ns/req")
    print(f"req_per_cpu_s {requests / cpu:.0f} req/s")
    print(f"req_per_s {float(rps.group(1)):.0f} req/s")
    print(f"server_cpu_util {cpu / (t1 - t0):.3f} core")
    for pct in (50, 99):
        v = latency_us(out, pct)
        if v is not None:
            print(f"latency_p{pct}_us {v:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
