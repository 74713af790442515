#!/usr/bin/python3
"""Client workload of the udp-kv case (tests/replay/make-captures.sh): two UDP sockets
take turns, 150 requests, each waiting for its reply."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for s in socks:
    s.settimeout(5)
for i in range(150):
    s = socks[i % 2]
    k = i % 5
    if k == 0:
        req = f"SET key{i % 13} value{i}"
    elif k == 1:
        req = f"INC cnt{i % 3}"
    elif k == 2:
        req = f"GET key{(i * 5) % 13}"
    elif k == 3:
        req = f"SUM {i} {i + 1} {i * 7}"
    else:
        req = f"INC cnt{i % 4}"
    s.sendto(req.encode(), (host, port))
    s.recvfrom(65536)
print("udp-kv workload done")
