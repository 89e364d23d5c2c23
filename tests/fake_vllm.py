"""A stand-in for `vllm serve` on CPU: `transformers serve` behind a small proxy that can die on cue.

Run as ``fake_vllm.py serve CHECKPOINT --uds SOCKET [...]`` (extra vLLM options are ignored).
The proxy answers /health and forwards /v1/chat/completions to a `transformers serve` child. On its
first life (no file at $FAKE_VLLM_MARKER yet) it creates the marker and, when request number
$FAKE_VLLM_DIE_AFTER + 1 arrives, kills its child and exits without answering: a server dying
mid-phase. Later lives serve every request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

from json_handler import UnixHTTPServer

# (return_token_ids: vLLM returns the sampled ids; the stand-in answers without them, as a server that cannot)
VLLM_ONLY = {"top_k", "min_p", "repetition_penalty", "ignore_eos", "return_token_ids"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    args = sys.argv[1:]
    uds = args[args.index("--uds") + 1]
    checkpoint = args[args.index("serve") + 1]
    served = args[args.index("--served-model-name") + 1] if "--served-model-name" in args else checkpoint
    marker = Path(os.environ["FAKE_VLLM_MARKER"])
    first_life = not marker.exists()
    marker.write_text("started\n" if first_life else "restarted\n")
    die_after = int(os.environ.get("FAKE_VLLM_DIE_AFTER", "2")) if first_life else None
    if os.environ.get("FAKE_VLLM_NEVER_DIES"):
        die_after = None
    inner = free_port()
    exe = Path(sys.executable).with_name("transformers")
    child = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(inner), "--log-level", "warning"])
    base = f"http://127.0.0.1:{inner}"
    count = {"n": 0}
    lock = threading.Lock()

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code: int, body: bytes):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.endswith("/models"):  # as vLLM: --served-model-name, else the path it was started with
                return self._send(200, json.dumps({"object": "list", "data": [{"id": served}]}).encode())
            try:
                r = httpx.get(base + self.path, timeout=5)
                self._send(r.status_code, r.content)
            except httpx.HTTPError:
                self._send(503, b"{}")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                count["n"] += 1
                dying = die_after is not None and count["n"] > die_after
            if dying:
                child.kill()
                os._exit(1)
            # vLLM reads these sampling fields from the body; transformers serve rejects them (422).
            payload = {k: v for k, v in json.loads(body).items() if k not in VLLM_ONLY}
            if payload.get("model") == served:  # transformers serve loads the model the request names
                payload["model"] = checkpoint
            r = httpx.post(base + self.path, json=payload, timeout=120)
            self._send(r.status_code, r.content)

    server = UnixHTTPServer(uds, Proxy)
    signal.signal(signal.SIGTERM, lambda *a: (child.terminate(), os._exit(0)))
    try:
        server.serve_forever()
    finally:
        child.terminate()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
