"""Several machines, one run: which machine this is, and how machines meet in the shared run dir.

Every machine runs the same ``spin-train run CONFIG --run-dir DIR`` with its own ``--machine-rank``
(launch arguments, not config: the config and its hash are the same everywhere). Machine 0 owns the
run: it plans, generates, mixes, records every phase in state.json and evaluates. The others join
(they wait for machine 0's state.json, which proves the run dir is shared), wait for each epoch's
pairs, take part in its DPO launch (accelerate's ``--machine_rank``) and wait for machine 0 to record
the epoch as trained.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from argdown_lbl.errors import UserError

from .config import RunConfig
from .run_dir import EpochState, RunDir

POLL_S = 2.0
SHARED_HINT = ("the run dir must be one folder on a filesystem that every machine mounts at the same path "
               "(NFS, Lustre, ...)")


@dataclass(frozen=True)
class Machine:
    rank: int = 0
    main_process_ip: Optional[str] = None
    main_process_port: int = 29500
    join_timeout_s: float = 600.0  # how long a machine waits for the others to appear in the run dir

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check(self, cfg: RunConfig) -> None:
        n = cfg.dpo.num_machines
        if not 0 <= self.rank < n:
            raise UserError(f"--machine-rank: expected 0..{n - 1} (dpo.num_machines is {n}), got {self.rank}")
        if n > 1 and not self.main_process_ip:
            raise UserError(f"--main-process-ip: required with dpo.num_machines {n} (the address of machine 0, "
                            "the same on every machine)")

    def announce(self, run: RunDir) -> None:
        marker = run.machine_marker(self.rank)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}),
                          encoding="utf-8")


def join(run: RunDir, cfg: RunConfig, machine: Machine, log: Callable[[str], None]) -> None:
    """A machine above 0 joins machine 0's run: its state.json must appear in the (shared) run dir."""
    deadline = time.time() + machine.join_timeout_s
    log(f"machine {machine.rank}: waiting for machine 0's {run.state_path}")
    while run.load() is None:
        if time.time() > deadline:
            raise UserError(f"{run.root}: machine {machine.rank} found no state.json from machine 0 after "
                            f"{machine.join_timeout_s:g} s; {SHARED_HINT}")
        time.sleep(POLL_S)
    run.refresh()
    run.check_config(cfg)
    machine.announce(run)


def wait_for_machines(run: RunDir, cfg: RunConfig, machine: Machine, log: Callable[[str], None]) -> None:
    """Machine 0, before a DPO launch over several machines: every other machine has joined the run dir."""
    n = cfg.dpo.num_machines
    deadline = time.time() + machine.join_timeout_s
    missing = [r for r in range(1, n) if not run.machine_marker(r).exists()]
    if missing:
        log(f"waiting for machines {missing} to join {run.root}")
    while missing:
        if time.time() > deadline:
            raise UserError(f"{run.root}: machines {missing} have not joined after {machine.join_timeout_s:g} s; "
                            f"start `spin-train run CONFIG --run-dir {run.root} --machine-rank R --main-process-ip "
                            f"{machine.main_process_ip}` on each; {SHARED_HINT}")
        time.sleep(POLL_S)
        missing = [r for r in missing if not run.machine_marker(r).exists()]


def wait_for_phase(run: RunDir, epoch: int, phase: str, log: Callable[[str], None]) -> EpochState:
    """Wait until machine 0 has recorded ``phase`` (or a later one) for ``epoch``; -> that epoch's state.
    No deadline: generation takes hours; a dead machine 0 breaks the DPO rendezvous, which times out."""
    last_log = time.time()
    while True:
        entry = run.refresh().epochs.get(epoch)
        if entry is not None and entry.reached(phase):
            return entry
        if time.time() - last_log > 300:
            log(f"epoch {epoch}: still waiting for machine 0 ({entry.phase if entry else 'not started'})")
            last_log = time.time()
        time.sleep(POLL_S)
