#!/usr/bin/python3
"""Client side of the replay harness (scripts/replay.sh, docs/replay-testing.md).

Subcommands:
  case-env CASE_DIR           validate CASE_DIR/case.toml, print it as shell assignments
  plan --pcap F --port P      print what the capture holds (connections, turns, datagrams)
  tcp  --pcap F --port P --host IP --out JSON [--pause-at K --pause-dir D]
                              re-drive every captured TCP connection's client payload
                              against the live service, turn by turn, and record what
                              the service answered
  to-ether --pcap F --port P --out F2
                              the client's UDP datagrams of a capture that is not Ethernet
                              (e.g. `tcpdump -i any`: Linux cooked v2, which tcprewrite
                              cannot read) as Ethernet frames, for tcprewrite
  udp-sink --pcap F --port P --bind IP --out JSON --ctl-dir D
                              bind the captured client UDP ports and record the replies
                              while tcpreplay sends the rewritten client datagrams
  compare A.json B.json       client-visible responses of two runs equal?
  check-capture A.json        responses equal to the server bytes in the capture?

A TCP "turn" is a run of client payload bytes on one connection followed by the server
bytes the capture shows before the client's next payload. The re-driver sends the
client bytes, then waits until as many server bytes arrived as the capture holds (or
EOF, or `quiet` seconds without a byte, or `turn_timeout`), then goes on. Turns of all
connections run in capture order, one at a time, so cross-connection order (a GET on
one connection after a SET on another) is kept and the run is deterministic.
"""

import argparse
import hashlib
import json
import os
import select
import shlex
import socket
import sys
import time

try:
    import tomllib
except ImportError:  # pragma: no cover - Debian 12 has Python 3.11
    tomllib = None


def die(msg):
    print(f"replay_client: {msg}", file=sys.stderr)
    sys.exit(2)


# ---- case.toml ------------------------------------------------------------------------

CASE_KEYS = {
    "description": str,
    "transport": str,
    "port": int,
    "capture": str,
    "server": str,
    "state": str,
    "failover": str,
    "proxy": list,
    "turn_timeout_s": (int, float),
    "quiet_s": (int, float),
    "udp_pps": int,
    "settle_s": (int, float),
    "expect": dict,
}
EXPECT_KEYS = {
    "responses_equal": bool,
    "responses_match_capture": bool,
    "replicas_equal": bool,
    "divergence": bool,
}


def parse_failover(spec):
    """none | random | at=<fraction in (0,1)> | at=<turn index >= 1>; returns (kind, value)."""
    if spec in ("none", "random"):
        return spec, ""
    if spec.startswith("at="):
        v = spec[3:]
        try:
            if "." in v:
                f = float(v)
                if 0.0 < f < 1.0:
                    return "fraction", v
            elif int(v) >= 1:
                return "index", str(int(v))
        except ValueError:
            pass
    raise ValueError(f"failover: '{spec}' is not none, random, at=<fraction 0..1> or at=<turn index>")


