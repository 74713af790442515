#!/usr/bin/python3
"""Client and report of the failover demo (scripts/demo.sh).

  demo_client.py run --host H --port P --seconds S --out FILE [--proxy NAME=NETNS ...]
                    [--rate R] [--color]
      One TCP connection to a Redis server, never reopened: SET k<i> v<i> then GET k<i>
      for i = 1, 2, ... for S seconds (at most R requests/s when R > 0). Prints a header and one row per second: elapsed
      time, requests/s, the last acknowledged i, the connection's local port and the
      state of each proxy (its /status, read from inside NETNS by a side thread so the
      request loop never waits for it). Then reads every acknowledged key back over the
      same connection (MGET in batches) and writes a JSON summary to FILE. Exit 0 when
      the connection stayed up and every GET/MGET returned the value written, else 1.

  demo_client.py report --client FILE --kill-at T --primary NAME=STATUS --backup NAME=STATUS [--color]
      Prints the demo's summary from the client's JSON, the wall-clock time of the kill
      and both proxies' final /status (STATUS: a file; empty or unreadable = down).
      Exit 0 when every check holds, 1 otherwise.

Standard library only; run with the distribution's /usr/bin/python3.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

from resp import resp  # scripts/lib/resp.py, next to this script

CONTROL_URL = "http://127.0.0.1:9100/status"
VERIFY_BATCH = 1000
MAX_VERIFY_KEYS = 2_000_000  # bound on the read-back (far above what 30 s can write)
GAP_RECORD_S = 0.02  # waits for a reply at least this long are kept, to find the takeover's
MAX_GAPS = 10_000


class Paint:
    """ANSI colours, only when asked for (stdout is a terminal: demo.sh decides)."""

    CODES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}
    STATE_COLOURS = {"primary": "green", "live": "green", "backup": "cyan", "arbitrating": "yellow",
                     "fenced": "red", "down": "red", "standalone": "dim"}

    def __init__(self, on):
        self.on = on

    def __call__(self, colour, text):
        if not self.on or colour not in self.CODES:
            return text
        return f"\033[{self.CODES[colour]}m{text}\033[0m"

    def state(self, s, width):
        return self(self.STATE_COLOURS.get(s, ""), f"{s:<{width}}")


class RedisConnection:
    """A minimal RESP client over one socket; any failure raises (no reconnect)."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.local = self.sock.getsockname()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf.extend(chunk)

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._fill()

    def _bulk(self, head):
        n = int(head[1:])
        if n < 0:
            return None
        while len(self.buf) < n + 2:
            self._fill()
        value = bytes(self.buf[:n])
        del self.buf[: n + 2]
        return value

    def reply(self):
        head = self._line()
        kind = head[:1]
        if kind == b"$":
            return self._bulk(head)
        if kind == b"*":
            return [self.reply() for _ in range(int(head[1:]))]
        if kind == b"-":
            raise RuntimeError(f"server error: {head[1:].decode(errors='replace')}")
        return head

    def call(self, *args):
        self.sock.sendall(resp(*args))
        return self.reply()


class ProxyStates(threading.Thread):
    """Polls each proxy's /status from inside its namespace; keeps the latest state."""

    def __init__(self, proxies):
        super().__init__(daemon=True)
        self.proxies = proxies  # [(name, netns)]
        self.states = {name: "?" for name, _ in proxies}
        self.stopping = threading.Event()

    @staticmethod
    def parse(returncode, out):
        if returncode != 0:
            return "down"
        try:
            return json.loads(out).get("state", "?")
        except ValueError:
            return "down"

    def poll(self):
        # Both proxies at once: a row must not show one proxy's state a poll late.
        procs = []
        for name, netns in self.proxies:
            try:
                procs.append((name, subprocess.Popen(
                    ["ip", "netns", "exec", netns, "curl", "-sf", "--max-time", "0.5", CONTROL_URL],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)))
            except OSError:
                self.states[name] = "down"
        for name, proc in procs:
            try:
                out, _ = proc.communicate(timeout=2)
                self.states[name] = self.parse(proc.returncode, out)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                self.states[name] = "down"

    def run(self):
        while not self.stopping.wait(0.1):
            self.poll()


