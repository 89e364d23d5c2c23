"""spin-train end to end on the tiny model: a full run, resumes after SIGKILL, the openai backend, prompt ids."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spin_fixtures import tiny_config, write_config

SPIN = [sys.executable, "-m", "spin_train.cli"]


def spin(*args, env=None, **kw):
    return subprocess.run(SPIN + list(args), capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


def status(run_dir):
    out = spin("status", str(run_dir), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def config_path(tiny_model, spin_dataset, tmp_path_factory):
    # save_steps 1: a Trainer checkpoint after every step (of 2 pairs), for the kill inside the DPO phase.
    # max_length 400: some prompts leave no room for max_tokens, some pairs do not fit (pair lengths 66-600);
    # evaluation: the last row of each epoch's table, and the base model's a row of the run table; max_tokens 256:
    # the two sampled Bench items' shortest reference answer has 223 tokens here, so the Bench is measured
    return write_config(tmp_path_factory.mktemp("cfg") / "run.yaml",
                        tiny_config(tiny_model, spin_dataset, dpo={"max_length": 400, "save_steps": 1, "effective_batch_size": 2,
                                                                "gradient_accumulation_steps": 1},
                                    evaluation={"enabled": True, "dataset": str(spin_dataset), "k": 1,
                                                "max_prompts": 2, "max_tokens": 256, "next_line_prompts": 8}))


@pytest.fixture(scope="module")
def reference_run(config_path, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "straight"
    out = spin("run", str(config_path), "--run-dir", str(run_dir))
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir, out.stderr


def test_full_run_writes_epochs_pairs_and_checkpoints(reference_run):
    run_dir, log = reference_run
    info = status(run_dir)
    assert info["epochs_completed"] == 2
    for epoch in ("1", "2"):
        e = info["epochs"][epoch]
        assert e["phase"] == "evaluate" and len(e["pairs_sha256"]) == 64
        c = e["counts"]
        assert c["prompts"] == 8 and c["pairs"] == c["kept"] - sum(c["too_long"].values())
        # what the count says is what trained: TRL computed reference log-probs for every pair (one rank)
        assert e["distributed"]["reference_rows"] == [c["pairs"]]
        assert Path(e["checkpoint"], "model.safetensors").exists()
        # a prompt not generated (too long) is a question without candidates
        assert e["filtering"]["no_candidates"] == c["prompts_too_long"]
        assert sum(e["filtering"]["l_histogram"].values()) == 8 - c["prompts_too_long"]
        assert {"plan", "generate", "mix", "train", "evaluate", "epoch"} <= set(e["timings"])
        # every pair's ids checked before the launch; every rejected answer trained as the ids sampled, and TRL
        # never tokenised a text (its "not a prefix" warning is that path's)
        assert e["token_check"]["rows"] == c["pairs"] and c["rejected_ids_sampled"] == c["kept"]
        assert "not a prefix" not in (run_dir / f"epoch-{int(epoch):02d}" / "dpo-launch.log").read_text()
    assert set(info["epochs"]["2"]["counts"]["pairs_per_source"]) == {"critical-thinking-ten-arguments"}
    # both length rules had something to do in this run
    assert sum(info["epochs"][e]["counts"]["prompts_too_long"] for e in ("1", "2")) >= 1
    assert "prompts do not fit 400 tokens" in log
    assert (run_dir / "unfrozen_parameters.yaml").exists()
    assert "generating 3 candidates for" in log and "trained" in log
    state = json.loads((run_dir / "state.json").read_text())
    assert state["done"] == ["scan", "evaluate"] and set(state["timings"]) == {"scan", "evaluate"}
    assert all((run_dir / f"epoch-{e:02d}" / "eval.json").exists() for e in (0, 1, 2))


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files in ``folder``, by tag: [(step, value)], read by TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_holds_the_per_epoch_figures_and_trls_curves(reference_run):
    run_dir, _ = reference_run
    info = status(run_dir)
    figures = read_scalars(run_dir / "tensorboard" / "run")
    for tag in ("eval/next_line_exact", "eval/solved@1", "eval/pass@1"):
        assert [step for step, _ in figures[tag]] == [0, 1, 2]  # the base model at epoch 0
    for tag in ("generation/prompts", "generation/prompts_too_long", "filtering/kept", "mix/pairs",
                "mix/pairs_too_long", "dpo/train_loss", "generation/candidates_per_second"):
        assert [step for step, _ in figures[tag]] == [1, 2], tag
    for epoch in (1, 2):
        e = info["epochs"][str(epoch)]
        assert dict(figures["mix/pairs"])[epoch] == e["counts"]["pairs"]
        assert dict(figures["dpo/train_loss"])[epoch] == pytest.approx(e["train_loss"])
        result = json.loads((run_dir / f"epoch-{epoch:02d}" / "eval.json").read_text())
        assert dict(figures["eval/next_line_exact"])[epoch] == pytest.approx(result["next_line"]["exact_match"])
        curves = read_scalars(run_dir / "tensorboard" / f"epoch-{epoch:02d}")  # TRL's, per optimizer step
        assert len(curves["train/loss"]) == e["steps"] and "train/rewards/margins" in curves


def test_training_changes_only_the_unfrozen_weights(reference_run, tiny_model):
    import re

    import yaml
    from safetensors.torch import load_file

    run_dir, _ = reference_run
    before = load_file(str(Path(tiny_model) / "model.safetensors"))
    after = load_file(str(run_dir / "epoch-01" / "checkpoint" / "model.safetensors"))
    patterns = [re.compile(p) for p in yaml.safe_load((run_dir / "unfrozen_parameters.yaml").read_text())
                ["unfrozen_parameters"]]
    changed = {n for n in before if not (before[n] == after[n]).all()}
    assert changed and all(any(p.search(n) for p in patterns) for n in changed)


def test_dry_run_prints_the_plan_without_a_model(config_path, tmp_path):
    out = spin("run", str(config_path), "--run-dir", str(tmp_path / "dry"), "--dry-run")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[2:] for line in out.stdout.splitlines() if " selfplay " in line}
    assert rows == {"classic-philosophical-arguments": ["505", "1/4/4", "-"],  # weight/requested/drawn
                    "critical-thinking-ten-arguments": ["134", "1/4/4", "1/8/8"]}
    assert out.stdout.count("generate: local backend on") == 2 and "memory plan per GPU" in out.stdout
    assert not (tmp_path / "dry").exists()


def test_changed_config_is_refused(reference_run, tiny_model, spin_dataset, tmp_path):
    run_dir, _ = reference_run
    other = write_config(tmp_path / "other.yaml", tiny_config(tiny_model, spin_dataset, dpo={"beta": 0.3}))
    out = spin("run", str(other), "--run-dir", str(run_dir))
    assert out.returncode == 1 and "the config changed since this run started" in out.stderr


# generate: killed after epoch 1's first batch of candidates (local backend; test_real_vllm.py kills a run
# while a real vLLM server generates)
@pytest.mark.parametrize("point", ["generate", "mix", "train"])
def test_sigkill_and_rerun_ends_with_the_same_pairs(point, config_path, reference_run, tmp_path):
    straight, _ = reference_run
    run_dir = tmp_path / f"killed-{point}"
    # train: killed at the end of step 2, after step 1's checkpoint (dpo.save_steps 1) and before step 2's
    proc = subprocess.Popen(SPIN + ["run", str(config_path), "--run-dir", str(run_dir)],
                            env={**os.environ, "SPIN_TRAIN_STALL": point, "SPIN_TRAIN_STALL_STEP": "2"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = run_dir / f".stall-{point}"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the run never reached {point}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert status(run_dir)["epochs_completed"] == 0
    assert (run_dir / "epoch-00" / "eval.json").exists()  # the run table's row, before the first epoch
    steps = sorted(p.name for p in (run_dir / "epoch-01" / "dpo-steps").glob("checkpoint-*"))
    assert steps == (["checkpoint-1"] if point == "train" else [])
    candidates = run_dir / "epoch-01" / "candidates.jsonl"
    written = candidates.read_text().splitlines()
    batches = len((straight / "epoch-01" / "candidates.jsonl").read_text().splitlines())
    assert len(written) == (1 if point == "generate" else batches) and batches > 1
    out = spin("run", str(config_path), "--run-dir", str(run_dir))
    assert out.returncode == 0, out.stderr[-3000:]
    assert candidates.read_text().splitlines()[:len(written)] == written  # kept, not generated again
    if point == "generate":
        assert f"({batches - 1} of {batches} batches left)" in out.stderr
    a, b = status(straight), status(run_dir)
    assert [a["epochs"][e]["pairs_sha256"] for e in ("1", "2")] == [b["epochs"][e]["pairs_sha256"] for e in ("1", "2")]
    assert b["epochs"]["1"].get("resumed_from_step") == (1 if point == "train" else None)
    assert a["epochs"]["1"]["steps"] == b["epochs"]["1"]["steps"] >= 2
    assert not (run_dir / "epoch-01" / "dpo-steps").exists()  # removed with the finished epoch
    from safetensors.torch import load_file

    x = load_file(str(straight / "epoch-02" / "checkpoint" / "model.safetensors"))
    y = load_file(str(run_dir / "epoch-02" / "checkpoint" / "model.safetensors"))
    # deterministic CPU training: the same final weights, also across the resumed DPO phase
    assert all((x[n] == y[n]).all() for n in x)


def test_openai_backend_against_transformers_serve(tiny_model, tmp_path):
    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend
    from transformers_serve import TransformersServe

    with TransformersServe(tmp_path / "serve.log") as server:
        cfg = GenerationConfig(backend="openai", url=server.url, k=3, max_tokens=8, concurrency=2, timeout_s=60,
                               retries=1)
        backend = OpenAIBackend(cfg.url, str(Path(tiny_model).resolve()), cfg)
        prompts = [[{"role": "user", "content": "Continue the Argdown snippet: [A]"}],
                   [{"role": "user", "content": "Write a premise."}]]
        out = backend.generate(prompts, seed=1)
        backend.close()
    # transformers serve ignores n: the backend asked again until it had k answers per prompt.
    assert [len(c) for c in out] == [3, 3] and all(isinstance(s.text, str) for c in out for s in c)


def test_every_checkpoint_has_a_model_card_the_hub_reads_and_push_uploads_it(reference_run, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner
    from huggingface_hub import constants

    from hub_server import LocalHub
    from spin_train.cli import main

    run_dir, _ = reference_run
    for epoch in (1, 2):
        checkpoint = run_dir / f"epoch-{epoch:02d}" / "checkpoint"
        text = (checkpoint / "README.md").read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---\n")[1])
        assert {"dpo", "spin", "trl", "argdown"} <= set(meta["tags"]) and meta["library_name"] == "transformers"
        assert "datasets" not in meta and "base_model" not in meta  # local folders and a local base: no Hub ids
        assert f"SPIN iteration {epoch} of 2" in text and "pairs_sha256" in text and "content sha256" in text
        state = json.loads((run_dir / "state.json").read_text())["epochs"][str(epoch)]
        assert state["pairs_sha256"] in text and f"{state['counts']['pairs']} pairs" in text
        evaluated = json.loads((run_dir / f"epoch-{epoch:02d}" / "eval.json").read_text())["next_line"]
        hits = sum(evaluated["hits"])
        assert f"next-line exact match: {hits / evaluated['prompts']:.3f} ({hits}/{evaluated['prompts']}; 95 % " \
               "interval" in text
        assert ("against the previous iterate" if epoch > 1 else "against the start") in text
    checkpoint = run_dir / "epoch-02" / "checkpoint"
    dry = CliRunner().invoke(main, ["push", str(checkpoint), "--repo-id", "org/spin", "--revision", "epoch-2",
                                    "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "to org/spin@epoch-2 (public)" in dry.output and "-> README.md" in dry.output
    assert "-> model.safetensors" in dry.output
    missing = CliRunner().invoke(main, ["push", str(tmp_path / "nothing"), "--repo-id", "org/spin", "--dry-run"])
    assert missing.exit_code == 1 and "not a checkpoint folder" in missing.output
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login either
    with LocalHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        no_token = CliRunner().invoke(main, ["push", str(checkpoint), "--repo-id", "org/spin"])
        assert no_token.exit_code == 1 and "HTTP 401 (set HF_TOKEN or run `hf auth login`)" in no_token.output
        secret = "hf_test_SECRET_model_789"
        monkeypatch.setenv("HF_TOKEN", secret)
        pushed = CliRunner().invoke(main, ["push", str(checkpoint), "--repo-id", "org/spin", "--revision", "epoch-2"])
        paths = [p for _, p, _, _ in hub.requests]
    assert pushed.exit_code == 0, pushed.output
    assert "/api/models/org/spin/branch/epoch-2" in paths and "/api/models/org/spin/commit/epoch-2" in paths
    assert secret not in pushed.output + no_token.output
