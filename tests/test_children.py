"""No child outlives the run: SIGKILL the parent only, and nothing of the server or the DPO launch remains.

Real processes killed for real: a shell with a background job and the project's vLLM stand-in
(tests/fake_vllm.py: a proxy with a `transformers serve` child). A run killed while a real vLLM generates is
tested in test_real_vllm.py, one killed inside a real `accelerate launch` (two ZeRO-3 ranks, and two
machines) in test_zero3.py and test_machines.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from json_handler import JSONHandler, UnixHTTPServer
from spin_fixtures import ROOT, tiny_config, write_config
from spin_train.run.children import Children, _group_members
from spin_train.run.run_dir import RunDir

SPIN = [sys.executable, "-m", "spin_train.cli"]


def gone_within(pgid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not _group_members(pgid):
            return True
        time.sleep(0.2)
    return False


PARENT = """
import sys, time
from pathlib import Path
from spin_train.run.children import Children
Children(Path(sys.argv[1])).start("job", ["sh", "-c", "sleep 300 & sleep 300"], Path(sys.argv[1]) / "job.log")
print("started", flush=True)
time.sleep(300)
"""


def test_a_killed_parent_takes_its_childs_whole_group_along(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "started"
    pgid = json.loads((tmp_path / "job.json").read_text())["pgid"]
    deadline = time.time() + 20
    while len(_group_members(pgid)) < 4 and time.time() < deadline:  # supervisor, sh and two sleeps
        time.sleep(0.1)
    assert len(_group_members(pgid)) == 4
    parent.kill()  # SIGKILL: no cleanup code of the parent runs
    parent.wait()
    assert gone_within(pgid, 10)


def _states(pgid: int) -> dict[int, str]:
    return {pid: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in _group_members(pgid)}


PAUSE = """from spin_train.run.children import _group_members
while len(_group_members(job.pid)) < 4:  # the supervisor, sh and its two sleeps (all forked: a busy machine is slow)
    time.sleep(0.05)
Children.pause(job)
"""


def test_a_paused_group_stops_all_but_its_supervisor_and_still_dies_with_the_run(tmp_path):
    """CPU runs pause their vLLM server through DPO (serving.release): its processes stop, the supervisor stays
    awake, and a run killed meanwhile still takes the stopped processes along (SIGTERM, then SIGCONT)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT.replace(
        'print("started"', PAUSE + 'print("started"').replace(
        'Children(Path(sys.argv[1])).start(', 'job = Children(Path(sys.argv[1])).start('), str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "started"
    info = json.loads((tmp_path / "job.json").read_text())
    def others() -> set:
        return {state for pid, state in _states(info["pgid"]).items() if pid != info["pid"]}

    deadline = time.time() + 10  # SIGSTOP takes effect when the kernel next schedules each process
    while others() != {"T"} and time.time() < deadline:
        time.sleep(0.1)
    states = _states(info["pgid"])
    assert states.pop(info["pid"]) != "T" and len(states) == 3 and set(states.values()) == {"T"}
    parent.kill()
    parent.wait()
    assert gone_within(info["pgid"], 10)  # not the 30 s grace: stopped processes get SIGCONT after SIGTERM


def test_a_paused_group_continues(tmp_path):
    children = Children(tmp_path, log=lambda m: None)
    proc = children.start("job", ["sh", "-c", "sleep 300 & sleep 300"], tmp_path / "job.log")
    try:
        deadline = time.time() + 10
        while len(_group_members(proc.pid)) < 4 and time.time() < deadline:
            time.sleep(0.1)
        assert Children.pause(proc) == 3 and set(_states(proc.pid).values()) - {"S", "R"} == {"T"}
        assert Children.pause(proc, resume=True) == 3 and "T" not in _states(proc.pid).values()
    finally:
        children.stop("job", proc, grace_s=5)


def test_the_next_run_stops_what_an_earlier_one_left(tmp_path):
    """Without a parent-death signal (another machine's kernel, a supervisor killed too): the pid file."""
    leftover = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300"], start_new_session=True)
    (tmp_path / ".children").mkdir()
    (tmp_path / ".children" / "vllm.json").write_text(json.dumps({"pid": leftover.pid, "pgid": leftover.pid,
                                                                  "cmd": ["sh"]}))
    found = Children(tmp_path / ".children", log=lambda m: None).reap(grace_s=5)
    leftover.wait()
    assert found == ["vllm"] and not _group_members(leftover.pid)
    assert not (tmp_path / ".children" / "vllm.json").exists()


def _fake_vllm(tmp_path: Path) -> Path:
    fake = tmp_path / "vllm"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'fake_vllm.py'} \"$@\"\n")
    fake.chmod(0o755)
    return fake


def _vllm_config(tmp_path, tiny_model, spin_dataset):
    return write_config(tmp_path / "run.yaml", tiny_config(
        tiny_model, spin_dataset,
        generation={"backend": "vllm", "vllm_executable": str(_fake_vllm(tmp_path)),
                    "vllm_startup_timeout_s": 120, "batch_size": 2, "retries": 1, "timeout_s": 60, "temperature": 0.0},
        curriculum={"examples_per_epoch": 6, "weights": [{"critical-thinking-ten-arguments": 1}]}))


class _Foreign(JSONHandler):
    def do_GET(self):
        self._reply({"status": "ok"} if self.path == "/health" else {"data": [{"id": "someone-elses-model"}]})


