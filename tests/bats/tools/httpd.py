#!/usr/bin/env python3
"""An HTTP(S) test server on loopback for st-seed's bats tests: files plus odd routes.

    httpd.py [--tls CERT KEY] [--bind 127.0.0.1] DOCROOT
prints "listening ADDR:PORT", then serves until SIGTERM. One line per request on
stderr, "METHOD PATH STATUS", so tests can count requests with grep.

ROUTES (everything else is a file under DOCROOT):
  /status/NNN              answers status NNN with a short body
  /fail-once/NAME          500 the first time this exact path is asked, then DOCROOT/NAME
  /fail-n/N/NAME           500 the first N times, then DOCROOT/NAME
  /fail-always/NAME        503 every time
  /slow/SECONDS/NAME       headers at once (Content-Length of NAME), then one body byte
                           a second, closing after SECONDS at most
  /hang/SECONDS/NAME       says nothing for SECONDS, then serves DOCROOT/NAME
  /redirect/NAME           302 to /NAME
  /redirect-loop/N         302 to /redirect-loop/N+1, for ever
  /big/BYTES               BYTES (<= 64 MiB) of "10.0.0.1:7777" lines, with Content-Length
  /big-chunked/BYTES       the same, chunked (no Content-Length)
  /big-close/BYTES         the same, framed by closing the connection (no Content-Length)
"""
import argparse
import email.utils
import hashlib
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BIG = 64 << 20
LINE = b"10.0.0.1:7777\n"
BLOCK_LINES = 4096  # ~56 KiB per write: big bodies stream without being built in memory
CTYPES = {".json": "application/json", ".txt": "text/plain", ".sig": "text/plain"}

log_lock = threading.Lock()
fail_lock = threading.Lock()
fail_counts = {}  # raw request path -> times answered with a failure


def log(line):
    with log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def big_body(size):
    """Yields exactly size bytes of valid list lines; the tail that can't hold a whole
    address line becomes a comment (or a blank line) so the list stays well-formed."""
    whole, rest = divmod(size, len(LINE))
    block = LINE * BLOCK_LINES
    while whole >= BLOCK_LINES:
        yield block
        whole -= BLOCK_LINES
    if whole:
        yield LINE * whole
    if rest == 1:
        yield b"\n"
    elif rest:
        yield b"#" + b"x" * (rest - 2) + b"\n"


