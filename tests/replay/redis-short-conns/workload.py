#!/usr/bin/python3
"""Client workload of the redis-short-conns case (tests/replay/make-captures.sh): 200
connections, each SET sc:<i>, INCR sc:counter, GET sc:<i>, then close."""
import os
import socket
import sys

# The RESP encoder is shared with scripts/lib/demo_client.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from resp import resp  # noqa: E402

host, port = sys.argv[1], int(sys.argv[2])


for i in range(200):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    for cmd, want in ((("SET", f"sc:{i}", f"v{i}"), b"+OK"), (("INCR", "sc:counter"), b":"), (("GET", f"sc:{i}"), b"$")):
        s.sendall(resp(*cmd))
        line = f.readline()
        if not line.startswith(want):
            sys.exit(f"unexpected reply {line!r}")
        if want == b"$":
            f.readline()
    s.close()
print("redis-short-conns workload done")
