#!/usr/bin/python3
"""Demo client: SET/GET round trips against a Redis server for a fixed time.

Usage: demo_client.py HOST PORT SECONDS
Prints one line per second: "t=Ns  R req/s  ok=N errors=N". Every GET must return
the value just SET; a wrong value or a connection error counts as an error (the
client then reconnects). Exits 1 if any error occurred.
"""
import socket
import sys
import time


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=2)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def call(self, *args):
        self.sock.sendall(resp(*args))
        head = self.line()
        if head.startswith(b"$"):
            n = int(head[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed by server")
                self.buf += chunk
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        return head


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conn, total_errors, i = None, 0, 0
    for second in range(1, seconds + 1):
        ok = errors = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                if conn is None:
                    conn = Conn(host, port)
                i += 1
                value = b"value-%d" % i
                if conn.call("SET", "demo:key", value) != b"+OK" or conn.call("GET", "demo:key") != value:
                    errors += 1
                else:
                    ok += 2
            except OSError:
                errors += 1
                conn = None
                time.sleep(0.05)
        total_errors += errors
        print(f"t={second:2d}s  {ok:6d} req/s  errors={errors}", flush=True)
    sys.exit(1 if total_errors else 0)


if __name__ == "__main__":
    main()
