#!/usr/bin/env python3
"""A scripted test peer on loopback: hostile or odd on purpose.

    peer.py MODE      prints "listening 127.0.0.1:PORT", then serves until killed
MODES: garbage, zero, oversized, bytewise, silent, midframe, version2, mirror, reference,
       badua (a user agent with a terminal escape), badid (a node id with a TAB),
       errortext (an Error whose text holds a terminal escape),
       flood (answers every GetPeers with 1000 fresh loopback addresses),
       forged (flood's answers under a fresh random node id on every connection),
       longid (a node id of 248 bytes, as a quota forger would send),
       turncoat (first connection: node id turn-1; every later one: longid's),
       zerohead (the 4 bytes of a zero length, then nothing for 20 s: no type byte),
       bigpeers (after the handshake, Peers of 1,000,000 entries: 24 MB, over any frame cap),
       heartbeats (after the handshake, a Heartbeat every 10 ms, for ever),
       trickle (its HandshakeAck one byte a second),
       huge (after the handshake, a 16 MiB chain message as fast as it is read)
    peer.py getpeers ADDR:PORT SRC...
                      for each loopback address SRC in turn: dials ADDR:PORT from SRC,
                      handshakes, sends GetPeers for 100 and prints "SRC N" with the
                      count of the Peers answer (0: rate-limited), or "SRC closed"
    peer.py pingflood ADDR:PORT SECONDS
                      dials ADDR:PORT, handshakes, then sends Pings for SECONDS without
                      ever reading a Pong; prints "sent N bytes" and exits
    peer.py dial ADDR:PORT NODE LISTEN_PORT [UA]
                      dials ADDR:PORT (loopback), handshakes as NODE saying it listens on
                      LISTEN_PORT (user agent UA, default st-test/1), prints "ack ID" for
                      a HandshakeAck or "closed", exits
    peer.py tls DIR NODE [badpong]
                      a TLS listener presenting DIR/node.crt (key DIR/node.key), whatever
                      that certificate is (expired, RSA, ...), answering the Handshake
                      with NODE as its node id: an impostor when NODE is another's id;
                      with badpong, every Ping gets a Pong too short to decode
    peer.py tlsdial ADDR:PORT DIR NODE
                      dials ADDR:PORT over TLS presenting DIR/node.crt, handshakes as NODE;
                      prints "ack ID", or "closed" and the TLS error, and exits
"""
import ssl
import socket
import struct
import sys
import threading
import time


def frame(t, payload):
    return struct.pack("<IB", len(payload) + 1, t) + payload


def handshake(version=1, node="hostile-1", ua="Spacetime/1.0.0", ext=b""):
    n, u = node.encode(), ua.encode()
    p = struct.pack("<iq", version, int(time.time()))
    p += struct.pack("<i", len(n)) + n + struct.pack("<i", len(u)) + u
    return p + ext


def read_frame(c):
    head = b""
    while len(head) < 5:
        b = c.recv(5 - len(head))
        if not b:
            return None, None
        head += b
    length, t = struct.unpack("<IB", head)
    body = b""
    while len(body) < length - 1:
        b = c.recv(length - 1 - len(body))
        if not b:
            return None, None
        body += b
    return t, body


connections = [0]  # turncoat: how many came before


