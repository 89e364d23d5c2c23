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
        """The run table (as epoch 0), then each epoch's table, on this machine (machines.py)."""
        self.machine.check(self.cfg)
        try:
            self.open()
            tables = [(0, phases.run_table(self.cfg))]
            tables += [(epoch, phases.epoch_table(self.cfg)) for epoch in range(1, self.cfg.curriculum.epochs + 1)]
            for epoch, table in tables:
                if self.play(epoch, table):
                    self.track(epoch)
            if not self.machine.is_main:
                self.log(f"machine {self.machine.rank}: all {self.cfg.curriculum.epochs} epochs trained")
            return self.run.state
        finally:
            self.ctx.serving.close()

    def open(self) -> None:
        """Machine 0 starts (or reopens) the run; the others join it in the shared run dir."""
        if self.machine.is_main:
            self.run.start(self.cfg)
            self.ctx.check_datasets()
            if self.cfg.dpo.num_machines > 1:
                self.ctx.session = open_session(self.run)
        else:
            join(self.run, self.cfg, self.machine, self.log)
        self.ctx.children.reap()  # a server or launch an earlier, killed run left behind on this machine

    def play(self, epoch: int, table: list[phases.Phase]) -> bool:
        """The table's phases that state.json does not record yet (-> whether machine 0 ran any). Machine 0 runs
        each step and records it (``timings.epoch``: this process's part of the epoch); the others run each
        share once machine 0 has recorded the phase before it, then wait for the record."""
        started, ran = time.time(), False
        for before, phase in zip([None, *table], table):
            if self.machine.is_main and not self.run.reached(epoch, phase.name):
                t = time.time()
                if epoch:
                    self.run.epoch_dir(epoch).mkdir(parents=True, exist_ok=True)
                info = phase.step(self.ctx, epoch)
                self.run.record_phase(epoch, phase.name, time.time() - t, time.time() - started, info)
                ran = True
            elif not self.machine.is_main and phase.share is not None:
                if not wait_for_phase(self.run, epoch, before.name, self.log).reached(phase.name):
                    phase.share(self.ctx, epoch)
                wait_for_phase(self.run, epoch, phase.name, self.log)
        return ran

    def track(self, epoch: int) -> None:
        """The epoch's figures into TensorBoard (dpo.report_to), against the epoch (tracking.py)."""
        if "tensorboard" in self.cfg.dpo.report_to or "all" in self.cfg.dpo.report_to:
            from .tracking import log_epoch

            log_epoch(self.run, epoch, self.cfg.generation.k)
