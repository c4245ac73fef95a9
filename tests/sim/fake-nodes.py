#!/usr/bin/env python3
"""Many scripted Spacetime nodes in one process, for the network in a box.

    fake-nodes.py SPEC-FILE

SPEC-FILE has one node per line:  ADDR:PORT MODE DELAY_MS [PEER...]
  MODE honest   answers Handshake, Ping and GetPeers with PEER... (after DELAY_MS each)
  MODE hostile  the same, but its PEERs are meant to be other hostile nodes and fake
                addresses (the script that writes the spec chooses them)
  MODE sybil    hostile, and each GetPeers answer is a fresh random pick of its PEERs,
                as a flooder that hands every asker other fakes
Every address must be loopback. Prints "listening N" once every node listens, then
serves until killed. A GetPeers gets at most its max_count peers, never those it
excludes, as a reference node would answer.
"""
import asyncio
import random
import socket
import struct
import sys
import time


def frame(t, payload):
    return struct.pack("<IB", len(payload) + 1, t) + payload


def handshake(node, ua, port):
    n, u = node.encode(), ua.encode()
    p = struct.pack("<iq", 1, int(time.time()))
    p += struct.pack("<i", len(n)) + n + struct.pack("<i", len(u)) + u
    ext = bytes([1, 2]) + struct.pack("<H", port) + bytes([3, 8]) + struct.pack("<Q", 1)
    return p + struct.pack("<H", len(ext)) + ext


def leb128(b, i):
    v, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def parse_getpeers(b):
    if len(b) < 8:
        return 100, set()
    mx, nex = struct.unpack("<ii", b[:8])
    i, ex = 8, set()
    for _ in range(max(0, min(nex, 1000))):
        n, i = leb128(b, i)
        ex.add(b[i:i + n].decode(errors="replace"))
        i += n
    return mx, ex


def peers_payload(peers):
    p = struct.pack("<i", len(peers))
    for host, port in peers:
        p += struct.pack("<i", 4) + socket.inet_aton(host) + struct.pack("<i", port)
    return p


async def serve(reader, writer, node):
    addr, port, mode, delay, peers = node
    try:
        while True:
            head = await reader.readexactly(5)
            length, t = struct.unpack("<IB", head)
            if length < 1 or length > 1 << 20:
                return
            body = await reader.readexactly(length - 1)
            if delay:
                await asyncio.sleep(delay / 1000.0)
            if t == 1:
                ua = "fake-hostile/1" if mode in ("hostile", "sybil") else "fake-slow/1"
                writer.write(frame(2, handshake("%s-%s-%d" % (mode, addr.replace(".", "-"), port), ua, port)))
            elif t == 4:
                writer.write(frame(5, body[:16]))
            elif t == 0x10:
                mx, ex = parse_getpeers(body)
                give = [p for p in peers if "%s:%d" % p not in ex]
                if mode == "sybil":
                    random.shuffle(give)
                give = give[:max(0, mx)]
                writer.write(frame(0x11, peers_payload(give)))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main():
    nodes = []
    with open(sys.argv[1]) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            host, port = w[0].rsplit(":", 1)
            if not host.startswith("127."):
                sys.exit("fake-nodes.py: %s: not loopback" % w[0])
            peers = []
            for p in w[3:]:
                h, pp = p.rsplit(":", 1)
                if not h.startswith("127."):
                    sys.exit("fake-nodes.py: %s: not loopback" % p)
                peers.append((h, int(pp)))
            nodes.append((host, int(port), w[1], int(w[2]), peers))
    servers = []
    for n in nodes:
        servers.append(await asyncio.start_server(lambda r, w, n=n: serve(r, w, n), n[0], n[1]))
    print("listening %d" % len(servers), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
