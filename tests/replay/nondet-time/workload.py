#!/usr/bin/python3
"""Client workload of the nondet-time case (tests/replay/make-captures.sh): two
connections, 40 request lines each, one at a time."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
for c in range(2):
    s = socket.create_connection((host, port), timeout=10)
    f = s.makefile("rb")
    for i in range(40):
        s.sendall(b"what time is it %d %d\n" % (c, i))
        f.readline()
    s.close()
print("nondet-time workload done")
