#!/usr/bin/python3
"""Request round-trip time over one TCP connection: N sequential Redis PINGs.

Usage: tcp_rtt.py HOST PORT [COUNT]
Prints one line: "count=N p50_us=X p99_us=Y max_us=Z" (nearest-rank percentiles).
Exits 1 if a reply is not "+PONG".
"""
import math
import socket
import sys
import time


def percentile(sorted_values, q):
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    expected = b"+PONG\r\n"
    samples = []
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter_ns()
            sock.sendall(b"PING\r\n")
            reply = b""
            while len(reply) < len(expected):
                chunk = sock.recv(64)
                if not chunk:
                    sys.exit("connection closed by the server")
                reply += chunk
            samples.append((time.perf_counter_ns() - start) / 1000.0)
            if reply != expected:
                sys.exit(f"unexpected reply {reply!r}")
    samples.sort()
    print(f"count={count} p50_us={percentile(samples, 0.50):.1f} "
          f"p99_us={percentile(samples, 0.99):.1f} max_us={samples[-1]:.1f}")


if __name__ == "__main__":
    main()
