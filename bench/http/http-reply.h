/*
 * What every HTTP server of bench/http/ answers, byte for byte the reply
 * of examples/http_server.c (the pyconc server measured); httpbench.py
 * checks that each server sends exactly these bytes before it measures.
 * The request parsing is the same everywhere too: a request ends at the
 * blank line after its headers; several in one read are answered in
 * order; "Connection: close" closes after the reply.
 */
#ifndef PC_BENCH_HTTP_REPLY_H
#define PC_BENCH_HTTP_REPLY_H

static const char http_reply[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 13\r\n"
                                 "\r\n"
                                 "Hello, world!";

#define HTTP_BUF 8192

#endif
