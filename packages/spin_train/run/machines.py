"""Several machines, one run: which machine this is, and how machines meet in the shared run dir.

Every machine runs the same ``spin-train run CONFIG --run-dir DIR`` with its own ``--machine-rank``
(launch arguments, not config: the config and its hash are the same everywhere). Machine 0 owns the
run: it plans, mixes, records every phase in state.json and evaluates. Every machine generates a share
of each epoch's batches on its own server (an external ``openai`` server: machine 0 alone), and machine
0 waits for the shares. The others join (they wait for machine 0's state.json, which proves the run dir
is shared) and go through the same epoch table, running each phase's share where machine 0 runs its step
(loop.py): they generate their share, wait for machine 0's call to each epoch's DPO launch, answer it and
take part (accelerate's ``--machine_rank``), and wait for machine 0 to record each phase.

Each start of machine 0 opens a new session (``.machines/session.json``); calls and answers name it,
so after a crash the machines meet again instead of trusting an answer from before it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

from argdown_lbl.errors import UserError

from ..config import RunConfig
from .run_dir import EpochState, RunDir, write_json

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



def open_session(run: RunDir) -> str:
    """Machine 0, when a run (or a rerun) starts: a new session id; calls and answers of earlier ones are void."""
    session = uuid.uuid4().hex
    run.dpo_call_path.unlink(missing_ok=True)
    write_json(run.session_path, {"session": session, "host": socket.gethostname(), "pid": os.getpid(),
                                  "time": time.time()})
    return session


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


def call_machines(run: RunDir, cfg: RunConfig, machine: Machine, session: str, epoch: int,
                  log: Callable[[str], None]) -> None:
    """Machine 0, before epoch ``epoch``'s DPO launch: call the others and wait until each has answered this
    session's call. The call carries a heartbeat, so a machine that joins while machine 0 is down (or already
    launching) never answers a call that no one waits on."""
    n = cfg.dpo.num_machines
    deadline = time.time() + machine.join_timeout_s
    beat = 0
    while True:
        write_json(run.dpo_call_path, {"session": session, "epoch": epoch, "beat": beat})
        missing = [r for r in range(1, n) if _answer(run, r) != (session, epoch)]
        if not missing:
            return
        if beat == 0:
            log(f"epoch {epoch}: waiting for machines {missing} to join the DPO launch")
        if time.time() > deadline:
            raise UserError(f"{run.root}: machines {missing} have not joined after {machine.join_timeout_s:g} s; "
                            f"start `spin-train run CONFIG --run-dir {run.root} --machine-rank R --main-process-ip "
                            f"{machine.main_process_ip}` on each; {SHARED_HINT}")
        beat += 1
        time.sleep(POLL_S)


def _read_json(path) -> dict | None:
    """A file another machine writes (atomically): None while it is absent or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _answer(run: RunDir, rank: int) -> tuple | None:
    marker = _read_json(run.machine_marker(rank))
    return (marker.get("session"), marker.get("epoch")) if marker else None


def wait_for_call(run: RunDir, epoch: int, machine: Machine, log: Callable[[str], None]) -> bool:
    """A machine above 0: wait until machine 0 calls for epoch ``epoch``'s DPO launch (-> True, answered) or
    records the epoch as trained without one (-> False). A call counts once its heartbeat moves.
    No deadline: generation takes hours; a dead machine 0 stops beating and is waited for."""
    last_log, seen = time.time(), None
    while True:
        entry = run.refresh().epochs.get(epoch)
        if entry is not None and entry.reached("train"):
            return False
        call = _read_json(run.dpo_call_path)
        if call and call.get("epoch") == epoch:
            if seen is not None and seen["session"] == call["session"] and call["beat"] != seen["beat"]:
                write_json(run.machine_marker(machine.rank), {"session": call["session"], "epoch": epoch,
                                                              "host": socket.gethostname(), "pid": os.getpid()})
                return True
            seen = call
        if time.time() - last_log > 300:
            log(f"epoch {epoch}: still waiting for machine 0 ({entry.phase if entry else 'not started'})")
            last_log = time.time()
        time.sleep(POLL_S)


def wait_for_shares(run: RunDir, epoch: int, expected: dict[int, int], done: Callable[[int], int],
                    log: Callable[[str], None]) -> None:
    """Machine 0: wait until each other machine has generated its share of epoch ``epoch``'s batches
    (``expected``: rank -> batches; ``done(rank)``: how many are in its file). No deadline: a machine that
    died mid-share resumes it when it is started again."""
    last_log = 0.0
    while True:
        missing = {r: f"{done(r)}/{n}" for r, n in expected.items() if done(r) < n}
        if not missing:
            return
        if time.time() - last_log > 300:
            log(f"epoch {epoch}: waiting for the other machines' shares of the candidates (batches done: {missing})")
            last_log = time.time()
        time.sleep(POLL_S)


def wait_for_phase(run: RunDir, epoch: int, phase: str, log: Callable[[str], None]) -> EpochState:
    """Wait until machine 0 has recorded ``phase`` (or a later one) for ``epoch``; -> that epoch's state.
    No deadline: a dead machine 0 breaks the DPO rendezvous, which times out."""
    last_log = time.time()
    while True:
        entry = run.refresh().epochs.get(epoch)
        if entry is not None and entry.reached(phase):
            return entry
        if time.time() - last_log > 300:
            log(f"epoch {epoch}: still waiting for machine 0 ({entry.phase if entry else 'not started'})")
            last_log = time.time()
        time.sleep(POLL_S)