def case_env(case_dir, allow_missing_capture=False):
    path = os.path.join(case_dir, "case.toml")
    if tomllib is None:
        die("python3 without tomllib (3.11+ needed)")
    try:
        with open(path, "rb") as f:
            c = tomllib.load(f)
    except FileNotFoundError:
        die(f"{path}: missing")
    except tomllib.TOMLDecodeError as e:
        die(f"{path}: {e}")
    for k, v in c.items():
        if k not in CASE_KEYS:
            die(f"{path}: unknown key '{k}'")
        if not isinstance(v, CASE_KEYS[k]) or isinstance(v, bool) and CASE_KEYS[k] is not bool:
            die(f"{path}: key '{k}' has the wrong type")
    for k, v in c.get("expect", {}).items():
        if k not in EXPECT_KEYS:
            die(f"{path}: unknown key 'expect.{k}'")
        if not isinstance(v, EXPECT_KEYS[k]):
            die(f"{path}: key 'expect.{k}' must be true or false")
    transport = c.get("transport", "tcp")
    if transport not in ("tcp", "udp"):
        die(f"{path}: transport must be \"tcp\" or \"udp\"")
    if "port" not in c or not 0 < c["port"] < 65536:
        die(f"{path}: port (1..65535) is required")
    server = c.get("server", "")
    if not server and not os.path.isfile(os.path.join(case_dir, "server.sh")):
        die(f"{path}: neither 'server' nor server.sh")
    capture = c.get("capture", "capture.pcap")
    if not allow_missing_capture and not os.path.isfile(os.path.join(case_dir, capture)):
        die(f"{path}: capture file {capture} not found in the case folder")
    try:
        fo_kind, fo_val = parse_failover(c.get("failover", "none"))
    except ValueError as e:
        die(f"{path}: {e}")
    if transport == "udp" and fo_kind != "none":
        die(f"{path}: failover with UDP is not supported (a datagram lost during the takeover is not resent)")
    for item in c.get("proxy", []):
        if not isinstance(item, str) or "=" not in item or "." not in item.split("=", 1)[0]:
            die(f"{path}: proxy entries are \"section.key=<TOML value>\" strings")
    e = c.get("expect", {})
    out = {
        "RC_DESCRIPTION": c.get("description", ""),
        "RC_TRANSPORT": transport,
        "RC_PORT": str(c["port"]),
        "RC_CAPTURE": os.path.join(case_dir, capture),
        "RC_SERVER": server or f'exec bash "$REPLAY_CASE_DIR/server.sh"',
        "RC_STATE": c.get("state", ""),
        "RC_FAILOVER": c.get("failover", "none"),
        "RC_FAILOVER_KIND": fo_kind,
        "RC_FAILOVER_VALUE": fo_val,
        "RC_TURN_TIMEOUT": str(c.get("turn_timeout_s", 30)),
        "RC_QUIET": str(c.get("quiet_s", 5)),
        "RC_UDP_PPS": str(c.get("udp_pps", 0)),
        "RC_SETTLE": str(c.get("settle_s", 10)),
        "RC_EXPECT_RESPONSES_EQUAL": str(int(e.get("responses_equal", True))),
        "RC_EXPECT_MATCH_CAPTURE": str(int(e.get("responses_match_capture", False))),
        "RC_EXPECT_REPLICAS_EQUAL": str(int(e.get("replicas_equal", bool(c.get("state"))))),
        "RC_EXPECT_DIVERGENCE": str(int(e.get("divergence", False))),
    }
    if out["RC_EXPECT_REPLICAS_EQUAL"] == "1" and not out["RC_STATE"]:
        die(f"{path}: expect.replicas_equal needs a 'state' command")
    for k, v in out.items():
        print(f"{k}={shlex.quote(v)}")
    print("RC_PROXY=(" + " ".join(shlex.quote(x) for x in c.get("proxy", [])) + ")")


# ---- capture parsing --------------------------------------------------------------------


def load_packets(pcap):
    try:
        from scapy.all import IP, IPv6, TCP, UDP, PcapReader  # noqa: F401
    except ImportError:
        die("scapy is not importable by this python (apt-get install python3-scapy)")
    out = []
    with PcapReader(pcap) as rd:
        for pkt in rd:
            wire = getattr(pkt, "wirelen", None)
            if wire and wire > len(bytes(pkt)):
                die(f"{pcap}: frame {len(out) + 1} truncated to {len(bytes(pkt))} of {wire} bytes: capture with -s 0")
            l3 = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if l3 is None:
                continue
            out.append((float(pkt.time), l3))
    return out


SEQ_MOD = 1 << 32


