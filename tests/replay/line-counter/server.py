#!/usr/bin/python3
"""The line-protocol server of the line-counter replay case (one thread, selectors).

Requests, one per line (\n-terminated), replies one line each:
  INC name [n]   -> name=<new value>       GET name  -> name=<value>
  ECHO text      -> text                   UPPER text -> TEXT
  SUM a b ...    -> <sum>                  DUMP [prefix] -> name=value,... (sorted; the
                                           counters whose name starts with prefix)
  QUIT           -> BYE, then the server closes the connection
  anything else  -> ERR unknown
`server.py dump HOST PORT` is the case's state command (a DUMP over a new connection)."""
import selectors
import socket
import sys


def serve(host, port):
    counters = {}
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    sel.register(ls, selectors.EVENT_READ)
    bufs = {}

    def answer(line):
        parts = line.split(" ", 1)
        cmd, arg = parts[0].upper(), parts[1] if len(parts) > 1 else ""
        if cmd == "INC":
            a = arg.split()
            counters[a[0]] = counters.get(a[0], 0) + (int(a[1]) if len(a) > 1 else 1)
            return f"{a[0]}={counters[a[0]]}"
        if cmd == "GET":
            return f"{arg}={counters.get(arg, 0)}"
        if cmd == "ECHO":
            return arg
        if cmd == "UPPER":
            return arg.upper()
        if cmd == "SUM":
            return str(sum(int(x) for x in arg.split()))
        if cmd == "DUMP":
            return ",".join(f"{k}={v}" for k, v in sorted(counters.items()) if k.startswith(arg))
        if cmd == "QUIT":
            return "BYE"
        return "ERR unknown"

    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                bufs[c] = b""
                sel.register(c, selectors.EVENT_READ)
                continue
            data = s.recv(65536)
            if not data:
                sel.unregister(s)
                s.close()
                del bufs[s]
                continue
            bufs[s] += data
            out, close = [], False
            while b"\n" in bufs[s]:
                line, bufs[s] = bufs[s].split(b"\n", 1)
                reply = answer(line.decode().rstrip("\r"))
                out.append(reply.encode() + b"\n")
                if reply == "BYE":
                    close = True
                    break
            if out:
                s.sendall(b"".join(out))
            if close:
                sel.unregister(s)
                s.close()
                del bufs[s]


def dump(host, port):
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"DUMP\nQUIT\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    print(data.decode().split("\n")[0])


if __name__ == "__main__":
    {"serve": serve, "dump": dump}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
