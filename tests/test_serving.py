"""serving/run_server.py's rules (reload, restart and why, sleep through DPO on GPUs) against a local HTTP server that
answers what vLLM's endpoints answer, or refuses them. The real reload is tested in test_real_vllm.py."""

from __future__ import annotations

import json
import os
import stat
import threading
from http.server import ThreadingHTTPServer

import pytest

from json_handler import JSONHandler
from spin_train.serving import run_server as S
from spin_train.config import from_dict
from spin_train.run.run_dir import RunDir


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
        if path == "/v1/completions":  # prompt_logprobs as vLLM answers them: None first, then {id: {logprob}}
            ids = json.loads(body)["prompt"]
            return self._reply({"choices": [{"prompt_logprobs": [None] + [
                {str(t): {"logprob": self.server.logprob, "rank": 1}} for t in ids[1:]]}]})
        self._reply({"detail": "Not Found"} if path in self.server.refused else {"results": [None]},
                    404 if path in self.server.refused else 200)


class _Server:
    """VLLMServer without the process: its endpoints are the local server's."""

    name = "spin-policy"

    def __init__(self, checkpoint, cfg, log_path, seed, extra_args, children, env=None, *, socket):
        self.checkpoint, self.env, self.socket = checkpoint, env, socket
        _Server.started.append(self)
        self.stopped = False
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopped = True

    url = property(lambda self: f"{_Server.root}/v1")

    def request(self, method, path, timeout, **kwargs):
        import httpx

        return httpx.request(method, _Server.root + path, timeout=timeout, **kwargs)


@pytest.fixture
def endpoints(monkeypatch):
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoints)
    http.posts, http.refused, http.logprob = [], set(), -1.0
    threading.Thread(target=http.serve_forever, daemon=True).start()
    _Server.started, _Server.root = [], f"http://127.0.0.1:{http.server_port}"
    monkeypatch.setattr(S, "VLLMServer", _Server)
    yield http
    http.shutdown()


def _checkpoint(path, tied: bool):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "llama", "tie_word_embeddings": tied}))
    return str(path)


class _Pauses:
    """Children's pause without processes: what was paused and continued, in order."""

    def __init__(self):
        self.calls = []

    def pause(self, proc, resume=False):
        self.calls.append("continue" if resume else "pause")
        return 1


def _serving(tmp_path, children=None, **generation):
    cfg = from_dict({"model": {"path": "base"}, "train_mixture": [{"path": "d", "type": "selfplay"}],
                     "curriculum": {"examples_per_epoch": 1, "weights": [{"d": 1}]},
                     "generation": {"backend": "vllm", **generation}})
    return S.Serving(cfg, RunDir(tmp_path / "run"), children=children, log=lambda m: None)


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
    assert paths == ["/collective_rpc", "/collective_rpc", "/reset_prefix_cache"]
    rpc = [body for p, body in endpoints.posts if p == "/collective_rpc"]
    assert rpc == [{"method": "reload_weights", "kwargs": {"weights_path": b}}, {"method": "refresh_tied_lm_head"}]
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


def test_the_server_is_paused_on_cpu_and_sleeps_or_stops_on_gpus_through_dpo(tmp_path, endpoints, monkeypatch):
    (tmp_path / "run").mkdir()
    a, b = _checkpoint(tmp_path / "a", tied=False), _checkpoint(tmp_path / "b", tied=False)
    monkeypatch.setattr(S, "cuda_available", lambda: False)
    pauses = _Pauses()
    serving = _serving(tmp_path, children=pauses)
    first = serving.load(a, 1)
    serving.release()  # CPU: paused, not stopped; continued before the next load
    assert serving.paused and not serving.asleep and not first.stopped and pauses.calls == ["pause"]
    endpoints.posts.clear()
    assert serving.load(b, 2) is first and not serving.paused and pauses.calls == ["pause", "continue"]
    assert [p for p, _ in endpoints.posts][0] == "/collective_rpc"  # continued before the reload
    serving.release()
    serving.close()
    assert pauses.calls[-2:] == ["pause", "continue"] and first.stopped  # continued, then stopped

    serving = _serving(tmp_path)
    serving.load(a, 1)

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
    assert paths == ["/sleep?level=2", "/wake_up?tags=weights", "/collective_rpc", "/collective_rpc",
                     "/wake_up?tags=kv_cache", "/reset_prefix_cache"]

    endpoints.refused.add("/sleep")  # a vLLM that cannot sleep here: stopped, and the next load says why
    sleepy.load(a, 3)
    sleepy.release()
    assert sleepy.server is None and not sleepy.asleep
    sleepy.load(b, 4)
    last = _loads(tmp_path)[-1]
    assert last["how"] == "restart" and "could not sleep (/sleep: HTTP 404" in last["why"]


