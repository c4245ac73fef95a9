#!/usr/bin/env python3
"""A tiny authoritative DNS server on loopback for st-seed's bats tests.

    dns.py [--bind 127.0.0.1] ZONEFILE
binds UDP port 0 (and TCP on the same port), prints "listening ADDR:PORT", then
answers until SIGTERM. One line per query on stderr: "QNAME QTYPE RCODE", QNAME in
lower case without the final dot, RCODE DROP for queries left unanswered.

ZONEFILE lines ('#' starts a comment; names are case-insensitive, final dot optional):
  NAME A 1.2.3.4         an address record (TTL 60); repeat the line for more
  NAME AAAA 2001:db8::1
  NAME SLOW              never answer queries for NAME (client timeouts)
  NAME SERVFAIL          answer SERVFAIL for NAME (also REFUSED, FORMERR, NOTIMP, RCODE12)
  NAME NODATA            NAME is there, without records (empty NOERROR answers)
Hostile modes: each answers with one A/AAAA record (11.0.0.1 / 2001:db8::1 unless the
name has records), broken one way:
  NAME BADID             the reply carries another id (the client must ignore it)
  NAME BADLABEL          the answer's owner name has a label of type 0x80
  NAME LOOP              the answer's owner name is a pointer to itself
  NAME BADCOUNT          three answers announced, one sent
  NAME SHORT             the reply cut to 7 bytes
  NAME CUT               the reply cut inside the answer's data
  NAME BADLEN            the address record is one byte longer than an address
A name in the file with no record of the asked type gets an empty NOERROR answer;
any other name NXDOMAIN.
"""
import argparse
import signal
import socket
import socketserver
import struct
import sys
import threading

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
         28: "AAAA", 33: "SRV", 41: "OPT", 65: "HTTPS", 255: "ANY"}
FAMILY = {"A": (1, socket.AF_INET), "AAAA": (28, socket.AF_INET6)}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          12: "RCODE12"}
ERROR_MODES = {v: k for k, v in RCODES.items() if k not in (NOERROR, NXDOMAIN)}
HOSTILE = ("BADID", "BADLABEL", "LOOP", "BADCOUNT", "SHORT", "CUT", "BADLEN")
DEFAULT_RDATA = {1: socket.inet_pton(socket.AF_INET, "11.0.0.1"),
                 28: socket.inet_pton(socket.AF_INET6, "2001:db8::1")}

log_lock = threading.Lock()


def log(line):
    with log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def load_zone(path):
    """name -> {"records": [(type, rdata)], "mode": None|"SLOW"|"SERVFAIL"}"""
    zone = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        sys.exit(f"dns.py: {e}")
    for n, raw in enumerate(lines, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        entry = zone.setdefault(words[0].lower().rstrip("."), {"records": [], "mode": None})
        kind = words[1].upper() if len(words) > 1 else ""
        if len(words) == 2 and (kind in ("SLOW", "NODATA") or kind in ERROR_MODES or kind in HOSTILE):
            entry["mode"] = kind
        elif len(words) == 3 and kind in FAMILY:
            qtype, fam = FAMILY[kind]
            try:
                entry["records"].append((qtype, socket.inet_pton(fam, words[2])))
            except OSError:
                sys.exit(f"dns.py: {path}:{n}: bad {kind} address {words[2]!r}")
        else:
            sys.exit(f"dns.py: {path}:{n}: expected NAME A|AAAA ADDR or NAME MODE")
    return zone


def parse_question(msg):
    """(raw question bytes, qname as asked, qtype, end offset), or None when malformed.
    Compression pointers are not followed: a query's only name never needs one."""
    i, labels = 12, []
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            break
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n])
        i += 1 + n
    end = i + 1 + 4
    if end > len(msg) or end - 12 > 255 + 4:
        return None
    qtype = struct.unpack("!H", msg[i + 1:i + 3])[0]
    return msg[12:end], b".".join(labels), qtype, end


def edns_size(msg, end, arcount):
    """The UDP payload size the client's EDNS OPT record allows (512 without one).
    A query carries nothing but the question and OPT, whose owner name is the root."""
    if arcount and msg[end:end + 3] == b"\x00\x00\x29" and len(msg) >= end + 5:
        return max(512, min(struct.unpack("!H", msg[end + 3:end + 5])[0], 4096))
    return 512


