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

from spin_fixtures import ROOT, processes_of, tiny_config, wait_until, write_config

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


def _start_machines(tmp_path, config, run_dir, attempt: str, env: dict | None = None) -> list:
    """Machine 1, then machine 0, as two `spin-train run` processes (logs in tmp_path/ATTEMPT-mR.log)."""
    common = ["run", str(config), "--run-dir", str(run_dir), "--main-process-ip", "127.0.0.1"]
    procs = []
    for rank in (1, 0):  # machine 1 first: it waits for machine 0's state.json instead of starting a run
        with open(tmp_path / f"{attempt}-m{rank}.log", "w") as log:
            procs.append(subprocess.Popen(SPIN + common + ["--machine-rank", str(rank)], stdout=log,
                                          stderr=subprocess.STDOUT, env={**_machine_env(tmp_path, rank), **(env or {})}))
    return procs[::-1]  # [machine 0, machine 1]


def _kill_machine_in_dpo(tmp_path, config, run_dir, attempt: str, machine: int) -> None:
    """SIGKILL machine ``machine``'s `spin-train run` while its rank is inside a DPO step: the other machine's
    rank fails in its next collective, and nothing of either machine is left after a few seconds."""
    (run_dir / ".stall-train").unlink(missing_ok=True)
    procs = _start_machines(tmp_path, config, run_dir, attempt,
                            {"SPIN_TRAIN_STALL": "train", "SPIN_TRAIN_STALL_RANK": str(machine)})
    try:
        wait_until(lambda: (run_dir / ".stall-train").exists() or any(p.poll() is not None for p in procs), 600,
                   f"{attempt}: the DPO phase never reached its first step")
        assert all(p.poll() is None for p in procs), _logs(tmp_path, attempt)
        procs[machine].kill()
        wait_until(lambda: not processes_of(run_dir), 60, f"{attempt}: left running: {processes_of(run_dir)}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    survivor = procs[1 - machine]
    assert survivor.returncode == 1, _logs(tmp_path, attempt)  # its DPO launch failed; it says so and stops
    assert "the DPO launch failed" in (tmp_path / f"{attempt}-m{1 - machine}.log").read_text()


def _logs(tmp_path, attempt: str) -> str:
    return "".join(p.read_text()[-3000:] for p in sorted(tmp_path.glob(f"{attempt}-m*.log")))


@pytest.mark.timeout(1200)
def test_two_machines_run_one_curriculum_machine_0_generates(tmp_path, tiny_model, spin_dataset):
    """Killed in the DPO phase, machine 1 and then machine 0: the rerun of both finishes the curriculum."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (make test installs it with DS_BUILD_OPS=0)")
    config = _two_machine_config(tmp_path, tiny_model, spin_dataset)
    run_dir = tmp_path / "shared"
    _kill_machine_in_dpo(tmp_path, config, run_dir, "kill-1", machine=1)
    _kill_machine_in_dpo(tmp_path, config, run_dir, "kill-0", machine=0)
    assert json.loads((run_dir / "state.json").read_text())["epochs"]["1"]["phase"] == "mix"

    main, follower = _start_machines(tmp_path, config, run_dir, "rerun")
    for p in (main, follower):
        p.wait(timeout=800)
    main_log, follower_log = (tmp_path / "rerun-m0.log").read_text(), (tmp_path / "rerun-m1.log").read_text()
    logs = "".join(p.read_text()[-2000:] for p in run_dir.glob("epoch-*/dpo-launch.log"))
    assert main.returncode == 0, main_log[-3000:] + logs
    assert follower.returncode == 0, follower_log[-3000:] + logs
    assert not processes_of(run_dir)

    state = json.loads((run_dir / "state.json").read_text())
    assert [state["epochs"][e]["phase"] for e in ("1", "2")] == ["train", "train"]
    # each machine generates its share of the batches (the rerun had only epoch 2 left to generate)
    assert "as machine 0 of 2" in main_log and "as machine 1 of 2" in follower_log
    for epoch in (1, 2):
        shares = [[json.loads(line)["batch"] for line in (run_dir / f"epoch-0{epoch}" / name).read_text().splitlines()]
                  for name in ("candidates.jsonl", "candidates-machine-1.jsonl")]
        assert shares[1] and all(b % 2 == r for r in (0, 1) for b in shares[r])
        entry = state["epochs"][str(epoch)]  # every planned prompt that fits got its candidates
        c = entry["counts"]
        assert sum(entry["filtering"]["l_histogram"].values()) == c["prompts"] - c["prompts_too_long"]
    assert "waiting for machine 0" in follower_log and "all 2 epochs trained" in follower_log
    for epoch in (1, 2):
        entry = state["epochs"][str(epoch)]
        assert entry["distributed"]["world_size"] == 2 and len(entry["distributed"]["parameter_shares"]) == 2
        assert entry["distributed"]["zero_stage"] == 3
    # epoch 1: a killed attempt computed the reference log-probs into the shared cache, the rerun read them
    assert state["epochs"]["1"]["distributed"]["reference_rows"] == [0, 0]
    # epoch 2: each pair's reference once, over both ranks (the sampler pads the last batch: 2 ranks x 2 rows)
    pairs, rows = state["epochs"]["2"]["counts"]["pairs"], sum(state["epochs"]["2"]["distributed"]["reference_rows"])
    assert pairs <= rows < pairs + 4
    for rank, err in ((0, main_log), (1, follower_log)):
        assert "--num_machines 2 --mixed_precision no --use_deepspeed" in err
        assert f"--deepspeed_multinode_launcher standard --same_network --machine_rank {rank} --main_process_ip " \
               "127.0.0.1 --main_process_port 29500" in err
    assert f"--start {run_dir / 'epoch-01' / 'checkpoint'}" in follower_log
    answers = [json.loads((run_dir / ".machines" / "rank-1.json").read_text())]
    session = json.loads((run_dir / ".machines" / "session.json").read_text())["session"]
    assert answers[0]["session"] == session and answers[0]["epoch"] == 2
    assert Path(state["epochs"]["2"]["checkpoint"], "model.safetensors").exists()
    assert not list((tmp_path / "host-1").rglob("cache-*.arrow"))  # the shared caches live in the run dir
