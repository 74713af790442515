#!/usr/bin/python3
"""Client workload of the line-counter case (tests/replay/make-captures.sh): four
connections open at once, requests interleaved across them (each waits for its reply),
every fifth request a batch of three lines in one segment, then QUIT on each. Each
connection counts and reads its own counters (c<n>k<i>): the pair keeps the order of
each connection's requests, not the order between connections, so a reply must not
depend on another connection's progress (docs/replay-testing.md). The final state
(all counters) is the sum of all and does not depend on it either."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
conns = []
for _ in range(4):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conns.append((s, s.makefile("rb")))


def ask(c, lines):
    s, f = c
    s.sendall("".join(x + "\n" for x in lines).encode())
    return [f.readline() for _ in lines]


for i in range(160):
    n = (i * 7 + i // 5) % 4
    c = conns[n]
    if i % 5 == 4:
        ask(c, [f"INC c{n}k{i % 6} {i}", f"SUM {i} {i * 2} {i * 3}", f"GET c{n}k{(i + 1) % 6}"])
    elif i % 4 == 0:
        ask(c, [f"INC c{n}k{i % 6}"])
    elif i % 4 == 1:
        ask(c, [f"ECHO message number {i} " + "." * (i % 40)])
    elif i % 4 == 2:
        ask(c, [f"UPPER mixed Case text {i}"])
    else:
        ask(c, [f"DUMP c{n}"])
for c in conns:
    if ask(c, ["QUIT"])[0] != b"BYE\n":
        sys.exit("no BYE")
    c[0].close()
print("line-counter workload done")
