"""A local stand-in for the Hub's upload endpoints, on 127.0.0.1, recording every request.

It answers the calls huggingface_hub makes for create_repo and upload_folder
(repo creation, a branch, card YAML validation, preupload, commit; dataset and model repos) with the shapes the
Hub returns, so the real client code runs end to end without the internet.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import ThreadingHTTPServer

from json_handler import JSONHandler


class _Handler(JSONHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.requests.append(("POST", self.path, dict(self.headers), body))
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == "/api/repos/create":
            if not self.headers.get("authorization"):  # as the Hub answers a request without a token
                return self._reply({"error": "Invalid username or password."}, 401)
            name = json.loads(body)
            return self._reply({"url": f"{base}/datasets/{name['organization']}/{name['name']}"})
        if self.path.startswith("/api/validate-yaml"):
            return self._reply({"errors": [], "warnings": []})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                          for f in files]})
        if "/branch/" in self.path:
            return self._reply({})
        if "/commit/" in self.path:
            kind, repo = self.path.split("/api/")[1].split("/commit/")[0].split("/", 1)
            web = f"{base}/{'datasets/' if kind == 'datasets' else ''}{repo}"
            return self._reply({"commitUrl": f"{web}/commit/{'a' * 40}", "commitOid": "a" * 40})
        self._reply({"error": f"not served here: {self.path}"}, 404)

    def do_GET(self):
        self.server.requests.append(("GET", self.path, dict(self.headers), b""))
        self._reply({"error": f"not served here: {self.path}"}, 404)


class LocalHub:
    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        return self

    @property
    def requests(self):
        return self.server.requests

    def __exit__(self, *exc):
        self.server.shutdown()
