"""Scaling out, tested on CPU: the dry-run plan of the 8B recipe, launch commands, accelerate launch, Spectrum scan."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spin_fixtures import ROOT, tiny_config, write_config
from spin_train.config import from_dict, load
from spin_train.training.launch import launch_command, use_accelerate
from spin_train.run.machines import Machine
from spin_train.run.dry_run import memory_plan

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
    assert text.count("-m accelerate.commands.launch --num_processes 8 --num_machines 1 --mixed_precision bf16 "
                      f"--use_deepspeed --deepspeed_config_file {ROOT / 'configs' / 'deepspeed-zero3.json'} "
                      "--zero3_init_flag true -m spin_train.training.launch") == 12
    assert "effective batch 64 = 4 x 2 x 8 x 1" in text and "lr 2e-07" in text and "Spectrum top 30 %" in text
    # no idle GPU on a node of 8: vLLM's 8 data-parallel engines, then 8 DPO ranks
    assert "DPO: 8 rank(s) per machine, 8 in all" in text and "data parallel 8 x tensor parallel 1 = 8 GPU(s)" in text
    assert "GPUs idle" not in text
    assert ("memory plan per GPU (8.03 B parameters, 30% trainable, 8 process(es), ZeRO-3 sharding x8; bfloat16 "
            "weights, fp32 masters in DeepSpeed's optimizer)") in text
    assert "reference weights             0.0 GiB" in text  # precomputed reference log-probs
    assert not (tmp_path / "r").exists()


def _gib(lines: list[str], name: str) -> float:
    return float(next(line for line in lines if line.split()[:len(name.split())] == name.split()).split()[-2])


def test_memory_plan_without_deepspeed_counts_the_fp32_weights_the_policy_loads_in():
    """Without DeepSpeed a bf16 model is loaded in fp32 and autocast (training/dpo.py): 4 bytes a weight, fp32
    gradients, Adam's m and v; nothing is sharded."""
    cfg = load(ROOT / "configs" / "argunaut-1-8b-spin.yaml")
    cfg.dpo.deepspeed, cfg.dpo.num_processes = None, 1
    lines = memory_plan(cfg)
    assert "no ZeRO sharding; fp32 weights, autocast to bfloat16" in lines[0]
    gib = 1024 ** 3
    assert _gib(lines, "policy weights") == round(8.03e9 * 4 / gib, 1)
    assert _gib(lines, "gradients") == round(8.03e9 * 0.3 * 4 / gib, 1)
    assert _gib(lines, "optimizer states") == round(8.03e9 * 0.3 * 8 / gib, 1)
    ds = memory_plan(load(ROOT / "configs" / "argunaut-1-8b-spin.yaml"))  # ZeRO-3 over 8: bf16 weights, sharded
    assert _gib(ds, "policy weights") == round(8.03e9 * 2 / 8 / gib, 1)
    assert _gib(ds, "optimizer states") == round(8.03e9 * 0.3 * 12 / 8 / gib, 1)


def test_the_dry_run_says_when_a_phase_leaves_gpus_idle():
    from spin_train.run.dry_run import topology

    cfg = load(ROOT / "configs" / "argunaut-1-8b-spin.yaml")
    cfg.generation.vllm_args = ["--tensor-parallel-size", "2"]
    cfg.dpo.num_processes, cfg.dpo.gradient_accumulation_steps = 2, 8
    text = "\n".join(topology(cfg))
    assert "generation uses 2 GPU(s) and DPO 2" not in text  # 2 = 2: none idle between the phases
    cfg.generation.vllm_args = ["--data-parallel-size=4", "--tensor-parallel-size", "2"]
    assert "generation uses 8 GPU(s) and DPO 2: GPUs idle" in "\n".join(topology(cfg))
    cfg.dpo.num_machines = 2
    assert "the 2 servers share each epoch's batches" in "\n".join(topology(cfg))


def test_the_dry_run_never_asks_the_hub(tmp_path):
    """On a login node without Hub access the plan took minutes of retries: it reads only disk and cache."""
    import threading
    from http.server import ThreadingHTTPServer

    from json_handler import JSONHandler

    class Handler(JSONHandler):
        def do_GET(self):
            self.server.asked.append(self.path)
            self._reply({"error": "not here"}, 404)

        do_HEAD = do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.asked = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}", HF_HOME=str(tmp_path / "hf"))
    try:
        out = subprocess.run(SPIN + ["run", str(ROOT / "configs" / "argunaut-1-8b-spin.yaml"), "--run-dir",
                                     str(tmp_path / "r"), "--dry-run"], capture_output=True, text=True, timeout=300,
                             env=env)
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    assert server.asked == []
    assert "not on disk and not in the local Hugging Face cache" in out.stdout


def test_memory_plan_counts_a_reference_copy_without_precompute():
    cfg = load(ROOT / "configs" / "argunaut-1-8b-spin.yaml")
    cfg.dpo.precompute_ref_log_probs = False
    lines = memory_plan(cfg)
    assert _gib(lines, "reference weights") == _gib(lines, "policy weights") > 1  # a second (sharded) copy


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
    assert joined.endswith("-m spin_train.training.launch --run-dir /runs/x --epoch 3 "
                           "--start /runs/x/epoch-02/checkpoint")


def test_accelerate_launched_dpo_phase_runs_on_cpu(tiny_model, spin_dataset, tmp_path):
    cfg = tiny_config(tiny_model, spin_dataset, dpo={"launcher": "accelerate"},
                      curriculum={"examples_per_epoch": 6, "weights": [{"critical-thinking-ten-arguments": 1}]})
    config = write_config(tmp_path / "run.yaml", cfg)
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "run")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "-m accelerate.commands.launch" in out.stderr and "-m spin_train.training.launch" in out.stderr
    metrics = json.loads((tmp_path / "run" / "epoch-01" / "checkpoint" / "train_metrics.json").read_text())
    assert metrics["steps"] >= 1 and metrics["trainable_parameters"] < metrics["total_parameters"]
    # one clocked step per optimizer step (benchmarks/gpu_bench.py's throughput); no GPU, no GPU memory figure
    assert len(metrics["step_seconds"]) == metrics["steps"] and all(s > 0 for s in metrics["step_seconds"])
    assert metrics["peak_memory_gib"] == [None]
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

    from spin_train.run.run_dir import RunDir
    from spin_train.serving.run_server import socket_path

    fake = tmp_path / "vllm"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'fake_vllm.py'} \"$@\"\n")
    fake.chmod(0o755)
    cfg = tiny_config(tiny_model, spin_dataset,
                      generation={"backend": "vllm", "vllm_executable": str(fake),
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
    sock = socket_path(RunDir(tmp_path / "run"), 0)
    assert cmd.startswith(f"{fake} serve {tiny_model} --served-model-name spin-policy --uds {sock}")
    assert "--max-model-len 2048" in cmd and "--port" not in cmd and not sock.exists()  # removed with the server
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


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    """A key the code no longer has (generation.vllm_port once) stops a shipped config at its first run."""
    from spin_train.config import load

    assert load(path).curriculum.epochs >= 1
