#!/usr/bin/python3
"""Hostile frame generator for tests/e2e/test_hostile_frames.sh (issue 9).

Sends, for a bounded time and at a bounded rate, malformed and abusive Ethernet frames
out of one interface towards the service MAC/IP: random bytes and lengths, truncated
Ethernet/IPv4/IPv6/TCP/UDP headers, bad IHL / total lengths / TCP data offsets / UDP
lengths, bogus TCP options (zero-length, overlong, wrong-length SACK/TS/WS/MSS), SACK
blocks with absurd edges (on made-up flows and, blind, on the live connections to the
service port found in /proc/net/tcp), IPv4 and IPv6 fragments (first/middle/last,
overlapping), VLAN stacks (802.1Q, QinQ, many tags), oversize frames (jumbo, beyond the
MTU), broadcast/multicast junk and ARP garbage.

Frames are built with scapy once (a pool per class, from a fixed seed) and sent through
a raw AF_PACKET socket (scapy's sendp is too slow for the rate). Prints one JSON line:
frames sent per class, send errors (the kernel refuses some frames, e.g. beyond the
interface MTU), total, seconds. Exit 0 unless the interface cannot be opened.
"""
import argparse
import json
import random
import socket
import struct
import sys
import time

from scapy.all import (ARP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMP, IPv6, IPv6ExtHdrFragment,
                       Raw)


def rand_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


