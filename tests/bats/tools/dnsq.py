#!/usr/bin/env python3
"""A raw DNS client over UDP, for st-crawl serve-dns tests (loopback only).

    dnsq.py ADDR:PORT NAME TYPE [NAME TYPE...]
        one query per pair, in turn; for each prints "? K NAME TYPE" (K from 1), a
        summary line "rcode=R aa=0|1 tc=0|1 size=BYTES an=N ns=N", then one line per
        record of the answer and authority sections: "an A NAME ttl=T 1.2.3.4",
        "an NS NAME ttl=T ns.zone", "ns SOA NAME ttl=T mname rname serial ..."
    dnsq.py --burst N ADDR:PORT NAME TYPE
        sends N queries at once, waits a second, prints "replies=K"
TYPE: A, AAAA, NS, SOA, TXT, ANY or a number.
"""
import random
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28, "ANY": 255}
NAMES = {v: k for k, v in TYPES.items()}


def query(qid, name, qtype):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def read_name(m, i):
    labels, jumped, end = [], False, i
    while True:
        n = m[i]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = i + 2
            i = ((n & 0x3F) << 8) | m[i + 1]
            jumped = True
            continue
        i += 1
        if n == 0:
            break
        labels.append(m[i:i + n].decode())
        i += n
    return ".".join(labels), (end if jumped else i)


def main():
    a = sys.argv[1:]
    burst = 0
    if a[0] == "--burst":
        burst, a = int(a[1]), a[2:]
    host, port = a[0].rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("dnsq.py: loopback only")
    qtype = TYPES.get(a[2].upper()) or int(a[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    if burst:
        for k in range(burst):
            s.sendto(query(k, a[1], qtype), (host, int(port)))
        got, end = 0, time.monotonic() + 1.0
        s.settimeout(0.2)
        while time.monotonic() < end:
            try:
                s.recv(4096)
                got += 1
            except socket.timeout:
                pass
        print("replies=%d" % got)
        return
    for k in range(1, len(a), 2):
        print("? %d %s %s" % ((k + 1) // 2, a[k], a[k + 1]))
        ask(s, host, int(port), a[k], TYPES.get(a[k + 1].upper()) or int(a[k + 1]))


def ask(s, host, port, name, qtype):
    qid = random.randrange(65536)
    s.sendto(query(qid, name, qtype), (host, port))
    m = s.recv(65535)
    rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", m[:12])
    assert rid == qid, "wrong id"
    print("rcode=%d aa=%d tc=%d size=%d an=%d ns=%d" % (flags & 15, flags >> 10 & 1, flags >> 9 & 1, len(m), an, ns))
    i = 12
    for _ in range(qd):
        _, i = read_name(m, i)
        i += 4
    for sec, count in (("an", an), ("ns", ns)):
        for _ in range(count):
            name, i = read_name(m, i)
            t, c, ttl, rdlen = struct.unpack(">HHIH", m[i:i + 10])
            i += 10
            rd = m[i:i + rdlen]
            if t == 1:
                v = socket.inet_ntop(socket.AF_INET, rd)
            elif t == 28:
                v = socket.inet_ntop(socket.AF_INET6, rd)
            elif t == 2:
                v = read_name(m, i)[0]
            elif t == 6:
                mname, j = read_name(m, i)
                rname, j = read_name(m, j)
                v = "%s %s %d %d %d %d %d" % ((mname, rname) + struct.unpack(">IIIII", m[j:j + 20]))
            else:
                v = rd.hex()
            print("%s %s %s ttl=%d %s" % (sec, NAMES.get(t, t), name, ttl, v))
            i += rdlen


if __name__ == "__main__":
    main()
