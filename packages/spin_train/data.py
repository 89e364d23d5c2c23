"""Training mixture: load the datasets, turn curriculum weights into counts, draw each epoch's examples.

Selfplay rows are TRL conversational prompt/completion rows (as written by
``argdown-lbl split``); the gold answer is the completion's text. Preference
rows are TRL's prompt/chosen/rejected; Tülu-style rows (``chosen``/``rejected``
as whole conversations, no ``prompt``) are converted.
"""

from __future__ import annotations

import random

from argdown_lbl.errors import UserError

from .config import MixtureEntry, RunConfig


class DataError(UserError):
    """A training dataset that cannot be loaded or read: names the train_mixture entry."""


def load_entry(entry: MixtureEntry):
    """The entry's split as a ``datasets.Dataset`` (a local folder or a Hub id)."""
    from datasets import load_dataset

    try:
        return load_dataset(entry.path, name=entry.config_name, split=entry.split)
    except Exception as exc:  # datasets raises many types; the user needs the entry named
        raise DataError(f"train_mixture entry {entry.key!r} ({entry.path}, split {entry.split}): {exc}") from exc


def epoch_counts(weights: dict[str, float], total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split ``total`` examples by relative weight (largest remainder), never above a dataset's size."""
    active = {k: w for k, w in weights.items() if w > 0}
    norm = sum(active.values())
    exact = {k: total * w / norm for k, w in active.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return {k: min(v, sizes[k]) for k, v in counts.items()}


def sample_indices(n_rows: int, count: int, seed: int, epoch: int, key: str) -> list[int]:
    """``count`` distinct row indices, the same for the same (seed, epoch, key)."""
    rng = random.Random(f"{seed}/{epoch}/{key}")
    return sorted(rng.sample(range(n_rows), count))


def message_text(message) -> str:
    return message["content"] if isinstance(message, dict) else str(message)


def selfplay_item(row: dict, key: str, index: int) -> dict:
    """A selfplay prompt with its gold answer and a stable id."""
    completion = row["completion"]
    gold = message_text(completion[-1] if isinstance(completion, list) else completion)
    uid = row.get("snippet_id", "") + f"#{row.get('line_index', index)}" if row.get("snippet_id") else f"{key}#{index}"
    return {"id": uid, "source": key, "prompt": list(row["prompt"]), "gold": gold,
            "language": row.get("language", "")}


def preference_row(row: dict, key: str) -> dict:
    """TRL preference format: prompt (messages), chosen and rejected (one assistant message each)."""
    if "prompt" in row and row["prompt"]:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        chosen, rejected = row["chosen"], row["rejected"]
        if isinstance(chosen, str):
            chosen = [{"role": "assistant", "content": chosen}]
        if isinstance(rejected, str):
            rejected = [{"role": "assistant", "content": rejected}]
    else:  # Tülu style: full conversations that share everything but the last turn
        chosen_conv, rejected_conv = row["chosen"], row["rejected"]
        if chosen_conv[:-1] != rejected_conv[:-1]:
            raise DataError(f"{key}: a Tülu-style row whose conversations differ before the last turn")
        prompt, chosen, rejected = chosen_conv[:-1], chosen_conv[-1:], rejected_conv[-1:]
    if not chosen or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise DataError(f"{key}: chosen and rejected must end with an assistant message")
    return {"prompt": [dict(m) for m in prompt], "chosen": [dict(chosen[-1])], "rejected": [dict(rejected[-1])],
            "source": key}


class Mixture:
    """The loaded datasets of a run, by key."""

    def __init__(self, cfg: RunConfig, loader=load_entry):
        self.cfg = cfg
        self.entries = {e.key: e for e in cfg.train_mixture}
        self.datasets = {e.key: loader(e) for e in cfg.train_mixture}

    def sizes(self) -> dict[str, int]:
        return {k: len(d) for k, d in self.datasets.items()}

    def plan(self, epoch: int) -> dict[str, int]:
        """Examples per dataset for a 1-based epoch."""
        weights = self.cfg.curriculum.weights[epoch - 1]
        return epoch_counts(weights, self.cfg.curriculum.examples_per_epoch, self.sizes())

    def draw(self, epoch: int) -> tuple[list[dict], list[dict]]:
        """(selfplay items, preference rows) for the epoch, deterministic."""
        selfplay, preference = [], []
        seed = self.cfg.generation.seed
        for key, count in self.plan(epoch).items():
            ds = self.datasets[key]
            for i in sample_indices(len(ds), count, seed, epoch, key):
                row = ds[i]
                if self.entries[key].type == "selfplay":
                    selfplay.append(selfplay_item(row, key, i))
                else:
                    preference.append(preference_row(row, key))
        return selfplay, preference
