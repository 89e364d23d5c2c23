"""The phases of a run, one record each: its name is its module, its function, its state and its timing.

``step(ctx, epoch)`` runs on machine 0 and returns what state.json records; ``share(ctx, epoch)``, where a
phase has one, is what every other machine does for it (generate: its share of the batches; train: its part of
the DPO launch). ``Loop`` (loop.py) runs the run table once (as epoch 0) and the epoch table per epoch in the
order of run_dir.PHASES, skipping the phases state.json records, so a rerun of the same command continues
where it stopped. Each step finishes its own output atomically, so a kill between its last write and the
record only repeats the record. Phases read each other's outputs through the run dir, never through each other.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Optional

from ...config import RunConfig
from ..run_dir import PHASES
from .context import Context


@dataclass(frozen=True)
class Phase:
    """The phase is the module ``name`` here: its step the function ``name``, its share (if any) the function
    ``share``, looked up at each call."""

    name: str

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.name}")

    def step(self, ctx: Context, epoch: int) -> dict:
        return getattr(self.module, self.name)(ctx, epoch)

    @property
    def share(self) -> Optional[Callable[[Context, int], None]]:
        return getattr(self.module, "share", None)


SCAN = Phase("scan")
EPOCH = [Phase(name) for name in PHASES]


def run_table(cfg: RunConfig) -> list[Phase]:
    """Once per run, before the first epoch (as epoch 0): the Spectrum scan, the base model's evaluation."""
    evaluate = EPOCH[PHASES.index("evaluate")]
    return [p for p, on in ((SCAN, cfg.spectrum.top_percent is not None),
                            (evaluate, cfg.evaluation.enabled and cfg.evaluation.baseline)) if on]


def epoch_table(cfg: RunConfig) -> list[Phase]:
    """Each epoch, in the order of run_dir.PHASES; evaluate only when the config asks for evaluation."""
    return [p for p in EPOCH if p.name != "evaluate" or cfg.evaluation.enabled]