@pytest.mark.timeout(300)
def test_a_server_that_is_not_ours_is_refused(tmp_path, tiny_model, spin_dataset):
    """Something already answers on the run's socket (nothing of ours left it: leftovers are reaped first)."""
    from spin_train.serving.server import private_folder
    from spin_train.serving.run_server import socket_path

    path = socket_path(RunDir(tmp_path / "run"), 0)
    private_folder(path.parent)
    server = UnixHTTPServer(str(path), _Foreign)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = _vllm_config(tmp_path, tiny_model, spin_dataset)
        out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run")], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "FAKE_VLLM_MARKER": str(tmp_path / "m")})
    finally:
        server.shutdown()
    assert out.returncode == 1 and f"{path} already answers /health" in out.stderr
    assert not (tmp_path / "m").exists()  # no server of ours was started against it


def test_a_socket_left_by_a_killed_server_does_not_stop_the_next_start(tmp_path, tiny_model, spin_dataset,
                                                                       monkeypatch):
    """A server killed with the whole run (SIGKILL to every process) leaves its socket file; the next start
    removes it (vLLM cannot bind a path that exists) and serves; its stop removes the socket and its folder."""
    from spin_train.config import from_dict
    from spin_train.serving.server import VLLMServer, private_folder
    from spin_train.serving.run_server import socket_path
    import yaml

    path = socket_path(RunDir(tmp_path / "run"), 0)
    private_folder(path.parent)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # bound, never listening: what a killed server leaves
    cfg = from_dict(yaml.safe_load(_vllm_config(tmp_path, tiny_model, spin_dataset).read_text()))
    monkeypatch.setenv("FAKE_VLLM_MARKER", str(tmp_path / "m"))
    server = VLLMServer(str(tiny_model), cfg.generation, tmp_path / "vllm.log", 0, [],
                        Children(tmp_path / "pids", log=lambda m: None), socket=path)
    with server:
        assert server.healthy() and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert not path.exists() and not path.parent.exists()


class _Served(JSONHandler):
    """An external OpenAI-compatible server: it serves the model named in served.txt (what a reload wrote)."""

    def do_GET(self):
        self._reply({"data": [{"id": self.server.served.read_text()}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.models.append(body["model"])
        self._reply({"choices": [{"index": i, "message": {"role": "assistant", "content": f"line {i}"}}
                                 for i in range(body["n"])]})


@pytest.mark.timeout(900)
def test_an_external_server_is_reloaded_with_each_epochs_checkpoint(tmp_path, tiny_model, spin_dataset):
    served = tmp_path / "served.txt"
    served.write_text(str(tiny_model))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    server.served, server.models = served, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    reload = ["sh", "-c", f"printf %s \"$1\" > {served}", "_", "{checkpoint}"]
    try:
        good = write_config(tmp_path / "good.yaml", tiny_config(
            tiny_model, spin_dataset, spectrum={"top_percent": None},
            generation={"backend": "openai", "url": url, "reload_command": reload}))
        out = subprocess.run(SPIN + ["run", str(good), "--run-dir", str(tmp_path / "good")], capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        first = str(tmp_path / "good" / "epoch-01" / "checkpoint")
        assert set(server.models) == {str(tiny_model), first}  # epoch 2 asked for its own start checkpoint
        assert served.read_text() == first

        served.write_text(str(tiny_model))  # a reload command that loads nothing: refused, not a stale policy
        stale = write_config(tmp_path / "stale.yaml", tiny_config(
            tiny_model, spin_dataset, spectrum={"top_percent": None},
            generation={"backend": "openai", "url": url, "reload_command": ["true"]}))
        out = subprocess.run(SPIN + ["run", str(stale), "--run-dir", str(tmp_path / "stale")], capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 1 and f"does not serve {tmp_path / 'stale' / 'epoch-01' / 'checkpoint'}" in out.stderr
    finally:
        server.shutdown()


@pytest.mark.timeout(600)
def test_the_runs_server_is_always_stopped(tmp_path, tiny_model, spin_dataset, monkeypatch):
    """The server outlives each phase (serving/run_server.py), not the run: whether a later phase raises or the client
    fails right after the server started, nothing is left running."""
    from argdown_lbl.errors import ServerError
    from spin_train.serving import backends
    from spin_train.run import loop as R
    from spin_train.run.phases import mix
    from spin_train.config import from_dict
    import yaml

    cfg = from_dict(yaml.safe_load(_vllm_config(tmp_path, tiny_model, spin_dataset).read_text()))
    cfg.spectrum.top_percent = None
    monkeypatch.setenv("FAKE_VLLM_MARKER", str(tmp_path / "marker"))
    monkeypatch.setenv("FAKE_VLLM_NEVER_DIES", "1")
    groups = []

    def mix_fails(ctx, epoch):
        groups.append(json.loads((ctx.run.children_dir() / "vllm.json").read_text())["pgid"])
        assert len(_group_members(groups[-1])) >= 3  # generation is done, the server still up
        raise RuntimeError("the mix failed")

    monkeypatch.setattr(mix, "mix", mix_fails)
    with pytest.raises(RuntimeError, match="the mix failed"):
        R.Loop(cfg, tmp_path / "run1", log=lambda m: None).run_all()

    def failing_client(*args, **kwargs):  # the server is up; the client's first check fails
        groups.append(json.loads((RunDir(tmp_path / "run2").children_dir() / "vllm.json").read_text())["pgid"])
        raise ServerError("the client failed")

    monkeypatch.setattr(backends, "OpenAIBackend", failing_client)
    with pytest.raises(ServerError, match="the client failed"):
        R.Loop(cfg, tmp_path / "run2", log=lambda m: None).run_all()
    assert len(groups) == 2 and all(gone_within(g, 15) for g in groups)
    assert not list((tmp_path / "run1" / ".children").glob("*/*/*.json"))
    assert not list((tmp_path / "run2" / ".children").glob("*/*/*.json"))