def note_gap(summary, last, now):
    """Records the wait for one reply: the longest, and every one >= GAP_RECORD_S."""
    gap = now - last
    if gap > summary["max_gap_s"]:
        summary.update(max_gap_s=gap, max_gap_from=last, max_gap_to=now)
    if gap >= GAP_RECORD_S and len(summary["gaps"]) < MAX_GAPS:
        summary["gaps"].append([last, now])
    return now


def run(a):
    paint = Paint(a.color)
    proxies = [tuple(p.split("=", 1)) for p in a.proxy]
    poller = ProxyStates(proxies)
    poller.poll()  # the first row shows real states, not placeholders
    poller.start()
    summary = {"rate": a.rate, "acked": 0, "error": None, "local_port_start": None, "local_port_end": None,
               "server_addr": None, "server_age_s": None, "max_gap_s": 0.0, "max_gap_from": None, "max_gap_to": None, "gaps": [],
               "start": None, "last_reply": None, "rows": [], "verified": 0, "verify_missing": 0, "verify_wrong": 0,
               "verify_error": None, "verify_s": 0.0}
    try:
        conn = RedisConnection(a.host, a.port, a.stall_timeout)
    except OSError as e:
        summary["error"] = f"connect: {e}"
        json.dump(summary, open(a.out, "w"))
        print(f"  cannot connect to {a.host}:{a.port}: {e}", flush=True)
        return 1
    port = conn.local[1]
    summary["local_port_start"] = port
    state_w = 12
    head = f"  {'t':>4}  {'req/s':>6}  {'last acked i':>12}  {'client port':>11}"
    for name, _ in proxies:
        head += f"  {'proxy ' + name:<{state_w}}"
    print(paint("bold", head.rstrip()), flush=True)

    start = time.time()
    summary["start"] = start
    next_due = start
    last_reply = start
    i = acked = 0
    second = 1
    requests_this_second = 0
    next_row = start + 1.0
    error = None
    while True:
        now = time.time()
        if now >= next_row:
            row = f"  {second:>3}s  {requests_this_second:>6}  {acked:>12}  {port:>11}"
            for name, _ in proxies:
                row += "  " + paint.state(poller.states[name], state_w)
            print(row.rstrip(), flush=True)
            summary["rows"].append([next_row, requests_this_second])
            requests_this_second = 0
            second += 1
            next_row += 1.0
            if second > a.seconds:
                break
        i += 1
        key, value = f"k{i}", f"v{i}".encode()
        try:
            ok = conn.call("SET", key, value)
            last_reply = note_gap(summary, last_reply, time.time())
            got = conn.call("GET", key)
            last_reply = note_gap(summary, last_reply, time.time())
        except (OSError, ConnectionError, RuntimeError, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
            break
        if ok != b"+OK":
            error = f"SET {key} answered {ok!r}"
            break
        if got != value:
            error = f"GET {key} returned {got!r}, expected {value!r}"
            break
        acked = i
        requests_this_second += 2
        if a.rate > 0:
            # Two requests per i. No catching up after a stall: the rows show it.
            now = time.time()
            next_due = max(next_due + 2 / a.rate, now - 0.01)
            if next_due > now:
                time.sleep(next_due - now)
    poller.stopping.set()
    summary["acked"] = acked
    summary["error"] = error
    summary["last_reply"] = last_reply
    if error is None:
        # Read every acknowledged write back over the same connection: whatever serves it
        # now (the live side) must hold all of them, with their values.
        print(f"  reading back all {acked} acknowledged keys over the same connection ...", flush=True)
        t0 = time.time()
        try:
            n = min(acked, MAX_VERIFY_KEYS)
            for lo in range(1, n + 1, VERIFY_BATCH):
                hi = min(n, lo + VERIFY_BATCH - 1)
                values = conn.call("MGET", *[f"k{j}" for j in range(lo, hi + 1)])
                for j, v in zip(range(lo, hi + 1), values):
                    if v is None:
                        summary["verify_missing"] += 1
                    elif v != f"v{j}".encode():
                        summary["verify_wrong"] += 1
                    else:
                        summary["verified"] += 1
        except (OSError, ConnectionError, RuntimeError, ValueError) as e:
            summary["verify_error"] = f"{type(e).__name__}: {e}"
        summary["verify_s"] = time.time() - t0
        # The server that answers now names the connection it serves: the live side must
        # know this very connection (same client port) and have had it since the start.
        try:
            info = conn.call("CLIENT", "INFO").decode(errors="replace")
            fields = dict(kv.split("=", 1) for kv in info.split() if "=" in kv)
            summary["server_addr"] = fields.get("addr")
            summary["server_age_s"] = int(fields["age"]) if "age" in fields else None
        except (OSError, ConnectionError, RuntimeError, ValueError) as e:
            summary["verify_error"] = summary["verify_error"] or f"CLIENT INFO: {type(e).__name__}: {e}"
    try:
        summary["local_port_end"] = conn.sock.getsockname()[1]
    except OSError:
        pass
    conn.sock.close()
    with open(a.out, "w") as f:
        json.dump(summary, f)
    good = (error is None and summary["verify_error"] is None and summary["verified"] == acked)
    return 0 if good else 1


def load_status(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report(a):
    paint = Paint(a.color)
    c = json.load(open(a.client))
    p_name, p_file = a.primary.split("=", 1)
    b_name, b_file = a.backup.split("=", 1)
    p_status, b_status = load_status(p_file), load_status(b_file)
    # The status files were written just before the report: their mtime dates seconds_ago.
    b_read_at = None
    try:
        b_read_at = os.stat(b_file).st_mtime
    except OSError:
        pass
    kill_at = a.kill_at
    start = c.get("start") or kill_at
    checks = []

    def check(ok, text):
        checks.append(ok)
        mark = paint("green", "ok  ") if ok else paint("red", "FAIL")
        print(f"  {mark}  {text}")

    def rel(t):
        return f"{t - start:.2f} s"

    transitions = (b_status or {}).get("failover", {}).get("transitions", [])
    takeover = None
    for t in transitions:
        if t.get("to") == "live" and b_read_at is not None:
            takeover = b_read_at - float(t.get("seconds_ago", 0))
    # Rows cover the second that ends at their time stamp.
    before = [n for t, n in c["rows"] if t <= kill_at]
    after = [n for t, n in c["rows"] if t - 1.0 > kill_at]
    tcp = (b_status or {}).get("tcp", {})

    def fact(label, value):
        print(f"  {label:<30} {value}")

    print()
    print(paint("bold", "  summary"))
    fact(f"kill -9 of {p_name} at", rel(kill_at))
    if takeover is not None:
        fact(f"{b_name} live at", f"{rel(takeover)}  ({(takeover - kill_at) * 1000:.0f} ms after the kill)")
    else:
        fact(f"{b_name} live at", "never")
    # The takeover's stall: the longest wait that ended after the kill and began
    # before the backup was live (or within a second of the kill).
    until = (takeover if takeover is not None else kill_at) + 1.0
    around = [g for g in c.get("gaps", []) if g[1] > kill_at and g[0] < until]
    if around:
        g = max(around, key=lambda g: g[1] - g[0])
        fact("client stall at the takeover", f"{(g[1] - g[0]) * 1000:.0f} ms  ({rel(g[0])} .. {rel(g[1])})")
    else:
        fact("client stall at the takeover", f"none above {GAP_RECORD_S * 1000:.0f} ms")
    if c.get("max_gap_from") is not None and not (around and c["max_gap_from"] == g[0]):
        fact("longest wait for a reply",
             f"{c['max_gap_s'] * 1000:.0f} ms  ({rel(c['max_gap_from'])} .. {rel(c['max_gap_to'])})")
    if before and after:
        note = f"  (after: {b_name} serves alone, nothing logged)" if not c.get("rate") else \
            f"  (paced at {c['rate']:.0f})"
        fact("requests/s before / after", f"{sum(before) // len(before)} / {sum(after) // len(after)}{note}")
    fact("writes acknowledged", str(c["acked"]))
    if tcp:
        fact(f"{b_name} translated (seq/ts)",
             f"{tcp.get('translated_in', 0)} segments in, {tcp.get('translated_out', 0)} out")

    print()
    print(paint("bold", "  checks"))
    check(c["error"] is None, "the TCP connection stayed up (no reset, no timeout)" +
          ("" if c["error"] is None else f":\n        {c['error']}"))
    port = c["local_port_start"]
    server_port = None
    if c.get("server_addr") and ":" in c["server_addr"]:
        server_port = int(c["server_addr"].rsplit(":", 1)[1])
    same = port is not None and port == c["local_port_end"] == server_port
    check(same, f"one connection, never reopened: client port {port},\n"
          f"        {b_name}'s server sees {c.get('server_addr')}, open there {c.get('server_age_s')} s")
    served_after = c["last_reply"] is not None and c["last_reply"] > kill_at + 1.0 and any(after)
    check(served_after, "the client kept being served after the kill")
    ok_verify = c["verify_error"] is None and c["verified"] == c["acked"] and c["acked"] > 0
    detail = f"{c['verified']} of {c['acked']} acknowledged writes read back with their value"
    if c["verify_missing"] or c["verify_wrong"]:
        detail += f"\n        ({c['verify_missing']} missing, {c['verify_wrong']} wrong)"
    if c["verify_error"]:
        detail += f"\n        ({c['verify_error']})"
    check(ok_verify, detail)
    p_state = (p_status or {}).get("state", "down")
    b_state = (b_status or {}).get("state", "down")
    check(p_state == "down" and b_state == "live", f"final states: {p_name} {p_state}, {b_name} {b_state}")
    if b_status:
        div = tcp.get("divergence", 0)
        check(div == 0, f"{b_name}'s divergence counter: {div}")

    print()
    print(paint("bold", f"  {b_name}'s transitions") + " (/status failover.transitions)")
    if not transitions:
        print("    (none)")
    for t in transitions:
        when = rel(b_read_at - float(t.get("seconds_ago", 0))) if b_read_at else "?"
        line = f"  {when:>7}  {t.get('from', '?'):<11} -> {t.get('to', '?'):<11}  {t.get('reason', '')}"
        extra = [f"owner {t['owner']}"] if t.get("owner") else []
        if t.get("fencing_token"):
            extra.append(f"token {t['fencing_token']}")
        if t.get("detail"):
            extra.append(t["detail"])
        if extra:
            line += f" ({', '.join(extra)})"
        print(line)
    print()
    passed = all(checks)
    if passed:
        print(paint("green", "  demo passed: the connection and every acknowledged write survived"))
    else:
        print(paint("red", f"  demo FAILED: {checks.count(False)} check(s) failed"))
    return 0 if passed else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--host", required=True)
    r.add_argument("--port", type=int, default=6379)
    r.add_argument("--seconds", type=int, default=11)
    r.add_argument("--out", required=True)
    r.add_argument("--proxy", action="append", default=[], help="NAME=NETNS, in column order")
    r.add_argument("--rate", type=float, default=0, help="requests per second at most (0 = as fast as possible)")
    r.add_argument("--stall-timeout", type=float, default=8.0, help="give up if one reply takes longer (s)")
    r.add_argument("--color", action="store_true")
    p = sub.add_parser("report")
    p.add_argument("--client", required=True)
    p.add_argument("--kill-at", type=float, required=True)
    p.add_argument("--primary", required=True, help="NAME=STATUS_FILE")
    p.add_argument("--backup", required=True, help="NAME=STATUS_FILE")
    p.add_argument("--color", action="store_true")
    a = ap.parse_args()
    return run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole foreground group: demo.sh cleans up
        sys.exit(130)
