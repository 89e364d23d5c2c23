"""A request handler base for the local test servers: quiet, with a JSON reply helper."""

import json
import socketserver
from http.server import BaseHTTPRequestHandler


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """An HTTP server on a Unix socket (what vLLM's --uds serves on), one thread per request."""

    daemon_threads = True


class JSONHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