@pytest.mark.parametrize("gpu", [False, True])
def test_vllm_during_dpo_stop_or_keep_overrides_the_default_on_cpu_and_gpus(tmp_path, endpoints, monkeypatch, gpu):
    (tmp_path / "run").mkdir()
    a, b = _checkpoint(tmp_path / "a", tied=False), _checkpoint(tmp_path / "b", tied=False)
    monkeypatch.setattr(S, "cuda_available", lambda: gpu)
    pauses = _Pauses()
    stopping = _serving(tmp_path, children=pauses, vllm_during_dpo="stop", vllm_args=["--enable-sleep-mode"])
    first = stopping.load(a, 1)
    stopping.release()  # neither paused nor asleep: stopped, and the next load restarts it
    assert stopping.server is None and first.stopped and not stopping.paused and not stopping.asleep
    assert stopping.load(b, 2) is not first and pauses.calls == []
    assert _loads(tmp_path)[-1]["how"] == "restart" and "vllm_during_dpo: stop" in _loads(tmp_path)[-1]["why"]
    stopping.close()

    endpoints.posts.clear()
    keeping = _serving(tmp_path, children=pauses, vllm_during_dpo="keep", vllm_args=["--enable-sleep-mode"])
    server = keeping.load(a, 3)
    keeping.release()  # left as it is
    assert keeping.server is server and not server.stopped and not keeping.paused and not keeping.asleep
    assert pauses.calls == [] and not any(p.startswith("/sleep") for p, _ in endpoints.posts)
    keeping.close()


# -- where the server listens ----------------------------------------------------------------------------------------

def test_the_socket_lies_in_the_run_dir_or_for_a_deep_one_in_a_short_private_path(tmp_path):
    short = S.socket_path(RunDir(tmp_path / "run"), 1)
    assert short.is_relative_to((tmp_path / "run").resolve()) and short.name == "vllm.sock"
    assert short.parent.name.endswith("-machine-1") and short != S.socket_path(RunDir(tmp_path / "run"), 0)
    deep = RunDir(tmp_path / ("d" * 60) / ("e" * 60))
    path = S.socket_path(deep, 0)
    assert len(os.fsencode(path)) <= S.SOCKET_LIMIT and not path.is_relative_to(tmp_path)
    assert path == S.socket_path(deep, 0) and path != S.socket_path(RunDir(tmp_path / ("d" * 60) / ("f" * 60)), 0)
    assert str(os.getuid()) in path.parent.name  # one user's folder is never another's


def test_the_socket_folder_is_this_users_alone(tmp_path):
    from argdown_lbl.errors import ServerError
    from spin_train.serving.server import private_folder

    folder = tmp_path / "a" / "sock"
    private_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o755)
    private_folder(folder)  # an existing one of ours is made private again
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(ServerError, match="is a link or belongs to another user"):
        private_folder(link)
    if os.getuid() == 0:  # only root can hand a folder to someone else
        other = tmp_path / "other"
        other.mkdir()
        os.chown(other, 12345, -1)
        with pytest.raises(ServerError, match="uid 12345"):
            private_folder(other)