class Gen:
    def __init__(self, a, rng):
        self.a, self.rng = a, rng
        self.eth = Ether(src=a.src_mac, dst=a.dst_mac)

    def sport(self):
        return self.rng.randrange(1024, 65535)

    def tcp(self, **kw):
        r = self.rng
        kw.setdefault("sport", self.sport())
        kw.setdefault("dport", self.a.port)
        kw.setdefault("seq", r.getrandbits(32))
        kw.setdefault("ack", r.getrandbits(32))
        kw.setdefault("flags", "A")
        return TCP(**kw)

    def ip4(self, **kw):
        return IP(src=self.a.src_ip, dst=self.a.dst_ip, **kw)

    # ---- classes: each returns raw bytes of one frame --------------------------------
    def random_bytes(self):
        r = self.rng
        n = r.choice([0, 1, 6, 13, 14, 15, 20, 33, 60, 64, r.randrange(0, 1515)])
        body = rand_bytes(r, n)
        if r.random() < 0.7:  # addressed to the service so the switch forwards it to the primary
            return bytes(Ether(src=self.a.src_mac, dst=self.a.dst_mac, type=r.getrandbits(16))) + body
        return body

    def truncated(self):
        r = self.rng
        full = bytes(self.eth / r.choice([
            self.ip4() / self.tcp(options=[("MSS", 1460), ("Timestamp", (1, 2))]) / Raw(b"x" * 40),
            self.ip4() / UDP(sport=self.sport(), dport=53) / Raw(b"q" * 30),
            IPv6(src="fd00::1", dst="fd00::10") / self.tcp() / Raw(b"y" * 20),
            self.ip4(options=[]) / ICMP() / Raw(b"p" * 30),
        ]))
        return full[:r.randrange(0, len(full))]

    def bad_ip(self):
        r = self.rng
        pkt = bytearray(bytes(self.eth / self.ip4() / self.tcp() / Raw(b"z" * r.randrange(0, 64))))
        ip = 14
        kind = r.randrange(5)
        if kind == 0:
            pkt[ip] = 0x40 | r.randrange(0, 5)  # IHL < 5
        elif kind == 1:
            pkt[ip] = 0x40 | r.randrange(6, 16)  # IHL beyond the options present
        elif kind == 2:
            struct.pack_into(">H", pkt, ip + 2, r.choice([0, 1, 19, 65535, len(pkt) + 100]))
        elif kind == 3:
            pkt[ip] = (r.choice([0, 5, 6, 7, 15]) << 4) | 5  # wrong version
        else:
            tcp = ip + 20
            pkt[tcp + 12] = (r.choice([0, 1, 4, 15]) << 4) | (pkt[tcp + 12] & 0x0F)  # data offset
        return bytes(pkt)

    def bad_udp(self):
        r = self.rng
        pkt = bytearray(bytes(self.eth / self.ip4() / UDP(sport=self.sport(), dport=r.choice([53, 6379, 9]))
                              / Raw(rand_bytes(r, r.randrange(0, 100)))))
        struct.pack_into(">H", pkt, 14 + 20 + 4, r.choice([0, 1, 7, 8, 9, 65535]))
        return bytes(pkt)

    def bad_tcp_options(self):
        r = self.rng
        # Raw option bytes: scapy would fix up lengths.
        choices = [
            b"\x02\x00",  # MSS, length 0
            b"\x02\x01",  # length 1
            b"\x02\x03\x05",  # MSS, wrong length
            b"\x03\x04\x07\x00",  # window scale, wrong length
            b"\x03\x03\x63",  # window scale 99
            b"\x05\x09" + b"\x00" * 7,  # SACK, length 9
            b"\x05\x0b" + b"\x00" * 9,  # SACK, length 11
            b"\x05\x03\x00",  # SACK, length 3
            b"\x05\x2a" + b"\x00" * 38,  # SACK, 5 blocks (40 bytes)
            b"\x08\x09" + b"\x00" * 7,  # timestamp, length 9
            b"\x08\x0a" + b"\x00" * 4,  # timestamp claiming more than present
            b"\x04\x03\x00",  # SACK-permitted, wrong length
            b"\xfe\xff",  # unknown kind, overlong
            b"\x01" * 3 + b"\x00" + b"\x02\x04\x05\xb4",  # EOL then MSS
            rand_bytes(r, r.randrange(1, 40)),
        ]
        opts = r.choice(choices)
        pad = (-len(opts)) % 4
        opts = (opts + b"\x01" * pad)[:40]
        t = self.tcp(flags=r.choice(["A", "PA", "S", "SA", "FA", "R"]))
        hdr = bytearray(bytes(t))[:20]
        hdr[12] = ((20 + len(opts)) // 4) << 4
        payload = rand_bytes(r, r.randrange(0, 32))
        ip = self.ip4(proto=6) / Raw(bytes(hdr) + opts + payload)
        return bytes(self.eth / ip)

    def absurd_sack(self, live):
        r = self.rng
        edges = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, r.getrandbits(32)]
        blocks = []
        for _ in range(r.randrange(1, 5)):
            a, b = r.choice(edges), r.choice(edges)
            blocks.append((a, b))
        opts = [("NOP", None), ("NOP", None), ("SAck", tuple(x for blk in blocks for x in blk))]
        if r.random() < 0.5:
            opts = [("Timestamp", (r.getrandbits(32), r.getrandbits(32)))] + opts[:1] + opts[2:]
        sport = self.sport()
        if live and r.random() < 0.5:
            sport = r.choice(live)  # blind: a live connection's ports, guessed seq/ack
        payload = Raw(rand_bytes(r, r.randrange(1, 64))) if r.random() < 0.3 else Raw(b"")
        return bytes(self.eth / self.ip4() / self.tcp(sport=sport, flags=r.choice(["A", "PA"]), options=opts)
                     / payload)

    def fragments(self):
        r = self.rng
        ident = r.getrandbits(16)
        payload = bytes(self.tcp(flags="PA")) + rand_bytes(r, 64)
        kind = r.randrange(6)
        if kind == 0:  # first fragment, MF
            return bytes(self.eth / self.ip4(id=ident, flags="MF", frag=0, proto=6) / Raw(payload[:32]))
        if kind == 1:  # middle
            return bytes(self.eth / self.ip4(id=ident, flags="MF", frag=4, proto=6) / Raw(payload[32:64]))
        if kind == 2:  # last
            return bytes(self.eth / self.ip4(id=ident, flags=0, frag=8, proto=6) / Raw(payload[64:]))
        if kind == 3:  # overlapping / absurd offsets
            return bytes(self.eth / self.ip4(id=ident, flags=r.choice([0, 1]), frag=r.choice([1, 2, 8191]), proto=6)
                         / Raw(rand_bytes(r, r.randrange(0, 64))))
        if kind == 4:  # a tiny first fragment that splits the TCP header
            return bytes(self.eth / self.ip4(id=ident, flags="MF", frag=0, proto=6) / Raw(payload[:8]))
        frag = IPv6ExtHdrFragment(id=ident, m=r.choice([0, 1]), offset=r.choice([0, 1, 8191]), nh=6)
        return bytes(self.eth / IPv6(src="fd00::1", dst="fd00::10") / frag / Raw(payload[:r.randrange(0, 90)]))

    def vlan_stack(self):
        r = self.rng
        n = r.choice([1, 2, 3, 4, 8, 16])
        inner = self.ip4() / self.tcp(flags="S")
        layer = inner
        for i in range(n):
            tag = Dot1AD if (i == n - 1 and r.random() < 0.5) else Dot1Q
            layer = tag(vlan=r.randrange(0, 4096), prio=r.randrange(8)) / layer
        return bytes(Ether(src=self.a.src_mac, dst=self.a.dst_mac) / layer)

    def oversize(self):
        r = self.rng
        size = r.choice([1515, 1519, 1600, 4000, 9000, 9216, 9300, 12000, self.a.max_frame])
        size = min(size, self.a.max_frame)
        kind = r.randrange(3)
        if kind == 0:  # TCP on a made-up flow (the backup drops it as untracked)
            head = self.eth / self.ip4() / self.tcp(flags="PA")
        elif kind == 1:  # UDP (injected as is at the backup)
            head = self.eth / self.ip4() / UDP(sport=self.sport(), dport=r.choice([53, 6379]))
        else:  # a local experimental ethertype
            head = Ether(src=self.a.src_mac, dst=self.a.dst_mac, type=0x88B5)
        return bytes(head / Raw(b"o" * max(0, size - len(head))))

    def broadcast_junk(self):
        r = self.rng
        dst = r.choice(["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01", "01:80:c2:00:00:00"])
        body = r.choice([
            IP(src=self.a.src_ip, dst="255.255.255.255") / UDP(sport=68, dport=67) / Raw(rand_bytes(r, 40)),
            IP(src=self.a.src_ip, dst="224.0.0.1") / Raw(rand_bytes(r, 30)),
            Raw(rand_bytes(r, r.randrange(0, 200))),
        ])
        return bytes(Ether(src=self.a.src_mac, dst=dst) / body)

    def arp_garbage(self):
        r = self.rng
        kind = r.randrange(4)
        if kind == 0:  # wrong hardware/protocol sizes
            return bytes(Ether(src=self.a.src_mac, dst="ff:ff:ff:ff:ff:ff")
                         / ARP(hwlen=r.choice([0, 5, 255]), plen=r.choice([0, 3, 16]), op=1))
        if kind == 1:  # truncated
            full = bytes(Ether(src=self.a.src_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=self.a.dst_ip))
            return full[:r.randrange(14, len(full))]
        if kind == 2:  # odd opcodes, spoofed addresses (never the service IP: see the test)
            return bytes(Ether(src=self.a.src_mac, dst=self.a.dst_mac)
                         / ARP(op=r.choice([0, 3, 255, 65535]), psrc=f"10.99.{r.randrange(256)}.{r.randrange(256)}",
                               hwsrc="02:00:de:ad:%02x:%02x" % (r.randrange(256), r.randrange(256)),
                               pdst=self.a.dst_ip))
        return bytes(Ether(src=self.a.src_mac, dst="ff:ff:ff:ff:ff:ff", type=0x0806) / Raw(rand_bytes(r, 28)))


