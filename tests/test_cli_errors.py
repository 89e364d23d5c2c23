"""Every command fails cleanly: one line naming what is wrong, a non-zero status, never a traceback.

Each case runs the real console entry point in a child process (the Hub offline, so a Hub id
that is not on disk fails at once): a missing path, a binary or non-UTF-8 file, an unreachable
server or Hub, a bad config. Exit 1 for errors, 2 for usage errors (click's convention).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from pathlib import Path

import pytest

from spin_fixtures import ROOT, tiny_config, write_config

LBL = [sys.executable, "-m", "argdown_lbl.cli"]
SPIN = [sys.executable, "-m", "spin_train.cli"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "binary.argdown").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")
    (d / "latin1.argdown").write_bytes("<A>: ok.\n\n[T]: caf\u00e9\n".encode("latin-1"))
    (d / "nul.md").write_bytes(b"# x\n\x00\x00\n")
    (d / "syntax.yaml").write_text("model: {path: x\n", encoding="utf-8")
    (d / "unknown-key.yaml").write_text("model: {path: x}\nmodle: 1\n", encoding="utf-8")
    (d / "port.yaml").write_text("model: {path: x}\ntrain_mixture: [{path: d, type: selfplay}]\ncurriculum: "
                                 "{examples_per_epoch: 1, weights: [{d: 1}]}\ngeneration: {vllm_port: 8000}\n",
                                 encoding="utf-8")
    (d / "not-a-dataset").mkdir()
    (d / "not-a-run").mkdir()
    (d / "upload").mkdir()
    (d / "upload" / "README.md").write_text("---\nconfigs: []\n---\n", encoding="utf-8")
    (d / "texts").mkdir()
    (d / "texts" / "one.md").write_text("---\ntitle: One\n---\nCars should be banned downtown.\n", encoding="utf-8")
    (d / "corpus" / "cfg").mkdir(parents=True)
    (d / "corpus" / "cfg" / "config.yaml").write_text("languages: [argdown]\nsplitz: 1\n", encoding="utf-8")
    # A fresh clone's view: the demo config, but no runs/ (the commands run here, as a newcomer would)
    (d / "clone" / "configs").mkdir(parents=True)
    (d / "clone" / "configs" / "tiny-cpu.yaml").write_text((ROOT / "configs" / "tiny-cpu.yaml").read_text())
    return d


def run(cmd: list[str], *args, cwd: Path = ROOT, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "ARGUNAUTS_DEBUG"}
    full.update({"HF_HUB_OFFLINE": "1", **env})
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=300, env=full,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def check(out: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert "Traceback" not in out.stderr + out.stdout, out.stderr[-3000:]
    assert out.returncode == status, (out.returncode, out.stderr[-2000:])
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr[-2000:])
    if status == 1:  # one line: the error, not a dump
        errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, out.stderr[-2000:]


CASES = {
    # argdown-lbl
    "parse binary": (LBL, ["parse", "{bad}/binary.argdown"], 1, ["binary.argdown:3:1: a NUL byte: a binary file"]),
    "parse latin-1": (LBL, ["parse", "{bad}/latin1.argdown"], 1, ["latin1.argdown:3:9: not UTF-8 text"]),
    "parse NUL in markdown": (LBL, ["parse", "{bad}/nul.md"], 1, ["nul.md:2:1: a NUL byte: a binary file"]),
    "parse missing": (LBL, ["parse", "{bad}/nope.argdown"], 2, ["nope.argdown' does not exist"]),
    "split bad corpus config": (LBL, ["split", "{bad}/corpus", "--out", "{bad}/out"], 1,
                                ["config.yaml: key 'splitz': unknown key"]),
    "split missing": (LBL, ["split", "{bad}/nope", "--out", "{bad}/out"], 2, ["does not exist"]),
    "push not a dataset": (LBL, ["push", "{bad}/not-a-dataset", "--repo-id", "o/n"], 1, ["no README.md"]),
    "push bad repo id": (LBL, ["push", "{bad}/upload", "--repo-id", "name"], 2, ["must look like ORG/NAME"]),
    "push offline": (LBL, ["push", "{bad}/upload", "--repo-id", "o/n"], 1, ["HF_HUB_OFFLINE is set"]),
    "pairs server unreachable": (LBL, ["pairs", "{bad}/texts", "--strong", "http://127.0.0.1:{port}/v1#m",
                                       "--weak", "http://127.0.0.1:{port}/v1#m", "--out", "{bad}/pairs"], 1,
                                 ["http://127.0.0.1:{port}/v1/models: cannot reach the server"]),
    "pairs bad endpoint": (LBL, ["pairs", "{bad}/texts", "--strong", "localhost:8000", "--weak",
                                 "http://127.0.0.1:{port}/v1", "--out", "{bad}/pairs"], 2, ["expected http(s)://"]),
    # spin-train
    "run before make demo": (SPIN, ["run", "configs/tiny-cpu.yaml", "--run-dir", "{bad}/run"], 1,
                             ["model.path: runs/tiny/base does not exist", "spin-train init-tiny"]),
    "run YAML syntax": (SPIN, ["run", "{bad}/syntax.yaml", "--run-dir", "{bad}/run"], 1,
                        ["syntax.yaml:2:1: not valid YAML"]),
    "run unknown key": (SPIN, ["run", "{bad}/unknown-key.yaml", "--run-dir", "{bad}/run"], 1,
                        ["modle: unknown key"]),
    "run removed key": (SPIN, ["run", "{bad}/port.yaml", "--run-dir", "{bad}/run"], 1,
                        ["generation.vllm_port: no longer a config key", "Unix socket", "delete the line"]),
    "run binary config": (SPIN, ["run", "{bad}/binary.argdown", "--run-dir", "{bad}/run"], 1,
                          ["binary.argdown:3:1: a NUL byte"]),
    "eval missing model": (SPIN, ["eval", "--model", "runs/nope/model", "--dataset", "{bad}/not-a-dataset"], 1,
                           ["--model: runs/nope/model does not exist"]),
    "eval Hub id offline": (SPIN, ["eval", "--model", "MISSING", "--dataset", "{bad}/upload"], 1,
                            ["cannot load MISSING (neither a local folder nor on the Hub"]),
    "eval missing dataset": (SPIN, ["eval", "--model", "MISSING", "--dataset", "runs/nope/data"], 1,
                             ["--dataset: runs/nope/data does not exist", "argdown-lbl split"]),
    "eval not a dataset": (SPIN, ["eval", "--model", "MISSING", "--dataset", "{bad}/not-a-dataset"], 1,
                           ["not-a-dataset: no README.md"]),
    "chat missing": (SPIN, ["chat", "MISSING"], 1, ["cannot load MISSING"]),
    "chat missing path": (SPIN, ["chat", "./runs/nope"], 1, ["CHECKPOINT: ./runs/nope does not exist"]),
    "spectrum scan missing": (SPIN, ["spectrum", "scan", "runs/nope/model"], 1, ["MODEL: runs/nope/model does not"]),
    "status not a run": (SPIN, ["status", "{bad}/not-a-run"], 1, ["no state.json"]),
    "report not a run": (SPIN, ["report", "{bad}/not-a-run"], 1, ["no state.json"]),
    "init-tiny not a dataset": (SPIN, ["init-tiny", "{bad}/tiny", "--data", "{bad}/not-a-dataset"], 1,
                                ["no README.md"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_command_fails_cleanly(name, bad):
    cmd, args, status, fragments = CASES[name]
    port = closed_port()
    fill = lambda s: s.replace("{bad}", str(bad)).replace("{port}", str(port))  # noqa: E731
    out = run(cmd, *[fill(a) for a in args], cwd=bad / "clone", HF_ENDPOINT=f"http://127.0.0.1:{port}",
              HF_TOKEN="hf_secret_value")
    check(out, status, *[fill(f) for f in fragments])
    assert "hf_secret_value" not in out.stderr + out.stdout


def test_push_with_unreachable_hub(bad):
    port = closed_port()
    out = run(LBL, "push", bad / "upload", "--repo-id", "o/n", HF_HUB_OFFLINE="",
              HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_TOKEN="hf_secret_value")
    check(out, 1, f"cannot reach the Hub at http://127.0.0.1:{port}")
    assert "hf_secret_value" not in out.stderr + out.stdout


def test_run_with_unreachable_server(bad, spin_dataset, tiny_model):
    """The openai backend checks its server before the first batch: one line naming the URL. (The policy's
    tokenizer is loaded first: prompts that cannot fit dpo.max_length are not sent.)"""
    port = closed_port()
    cfg = tiny_config(tiny_model, spin_dataset, spectrum={"top_percent": None},
                      generation={"backend": "openai", "url": f"http://127.0.0.1:{port}/v1",
                                  "reload_command": ["true"]})
    out = run(SPIN, "run", write_config(bad / "openai.yaml", cfg), "--run-dir", bad / "openai-run")
    check(out, 1, f"http://127.0.0.1:{port}/v1/models: cannot reach the server")


def test_debug_shows_the_traceback(bad):
    out = run(LBL, "--debug", "parse", bad / "binary.argdown")
    assert out.returncode == 1 and "Traceback" in out.stderr and "UserError" in out.stderr
    env = run(LBL, "parse", bad / "binary.argdown", ARGUNAUTS_DEBUG="1")
    assert "Traceback" in env.stderr


def test_unexpected_errors_are_one_line(bad, monkeypatch):
    """A bug (not a user error) still ends in one line that says how to get the traceback."""
    from click.testing import CliRunner

    from argdown_lbl import cli

    def boom(*_a, **_k):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "_parse_path", boom)
    result = CliRunner().invoke(cli.main, ["parse", str(bad / "latin1.argdown")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "error: unexpected KeyError: 'internal'" in result.output and "--debug" in result.output


# A base install (`pip install -e .`): the train extra's libraries cannot be imported in the child.
BASE_INSTALL = ("import sys\n"
                "for name in ('torch', 'transformers', 'trl', 'accelerate', 'peft', 'deepspeed', 'matplotlib'):\n"
                "    sys.modules[name] = None  # import name -> ModuleNotFoundError, as when it is not installed\n"
                "from spin_train.cli import main\n"
                "main(sys.argv[1:])\n")


def base_install(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BASE_INSTALL, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_with_the_base_install_a_dry_run_plans_and_heavy_commands_name_the_extra(spin_dataset, tiny_model, tmp_path):
    config = write_config(tmp_path / "run.yaml", tiny_config(tiny_model, spin_dataset))
    plan = base_install("run", str(config), "--run-dir", str(tmp_path / "run"), "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "epoch 1" in plan.stdout.lower()
    evaluation = base_install("eval", "--model", str(tiny_model), "--dataset", str(spin_dataset))
    assert evaluation.returncode == 1 and "Traceback" not in evaluation.stderr
    assert "the 'train' extra installs: pip install -e '.[train]'" in evaluation.stderr, evaluation.stderr
    missing = base_install("base", str(tmp_path / "missing.gguf"), str(tmp_path / "out"))  # checked before torch
    assert missing.returncode == 1 and "missing.gguf: does not exist" in missing.stderr, missing.stderr
