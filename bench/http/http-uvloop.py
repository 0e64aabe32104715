"""Peer: asyncio on uvloop, the fast way: a Protocol (callbacks on
data_received, no streams, no coroutine per request).

    http-uvloop.py --port P     serve 127.0.0.1:P until killed

Parsing as examples/http_server.c's.  Run by httpbench.py.
"""
import asyncio
import sys

import uvloop

REPLY = (b"HTTP/1.1 200 OK\r\n"
         b"Content-Type: text/plain\r\n"
         b"Content-Length: 13\r\n"
         b"\r\n"
         b"Hello, world!")


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        out = []
        close_after = False
        while not close_after:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            close_after = b"Connection: close" in buf[:end]
            out.append(REPLY)
            buf = buf[end + 4:]
        self.buf = buf
        if out:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])
        if close_after or len(buf) >= 8191:
            self.transport.close()


def main():
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8080
    uvloop.install()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(Http, "127.0.0.1", port, backlog=1024))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
