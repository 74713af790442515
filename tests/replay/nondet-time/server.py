#!/usr/bin/python3
"""The server of the nondet-time replay case: for every request line it answers
`n=<request no, 6 digits> t=<time_ns, 20 digits> r=<random, 16 hex digits>` -- replies
of a fixed length whose bytes differ between two copies of the server."""
import os
import socket
import sys
import threading
import time


def handle(c):
    n = 0
    buf = b""
    with c:
        while data := c.recv(65536):
            buf += data
            while b"\n" in buf:
                _, buf = buf.split(b"\n", 1)
                n += 1
                c.sendall(b"n=%06d t=%020d r=%s\n" % (n, time.time_ns(), os.urandom(8).hex().encode()))


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(64)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
