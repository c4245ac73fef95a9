#!/usr/bin/env python3
"""Hostile load against one st-listen on loopback, for bench/hostile.sh (never CI).

    hostile_load.py ADDR:PORT SECONDS IDLE SLOW SILENT PINGFLOOD BIGFRAME

Opens IDLE + SLOW + SILENT + PINGFLOOD + BIGFRAME connections from 127.9.0.0/16
(8 per source address, as listen.max_per_ip allows by default) and keeps them for
SECONDS (bounded), one thread, epoll:
  idle       handshake, then a Heartbeat every 20 s (an idle table of heartbeaters)
  slow       slowloris: the Handshake one byte a second (the handshake timeout ends it)
  silent     connect and send nothing (half-open, until the handshake timeout)
  pingflood  handshake, then Pings as fast as the socket takes them, never reading
  bigframe   handshake, then one 16 MiB frame pushed as fast as it is read
A connection the listener closes is opened again (same kind), so the load holds.
Prints "open N" once all are up, a status line every 5 s, then a summary line:
"done held_max=N reconnects=N errors_seen=N evicted_budget=N evicted_full=N".
"""
import errno
import resource
import select
import socket
import struct
import sys
import time


def frame(t, payload):
    return struct.pack("<IB", len(payload) + 1, t) + payload


def handshake(node):
    n, u = node.encode(), b"st-bench-hostile/1"
    p = struct.pack("<iq", 1, int(time.time()))
    return frame(1, p + struct.pack("<i", len(n)) + n + struct.pack("<i", len(u)) + u)


HEARTBEAT = frame(3, b"")
PINGS = frame(4, struct.pack("<qq", 7, 0)) * 4096
BIG_HEAD = struct.pack("<IB", 16 << 20, 0x20)
CHUNK = b"x" * 65536


class Conn:
    __slots__ = ("kind", "sock", "src", "out", "next_at", "slow_at", "sent")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    seconds = float(sys.argv[2])
    counts = dict(zip(["idle", "slow", "silent", "pingflood", "bigframe"], map(int, sys.argv[3:8])))
    total = sum(counts.values())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, total + 512), hard))
    ep = select.epoll()
    conns = {}
    stats = {"reconnects": 0, "errors": 0, "evicted_budget": 0, "evicted_full": 0, "held_max": 0}
    seq = [0]

    def source():
        k = seq[0] // 8  # 8 connections per source address
        seq[0] += 1
        return "127.9.%d.%d" % (k // 250 % 250, k % 250 + 1)

    def open_conn(kind, src=None):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        src = src or source()
        try:
            s.bind((src, 0))
            s.settimeout(5)
            s.connect((host, port))
        except OSError:
            s.close()
            return None
        s.setblocking(False)
        c = Conn()
        c.kind, c.sock, c.src, c.sent = kind, s, src, 0
        c.out = b""
        c.next_at = time.time() + 20
        c.slow_at = time.time()
        node = "%s-%s" % (kind, src)
        hs = handshake(node)
        if kind in ("idle", "pingflood", "bigframe"):
            c.out = hs
        if kind == "slow":
            c.out = hs  # sent a byte a second below
        if kind == "bigframe":
            c.out += BIG_HEAD
        conns[s.fileno()] = c
        ep.register(s.fileno(), select.EPOLLIN | (select.EPOLLOUT if kind in ("pingflood", "bigframe", "idle") else 0))
        return c

    def drop(fd, again=True):
        c = conns.pop(fd, None)
        if not c:
            return
        try:
            ep.unregister(fd)
        except OSError:
            pass
        c.sock.close()
        if again and time.time() < end:
            stats["reconnects"] += 1
            open_conn(c.kind, c.src)

    def on_read(fd):
        c = conns[fd]
        try:
            b = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            drop(fd)
            return
        if not b:
            drop(fd)
            return
        # an Error frame from the listener: why it closes us
        i = b.find(b"evicted: ")
        if len(b) >= 5 and b[4] == 0xFF or i >= 0:
            stats["errors"] += 1
            if b"memory budget" in b:
                stats["evicted_budget"] += 1
            elif b"listener is full" in b:
                stats["evicted_full"] += 1

    def on_write(fd):
        c = conns[fd]
        try:
            if c.kind == "slow":
                return
            if not c.out:
                if c.kind == "pingflood":
                    c.out = PINGS
                elif c.kind == "bigframe" and c.sent < (16 << 20):
                    c.out = CHUNK
                else:
                    ep.modify(fd, select.EPOLLIN)
                    return
            n = c.sock.send(c.out)
            c.out = c.out[n:]
            c.sent += n
        except BlockingIOError:
            pass
        except OSError:
            drop(fd)

    end = time.time() + seconds
    for kind, n in counts.items():
        for _ in range(n):
            if time.time() >= end:
                break
            open_conn(kind)
    print("open %d" % len(conns), flush=True)
    last_status = last_scan = time.time()
    while time.time() < end:
        for fd, ev in ep.poll(0.1):
            if fd not in conns:
                continue
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                on_read(fd)
            if fd in conns and ev & select.EPOLLOUT:
                on_write(fd)
        now = time.time()
        # the timers, 4 times a second: a scan of every connection per poll would keep
        # this driver busy on the cores st-listen needs
        if now - last_scan < 0.25:
            continue
        last_scan = now
        for fd in list(conns):
            c = conns.get(fd)
            if not c:
                continue
            if c.kind == "slow" and c.out and now >= c.slow_at:
                c.slow_at = now + 1
                try:
                    c.sock.send(c.out[:1])
                    c.out = c.out[1:]
                except BlockingIOError:
                    pass
                except OSError:
                    drop(fd)
            elif c.kind == "idle" and now >= c.next_at:
                c.next_at = now + 20
                try:
                    c.sock.send(HEARTBEAT)
                except OSError:
                    pass
        stats["held_max"] = max(stats["held_max"], len(conns))
        if now - last_status >= 5:
            last_status = now
            kinds = {}
            for c in conns.values():
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
            print("t=%.0f open=%d %s reconnects=%d" % (seconds - (end - now), len(conns),
                  " ".join("%s=%d" % kv for kv in sorted(kinds.items())), stats["reconnects"]), flush=True)
    print("done held_max=%d reconnects=%d errors_seen=%d evicted_budget=%d evicted_full=%d" % (
        stats["held_max"], stats["reconnects"], stats["errors"], stats["evicted_budget"],
        stats["evicted_full"]), flush=True)
    for fd in list(conns):
        drop(fd, again=False)


if __name__ == "__main__":
    main()
