#!/usr/bin/python3
"""Client workload of the http-static case (tests/replay/make-captures.sh): three
keep-alive connections with several requests each (GET, HEAD, a 404, a directory
listing, a ~25 KB file), then five one-shot connections with `Connection: close`."""
import http.client
import sys

host, port = sys.argv[1], int(sys.argv[2])
paths = ["/", "/data.json", "/docs/", "/docs/readme.txt", "/missing.html", "/docs/big.txt"]
for c in range(3):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for i, p in enumerate(paths[c:] + paths[:c]):
        method = "HEAD" if (i + c) % 4 == 3 else "GET"
        conn.request(method, p, headers={"User-Agent": "replay-workload"})
        r = conn.getresponse()
        r.read()
        if r.status not in (200, 404):
            sys.exit(f"{method} {p}: {r.status}")
    conn.close()
for p in paths[:5]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", p, headers={"Connection": "close", "User-Agent": "replay-workload"})
    conn.getresponse().read()
    conn.close()
print("http-static workload done")
