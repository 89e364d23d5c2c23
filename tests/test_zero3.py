"""The DPO phase under DeepSpeed ZeRO-3 with Spectrum, through `spin-train run`, on CPU: two ranks (gloo).

`make test` installs DeepSpeed (DS_BUILD_OPS=0); the GPU figures are measured on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spin_fixtures import ROOT, processes_of, tiny_config, wait_until, write_config

SPIN = [sys.executable, "-m", "spin_train.cli"]


def zero3_config(path: Path, persistence_threshold: int = 0) -> Path:
    """The project's one ZeRO-3 config; a threshold of 0 partitions every tensor (by default those under 1e5
    elements, all of the tiny model's, stay whole on every rank)."""
    raw = json.loads((ROOT / "configs" / "deepspeed-zero3.json").read_text())
    raw["zero_optimization"]["stage3_param_persistence_threshold"] = persistence_threshold
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.timeout(900)
def test_two_ranks_shard_the_model_under_zero3_and_a_killed_run_leaves_nothing(tmp_path, tiny_model, spin_dataset):
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (make test installs it with DS_BUILD_OPS=0)")
    config = write_config(tmp_path / "run.yaml", tiny_config(
        tiny_model, spin_dataset,
        dpo={"num_processes": 2, "per_device_batch_size": 1, "gradient_accumulation_steps": 1,
             "effective_batch_size": 2, "deepspeed": str(zero3_config(tmp_path / "zero3.json")), "save_steps": 1},
        curriculum={"examples_per_epoch": 8, "weights": [{"critical-thinking-ten-arguments": 1}]}))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}  # the launcher sets it on a CPU host
    cmd = SPIN + ["run", str(config), "--run-dir", str(run_dir)]
    # SIGKILL of the run while rank 0 is inside DPO step 2 (rank 1 waits in the next collective), after the
    # ZeRO-3 checkpoint of step 1 (dpo.save_steps 1: each rank's optimizer shard)
    with open(tmp_path / "killed.log", "w") as log:
        killed = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  env={**env, "SPIN_TRAIN_STALL": "train", "SPIN_TRAIN_STALL_STEP": "2"})
    try:
        wait_until(lambda: (run_dir / ".stall-train").exists() or killed.poll() is not None, 600,
                   "the DPO phase never reached its second step")
        assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        ranks = sorted((run_dir / ".children").rglob("dpo-rank-*.json"))
        assert [p.name for p in ranks] == ["dpo-rank-0.json", "dpo-rank-1.json"]
        killed.kill()
        killed.wait()
        wait_until(lambda: not processes_of(run_dir), 40, f"left running: {processes_of(run_dir)}")
    finally:
        killed.kill()

    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:] + (run_dir / "epoch-01" / "dpo-launch.log").read_text()[-3000:]
    assert not processes_of(run_dir) and not list((run_dir / ".children").rglob("*.json"))
    epoch = json.loads((run_dir / "state.json").read_text())["epochs"]["1"]
    assert epoch["resumed_from_step"] == 1 and epoch["steps"] >= 2  # the rerun went on from step 1's checkpoint
    distributed = epoch["distributed"]
    shares, total = distributed.pop("parameter_shares"), json.loads(
        (run_dir / "epoch-01" / "checkpoint" / "train_metrics.json").read_text())["total_parameters"]
    assert len(shares) == 2 and all(0 < share < total for share in shares) and total <= sum(shares) < total + 64
    # The killed attempt computed the reference log-probs (sharded over both ranks) into the run dir's cache;
    # the rerun reads them back instead of computing them again.
    assert distributed.pop("reference_rows") == [0, 0]
    # the reference log-probs' cache alone: the pairs come with their ids, TRL tokenises nothing
    assert len(list((run_dir / "epoch-01" / "dpo-cache").rglob("cache-*.arrow"))) == 1
    assert distributed == {"distributed_type": "DEEPSPEED", "zero_stage": 3, "num_processes": 2, "world_size": 2,
                           "mixed_precision": "no", "zero3_init": True, "device": "cpu",
                           "master_weights": "DeepSpeed optimizer"}

    # The checkpoint loads without DeepSpeed; only the Spectrum-selected matrices changed.
    check = f"""
import json, re, sys, yaml
from safetensors.torch import load_file
assert "deepspeed" not in sys.modules
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({str(run_dir / 'epoch-01' / 'checkpoint')!r})
after = {{n: p.detach() for n, p in model.named_parameters()}}
before = load_file({str(tiny_model / 'model.safetensors')!r})
listed = yaml.safe_load(open({str(run_dir / 'unfrozen_parameters.yaml')!r}))["unfrozen_parameters"]
patterns = [re.compile(p) for p in listed]
changed = {{n for n in before if n in after and not (before[n] == after[n]).all()}}
assert changed and all(any(p.search(n) for p in patterns) for n in changed), changed
assert all(after[n].shape == before[n].shape for n in before if n in after)
# the log-probs the two ranks computed on the weights they saved (serving/reload_check.py) are the checkpoint's own
from transformers import AutoTokenizer
from spin_train.serving import reload_check
ckpt = {str(run_dir / 'epoch-01' / 'checkpoint')!r}
saved = reload_check.read(ckpt)
again = reload_check.trainer_logprobs(model, AutoTokenizer.from_pretrained(ckpt))
assert saved["token_ids"] == again["token_ids"], "other tokens"
assert reload_check.compare(saved, again["logprobs"]) < 1e-4, reload_check.compare(saved, again["logprobs"])
print(len(changed))
"""
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert int(loaded.stdout.strip()) > 0


def test_a_bf16_model_trains_on_fp32_master_weights(tmp_path, tiny_model, spin_dataset):
    """At the recipe's lr 2e-7, Adam's updates of bf16 weights round to nothing; fp32 masters keep them."""
    import torch
    from datasets import Dataset
    from safetensors.torch import load_file

    from spin_train.config import from_dict
    from spin_train.training.dpo import train_epoch

    raw = tiny_config(tiny_model, spin_dataset, dpo={"learning_rate": 2e-7, "effective_batch_size": 2,
                                                     "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
                                                     "max_length": 128})
    raw["model"]["dtype"] = "bfloat16"
    cfg = from_dict(raw)
    row = {"prompt": [{"role": "user", "content": "Continue: [A]"}], "chosen": [{"role": "assistant", "content": "x"}],
           "rejected": [{"role": "assistant", "content": "y"}]}
    base = {n: t.to(torch.bfloat16).float() for n, t in load_file(str(tiny_model / "model.safetensors")).items()}
    seen = {}

    def measure(_step, model):
        params = dict(model.named_parameters())
        changed = [(params[n].detach().float() != base[n]).float().mean().item() for n in base
                   if n in params and params[n].requires_grad]
        seen["changed"] = sum(changed) / len(changed)
        seen["dtype"] = next(p for p in model.parameters() if p.requires_grad).dtype

    from spin_train.training.models import load_tokenizer
    from spin_train.data.tokens import tokenize_pair

    row = tokenize_pair(load_tokenizer(str(tiny_model), cfg.model), row)
    metrics = train_epoch(cfg, str(tiny_model), Dataset.from_list([row] * 20), tmp_path / "out",
                          tmp_path / "steps", None, measure)
    assert seen["dtype"] == torch.float32 and metrics["distributed"]["master_weights"] == "torch.float32"
    assert seen["changed"] > 0.9, seen  # with bf16 weights and plain AdamW: well under 1 %
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert all(t.dtype == torch.bfloat16 for t in saved.values())  # the checkpoint keeps the model's dtype
