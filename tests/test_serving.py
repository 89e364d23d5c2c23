"""serving.py's rules (reload, restart and why, sleep through DPO on GPUs) against a local HTTP server that
answers what vLLM's endpoints answer, or refuses them. The real reload is tested in test_real_vllm.py."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from json_handler import JSONHandler
from spin_train import serving as S
from spin_train.config import from_dict
from spin_train.run_dir import RunDir


class _Endpoints(JSONHandler):
    def do_GET(self):
        self._reply({"status": "ok"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        self.server.posts.append((self.path, json.loads(body) if body else None))
        if path == "/v1/chat/completions":
            return self._reply({"choices": [{"message": {"content": "probe"}, "logprobs": {"content": [
                {"logprob": -0.5}]}}]})
        self._reply({"detail": "Not Found"} if path in self.server.refused else {"results": [None]},
                    404 if path in self.server.refused else 200)


class _Server:
    """VLLMServer without the process: its endpoints are the local server's."""

    name = "spin-policy"

    def __init__(self, checkpoint, cfg, log_path, seed, extra_args, children, env=None):
        self.checkpoint, self.env = checkpoint, env
        _Server.started.append(self)
        self.stopped = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopped = True

    root = property(lambda self: _Server.root)
    url = property(lambda self: f"{_Server.root}/v1")


@pytest.fixture
def endpoints(monkeypatch):
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoints)
    http.posts, http.refused = [], set()
    threading.Thread(target=http.serve_forever, daemon=True).start()
    _Server.started, _Server.root = [], f"http://127.0.0.1:{http.server_port}"
    monkeypatch.setattr(S, "VLLMServer", _Server)
    yield http
    http.shutdown()


def _checkpoint(path, tied: bool):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "llama", "tie_word_embeddings": tied}))
    return str(path)


def _serving(tmp_path, **generation):
    cfg = from_dict({"model": {"path": "base"}, "train_mixture": [{"path": "d", "type": "selfplay"}],
                     "curriculum": {"examples_per_epoch": 1, "weights": [{"d": 1}]},
                     "generation": {"backend": "vllm", **generation}})
    return S.Serving(cfg, RunDir(tmp_path / "run"), children=None, log=lambda m: None)


def _loads(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "run" / "serving-machine-0.jsonl").open()]


def test_an_untied_checkpoint_is_reloaded_into_the_running_server(tmp_path, endpoints):
    (tmp_path / "run").mkdir()
    a, b = _checkpoint(tmp_path / "a", tied=False), _checkpoint(tmp_path / "b", tied=False)
    serving = _serving(tmp_path)
    first = serving.load(a, 1)
    assert serving.load(a, 1) is first and len(endpoints.posts) == 4  # the same weights: nothing to do
    assert serving.load(b, 2) is first and first.checkpoint == b and not first.stopped
    paths = [p for p, _ in endpoints.posts if not p.startswith("/v1/")]
    assert paths == ["/collective_rpc", "/reset_prefix_cache"]
    rpc = next(body for p, body in endpoints.posts if p == "/collective_rpc")
    assert rpc == {"method": "reload_weights", "kwargs": {"weights_path": b}}
    assert first.env == {"VLLM_SERVER_DEV_MODE": "1"}
    assert [(x["how"], x["weights"]) for x in _loads(tmp_path)] == [("start", a), ("reload", b)]
    assert _loads(tmp_path)[1]["probe"][0] == {"text": "probe", "logprobs": [-0.5]}
    assert len(_loads(tmp_path)[1]["probe"]) == len(S.PROBES) + 1  # and the seeded one
    assert serving.last == {k: v for k, v in _loads(tmp_path)[1].items() if k != "probe"}


@pytest.mark.parametrize("case,why", [
    ("tied", "ties its input and output embeddings"),
    ("refused", r"the reload failed \(/collective_rpc: HTTP 404"),
    ("off", "generation.vllm_reload is off")])
def test_a_checkpoint_that_cannot_be_reloaded_restarts_the_server_and_says_why(tmp_path, endpoints, case, why):
    (tmp_path / "run").mkdir()
    a, b = _checkpoint(tmp_path / "a", tied=False), _checkpoint(tmp_path / "b", tied=case == "tied")
    if case == "refused":  # an older vLLM, or no dev endpoints
        endpoints.refused.add("/collective_rpc")
    serving = _serving(tmp_path, vllm_reload=case != "off")
    first = serving.load(a, 1)
    second = serving.load(b, 2)
    assert second is not first and first.stopped and second.checkpoint == b
    record = _loads(tmp_path)[1]
    assert record["how"] == "restart" and __import__("re").search(why, record["why"])
    tried = [p for p, _ in endpoints.posts if p == "/collective_rpc"]
    assert len(tried) == (1 if case == "refused" else 0)


def test_on_gpus_the_server_sleeps_through_dpo_or_stops_without_sleep_mode(tmp_path, endpoints, monkeypatch):
    (tmp_path / "run").mkdir()
    a, b = _checkpoint(tmp_path / "a", tied=False), _checkpoint(tmp_path / "b", tied=False)
    monkeypatch.setattr(S, "cuda_available", lambda: False)
    serving = _serving(tmp_path)
    serving.load(a, 1)
    serving.release()  # CPU: the server stays up
    assert not serving.asleep and not serving.server.stopped

    monkeypatch.setattr(S, "cuda_available", lambda: True)
    serving.release()
    assert serving.server is None and _Server.started[0].stopped
    serving.load(b, 2)
    assert _loads(tmp_path)[-1]["how"] == "restart" and "no --enable-sleep-mode" in _loads(tmp_path)[-1]["why"]

    endpoints.posts.clear()
    sleepy = _serving(tmp_path, vllm_args=["--enable-sleep-mode"])
    server = sleepy.load(a, 1)
    sleepy.release()
    assert sleepy.asleep and not server.stopped
    assert sleepy.load(b, 2) is server and not sleepy.asleep
    paths = [p for p, _ in endpoints.posts if not p.startswith("/v1/")]
    assert paths == ["/sleep?level=2", "/wake_up?tags=weights", "/collective_rpc", "/wake_up?tags=kv_cache",
                     "/reset_prefix_cache"]

    endpoints.refused.add("/sleep")  # a vLLM that cannot sleep here: stopped, and the next load says why
    sleepy.load(a, 3)
    sleepy.release()
    assert sleepy.server is None and not sleepy.asleep
    sleepy.load(b, 4)
    last = _loads(tmp_path)[-1]
    assert last["how"] == "restart" and "could not sleep (/sleep: HTTP 404" in last["why"]
