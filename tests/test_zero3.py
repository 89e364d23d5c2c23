"""The DPO phase under DeepSpeed ZeRO-3 with Spectrum, through `spin-train run`, on CPU (one process, gloo).

`make test` installs DeepSpeed (DS_BUILD_OPS=0). With two CPU processes accelerate's state reports one
process and the run fails, so one process is what a CPU can test; the GPU figures are measured on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spin_fixtures import ROOT, tiny_config, write_config

SPIN = [sys.executable, "-m", "spin_train.cli"]


@pytest.mark.timeout(900)
def test_the_dpo_phase_runs_under_zero3_with_spectrum_and_saves_a_plain_checkpoint(tmp_path, tiny_model,
                                                                                   spin_dataset):
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (make test installs it with DS_BUILD_OPS=0)")
    config = write_config(tmp_path / "run.yaml", tiny_config(
        tiny_model, spin_dataset,
        dpo={"launcher": "accelerate", "accelerate_config": str(ROOT / "configs" / "accelerate-zero3.yaml")},
        curriculum={"examples_per_epoch": 8, "weights": [{"critical-thinking-ten-arguments": 1}]}))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}  # the launcher sets it on a CPU host
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(run_dir)], capture_output=True, text=True,
                         timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:] + (run_dir / "epoch-01" / "dpo-launch.log").read_text()[-3000:]
    epoch = json.loads((run_dir / "state.json").read_text())["epochs"]["1"]
    assert epoch["distributed"] == {"distributed_type": "DEEPSPEED", "zero_stage": 3, "num_processes": 1,
                                    "mixed_precision": "no", "zero3_init": True, "device": "cpu:0",
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
    from spin_train.train import train_epoch

    raw = tiny_config(tiny_model, spin_dataset, dpo={"learning_rate": 2e-7, "effective_batch_size": 2,
                                                     "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
                                                     "max_length": 128})
    raw["model"]["dtype"] = "bfloat16"
    cfg = from_dict(raw)
    row = {"prompt": [{"role": "user", "content": "Continue: [A]"}], "chosen": [{"role": "assistant", "content": "x"}],
           "rejected": [{"role": "assistant", "content": "y"}]}
    base = {n: t.to(torch.bfloat16).float() for n, t in load_file(str(tiny_model / "model.safetensors")).items()}
    seen = {}

    def measure(model):
        params = dict(model.named_parameters())
        changed = [(params[n].detach().float() != base[n]).float().mean().item() for n in base
                   if n in params and params[n].requires_grad]
        seen["changed"] = sum(changed) / len(changed)
        seen["dtype"] = next(p for p in model.parameters() if p.requires_grad).dtype

    metrics = train_epoch(cfg, str(tiny_model), Dataset.from_list([row] * 20), tmp_path / "out", None, measure)
    assert seen["dtype"] == torch.float32 and metrics["distributed"]["master_weights"] == "torch.float32"
    assert seen["changed"] > 0.9, seen  # with bf16 weights and plain AdamW: well under 1 %
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert all(t.dtype == torch.bfloat16 for t in saved.values())  # the checkpoint keeps the model's dtype
