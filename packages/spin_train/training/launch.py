"""The DPO phase, always in child processes: ``python -m spin_train.training.launch`` or ``accelerate launch``.

The train phase (run/phases/train.py) calls ``run_dpo``, which runs ``python -m spin_train.training.launch
--run-dir DIR --epoch N --start CKPT`` (one process) or ``accelerate launch [--use_deepspeed
--deepspeed_config_file dpo.deepspeed] ... -m spin_train.training.launch ...`` (several processes, DeepSpeed,
or ``dpo.launcher: accelerate``) under the run's child supervisor, and waits. In a child, the GPU memory of
training is freed when it exits, so the next epoch's vLLM can start, and the run's own process never
initialises CUDA for training. Each launched process reads the
resolved config, the epoch's pairs and the Spectrum list from the run dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

from argdown_lbl.errors import ServerError

from ..config import RunConfig
from ..run.children import Children, die_with_parent
from ..run.faults import stalls, stall
from ..run.machines import Machine
from ..run.run_dir import RunDir
from .models import cuda_available

def use_accelerate(cfg: RunConfig) -> bool:
    d = cfg.dpo
    return d.launcher == "accelerate" or (d.launcher == "auto" and (d.num_processes * d.num_machines > 1
                                                                     or d.deepspeed is not None))


def zero_stage(cfg: RunConfig) -> int | None:
    """The ZeRO stage of ``dpo.deepspeed`` (None without DeepSpeed)."""
    if not cfg.dpo.deepspeed:
        return None
    raw = json.loads(Path(cfg.dpo.deepspeed).expanduser().read_text(encoding="utf-8"))
    return int(raw.get("zero_optimization", {}).get("stage", 0))


def deepspeed_arguments(cfg: RunConfig) -> list[str]:
    """accelerate's DeepSpeed flags for ``dpo.deepspeed``, the one DeepSpeed config (the Trainer reads it too).
    Several machines: torchrun on each (``standard``), not accelerate's default pdsh over a hostfile, which
    without one runs every machine as a job of its own."""
    d = cfg.dpo
    if not d.deepspeed:
        return []
    args = ["--use_deepspeed", "--deepspeed_config_file", str(Path(d.deepspeed).expanduser().resolve()),
            "--zero3_init_flag", "true" if zero_stage(cfg) == 3 else "false"]
    if d.num_machines > 1:
        args += ["--deepspeed_multinode_launcher", "standard", "--same_network"]
    return args


def launch_command(cfg: RunConfig, run_dir: Path, epoch: int, start: str, machine: Machine = Machine()) -> list[str]:
    d = cfg.dpo
    phase = ["-m", "spin_train.training.launch", "--run-dir", str(run_dir), "--epoch", str(epoch), "--start", start]
    if not use_accelerate(cfg):
        return [sys.executable, *phase]
    # accelerate's launcher as a module of this interpreter: no reliance on PATH (same as `accelerate launch`)
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if d.accelerate_config:
        cmd += ["--config_file", d.accelerate_config]
    cmd += ["--num_processes", str(d.num_processes * d.num_machines), "--num_machines", str(d.num_machines),
            # dpo.bf16 decides, for accelerate (and DeepSpeed's bf16 section) as for the Trainer: never two answers
            "--mixed_precision", "bf16" if d.bf16 else "no", *deepspeed_arguments(cfg)]
    if d.num_machines > 1:
        cmd += ["--machine_rank", str(machine.rank), "--main_process_ip", str(machine.main_process_ip),
                "--main_process_port", str(machine.main_process_port)]
    if d.cpu:
        cmd.append("--cpu")  # only when asked: a dry-run on a CPU login node prints the GPU command
    return cmd + phase


def launch_env() -> dict[str, str]:
    """The launched processes' environment: ours, and DeepSpeed told about a machine without CUDA (ZeRO-3 on CPU:
    gloo, no compiled ops)."""
    env = dict(os.environ)
    if not cuda_available():
        env.setdefault("DS_ACCELERATOR", "cpu")
    return env


def run_dpo(cfg: RunConfig, run: RunDir, epoch: int, start: str, machine: Machine, children: Children,
            log=print) -> None:
    """Train epoch ``epoch`` from ``start`` in child processes (this machine's part of the launch); machine 0's
    world process zero saves the model and train_metrics.json to the epoch's partial checkpoint."""
    cmd = launch_command(cfg, run.root, epoch, start, machine)
    log_path = run.launch_log(epoch)
    log(f"epoch {epoch}: {' '.join(cmd)} (log: {log_path})")
    status = children.run("dpo", cmd, log_path, launch_env())  # never outlives the run
    if status != 0:
        raise ServerError(f"the DPO launch failed with status {status}; see {log_path}")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of each launched process."""
    ap = argparse.ArgumentParser(prog="python -m spin_train.training.launch")
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--epoch", required=True, type=int)
    ap.add_argument("--start", required=True, help="The checkpoint the epoch starts from (policy and reference).")
    args = ap.parse_args(argv)
    run = RunDir(args.run_dir)
    pid_file = _register_rank(run)
    try:
        from datasets import Dataset

        from .dpo import train_epoch
        from .spectrum import unfrozen_patterns

        cfg = run.read_config()
        # File-backed, with its cache in the run dir: TRL writes the reference log-probs next to the
        # dataset's own Arrow files on global rank 0, and every rank reads them back from there.
        pairs = Dataset.from_parquet(str(run.pairs_path(args.epoch)), cache_dir=str(run.dpo_cache_dir(args.epoch)))
        # the texts stay in pairs.parquet for inspection; the trainer takes the ids (train.PAIR_IDS)
        unfrozen = unfrozen_patterns(cfg, run.spectrum_path)
        on_step = (lambda step, _model: stall("train", run.root, step)) if stalls("train") else None
        train_epoch(cfg, args.start, pairs, run.partial_checkpoint_path(args.epoch), run.dpo_steps_dir(args.epoch),
                    unfrozen, on_step, logging_dir=run.tensorboard_dir(f"epoch-{args.epoch:02d}"))
    finally:
        pid_file.unlink(missing_ok=True)


def _register_rank(run: RunDir) -> Path:
    """First thing in a rank: die with the launcher, and leave a pid file for the next run's reap. torchrun
    starts each rank in a session of its own, outside the supervisor's process group."""
    parent = os.getppid()
    die_with_parent(signal.SIGKILL)  # nothing to clean up: the partial checkpoint is discarded
    if os.getppid() != parent:  # the launcher died before the signal was armed
        sys.exit(1)
    rank, machine = os.environ.get("RANK", "0"), int(os.environ.get("GROUP_RANK", "0"))  # torchrun's node rank
    return Children(run.children_dir(machine)).register(f"dpo-rank-{rank}", os.getpid(), sys.argv, os.getpgrp())


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