class CapConn:
    """One captured TCP connection, cut into turns."""

    def __init__(self, key, first):
        self.key = key  # (client ip, client port, server ip)
        self.first = first  # capture index of its first packet
        self.base = {}  # direction -> ISN + 1 (first payload seq)
        self.next = {}  # direction -> next new byte's offset
        self.turns = []  # [send bytes, expected server bytes, shutdown-after-send]
        self.turn_index = []  # capture index where each turn starts
        self.client_fin = None  # capture index of the client's FIN/RST
        self.server_fin = False
        self.closed = False

    def _new_bytes(self, d, seq, payload, syn):
        if syn:
            self.base[d] = (seq + 1) % SEQ_MOD
            self.next.setdefault(d, 0)
            return b""
        if d not in self.base:  # capture started mid-connection
            self.base[d] = seq
            self.next[d] = 0
        off = (seq - self.base[d]) % SEQ_MOD
        if off >= SEQ_MOD // 2:  # before the base: an old retransmission
            return b""
        end = off + len(payload)
        if end <= self.next[d]:
            return b""
        # Past a gap (a frame the capture missed) the bytes are kept as they are: the
        # replay cannot refill the hole (tcpdump's "dropped by kernel" tells).
        new = payload[self.next[d] - off:] if off < self.next[d] else payload
        self.next[d] = end
        return new

    def client_data(self, idx, seq, payload, syn):
        b = self._new_bytes("c", seq, payload, syn)
        if not b:
            return
        if not self.turns or self.turns[-1][1] or self.turns[-1][2]:
            self.turns.append([bytearray(), bytearray(), False])
            self.turn_index.append(idx)
        self.turns[-1][0] += b

    def server_data(self, idx, seq, payload, syn):
        b = self._new_bytes("s", seq, payload, syn)
        if not b:
            return
        if not self.turns:  # a greeting before the client said anything
            self.turns.append([bytearray(), bytearray(), False])
            self.turn_index.append(idx)
        self.turns[-1][1] += b

    def client_closes(self, idx):
        if self.client_fin is None:
            self.client_fin = idx
            if self.turns and not self.turns[-1][1]:
                self.turns[-1][2] = True  # the client half-closed before the answer came


def tcp_plan(pcap, port):
    from scapy.all import TCP

    conns, live = [], {}
    for idx, (_, l3) in enumerate(load_packets(pcap)):
        t = l3.getlayer(TCP)
        if t is None:
            continue
        if t.dport == port:
            key, to_server = (l3.src, t.sport, l3.dst), True
        elif t.sport == port:
            key, to_server = (l3.dst, t.dport, l3.src), False
        else:
            continue
        flags = int(t.flags)
        syn, fin, rst = bool(flags & 0x02), bool(flags & 0x01), bool(flags & 0x04)
        c = live.get(key)
        client_syn = to_server and syn and not (flags & 0x10)
        if client_syn and c is not None and c.base.get("c") == (t.seq + 1) % SEQ_MOD:
            continue  # a retransmitted SYN
        if c is None or client_syn:  # a new connection (also a reused client port)
            if not syn and not bytes(t.payload) and (fin or rst):
                continue  # the tail of a connection the capture did not see open
            c = CapConn(key, idx)
            live[key] = c
            conns.append(c)
        payload = bytes(t.payload)
        if to_server:
            c.client_data(idx, t.seq, payload, syn)
            if fin or rst:
                c.client_closes(idx)
                c.closed = True
        else:
            c.server_data(idx, t.seq, payload, syn)
            if fin or rst:
                c.server_fin = True
                if rst:
                    c.closed = True
    # Global schedule: (capture index, kind, conn id, turn number)
    events = []
    for cid, c in enumerate(conns):
        events.append((c.first, 0, cid, -1))
        for n, ti in enumerate(c.turn_index):
            events.append((ti, 1, cid, n))
        if c.client_fin is not None:
            events.append((c.client_fin, 2, cid, -1))
    events.sort()
    return conns, events


def udp_plan(pcap, port):
    from scapy.all import UDP

    requests, replies = [], {}
    for _, l3 in load_packets(pcap):
        u = l3.getlayer(UDP)
        if u is None:
            continue
        if u.dport == port:
            requests.append((u.sport, bytes(u.payload)))
        elif u.sport == port:
            replies.setdefault(u.dport, []).append(bytes(u.payload))
    return requests, replies


