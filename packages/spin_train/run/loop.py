"""The loop over a run's phases (phases/), a state machine over the run dir (run_dir.py) that survives kill -9.

The run table (the Spectrum scan, the base model's evaluation) runs once, then each epoch's table: plan ->
generate -> mix -> train -> evaluate. state.json records each phase when it is done, so a rerun of the same
command continues where it stopped; seeds are fixed per epoch, batch and question, so it ends with the
same pairs. With several machines, machine 0 runs each phase's step and records it; the others run the same
table's shares (machines.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..config import RunConfig
from ..serving.run_server import Serving
from . import phases
from .children import Children
from .machines import Machine, join, open_session, wait_for_phase
from .phases.context import Context
from .run_dir import RunDir, RunState


class Loop:
    """Runs the curriculum epochs of one config in one run dir, as machine ``machine.rank``."""

    def __init__(self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None] = print,
                 machine: Machine = Machine()):
        run = RunDir(run_dir)
        children = Children(run.children_dir(machine.rank), log)
        self.ctx = Context(cfg, run, log, machine, children, Serving(cfg, run, children, machine.rank, log))
        self.cfg, self.run, self.log, self.machine = cfg, run, log, machine

    def run_all(self) -> RunState:
        self.machine.check(self.cfg)
        try:
            return self.lead() if self.machine.is_main else self.follow()
        finally:
            self.ctx.serving.close()

    def lead(self) -> RunState:
        self.run.start(self.cfg)
        self.ctx.check_datasets()
        if self.cfg.dpo.num_machines > 1:
            self.ctx.session = open_session(self.run)
        self.ctx.children.reap()  # a server or launch an earlier, killed run left behind on this machine
        ran = False
        for phase in phases.run_table(self.cfg):
            if phase.name not in self.run.state.done:
                t = time.time()
                phase.step(self.ctx, 0)
                self.run.record_run(phase.name, time.time() - t)
                ran = True
        if ran:
            self.track(0)
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            if self.epoch(epoch):
                self.track(epoch)
        return self.run.state

    def epoch(self, epoch: int) -> bool:
        """The epoch's phases its state does not record yet (-> whether there were any); ``timings.epoch``:
        this process's part of the epoch."""
        started, ran = time.time(), False
        self.run.epoch_dir(epoch).mkdir(parents=True, exist_ok=True)
        for phase in phases.epoch_table(self.cfg):
            if self.run.state.epoch(epoch).reached(phase.name):
                continue
            t = time.time()
            info = phase.step(self.ctx, epoch)
            timings = {**self.run.state.epoch(epoch).timings, phase.name: round(time.time() - t, 3),
                       "epoch": round(time.time() - started, 3)}
            self.run.record(epoch, phase.name, timings=timings, **info)
            ran = True
        return ran

    def track(self, epoch: int) -> None:
        """The epoch's figures into TensorBoard (dpo.report_to), against the epoch (tracking.py)."""
        if "tensorboard" in self.cfg.dpo.report_to or "all" in self.cfg.dpo.report_to:
            from .tracking import log_epoch

            log_epoch(self.run, epoch, self.cfg.generation.k)

    def follow(self) -> RunState:
        """A machine above 0: the same epoch table, each phase's share once machine 0 has recorded the phase
        before it; then it waits until machine 0 records the phase itself."""
        join(self.run, self.cfg, self.machine, self.log)
        self.ctx.children.reap()
        table = phases.epoch_table(self.cfg)
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            for before, phase in zip(table, table[1:]):
                if phase.share is None:
                    continue
                if not wait_for_phase(self.run, epoch, before.name, self.log).reached(phase.name):
                    phase.share(self.ctx, epoch)
                wait_for_phase(self.run, epoch, phase.name, self.log)
        self.log(f"machine {self.machine.rank}: all {self.cfg.curriculum.epochs} epochs trained")
        return self.run.state
