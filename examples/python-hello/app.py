"""A stdlib-only HTTP service for trying Forge: /health answers 200 "ok"."""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._reply(200, "ok")
        elif path == "/":
            self._reply(200, f"hello from python-hello {VERSION}\n")
        else:
            self._reply(404, "not found\n")

    def _reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main():
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    # Forge stops a replica with SIGTERM: exit cleanly instead of with a traceback.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"python-hello {VERSION} listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
