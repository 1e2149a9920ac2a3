#!/usr/bin/env python3
"""udpsession: connected-UDP sessions for lab_udpservices.sh (docs/agent.md "UDP").

  udpsession.py serve VIP PORT NAME
      A connected-UDP server, as QUIC and many game or VPN servers are: an unconnected listener on
      VIP:PORT, and for each new client a socket of its own bound to VIP:PORT and connect()ed to
      the client (SO_REUSEADDR on both; the kernel delivers a connected peer's datagrams to its
      socket). Every datagram is answered with "NAME SEQ" through the client's socket. Runs until
      SIGTERM, or for --seconds S (default 600).

  udpsession.py client VIP PORT SESSIONS INTERVAL_MS SECONDS
      SESSIONS sockets, each connect()ed to VIP:PORT, each sending its sequence number every
      INTERVAL_MS for SECONDS. Prints one line per answer: "T_MS SESSION SEQ NAME" (ms since the
      start), and at the end "sent N". Every loop is bounded by SECONDS.

Loopback or lab namespaces only. Exit 0; 2 on bad usage.
"""

import select
import signal
import socket
import sys
import time


def bound(vip, port, peer=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((vip, port))
    if peer:
        s.connect(peer)
    return s


def serve(vip, port, name, seconds):
    listener = bound(vip, port)
    sessions = {}  # client address -> its connected socket
    deadline = time.monotonic() + seconds
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while time.monotonic() < deadline:
        ready, _, _ = select.select([listener] + list(sessions.values()), [], [], 1.0)
        for s in ready:
            if s is listener:
                data, peer = s.recvfrom(2048)
                if peer not in sessions:
                    sessions[peer] = bound(vip, port, peer)
                conn = sessions[peer]
            else:
                conn = s
                try:
                    data = s.recv(2048)
                except OSError:
                    continue  # ICMP port unreachable from a client that went away
            try:
                conn.send(b"%s %s" % (name.encode(), data.split(b" ")[0]))
            except OSError:
                pass


def client(vip, port, count, interval_ms, seconds):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((vip, port))
        socks.append(s)
    index = {s: i for i, s in enumerate(socks)}
    start = time.monotonic()
    end = start + seconds
    seq = 0
    sent = 0
    next_send = start
    out = sys.stdout
    while True:
        now = time.monotonic()
        if now >= next_send:
            if now >= end:
                break
            for s in socks:
                try:
                    s.send(str(seq).encode())
                    sent += 1
                except OSError:
                    pass
            seq += 1
            next_send += interval_ms / 1000.0
        ready, _, _ = select.select(socks, [], [], max(0.0, next_send - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(2048)
            except OSError:
                continue
            name, _, got = data.decode(errors="replace").partition(" ")
            out.write("%d %d %s %s\n" % (int((time.monotonic() - start) * 1000), index[s], got, name))
    # The last answers.
    final = time.monotonic() + 0.5
    while time.monotonic() < final:
        ready, _, _ = select.select(socks, [], [], max(0.0, final - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(2048)
            except OSError:
                continue
            name, _, got = data.decode(errors="replace").partition(" ")
            out.write("%d %d %s %s\n" % (int((time.monotonic() - start) * 1000), index[s], got, name))
    out.write("sent %d\n" % sent)
    out.flush()


def main(argv):
    try:
        if argv[1] == "serve" and len(argv) in (5, 7):
            seconds = float(argv[6]) if len(argv) == 7 and argv[5] == "--seconds" else 600.0
            serve(argv[2], int(argv[3]), argv[4], seconds)
            return 0
        if argv[1] == "client" and len(argv) == 7:
            client(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), float(argv[6]))
            return 0
    except (IndexError, ValueError):
        pass
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
