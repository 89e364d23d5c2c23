"""The loop over a run's phases (phases/), a state machine over the run dir (run_dir.py) that survives kill -9.

The run table (the Spectrum scan, the base model's evaluation) runs once, then each epoch's table: plan ->
generate -> mix -> train -> evaluate. state.json records each row when it is done, so a rerun of the same
command continues where it stopped; seeds are fixed per epoch, batch and question, so it ends with the
same pairs. With several machines, machine 0 leads and the others follow it (machines.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from . import phases
from .children import Children
from .config import RunConfig
from .machines import Machine, join, open_session, wait_for_call, wait_for_phase
from .phases import generate
from .phases.context import Context

from .run_dir import RunDir, RunState
from .serving import Serving


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
            return self.follow() if not self.machine.is_main else self.lead()
        finally:
            self.ctx.serving.close()

    def lead(self) -> RunState:
        self.run.start(self.cfg)
        self.ctx.check_datasets()
        if self.cfg.dpo.num_machines > 1:
            self.ctx.session = open_session(self.run)
        self.ctx.children.reap()  # a server or launch an earlier, killed run left behind on this machine
        ran = False
        for phase, timing, step in phases.run_table(self.cfg):
            if phase not in self.run.state.done:
                t = time.time()
                step(self.ctx)
                self.run.record_run(phase, timing, time.time() - t)
                ran = True
        if ran:
            self.track(0)
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            if self.epoch(epoch):
                self.track(epoch)
        return self.run.state

    def epoch(self, epoch: int) -> bool:
        """The epoch's rows its state does not record yet (-> whether there were any); ``timings.epoch``: this
        process's part of the epoch."""
        started, ran = time.time(), False
        self.run.epoch_dir(epoch).mkdir(parents=True, exist_ok=True)
        for phase, timing, step in phases.epoch_table(self.cfg):
            if self.run.state.epoch(epoch).reached(phase):
                continue
            t = time.time()
            info = step(self.ctx, epoch)
            timings = {**self.run.state.epoch(epoch).timings, timing: round(time.time() - t, 3),
                       "epoch": round(time.time() - started, 3)}
            self.run.record(epoch, phase, timings=timings, **info)
            ran = True
        return ran

    def track(self, epoch: int) -> None:
        """The epoch's figures into TensorBoard (dpo.report_to), against the epoch (tracking.py)."""
        if "tensorboard" in self.cfg.dpo.report_to or "all" in self.cfg.dpo.report_to:
            from .tracking import log_epoch

            log_epoch(self.run, epoch, self.cfg.generation.k)

    def follow(self) -> RunState:
        """A machine above 0: generate its share of each epoch's candidates, answer machine 0's call to the DPO
        launch, take part, wait until recorded."""
        from .launch import run_dpo

        ctx = self.ctx
        join(self.run, self.cfg, self.machine, self.log)
        ctx.children.reap()
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            if ctx.generators() > 1 and not wait_for_phase(self.run, epoch, "planned", self.log).reached("generated"):
                generate.generate_share(ctx, epoch, generate.batches(ctx, epoch)[0])
            if wait_for_call(self.run, epoch, self.machine, self.log):
                self.log(f"epoch {epoch}: DPO as machine {self.machine.rank}")
                ctx.serving.release()
                run_dpo(self.cfg, self.run, epoch, ctx.start_checkpoint(epoch), self.machine, ctx.children, self.log)
            wait_for_phase(self.run, epoch, "trained", self.log)
        self.log(f"machine {self.machine.rank}: all {self.cfg.curriculum.epochs} epochs trained")
        return self.run.state


def status(run_dir: Path) -> dict:
    run = RunDir(run_dir)
    state = run.open().to_dict()
    epochs = dict(sorted(state["epochs"].items(), key=lambda x: int(x[0])))
    done = sum(1 for info in epochs.values() if info.get("phase") in ("trained", "evaluated"))
    return {"run_dir": str(run_dir), "epochs_completed": done, "config_sha256": state["config_sha256"],
            "epochs": epochs}