def answer(zone, msg, limit):
    """The response to msg (bytes), or None for no response at all."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount, _an, _ns, arcount = struct.unpack("!6H", msg[:12])
    if flags & 0x8000:
        return None  # a response, not a query: never answer those (no loops)
    q = parse_question(msg) if qdcount == 1 else None
    # echo opcode and RD; set QR, AA and RA (we stand in for a resolver too)
    base = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080
    if q is None:
        log(f"- - {RCODES[FORMERR]}")
        return struct.pack("!6H", qid, base | FORMERR, 0, 0, 0, 0)
    question, qname, qtype, end = q
    name = qname.decode("ascii", "replace").lower() or "."
    tname = TYPES.get(qtype, f"TYPE{qtype}")
    entry = zone.get(name)
    if (flags >> 11) & 0xF:
        rcode, records = NOTIMP, []
    elif entry is None:
        rcode, records = NXDOMAIN, []
    elif entry["mode"] == "SLOW":
        log(f"{name} {tname} DROP")
        return None
    elif entry["mode"] in ERROR_MODES:
        rcode, records = ERROR_MODES[entry["mode"]], []
    else:
        rcode, records = NOERROR, [r for r in entry["records"] if r[0] == qtype]
    if entry is not None and entry["mode"] in HOSTILE:
        if not records and qtype in DEFAULT_RDATA:
            records = [(qtype, DEFAULT_RDATA[qtype])]
        log(f"{name} {tname} {entry['mode']}")
        return hostile(entry["mode"], qid, base, question, records)
    # answers name the question by pointer (0xC00C), so they repeat the name exactly
    # as asked, case included: evdns's 0x20 check compares it byte for byte
    rrs = [b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 60, len(rd)) + rd for t, rd in records]
    size = 12 + len(question)
    fit = 0
    while fit < len(rrs) and size + len(rrs[fit]) <= limit:
        size += len(rrs[fit])
        fit += 1
    tc = 0x0200 if fit < len(rrs) else 0  # too big for UDP: the client retries over TCP
    log(f"{name} {tname} {RCODES[rcode]}")
    head = struct.pack("!6H", qid, base | tc | rcode, 1, fit, 0, 0)
    return head + question + b"".join(rrs[:fit])


def hostile(mode, qid, base, question, records):
    """A reply to the question broken as mode says (see the module's doc)."""
    rrs = [b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 60, len(rd)) + rd for t, rd in records[:1]]
    an = len(rrs)
    if mode == "BADID":
        qid ^= 0x5555
    elif mode == "BADLABEL":
        rrs = [b"\x80abc\x00" + rr[2:] for rr in rrs]
    elif mode == "LOOP":
        at = 12 + len(question)  # the pointer points at itself
        rrs = [struct.pack("!H", 0xC000 | at) + rr[2:] for rr in rrs]
    elif mode == "BADCOUNT":
        an = 3 if rrs else 0
    elif mode == "BADLEN":
        rrs = [rr[:10] + struct.pack("!H", len(rr) - 12 + 1) + rr[12:] + b"\x00" for rr in rrs]
    reply = struct.pack("!6H", qid, base, 1, an, 0, 0) + question + b"".join(rrs)
    if mode == "SHORT":
        reply = reply[:7]
    elif mode == "CUT":
        reply = reply[:-2]
    return reply


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        msg, sock = self.request
        q = parse_question(msg) if len(msg) >= 12 else None
        limit = edns_size(msg, q[3], struct.unpack("!H", msg[10:12])[0]) if q else 512
        reply = answer(self.server.zone, msg, limit)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(30)
        f = self.request.makefile("rb")
        try:
            while True:
                head = f.read(2)
                if len(head) < 2:
                    return
                msg = f.read(struct.unpack("!H", head)[0])
                reply = answer(self.server.zone, msg, 65535)
                if reply is not None:  # SLOW: stay silent, keep the connection
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass


class UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


def bind_pair(addr):
    """UDP on a free port and TCP on the same number; retried when TCP's is taken."""
    v6 = ":" in addr
    UDPServer.address_family = TCPServer.address_family = socket.AF_INET6 if v6 else socket.AF_INET
    for _ in range(50):
        udp = UDPServer((addr, 0), UDPHandler)
        try:
            return udp, TCPServer((addr, udp.server_address[1]), TCPHandler)
        except OSError:
            udp.server_close()
    sys.exit("dns.py: no port free for both UDP and TCP")


def main():
    ap = argparse.ArgumentParser(description="authoritative DNS test server for st's bats tests")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("zonefile")
    a = ap.parse_args()
    zone = load_zone(a.zonefile)
    udp, tcp = bind_pair(a.bind)
    udp.zone = tcp.zone = zone
    threading.Thread(target=tcp.serve_forever, daemon=True).start()

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    host = f"[{a.bind}]" if ":" in a.bind else a.bind
    print(f"listening {host}:{udp.server_address[1]}", flush=True)
    try:
        udp.serve_forever()
    finally:
        udp.server_close()
        tcp.server_close()


if __name__ == "__main__":
    main()