def test_an_endpoint_on_a_unix_socket(tmp_path):
    """`spin-train eval --server` and backend openai take unix:PATH, or the socket's path itself."""
    import socket

    from argdown_lbl.chat_client import Endpoint

    assert Endpoint.parse("unix:/run/x/vllm.sock#m") == Endpoint("unix:/run/x/vllm.sock", "m")
    assert Endpoint.parse("unix:/run/x/vllm.sock").http == "http://localhost/v1"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.sock"))
        assert Endpoint.parse(f"{tmp_path / 's.sock'}#m").url == f"unix:{tmp_path / 's.sock'}"
    with pytest.raises(ValueError, match="a bare path must be an existing socket"):
        Endpoint.parse(f"{tmp_path}#m")


def _trained(path, tied: bool):
    """A checkpoint as the DPO phase leaves it: with the trainer's log-probs of the probe tokens (all -1.0)."""
    from spin_train.serving import reload_check

    checkpoint = _checkpoint(path, tied)
    ids = [[1, 2, 3], [4, 5]]
    reload_check.write(path, {"token_ids": ids, "logprobs": [[-1.0] * (len(x) - 1) for x in ids], "dtype": "float32"})
    return checkpoint


def test_a_reload_is_kept_only_when_the_server_repeats_the_trainers_log_probs(tmp_path, endpoints):
    """A tied checkpoint with the trainer's log-probs reloads (the worker refreshes the tied head); the check
    passes within the float32 tolerance; a server that answers otherwise is restarted, and the log says why."""
    (tmp_path / "run").mkdir()
    serving = _serving(tmp_path)
    first = serving.load(_checkpoint(tmp_path / "a", tied=True), 1)
    endpoints.logprob = -1.0 + 5e-4
    assert serving.load(_trained(tmp_path / "b", tied=True), 2) is first  # reloaded, and it agrees
    record = _loads(tmp_path)[1]
    assert record["how"] == "reload" and record["check"] == {"agrees": True, "max_difference": 0.0005,
                                                             "tolerance": 0.001}
    endpoints.logprob = -2.0  # stale weights: the reload is not kept
    third = serving.load(_trained(tmp_path / "c", tied=True), 3)
    record = _loads(tmp_path)[2]
    assert third is not first and first.stopped and record["how"] == "restart"
    assert "log-probs differ from the trainer's by 1.0 (tolerance 0.001)" in record["why"]
    assert record["check"]["agrees"] is False  # the fresh server, as measured (here the stand-in answers alike)


@pytest.mark.parametrize("script, expected", [
    ("echo 'error: unrecognized arguments: --bogus' >&2; exit 2",
     r"vllm serve exited with status 2 while starting; the end of its log \(.*vllm\.log\):\n  \| error: "
     r"unrecognized arguments: --bogus"),
    ("echo 'loading the model...'; sleep 60",
     r"vllm serve did not answer /health within 3 s \(generation.vllm_startup_timeout_s\); the end of its log "
     r"\(.*vllm\.log\):\n  \| loading the model\.\.\."),
])
def test_a_server_that_fails_to_start_is_one_clear_error_with_its_status_and_log(tmp_path, script, expected):
    """A real child process as the executable: one that exits at once (a bad flag) and one that never answers."""
    from argdown_lbl.errors import ServerError
    from spin_train.run.children import Children
    from spin_train.config import GenerationConfig
    from spin_train.serving.server import VLLMServer

    fake = tmp_path / "vllm"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    g = GenerationConfig(backend="vllm", vllm_executable=str(fake), vllm_startup_timeout_s=3)
    children = Children(tmp_path / "pids", log=lambda m: None)
    with pytest.raises(ServerError, match=expected):
        with VLLMServer("model", g, tmp_path / "vllm.log", 0, [], children, socket=tmp_path / "private" / "s.sock"):
            pass
    from spin_fixtures import processes_of

    assert not processes_of(fake) and not list((tmp_path / "pids").rglob("*.json"))  # stopped, nothing left
