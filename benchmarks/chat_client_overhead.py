"""Per-request overhead of our ChatClient against the ``openai`` client, on one local stand-in server.

Both send the same chat completion requests (no cache) to an OpenAI-compatible server on 127.0.0.1
that answers at once, so the time is the clients' own: building, sending, parsing. Rounds alternate
between the clients; the median per request is reported with the ratio ours / openai.

    python benchmarks/chat_client_overhead.py [--requests 400] [--rounds 5]
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import options

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from json_handler import JSONHandler  # noqa: E402

REPLY = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
         "choices": [{"index": i, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}
                     for i in range(5)],
         "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


class Handler(JSONHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall per request

    def do_GET(self):
        self._reply({"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(REPLY)


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import openai

    from argdown_lbl.chat_client import ChatClient, Endpoint

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    messages = [{"role": "user", "content": "Map the argument of this text."}]
    ours = ChatClient(Endpoint(url, "m"), cache_dir=None, retries=0)
    theirs = openai.OpenAI(base_url=url, api_key="none", max_retries=0)

    def run_ours(i):
        return len(ours.complete(messages, n=5, max_tokens=16, seed=i))

    def run_theirs(i):
        return len(theirs.chat.completions.create(model="m", messages=messages, n=5, max_tokens=16, seed=i).choices)

    times = {"ours": [], "openai": []}
    for _ in range(args.rounds):
        for name, fn in (("ours", run_ours), ("openai", run_theirs)):
            start = time.perf_counter()
            assert all(fn(i) == 5 for i in range(args.requests))
            times[name].append((time.perf_counter() - start) / args.requests)
    server.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"requests_per_round": args.requests, "rounds": args.rounds,
                      "median_ms_per_request": {k: round(v * 1000, 3) for k, v in med.items()},
                      "ratio_ours_over_openai": round(med["ours"] / med["openai"], 3),
                      "openai_version": openai.__version__}, indent=2))


if __name__ == "__main__":
    main()
