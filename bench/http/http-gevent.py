"""Peer: gevent's StreamServer, one greenlet per connection.

    http-gevent.py --port P     serve 127.0.0.1:P until killed

The handler is examples/http_server.c's, in Python: read, answer every
complete request in the buffer (pipelining), close on "Connection: close".
Run by httpbench.py, which measures it.
"""
import sys

from gevent.server import StreamServer

REPLY = (b"HTTP/1.1 200 OK\r\n"
         b"Content-Type: text/plain\r\n"
         b"Content-Length: 13\r\n"
         b"\r\n"
         b"Hello, world!")


def handle(sock, addr):
    buf = b""
    while True:
        data = sock.recv(8191)
        if not data:
            return
        buf += data
        out = []
        close_after = False
        while not close_after:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            close_after = b"Connection: close" in buf[:end]
            out.append(REPLY)
            buf = buf[end + 4:]
        if out:
            sock.sendall(b"".join(out) if len(out) > 1 else out[0])
        if close_after or len(buf) >= 8191:
            return


def main():
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8080
    StreamServer(("127.0.0.1", port), handle, backlog=1024).serve_forever()


if __name__ == "__main__":
    main()
