#!/usr/bin/env python3
"""hostile_servers.py N - N hostile listeners on 127.0.0.1 in one process, for bench/hostile.sh.

Each listener serves one of peer.py's hostile modes, round robin: a 16 MiB chain
message, a 1,000,000-entry Peers, endless Heartbeats, a HandshakeAck a byte a second,
garbage, an oversized length, a zero length and nothing after it, accept and silence.
Prints "listening ADDR MODE" per listener, then serves until killed. Loopback only.
"""
import importlib.util
import os
import socket
import sys
import threading

MODES = ["huge", "bigpeers", "heartbeats", "trickle", "garbage", "oversized", "zerohead", "silent"]


def load_peer():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "bats", "tools", "peer.py")
    spec = importlib.util.spec_from_file_location("peer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def accept_loop(s, mode, serve):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()


def main():
    n = int(sys.argv[1])
    peer = load_peer()
    threads = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        mode = MODES[i % len(MODES)]
        print("listening 127.0.0.1:%d %s" % (s.getsockname()[1], mode), flush=True)
        t = threading.Thread(target=accept_loop, args=(s, mode, peer.serve), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