def live_ports(dst_ip, port):
    """Local ports of the established connections to dst_ip:port in this namespace."""
    want = "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(dst_ip))[0], port)
    out = []
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[2] == want and p[3] == "01":
                    out.append(int(p[1].split(":")[1], 16))
    except OSError:
        pass
    return out


CLASSES = ["random_bytes", "truncated", "bad_ip", "bad_udp", "bad_tcp_options", "absurd_sack",
           "fragments", "vlan_stack", "oversize", "broadcast_junk", "arp_garbage"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-ip", required=True)
    ap.add_argument("--dst-ip", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--rate", type=int, default=2000, help="frames per second (upper bound)")
    ap.add_argument("--pool", type=int, default=200, help="frames built per class")
    ap.add_argument("--max-frame", type=int, default=12000, help="largest oversize frame")
    ap.add_argument("--seed", type=int, default=9)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    gen = Gen(a, rng)
    live = live_ports(a.dst_ip, a.port)
    pools = {}
    for c in CLASSES:
        fn = getattr(gen, c)
        pools[c] = [fn(live) if c == "absurd_sack" else fn() for _ in range(a.pool)]
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((a.iface, 0))
    except OSError as e:
        print(json.dumps({"error": f"cannot open {a.iface}: {e}"}))
        return 1
    sent = {c: 0 for c in CLASSES}
    errors = {c: 0 for c in CLASSES}
    start = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        # Pace: at most `rate` frames per second, in slices of 10 ms.
        due = int((now - start) * a.rate)
        if n >= due:
            time.sleep(0.01)
            continue
        for _ in range(min(due - n, 64)):
            c = CLASSES[n % len(CLASSES)]
            frame = rng.choice(pools[c])
            n += 1
            try:
                s.send(frame)
                sent[c] += 1
            except OSError:
                errors[c] += 1
    print(json.dumps({"sent": sent, "send_errors": errors, "total": sum(sent.values()),
                      "live_ports": live, "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