def serve(c, mode):
    try:
        if mode == "silent":
            time.sleep(60)
            return
        t, body = read_frame(c)
        if t is None:
            return
        if mode == "garbage":
            c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 3)
        elif mode == "zero":
            c.sendall(struct.pack("<IB", 0, 2))
        elif mode == "bigpeers":
            c.sendall(frame(2, handshake(node="big-1")))
            n = 1000000
            entry = struct.pack("<i", 16) + bytes(15) + b"\x01" + struct.pack("<i", 7777)  # ::1
            c.sendall(struct.pack("<IB", 1 + 4 + n * len(entry), 0x11) + struct.pack("<i", n))
            for _ in range(n // 10000):
                c.sendall(entry * 10000)
        elif mode == "heartbeats":
            c.sendall(frame(2, handshake(node="beat-1")))
            while True:
                c.sendall(frame(3, b""))
                time.sleep(0.01)
        elif mode == "trickle":
            for byte in frame(2, handshake(node="slow-1")):
                c.sendall(bytes([byte]))
                time.sleep(1)
        elif mode == "huge":
            c.sendall(frame(2, handshake(node="huge-1")))
            c.sendall(struct.pack("<IB", 16 << 20, 0x20))
            chunk = b"x" * 65536
            for _ in range((16 << 20) // len(chunk)):
                c.sendall(chunk)
        elif mode == "zerohead":
            c.sendall(struct.pack("<I", 0))
            time.sleep(20)
        elif mode == "oversized":
            c.sendall(struct.pack("<IB", 0x7FFFFFFF, 2))
        elif mode == "midframe":
            c.sendall(frame(2, handshake())[:9])
        elif mode == "version2":
            c.sendall(frame(2, handshake(version=2)))
        elif mode == "mirror":
            c.sendall(frame(2, body))
        elif mode == "badua":
            c.sendall(frame(2, handshake(ua="evil\x1b[2J")))
        elif mode == "badid":
            c.sendall(frame(2, handshake(node="evil\tid")))
        elif mode == "errortext":
            c.sendall(frame(0xFF, b"go away\x1b[2J\nnow"))
        elif mode == "longid":
            c.sendall(frame(2, handshake(node="x" * 248)))
        elif mode == "turncoat":
            connections[0] += 1
            c.sendall(frame(2, handshake(node="turn-1" if connections[0] == 1 else "x" * 248)))
        elif mode in ("flood", "forged"):
            import random
            node = "flood-1" if mode == "flood" else "forged-%016x" % random.getrandbits(64)
            c.sendall(frame(2, handshake(node=node)))
            while True:
                t, body = read_frame(c)
                if t is None:
                    return
                if t == 0x10:
                    peers = struct.pack("<i", 1000)
                    for _ in range(1000):
                        a = bytes([127, random.randint(1, 254), random.randint(0, 255), random.randint(1, 254)])
                        peers += struct.pack("<i", 4) + a + struct.pack("<i", 7777)
                    c.sendall(frame(0x11, peers))
        elif mode == "bytewise":
            for byte in frame(2, handshake()):
                c.sendall(bytes([byte]))
                time.sleep(0.002)
        elif mode == "reference":
            # a reference node: no extension; answers Ping with Pong, GetPeers with two peers
            c.sendall(frame(2, handshake(node="ref-node", ua="Spacetime/1.0.0")))
            while True:
                t, body = read_frame(c)
                if t is None:
                    return
                if t == 4:
                    c.sendall(frame(5, body[:16]))
                elif t == 0x10:
                    peers = struct.pack("<i", 2)
                    peers += struct.pack("<i", 4) + socket.inet_aton("8.8.4.4") + struct.pack("<i", 7777)
                    peers += struct.pack("<i", 16) + socket.inet_pton(socket.AF_INET6, "2a00:1450::1") + struct.pack("<i", 7777)
                    c.sendall(frame(0x11, peers))
        time.sleep(1)
    except OSError:
        pass
    finally:
        c.close()


def dial(where, node, listen_port, ua="st-test/1"):
    host, port = where.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    ext = bytes([1, 2]) + struct.pack("<H", listen_port)
    c.sendall(frame(1, handshake(node=node, ua=ua, ext=struct.pack("<H", len(ext)) + ext)))
    try:
        t, body = read_frame(c)
    except OSError:
        t = None
    if t == 2:
        n = struct.unpack("<i", body[12:16])[0]
        print("ack %s" % body[16:16 + n].decode(), flush=True)
    else:
        print("closed", flush=True)
    c.close()


def pingflood(where, seconds):
    host, port = where.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(frame(1, handshake(node="flooder", ua="st-test/1")))
    import select
    c.setblocking(False)
    ping = frame(4, struct.pack("<qq", 7, 0)) * 8192
    sent, at, end = 0, 0, time.time() + seconds
    while time.time() < end:
        try:
            n = c.send(ping[at:])  # a partial send goes on where it stopped
            sent += n
            at = (at + n) % len(ping)
        except BlockingIOError:
            select.select([], [c], [], 0.05)
        except OSError:
            break
    print("sent %d bytes" % sent, flush=True)
    c.close()


def tls_context(server, d):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # it verifies nothing: the node under test must
    ctx.load_cert_chain(d + "/node.crt", d + "/node.key")
    return ctx


def tls_serve(c, ctx, node, after):
    try:
        c.settimeout(10)
        t = ctx.wrap_socket(c, server_side=True)
        kind, body = read_frame(t)
        if kind == 1:
            t.sendall(frame(2, handshake(node=node, ua="st-test/1")))
            while True:
                kind, body = read_frame(t)
                if kind is None:
                    break
                if kind == 4 and after == "badpong":
                    t.sendall(frame(5, b"\x00\x01\x02"))  # a Pong 13 bytes short
        t.close()
    except (OSError, ssl.SSLError):
        c.close()


def tls_dial(where, d, node):
    host, port = where.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    try:
        t = tls_context(False, d).wrap_socket(c)
        t.sendall(frame(1, handshake(node=node, ua="st-test/1")))
        kind, body = read_frame(t)
    except (OSError, ssl.SSLError) as e:
        print("closed %s" % e, flush=True)
        return
    if kind == 2:
        n = struct.unpack("<i", body[12:16])[0]
        print("ack %s" % body[16:16 + n].decode(), flush=True)
    else:
        print("closed", flush=True)
    t.close()
def getpeers(where, sources):
    host, port = where.rsplit(":", 1)
    for src in sources:
        try:
            c = socket.create_connection((host, int(port)), timeout=5, source_address=(src, 0))
            c.sendall(frame(1, handshake(node="asker", ua="st-test/1")))
            t, body = read_frame(c)
            if t != 2:
                raise OSError("no HandshakeAck")
            c.sendall(frame(0x10, struct.pack("<ii", 100, 0)))
            while True:
                t, body = read_frame(c)
                if t is None:
                    raise OSError("closed")
                if t == 0x11:
                    print("%s %d" % (src, struct.unpack("<i", body[:4])[0]), flush=True)
                    break
            c.close()
        except OSError:
            print("%s closed" % src, flush=True)


def main():
    mode = sys.argv[1]
    if mode == "tlsdial":
        tls_dial(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if mode == "getpeers":
        getpeers(sys.argv[2], sys.argv[3:])
        return
    if mode == "pingflood":
        pingflood(sys.argv[2], float(sys.argv[3]))
        return
    if mode == "dial":
        dial(sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:6])
        return
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print("listening 127.0.0.1:%d" % s.getsockname()[1], flush=True)
    ctx = tls_context(True, sys.argv[2]) if mode == "tls" else None
    while True:
        c, _ = s.accept()
        if ctx:
            after = sys.argv[4] if len(sys.argv) > 4 else ""
            threading.Thread(target=tls_serve, args=(c, ctx, sys.argv[3], after), daemon=True).start()
        else:
            threading.Thread(target=serve, args=(c, mode), daemon=True).start()


if __name__ == "__main__":
    main()
