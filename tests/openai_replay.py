"""A local OpenAI-compatible server on 127.0.0.1 whose answers come from a Python function (recorded responses).

It records every request body, can fail the first N requests with 503 (to
exercise retries), and omits ``logprobs`` unless the answer provides them.
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Callable

from json_handler import JSONHandler


class _Handler(JSONHandler):
    def do_GET(self):
        if self.path.endswith("/models"):
            return self._reply({"data": [{"id": self.server.model_id}]})
        self._reply({"error": "not found"}, 404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with self.server.lock:
            self.server.requests.append(body)
            failing = self.server.fail_next > 0
            if failing:
                self.server.fail_next -= 1
        if failing:
            return self._reply({"error": "overloaded"}, 503)
        answers = self.server.answer(body)  # list of (text, top_logprobs or None[, finish_reason]), or a status
        if isinstance(answers, int):
            return self._reply({"error": {"message": "refused by the test server"}}, answers)
        choices = []
        for i, (text, top, *finish) in enumerate(answers[: self.server.max_choices]):
            choice = {"index": i, "message": {"role": "assistant", "content": text},
                      "finish_reason": finish[0] if finish else "stop"}
            if top is not None and body.get("logprobs"):
                choice["logprobs"] = {"content": [
                    {"token": max(t, key=t.get), "logprob": max(t.values()),
                     "top_logprobs": [{"token": k, "logprob": v} for k, v in t.items()]} for t in top]}
            choices.append(choice)
        self._reply({"id": "x", "object": "chat.completion", "model": self.server.model_id, "choices": choices})


class ReplayServer:
    def __init__(self, answer: Callable[[dict], list], model_id: str = "replay", max_choices: int = 100,
                 fail_next: int = 0):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.answer, self.server.model_id = answer, model_id
        self.server.max_choices, self.server.fail_next = max_choices, fail_next
        self.server.requests, self.server.lock = [], threading.Lock()

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.server.requests

    def __exit__(self, *exc):
        self.server.shutdown()
