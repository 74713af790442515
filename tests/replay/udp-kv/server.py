#!/usr/bin/python3
"""The UDP service of the udp-kv replay case: one datagram in, one datagram out.
  SET k v -> OK      GET k -> v (or NIL)      INC k -> <value>
  SUM a b ... -> <sum>                        DUMP -> k=v;... (sorted)
`server.py dump HOST PORT` is the case's state command."""
import socket
import sys


def serve(host, port):
    kv = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((host, port))
    while True:
        data, peer = s.recvfrom(65536)
        p = data.decode(errors="replace").split()
        if not p:
            reply = "ERR empty"
        elif p[0] == "SET" and len(p) == 3:
            kv[p[1]] = p[2]
            reply = "OK"
        elif p[0] == "GET" and len(p) == 2:
            reply = kv.get(p[1], "NIL")
        elif p[0] == "INC" and len(p) == 2:
            kv[p[1]] = str(int(kv.get(p[1], "0")) + 1)
            reply = kv[p[1]]
        elif p[0] == "SUM":
            reply = str(sum(int(x) for x in p[1:]))
        elif p[0] == "DUMP":
            reply = ";".join(f"{k}={v}" for k, v in sorted(kv.items()))
        else:
            reply = "ERR " + p[0]
        s.sendto(reply.encode(), peer)


def dump(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"DUMP", (host, port))
    print(s.recvfrom(65536)[0].decode())


if __name__ == "__main__":
    {"serve": serve, "dump": dump}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
