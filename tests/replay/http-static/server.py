#!/usr/bin/python3
"""The HTTP server of the http-static replay case: http.server serving a fixed
directory, with the time-dependent headers pinned so that replies depend only on the
requests (http.server writes the current time into Date and the file's mtime into
Last-Modified)."""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "replay-http/1"
    sys_version = ""

    def date_time_string(self, timestamp=None):
        return "Thu, 01 Jan 2026 00:00:00 GMT"


host, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = http.server.ThreadingHTTPServer((host, port), functools.partial(Handler, directory=root))
srv.daemon_threads = True
srv.serve_forever()
