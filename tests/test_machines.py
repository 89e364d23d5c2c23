"""Several machines, one run, tested as far as one host can: two `spin-train run` processes with ranks 0 and 1
on one run dir. accelerate cannot launch across machines on CPU (its state reports one process), so the DPO
launch runs behind a stand-in wrapper: machine 0's trains for real once machine 1's has started, machine 1's
records its command and exits."""

from __future__ import annotations

import json
import subprocess
import sys
import os
from pathlib import Path

import pytest

from spin_fixtures import tiny_config, write_config

SPIN = [sys.executable, "-m", "spin_train.cli"]

WRAPPER = """#!{python}
import os, sys, time
from pathlib import Path
cmd = sys.argv[1:]
rank = cmd[cmd.index("--machine_rank") + 1]
epoch = cmd[cmd.index("--epoch") + 1]
seen = Path(os.environ["LAUNCH_SEEN"])
seen.mkdir(exist_ok=True)
(seen / f"epoch-{{epoch}}-rank-{{rank}}.json").write_text(__import__("json").dumps(cmd))
if rank != "0":
    sys.exit(0)
deadline = time.time() + 120  # a rendezvous: machine 0 trains once machine 1 has launched its part
while not (seen / f"epoch-{{epoch}}-rank-1.json").exists():
    if time.time() > deadline:
        sys.exit("machine 1 never launched")
    time.sleep(0.2)
phase = cmd[cmd.index("-m", cmd.index("--machine_rank")):]
os.execv(sys.executable, [sys.executable, *phase])
"""


def _two_machine_config(tmp_path, tiny_model, spin_dataset) -> Path:
    return write_config(tmp_path / "run.yaml", tiny_config(
        tiny_model, spin_dataset, spectrum={"top_percent": None},
        dpo={"num_machines": 2, "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
             "effective_batch_size": 4},
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


@pytest.mark.timeout(900)
def test_two_machines_run_one_curriculum_machine_0_generates(tmp_path, tiny_model, spin_dataset):
    config = _two_machine_config(tmp_path, tiny_model, spin_dataset)
    wrapper = tmp_path / "launch-wrapper"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    env = {**os.environ, "SPIN_TRAIN_LAUNCH_WRAPPER": str(wrapper), "LAUNCH_SEEN": str(tmp_path / "seen")}
    run_dir = tmp_path / "shared"
    common = ["run", str(config), "--run-dir", str(run_dir), "--main-process-ip", "127.0.0.1"]
    # machine 1 first: it waits for machine 0's state.json instead of starting a run of its own
    follower = subprocess.Popen(SPIN + common + ["--machine-rank", "1"], stderr=subprocess.PIPE, text=True, env=env)
    main = subprocess.run(SPIN + common + ["--machine-rank", "0"], capture_output=True, text=True, env=env,
                          timeout=800)
    follower_err = follower.communicate(timeout=120)[1]
    assert main.returncode == 0, main.stderr[-3000:]
    assert follower.returncode == 0, follower_err[-3000:]

    state = json.loads((run_dir / "state.json").read_text())
    assert [state["epochs"][e]["phase"] for e in ("1", "2")] == ["trained", "trained"]
    assert "generating" in main.stderr and "generating" not in follower_err  # machine 0 alone generates
    assert "waiting for machine 0" in follower_err and "all 2 epochs trained" in follower_err
    for epoch in (1, 2):
        ranks = {r: json.loads((tmp_path / "seen" / f"epoch-{epoch}-rank-{r}.json").read_text()) for r in (0, 1)}
        for rank, cmd in ranks.items():
            joined = " ".join(cmd)
            assert f"--num_machines 2 --mixed_precision no --machine_rank {rank} --main_process_ip 127.0.0.1 " \
                   "--main_process_port 29500" in joined
        start = [cmd[cmd.index("--start") + 1] for cmd in ranks.values()]
        assert start[0] == start[1] == (str(tiny_model) if epoch == 1 else str(run_dir / "epoch-01" / "checkpoint"))
    assert sorted(p.name for p in (run_dir / ".machines").iterdir()) == ["rank-0.json", "rank-1.json"]
    assert Path(state["epochs"]["2"]["checkpoint"], "model.safetensors").exists()
