#!/usr/bin/python3
"""Client workload of the redis-mixed case (run by tests/replay/make-captures.sh):
connection A sends mixed commands one at a time, B pipelines batches of 20, C opens in
the middle; the three are open at the same time. Every reply is deterministic (no
time, no random, no hash-order-dependent listing), and each connection reads only keys
it wrote itself: the pair keeps the order of each connection's requests, not the order
between connections (docs/replay-testing.md, "Cross-connection order")."""
import os
import socket
import sys

# The RESP encoder is shared with scripts/lib/demo_client.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from resp import resp  # noqa: E402

host, port = sys.argv[1], int(sys.argv[2])


class Conn:
    def __init__(self):
        self.s = socket.create_connection((host, port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def reply(self):
        line = self.f.readline()
        t = line[:1]
        if t == b"-":
            sys.exit(f"error reply {line!r}")
        if t == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.reply() for _ in range(int(line[1:]))]
        return line.rstrip(b"\r\n")

    def cmd(self, *a):
        self.s.sendall(resp(*a))
        return self.reply()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(resp(*c) for c in cmds))
        return [self.reply() for _ in cmds]

    def close(self):
        self.s.close()


a, b = Conn(), Conn()
c = None
for i in range(120):
    k = i % 7
    if k == 0:
        a.cmd("SET", f"a:s{i % 30}", f"value-{i}")
    elif k == 1:
        a.cmd("INCR", f"a:n{i % 5}")
    elif k == 2:
        a.cmd("LPUSH", f"a:l{i % 3}", f"e{i}")
    elif k == 3:
        a.cmd("HSET", f"a:h{i % 4}", f"f{i}", "x" * (i % 50))
    elif k == 4:
        a.cmd("GET", f"a:s{(i * 3) % 30}")
    elif k == 5:
        a.cmd("SADD", f"a:set{i % 2}", f"m{i}")
        a.cmd("ZADD", "a:z", i % 11, f"z{i}")
    else:
        a.cmd("APPEND", f"a:app{i % 3}", f"-{i}")
        a.cmd("DEL", f"a:s{(i + 1) % 30}")
    if i % 24 == 5:
        b.pipeline([("INCRBY", f"b:c{j}", j) for j in range(10)] + [("RPUSH", "b:q", f"v{i}-{j}") for j in range(10)])
    if i == 60:
        c = Conn()
    if c is not None and i % 10 == 0:
        c.cmd("SET", f"c:s{i % 4}", f"c-{i}")
        c.cmd("RPUSH", "c:l", i)
        c.cmd("HSET", "c:h", f"f{i % 3}", i)
        c.cmd("GET", f"c:s{(i // 10) % 4}")
        c.cmd("LRANGE", "c:l", 0, 5)
        c.cmd("HGET", "c:h", "f1")
        c.cmd("ZADD", "c:z", i % 7, f"z{i}")
        c.cmd("ZRANGE", "c:z", 0, -1, "WITHSCORES")
for i in (0, 3, 10):
    a.cmd("LRANGE", f"a:l{i % 3}", 0, 4)
    a.cmd("HGETALL", f"a:h{i % 4}")
    a.cmd("ZRANGE", "a:z", 0, 5, "WITHSCORES")
    a.cmd("SCARD", "a:set0")
b.pipeline([("LLEN", "b:q"), ("HSET", "b:h", "x", 1), ("HGETALL", "b:h"), ("EXISTS", "b:c1", "b:c2", "nope"),
            ("DEL", "b:c3", "b:c4")])
for x in (a, b, c):
    x.cmd("PING")
    x.close()
print("redis-mixed workload done")