def sha(b):
    return hashlib.sha256(bytes(b)).hexdigest()[:16]


def head(b, n=48):
    return bytes(b[:n]).decode("latin-1").encode("unicode_escape").decode("ascii")


def cmd_plan(a):
    if a.transport == "udp":
        req, rep = udp_plan(a.pcap, a.port)
        print(json.dumps({"transport": "udp", "datagrams": len(req), "client_ports": len({p for p, _ in req}),
                          "replies": sum(len(v) for v in rep.values())}))
        return
    conns, _ = tcp_plan(a.pcap, a.port)
    sends = sum(1 for c in conns for t in c.turns if t[0])
    print(json.dumps({"transport": "tcp", "connections": len(conns), "turns": sends,
                      "client_bytes": sum(len(t[0]) for c in conns for t in c.turns),
                      "server_bytes": sum(len(t[1]) for c in conns for t in c.turns)}))


# ---- TCP re-driver ----------------------------------------------------------------------


class Live:
    def __init__(self, cid, cap):
        self.cid, self.cap = cid, cap
        self.sock = None
        self.buf = bytearray()
        self.eof = False
        self.rec = {"id": cid, "captured_client": f"{cap.key[0]}:{cap.key[1]}", "turns": [], "error": None}


def recv_until(lv, want, timeout, quiet):
    """Read into lv.buf until it holds `want` bytes, EOF, `quiet` s without data once some
    arrived, or `timeout` s. Returns the reason."""
    start = time.monotonic()
    last = start
    got_any = False
    while len(lv.buf) < want and not lv.eof:
        now = time.monotonic()
        if now - start >= timeout:
            return "timeout"
        if got_any and now - last >= quiet:
            return "quiet"
        wait = min(timeout - (now - start), (quiet - (now - last)) if got_any else timeout)
        r, _, _ = select.select([lv.sock], [], [], max(0.01, wait))
        if not r:
            continue
        try:
            chunk = lv.sock.recv(65536)
        except ConnectionError as e:
            lv.rec["error"] = f"{type(e).__name__}: {e}"
            lv.eof = True
            return "error"
        if not chunk:
            lv.eof = True
            return "eof"
        lv.buf += chunk
        got_any = True
        last = time.monotonic()
    return "ok" if len(lv.buf) >= want else "eof"


def wait_go(pause_dir, seconds=60):
    with open(os.path.join(pause_dir, "paused"), "w") as f:
        f.write("paused\n")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.path.exists(os.path.join(pause_dir, "go")):
            return True
        time.sleep(0.005)
    return False


