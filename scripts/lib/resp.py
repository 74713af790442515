"""RESP (Redis serialization protocol) command encoder shared by the Redis clients of
the demo (scripts/lib/demo_client.py), the replay cases' capture workloads
(tests/replay/*/workload.py) and the e2e writer (tests/e2e/tools/kv_client.py).
Standard library only; run with /usr/bin/python3."""


def resp(*args):
    """One command as a RESP array of bulk strings. bytes arguments are sent as they
    are, any other argument as str(arg) encoded in UTF-8 (so ints such as scores and
    indexes may be passed directly)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)
