"""Rows of a local dataset folder's configs and splits, as the SFT and the studies read them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from argdown_lbl.errors import UserError


def load_rows(dataset_dir: Path, configs: Optional[list[str]] = None, split: str = "train",
              limit: Optional[int] = None, seed: int = 0) -> list[dict]:
    """Line-by-line rows of some configs of a local dataset folder (shuffled, capped at ``limit``)."""
    import random

    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in split_rows(dataset_dir, configs, split)]
    random.Random(seed).shuffle(rows)
    return rows[:limit] if limit else rows


def split_rows(dataset_dir: Path, configs: Optional[list[str]], split: str) -> list[dict]:
    from argdown_lbl.dataset_folder import card_config_names, load

    rows = []
    for name in card_config_names(Path(dataset_dir)):
        if not configs or name in configs:
            try:
                rows += [dict(r, config=name) for r in load(str(dataset_dir), name=name, split=split)]
            except ValueError as exc:  # datasets: Unknown split "validation". Should be one of [...]
                raise UserError(f"{dataset_dir}: config {name}: {exc}") from None
    return rows