def cmd_tcp(a):
    conns, events = tcp_plan(a.pcap, a.port)
    lives = [Live(i, c) for i, c in enumerate(conns)]
    t0 = time.monotonic()
    turn_no = 0
    paused_at = None
    for _, kind, cid, n in events:
        lv = lives[cid]
        if lv.rec["error"]:
            continue
        if kind == 0:
            try:
                lv.sock = socket.create_connection((a.host, a.port), timeout=a.turn_timeout)
                lv.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                lv.rec["local"] = "%s:%d" % lv.sock.getsockname()[:2]
            except OSError as e:
                lv.rec["error"] = f"connect: {e}"
            continue
        if kind == 2:
            try:
                lv.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            lv.rec["shut_wr"] = True
            continue
        send, expect, shut = lv.cap.turns[n]
        rec = {"sent": len(send), "expected": len(expect), "expected_sha": sha(expect)}
        try:
            if send:
                turn_no += 1
                rec["turn"] = turn_no
                lv.sock.sendall(bytes(send))
                if shut:
                    lv.sock.shutdown(socket.SHUT_WR)
                    lv.rec["shut_wr"] = True
                if a.pause_at and turn_no == a.pause_at:
                    paused_at = turn_no
                    if not wait_go(a.pause_dir):
                        lv.rec["error"] = "pause: no go within 60 s"
        except OSError as e:
            lv.rec["error"] = f"send: {type(e).__name__}: {e}"
        why = recv_until(lv, len(expect), a.turn_timeout, a.quiet) if not lv.rec["error"] else "error"
        got = bytes(lv.buf[: len(expect)])
        del lv.buf[: len(expect)]
        rec.update({"got": len(got), "sha": sha(got), "end": why})
        if got != expect:
            rec["head"] = head(got)
            rec["expected_head"] = head(expect)
        lv.rec["turns"].append(rec)
    # Close: collect whatever else each connection sends until EOF (bounded).
    for lv in lives:
        if lv.sock is None:
            continue
        if not lv.rec.get("shut_wr") and not lv.rec["error"]:
            try:
                lv.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if not lv.eof and not lv.rec["error"]:
            recv_until(lv, 1 << 30, a.close_timeout, a.close_timeout)
        lv.rec["trailing"] = len(lv.buf)
        lv.rec["trailing_sha"] = sha(lv.buf)
        lv.rec["eof"] = lv.eof
        lv.sock.close()
    out = {
        "transport": "tcp",
        "connections": len(lives),
        "turns": turn_no,
        "paused_at": paused_at,
        "errors": sum(1 for lv in lives if lv.rec["error"]),
        "short_turns": sum(1 for lv in lives for r in lv.rec["turns"] if r["got"] < r["expected"]),
        "bytes_sent": sum(r["sent"] for lv in lives for r in lv.rec["turns"]),
        "bytes_received": sum(r["got"] for lv in lives for r in lv.rec["turns"]) + sum(lv.rec.get("trailing", 0) for lv in lives),
        "elapsed_s": round(time.monotonic() - t0, 3),
        "conns": [lv.rec for lv in lives],
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "conns"}))
    return 0 if out["errors"] == 0 else 1


# ---- UDP sink ---------------------------------------------------------------------------


def cmd_to_ether(a):
    from scapy.all import IP, UDP, Ether, IPv6, wrpcap

    frames = []
    for t, l3 in load_packets(a.pcap):
        u = l3.getlayer(UDP)
        if u is None or u.dport != a.port:
            continue
        ip = IP(src=l3.src, dst=l3.dst) if l3.haslayer(IP) else IPv6(src=l3.src, dst=l3.dst)
        f = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip / UDP(sport=u.sport, dport=u.dport) / bytes(u.payload)
        f.time = t
        frames.append(f)
    wrpcap(a.out, frames, linktype=1)
    print(json.dumps({"datagrams": len(frames)}))
    return 0 if frames else 1


def cmd_udp_sink(a):
    requests, replies = udp_plan(a.pcap, a.port)
    ports = sorted({p for p, _ in requests})
    socks = {}
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((a.bind, p))
        socks[s] = p
    expected_total = sum(len(v) for v in replies.values())
    got = {p: [] for p in ports}
    n = 0
    open(os.path.join(a.ctl_dir, "ready"), "w").close()
    t0 = time.monotonic()
    last = t0
    done_seen = None
    while n < expected_total:
        now = time.monotonic()
        if now - t0 > a.timeout:
            break
        if done_seen is None and os.path.exists(os.path.join(a.ctl_dir, "done")):
            done_seen = now
        if done_seen is not None and now - max(last, done_seen) > a.quiet:
            break
        r, _, _ = select.select(list(socks), [], [], 0.05)
        for s in r:
            data, _ = s.recvfrom(65536)
            got[socks[s]].append(data)
            n += 1
            last = time.monotonic()
    conns = []
    for p in ports:
        exp = replies.get(p, [])
        recs = []
        for i, d in enumerate(got[p]):
            rec = {"got": len(d), "sha": sha(d)}
            if i < len(exp):
                rec["expected"] = len(exp[i])
                rec["expected_sha"] = sha(exp[i])
                if d != exp[i]:
                    rec["head"], rec["expected_head"] = head(d), head(exp[i])
            recs.append(rec)
        for e in exp[len(got[p]):]:
            recs.append({"got": 0, "sha": sha(b""), "expected": len(e), "expected_sha": sha(e), "end": "missing"})
        conns.append({"id": p, "captured_client": f"udp:{p}", "turns": recs, "error": None,
                      "trailing": 0, "trailing_sha": sha(b"")})
    out = {
        "transport": "udp",
        "connections": len(ports),
        "turns": len(requests),
        "replies": n,
        "replies_expected": expected_total,
        "errors": 0,
        "short_turns": sum(1 for c in conns for r in c["turns"] if r["got"] < r.get("expected", 0)),
        "bytes_received": sum(len(d) for v in got.values() for d in v),
        "elapsed_s": round(time.monotonic() - t0, 3),
        "conns": conns,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "conns"}))
    return 0


