"""The phases of a run, one module each, and the two tables that order them.

A row is (the phase recorded when it is done, its timing key, the step). ``Loop`` (run.py) runs the run
table once and the epoch table per epoch, skipping the rows state.json already records, so a rerun of the
same command continues where it stopped. A step returns what the state records; each finishes its own
output atomically, so a kill between its last write and the record only repeats the record.
"""

from __future__ import annotations

from typing import Callable

from ..config import RunConfig
from . import dpo, draw, evaluation, generate, mix, spectrum_scan

Row = tuple[str, str, Callable]


def run_table(cfg: RunConfig) -> list[Row]:
    """Once per run, before the first epoch: steps of (ctx)."""
    rows: list[Row] = []
    if cfg.spectrum.top_percent is not None:
        rows.append(("scanned", "spectrum", spectrum_scan.scan))
    if cfg.evaluation.enabled and cfg.evaluation.baseline:
        rows.append(("base evaluated", "eval", evaluation.evaluate_base))
    return rows


def epoch_table(cfg: RunConfig) -> list[Row]:
    """Each epoch, top to bottom (the order of run_dir.PHASES): steps of (ctx, epoch)."""
    rows: list[Row] = [("planned", "plan", draw.plan), ("generated", "generate", generate.generate),
                       ("mixed", "mix", mix.mix), ("trained", "train", dpo.train)]
    if cfg.evaluation.enabled:
        rows.append(("evaluated", "eval", evaluation.evaluate))
    return rows
