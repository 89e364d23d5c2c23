"""Scaling out, tested on CPU: the dry-run plan of the 8B recipe, launch commands, accelerate launch, Spectrum scan."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from spin_fixtures import ROOT, tiny_config, write_config
from spin_train.config import from_dict, load
from spin_train.launch import launch_command, use_accelerate
from spin_train.machines import Machine
from spin_train.plan import memory_plan

SPIN = [sys.executable, "-m", "spin_train.cli"]


def test_dry_run_of_the_8b_recipe_prints_plan_commands_and_memory(tmp_path):
    out = subprocess.run(SPIN + ["run", str(ROOT / "configs" / "argunaut-1-8b-spin.yaml"), "--run-dir",
                                 str(tmp_path / "r"), "--dry-run"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert [f"epoch {e}:" in text for e in range(1, 13)] == [True] * 12 and "epoch 13:" not in text
    header = next(line for line in text.splitlines() if line.startswith("dataset"))
    assert header.split()[-12:] == [str(e) for e in range(1, 13)]
    assert text.count("vllm serve ") == 12 and f"vllm serve {tmp_path / 'r'}/epoch-11/checkpoint" in text
    assert text.count("-m accelerate.commands.launch --num_processes 2 --num_machines 1 --mixed_precision bf16 "
                      f"--use_deepspeed --deepspeed_config_file {ROOT / 'configs' / 'deepspeed-zero3.json'} "
                      "--zero3_init_flag true -m spin_train.launch") == 12
    assert "effective batch 64 = 4 x 8 x 2 x 1" in text and "lr 2e-07" in text and "Spectrum top 30 %" in text
    assert "memory plan per GPU (8.03 B parameters, 30% trainable, 2 process(es), ZeRO-3 sharding x2)" in text
    assert "reference weights             0.0 GiB" in text  # precomputed reference log-probs
    assert not (tmp_path / "r").exists()


def test_memory_plan_counts_a_reference_copy_without_precompute():
    cfg = load(ROOT / "configs" / "argunaut-1-8b-spin.yaml")
    cfg.dpo.precompute_ref_log_probs = False
    lines = memory_plan(cfg)
    assert any(line.split()[:2] == ["reference", "weights"] and float(line.split()[2]) > 7 for line in lines)


def test_multi_node_launch_command():
    raw = tiny_config("m", "d", dpo={"num_processes": 8, "num_machines": 2, "per_device_batch_size": 2,
                                     "gradient_accumulation_steps": 2, "effective_batch_size": 64,
                                     "deepspeed": str(ROOT / "configs" / "deepspeed-zero3.json")})
    cfg = from_dict(raw)
    cmd = launch_command(cfg, Path("/runs/x"), 3, "/runs/x/epoch-02/checkpoint", Machine(1, "10.0.0.1"))
    assert use_accelerate(cfg)
    joined = " ".join(cmd)
    assert "--num_processes 16 --num_machines 2 --mixed_precision no --use_deepspeed --deepspeed_config_file " \
           f"{ROOT / 'configs' / 'deepspeed-zero3.json'} --zero3_init_flag true --deepspeed_multinode_launcher " \
           "standard --same_network --machine_rank 1 --main_process_ip 10.0.0.1 --main_process_port 29500" in joined
    assert joined.endswith("-m spin_train.launch --run-dir /runs/x --epoch 3 --start /runs/x/epoch-02/checkpoint")


def test_accelerate_launched_dpo_phase_runs_on_cpu(tiny_model, spin_dataset, tmp_path):
    cfg = tiny_config(tiny_model, spin_dataset, dpo={"launcher": "accelerate"},
                      curriculum={"examples_per_epoch": 6, "weights": [{"critical-thinking-ten-arguments": 1}]})
    config = write_config(tmp_path / "run.yaml", cfg)
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "-m accelerate.commands.launch" in out.stderr and "-m spin_train.launch" in out.stderr
    metrics = json.loads((tmp_path / "run" / "epoch-01" / "checkpoint" / "train_metrics.json").read_text())
    assert metrics["steps"] >= 1 and metrics["trainable_parameters"] < metrics["total_parameters"]
    assert (tmp_path / "run" / "epoch-01" / "dpo-launch.log").exists()


def test_spectrum_scan_cli_writes_upstream_yaml_and_snrs(tiny_model, tmp_path):
    out_file = tmp_path / "unfrozen.yaml"
    out = subprocess.run(SPIN + ["spectrum", "scan", str(tiny_model), "--top-percent", "50", "--out", str(out_file)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    patterns = yaml.safe_load(out_file.read_text())["unfrozen_parameters"]
    snrs = json.loads(out_file.with_suffix(".snr.json").read_text())
    assert "self_attn.q_proj" in snrs and len(snrs["self_attn.q_proj"]) == 2  # two layers
    assert len(patterns) == len(snrs)  # one of two per type at 50 %
    assert not any("embed" in p for p in patterns)
    with_emb = subprocess.run(SPIN + ["spectrum", "scan", str(tiny_model), "--out", str(tmp_path / "e.yaml"),
                                      "--include-embeddings"], capture_output=True, text=True, timeout=300)
    assert with_emb.returncode == 0 and "embed_tokens" in (tmp_path / "e.snr.json").read_text()


def test_vllm_backend_restarts_a_server_that_dies_mid_phase(tiny_model, spin_dataset, tmp_path):
    """The vllm lifecycle against a stand-in executable (transformers serve behind a proxy that dies once)."""
    import os
    import socket

    fake = tmp_path / "vllm"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'fake_vllm.py'} \"$@\"\n")
    fake.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tiny_config(tiny_model, spin_dataset,
                      generation={"backend": "vllm", "vllm_executable": str(fake), "vllm_port": port,
                                  "vllm_startup_timeout_s": 120, "batch_size": 2, "retries": 1, "timeout_s": 60,
                                  "vllm_args": ["--max-model-len", "2048"]},
                      curriculum={"examples_per_epoch": 6, "weights": [{"critical-thinking-ten-arguments": 1}]})
    config = write_config(tmp_path / "run.yaml", cfg)
    env = {**os.environ, "FAKE_VLLM_MARKER": str(tmp_path / "marker"), "FAKE_VLLM_DIE_AFTER": "4"}
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run")], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "restarting it (1/2)" in out.stderr and (tmp_path / "marker").read_text() == "restarted\n"
    batches = [json.loads(line) for line in (tmp_path / "run" / "epoch-01" / "candidates.jsonl").open()]
    assert [b["batch"] for b in batches] == [0, 1, 2]
    assert all(len(c) == 3 for b in batches for c in b["candidates"].values())
    cmd = (tmp_path / "run" / "epoch-01" / "vllm.cmd").read_text()
    assert cmd.startswith(f"{fake} serve {tiny_model} --host 127.0.0.1 --port {port}") and "--max-model-len 2048" in cmd
    # The dry-run prints exactly the command the run started.
    dry = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run"), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    planned = next(line for line in dry.stdout.splitlines() if line.strip().startswith("generate:"))
    assert planned.strip().removeprefix("generate: ").split("  (k=")[0] == cmd.strip()


def test_the_dry_run_prints_the_commands_of_the_gpu_recipe_as_they_will_run(tmp_path):
    """On a CPU login node: the vLLM command with revision, chat template and remote code; no --cpu."""
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "argunaut-1-8b-spin.yaml").read_text())
    raw["model"].update(revision="v1.2", chat_template="{{ messages }}", trust_remote_code=True)
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run"), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    generate = [line for line in out.stdout.splitlines() if line.strip().startswith("generate:")]
    assert len(generate) == 12
    assert "--revision v1.2" in generate[0] and "--revision" not in generate[1]  # the base model's revision only
    assert f"--chat-template {tmp_path / 'run' / 'epoch-01' / 'chat_template.jinja'}" in generate[0]
    assert all("--trust-remote-code" in g and "--generation-config vllm" in g for g in generate)
    train = [line for line in out.stdout.splitlines() if line.strip().startswith("train:")]
    assert len(train) == 12 and not any("--cpu" in t for t in train)
    assert f"--start {tmp_path / 'run' / 'epoch-01' / 'checkpoint'}" in train[1]
