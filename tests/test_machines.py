"""Several machines, one run, on one host: two `spin-train run` processes with ranks 0 and 1 on one run dir,
each with its own Hugging Face caches as two hosts would have, and the real DPO launch (accelerate, torchrun
on each machine, one ZeRO-3 rank each, gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
import os
from pathlib import Path

import pytest

from spin_fixtures import ROOT, tiny_config, write_config

SPIN = [sys.executable, "-m", "spin_train.cli"]

def _two_machine_config(tmp_path, tiny_model, spin_dataset) -> Path:
    return write_config(tmp_path / "run.yaml", tiny_config(
        tiny_model, spin_dataset, spectrum={"top_percent": None},
        dpo={"num_machines": 2, "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
             "effective_batch_size": 4, "deepspeed": str(ROOT / "configs" / "deepspeed-zero3.json")},
        curriculum={"examples_per_epoch": 6}))


def test_rank_and_address_are_launch_arguments_not_config(tmp_path, tiny_model, spin_dataset):
    config = _two_machine_config(tmp_path, tiny_model, spin_dataset)
    raw = config.read_text() + "\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(raw.replace("  num_machines: 2", "  num_machines: 2\n  machine_rank: 1"))
    out = subprocess.run(SPIN + ["run", str(bad), "--run-dir", str(tmp_path / "r"), "--dry-run"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "dpo.machine_rank: not a config key" in out.stderr and "--machine-rank" in out.stderr
    for args, message in ((["--machine-rank", "1"], "--main-process-ip: required with dpo.num_machines 2"),
                          (["--machine-rank", "2", "--main-process-ip", "10.0.0.1"], "--machine-rank: expected 0..1")):
        out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "r"), *args],
                             capture_output=True, text=True)
        assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "r"), "--dry-run", "--machine-rank",
                                 "1", "--main-process-ip", "10.0.0.1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "--machine_rank 1 --main_process_ip 10.0.0.1 --main_process_port 29500" in out.stdout


def test_a_machine_that_does_not_see_machine_0s_run_dir_says_it_must_be_shared(tmp_path, tiny_model, spin_dataset):
    config = _two_machine_config(tmp_path, tiny_model, spin_dataset)
    out = subprocess.run(SPIN + ["run", str(config), "--run-dir", str(tmp_path / "not-shared"), "--machine-rank", "1",
                                 "--main-process-ip", "127.0.0.1", "--join-timeout", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "found no state.json from machine 0 after 3 s" in out.stderr and "filesystem that every machine" \
        in out.stderr
    assert not (tmp_path / "not-shared" / "state.json").exists()  # a follower never starts a run of its own


def _machine_env(tmp_path, rank: int) -> dict:
    home = tmp_path / f"host-{rank}"
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}
    return {**env, "HF_HOME": str(home / "hf"), "HF_DATASETS_CACHE": str(home / "datasets")}


@pytest.mark.timeout(900)
def test_two_machines_run_one_curriculum_machine_0_generates(tmp_path, tiny_model, spin_dataset):
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (make test installs it with DS_BUILD_OPS=0)")
    config = _two_machine_config(tmp_path, tiny_model, spin_dataset)
    run_dir = tmp_path / "shared"
    common = ["run", str(config), "--run-dir", str(run_dir), "--main-process-ip", "127.0.0.1"]
    # machine 1 first: it waits for machine 0's state.json instead of starting a run of its own
    follower = subprocess.Popen(SPIN + common + ["--machine-rank", "1"], stderr=subprocess.PIPE, text=True,
                                env=_machine_env(tmp_path, 1))
    main = subprocess.run(SPIN + common + ["--machine-rank", "0"], capture_output=True, text=True,
                          env=_machine_env(tmp_path, 0), timeout=800)
    follower_err = follower.communicate(timeout=120)[1]
    logs = "".join(p.read_text()[-2000:] for p in run_dir.glob("epoch-*/dpo-launch.log"))
    assert main.returncode == 0, main.stderr[-3000:] + logs
    assert follower.returncode == 0, follower_err[-3000:] + logs

    state = json.loads((run_dir / "state.json").read_text())
    assert [state["epochs"][e]["phase"] for e in ("1", "2")] == ["trained", "trained"]
    assert "generating" in main.stderr and "generating" not in follower_err  # machine 0 alone generates
    assert "waiting for machine 0" in follower_err and "all 2 epochs trained" in follower_err
    for epoch in (1, 2):
        entry = state["epochs"][str(epoch)]
        assert entry["distributed"]["world_size"] == 2 and len(entry["distributed"]["parameter_shares"]) == 2
        # each pair's reference once, over both ranks (the sampler pads the last batch: 2 ranks x 2 rows)
        assert entry["counts"]["pairs"] <= sum(entry["distributed"]["reference_rows"]) < entry["counts"]["pairs"] + 4
        assert entry["distributed"]["zero_stage"] == 3
    for rank, err in ((0, main.stderr), (1, follower_err)):
        assert f"--num_machines 2 --mixed_precision no --use_deepspeed" in err
        assert f"--deepspeed_multinode_launcher standard --same_network --machine_rank {rank} --main_process_ip " \
               "127.0.0.1 --main_process_port 29500" in err
    assert f"--start {run_dir / 'epoch-01' / 'checkpoint'}" in follower_err
    answers = [json.loads((run_dir / ".machines" / "rank-1.json").read_text())]
    session = json.loads((run_dir / ".machines" / "session.json").read_text())["session"]
    assert answers[0]["session"] == session and answers[0]["epoch"] == 2
    assert Path(state["epochs"]["2"]["checkpoint"], "model.safetensors").exists()
    assert not list((tmp_path / "host-1").rglob("cache-*.arrow"))  # the shared caches live in the run dir