# ---- comparisons ------------------------------------------------------------------------


def load(path):
    with open(path) as f:
        return json.load(f)


def cmd_compare(a):
    x, y = load(a.a), load(a.b)
    diffs = []
    if len(x["conns"]) != len(y["conns"]):
        diffs.append(f"connections: {len(x['conns'])} vs {len(y['conns'])}")
    for cx, cy in zip(x["conns"], y["conns"]):
        tx, ty = cx["turns"], cy["turns"]
        if len(tx) != len(ty):
            diffs.append(f"conn {cx['id']} ({cx['captured_client']}): {len(tx)} vs {len(ty)} responses")
        for i, (rx, ry) in enumerate(zip(tx, ty)):
            if rx["sha"] != ry["sha"]:
                diffs.append(f"conn {cx['id']} ({cx['captured_client']}) response {i}: {rx['got']} bytes "
                             f"{rx.get('head', '')!r} vs {ry['got']} bytes {ry.get('head', '')!r}")
        if cx.get("trailing_sha") != cy.get("trailing_sha"):
            diffs.append(f"conn {cx['id']}: trailing bytes {cx.get('trailing')} vs {cy.get('trailing')}")
    total = sum(len(c["turns"]) for c in x["conns"])
    print(json.dumps({"responses": total, "differences": len(diffs), "first": diffs[:5]}))
    return 0 if not diffs else 1


def cmd_check_capture(a):
    x = load(a.a)
    diffs = []
    for c in x["conns"]:
        for i, r in enumerate(c["turns"]):
            if r.get("expected_sha") is not None and r["sha"] != r["expected_sha"]:
                diffs.append(f"conn {c['id']} ({c['captured_client']}) response {i}: got {r['got']} bytes "
                             f"{r.get('head', '')!r}, capture has {r.get('expected')} bytes {r.get('expected_head', '')!r}")
    total = sum(len(c["turns"]) for c in x["conns"])
    print(json.dumps({"responses": total, "differences": len(diffs), "first": diffs[:5]}))
    return 0 if not diffs else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("case-env")
    p.add_argument("case_dir")
    p.add_argument("--allow-missing-capture", action="store_true", help="for the capture generator")
    p = sub.add_parser("plan")
    p.add_argument("--pcap", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", default="tcp", choices=["tcp", "udp"])
    p = sub.add_parser("tcp")
    p.add_argument("--pcap", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--turn-timeout", type=float, default=30)
    p.add_argument("--quiet", type=float, default=5)
    p.add_argument("--close-timeout", type=float, default=5)
    p.add_argument("--pause-at", type=int, default=0)
    p.add_argument("--pause-dir", default="")
    p = sub.add_parser("to-ether")
    p.add_argument("--pcap", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("udp-sink")
    p.add_argument("--pcap", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ctl-dir", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--quiet", type=float, default=3)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("check-capture")
    p.add_argument("a")
    a = ap.parse_args()
    if a.cmd == "case-env":
        case_env(a.case_dir, a.allow_missing_capture)
        return 0
    return {"plan": cmd_plan, "tcp": cmd_tcp, "to-ether": cmd_to_ether, "udp-sink": cmd_udp_sink, "compare": cmd_compare,
            "check-capture": cmd_check_capture}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
