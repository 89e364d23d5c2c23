"""Fault injection for the resume and reaping tests (never set in a real run).

``SPIN_TRAIN_STALL=generate|mix|train`` makes the run stop at that dangerous point (after a partial
write, or inside a DPO step), announce it with ``DIR/.stall-POINT`` (the stalled pid) and wait to be
killed. In a DPO phase of several ranks only global rank ``SPIN_TRAIN_STALL_RANK`` (default 0) stalls:
the others go on to the next collective and wait there, as ranks do when a peer hangs. ``train`` stalls
at the end of optimizer step ``SPIN_TRAIN_STALL_STEP`` (default 1), before that step's checkpoint.
``SPIN_TRAIN_STALL_EPOCH`` (default: any) picks the epoch ``generate`` stalls in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STALL_ENV = "SPIN_TRAIN_STALL"
STALL_RANK_ENV = "SPIN_TRAIN_STALL_RANK"
STALL_STEP_ENV = "SPIN_TRAIN_STALL_STEP"
STALL_EPOCH_ENV = "SPIN_TRAIN_STALL_EPOCH"


def stalls(point: str) -> bool:
    return os.environ.get(STALL_ENV) == point


def stall(point: str, root: Path, step: int | None = None, epoch: int | None = None) -> None:
    if not stalls(point) or os.environ.get("RANK", "0") != os.environ.get(STALL_RANK_ENV, "0"):
        return
    if step is not None and step != int(os.environ.get(STALL_STEP_ENV, "1")):
        return
    if epoch is not None and os.environ.get(STALL_EPOCH_ENV, str(epoch)) != str(epoch):
        return
    (Path(root) / f".stall-{point}").write_text(str(os.getpid()))
    time.sleep(600)
