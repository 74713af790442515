#!/usr/bin/python3
"""One long-lived TCP connection to a redis server writing SET k_i v_i with increasing i.

Records every acknowledged write (one "i" per line in --acked) and the time of each
reply, so a test can check that the connection survived a failover (no reconnect, no
reset), how long the longest stall was, and afterwards that every acknowledged write
is readable. Bounded: stops after --seconds or --count, whichever comes first. Writes a
JSON summary to stdout. Exit code: 0 if the connection stayed up to the end, 1 if it
broke (reset, EOF, timeout), 2 on bad arguments.
"""
import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from resp import resp  # noqa: E402


def read_line(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF from server")
        buf.extend(chunk)
    i = buf.index(b"\r\n")
    line = bytes(buf[:i])
    del buf[: i + 2]
    return line


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--count", type=int, default=10**9)
    ap.add_argument("--prefix", default="k")
    ap.add_argument("--acked", required=True, help="file to append acknowledged indices to")
    ap.add_argument("--stall-timeout", type=float, default=10.0, help="give up if one reply takes longer")
    ap.add_argument("--interval", type=float, default=0.0, help="pause between writes (s)")
    a = ap.parse_args()

    sock = socket.create_connection((a.host, a.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(a.stall_timeout)
    local = sock.getsockname()
    buf = bytearray()
    acked = 0
    max_gap = 0.0
    max_gap_at = None
    error = None
    start = time.monotonic()
    last = start
    with open(a.acked, "a", buffering=1) as out:
        i = 0
        while i < a.count and time.monotonic() - start < a.seconds:
            i += 1
            try:
                sock.sendall(resp("SET", f"{a.prefix}{i}", f"v{i}"))
                line = read_line(sock, buf)
            except Exception as e:  # noqa: BLE001 - any failure ends the run
                error = f"{type(e).__name__}: {e}"
                break
            now = time.monotonic()
            if line != b"+OK":
                error = f"unexpected reply {line!r}"
                break
            out.write(f"{i}\n")
            acked += 1
            if now - last > max_gap:
                max_gap = now - last
                max_gap_at = now - start
            last = now
            if a.interval:
                time.sleep(a.interval)
    sock.close()
    print(json.dumps({"acked": acked, "max_gap_s": round(max_gap, 6), "max_gap_at_s": max_gap_at,
                      "error": error, "local": f"{local[0]}:{local[1]}",
                      "seconds": round(time.monotonic() - start, 3)}))
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