class Handler(BaseHTTPRequestHandler):
    # 1.1 so clients keep connections alive and chunked bodies are possible
    protocol_version = "HTTP/1.1"
    server_version = "st-test-httpd/1"
    timeout = 30  # idle keep-alive connections must not pin threads for ever

    def log_request(self, code="-", size="-"):
        # logged as the status line is sent, so it is on stderr before the client sees it
        log(f"{self.command or '-'} {getattr(self, 'path', '-')} {int(code)}")

    def log_message(self, *args):
        pass  # keep stderr to one line per request

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass  # clients that give up mid-body (timeouts, --max-size) are the point

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        self.head = head
        parts = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).split("/")[1:]
        route, args = parts[0], parts[1:]
        try:
            if route == "status" and len(args) == 1:
                return self.simple(int(args[0]), f"status {args[0]}\n")
            if route == "fail-once":
                return self.fail_n(1, "/".join(args))
            if route == "fail-n" and args:
                return self.fail_n(int(args[0]), "/".join(args[1:]))
            if route == "fail-always":
                return self.simple(503, "always failing\n")
            if route == "slow" and args:
                return self.slow(float(args[0]), "/".join(args[1:]))
            if route == "hang" and args:
                time.sleep(min(float(args[0]), 300))
                return self.file("/".join(args[1:]))
            if route == "redirect":
                return self.simple(302, "redirect\n", {"Location": "/" + "/".join(args)})
            if route == "redirect-loop" and len(args) == 1:
                nxt = f"/redirect-loop/{int(args[0]) + 1}"
                return self.simple(302, "loop\n", {"Location": nxt})
            if route in ("big", "big-chunked", "big-close") and len(args) == 1:
                return self.big(route, int(args[0]))
        except ValueError:
            return self.simple(400, "bad number in path\n")
        return self.file("/".join(parts))

    def simple(self, code, text, headers=None):
        body = b"" if code < 200 or code in (204, 304) else text.encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self.head:
            self.wfile.write(body)

    def fail_n(self, n, name):
        with fail_lock:
            seen = fail_counts.get(self.path, 0)
            fail_counts[self.path] = seen + 1
        if seen < n:
            return self.simple(500, f"failure {seen + 1} of {n}\n")
        return self.file(name)

    def lookup(self, name):
        """DOCROOT/name as (data, stat, content type), or None; never leaves DOCROOT."""
        root = self.server.docroot
        path = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            data = f.read()
        ctype = CTYPES.get(os.path.splitext(path)[1], "application/octet-stream")
        if os.path.isfile(path + ".ctype"):
            with open(path + ".ctype") as f:
                ctype = f.read().strip()
        return data, os.stat(path), ctype

    def file(self, name):
        if (found := self.lookup(name)) is None:
            return self.simple(404, "not found\n")
        data, st, ctype = found
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        mtime = int(st.st_mtime)
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        fresh = False
        if inm is not None:  # the ETag wins: a file rewritten within a second keeps its mtime
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            fresh = "*" in tags or etag in tags
        elif ims is not None:
            try:
                fresh = mtime <= email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                pass
        self.send_response(304 if fresh else 200)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        if fresh:
            return self.end_headers()  # 304: no body, so no Content-Length either
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not self.head:
            self.wfile.write(data)

    def slow(self, seconds, name):
        if (found := self.lookup(name)) is None:
            return self.simple(404, "not found\n")
        data, ctype = found[0], found[2]
        self.close_connection = True  # the body may end short of its Content-Length
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        deadline = time.monotonic() + min(seconds, 300)
        for i in range(len(data)):
            if self.head or time.monotonic() >= deadline:
                break
            self.wfile.write(data[i:i + 1])
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def big(self, route, size):
        if not 0 <= size <= MAX_BIG:
            return self.simple(400, "size out of range\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        framing = {"big": ("Content-Length", str(size)), "big-chunked": ("Transfer-Encoding",
                   "chunked"), "big-close": ("Connection", "close")}[route]
        self.send_header(*framing)
        self.close_connection = route == "big-close"
        self.end_headers()
        if self.head:
            return
        for chunk in big_body(size):
            if route == "big-chunked":
                chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            self.wfile.write(chunk)
        if route == "big-chunked":
            self.wfile.write(b"0\r\n\r\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = None
    # listen backlog: socketserver's 5 drops the SYNs of a burst of connections, and
    # each dropped one waits a second for its retransmission (20 lists at once did)
    request_queue_size = 128

    def finish_request(self, request, client_address):
        if self.tls is None:
            return super().finish_request(request, client_address)
        # the handshake runs here, in the connection's thread, so a client that never
        # completes it cannot stall accept() for everyone else
        request.settimeout(Handler.timeout)
        conn = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(conn, client_address)
            conn.settimeout(2)
            conn.unwrap()  # close_notify: OpenSSL 3 clients take a bare EOF for truncation
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        log(f"! connection error: {sys.exc_info()[1]!r}")


def main():
    ap = argparse.ArgumentParser(description="HTTP(S) test server for st's bats tests")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("docroot")
    a = ap.parse_args()
    if not os.path.isdir(a.docroot):
        ap.error(f"{a.docroot}: not a directory")
    if ":" in a.bind:
        Server.address_family = socket.AF_INET6
    srv = Server((a.bind, 0), Handler)
    srv.docroot = os.path.realpath(a.docroot)
    if a.tls:
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            srv.tls.load_cert_chain(*a.tls)
        except (OSError, ssl.SSLError) as e:
            ap.error(f"--tls: {e}")

    def stop(*_):
        raise SystemExit(0)  # unwinds serve_forever in the main thread; workers are daemons

    signal.signal(signal.SIGTERM, stop)
    host = f"[{a.bind}]" if ":" in a.bind else a.bind
    print(f"listening {host}:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
