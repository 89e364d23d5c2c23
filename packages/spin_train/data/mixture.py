"""Training mixture: load the datasets, turn curriculum weights into counts, draw each epoch's examples.

Selfplay rows are TRL conversational prompt/completion rows (as written by
``argdown-lbl split``); the gold answer is the completion's text. Preference
rows become TRL's prompt/chosen/rejected (``preference_row``).

Curriculum policy (docs/spin-train.md): a weight is a dataset's share of the
epoch's *drawn* examples (selfplay prompts before filtering, preference pairs),
so an epoch always draws ``examples_per_epoch`` in the weights' proportions. A
dataset smaller than its share is repeated: whole seeded passes over its rows,
then a seeded sample of the rest; a repeated selfplay prompt is a new question
(its own id, candidates and filtering decision). Preference rows that cannot be
converted are dropped, counted by reason, and replaced by further draws.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Optional

from argdown_lbl.errors import UserError

from ..config import MixtureEntry, RunConfig


class DataError(UserError):
    """A training dataset that cannot be loaded or read: names the train_mixture entry."""


class DropRow(ValueError):
    """A preference row that cannot become a TRL pair; the message is the reason counted."""


def load_entry(entry: MixtureEntry, revision: Optional[str] = None):
    """The entry's split as a ``datasets.Dataset`` (a local folder as on disk, or a Hub id at ``revision``)."""
    from argdown_lbl.dataset_folder import load

    try:
        return load(entry.path, name=entry.config_name, split=entry.split, revision=revision or entry.revision)
    except Exception as exc:  # datasets raises many types; the user needs the entry named
        raise DataError(f"train_mixture entry {entry.key!r} ({entry.path}, split {entry.split}): {exc}") from exc


def local_fingerprints(cfg: RunConfig) -> dict[str, dict]:
    """The content fingerprint of each local dataset folder a run reads, by what names it in the config
    (``train_mixture[KEY]``, ``evaluation.dataset``): {name: {path, configs, sha256}}."""
    from argdown_lbl.dataset_folder import card_config_names, content_fingerprint, is_local

    read = {f"train_mixture[{e.key}]": (e.path, [e.config_name]) for e in cfg.train_mixture if is_local(e.path)}
    e = cfg.evaluation
    if e.enabled and e.dataset and is_local(e.dataset):
        read["evaluation.dataset"] = (e.dataset, e.configs or card_config_names(Path(e.dataset)))
    return {name: {"path": path, "configs": configs, "sha256": content_fingerprint(Path(path), configs)}
            for name, (path, configs) in read.items()}


def resolve_revision(entry: MixtureEntry) -> Optional[str]:
    """The Hub commit a Hub dataset's revision (or main) points to now; None for folders or offline."""
    if Path(entry.path).exists():
        return None
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(entry.path, revision=entry.revision).sha
    except Exception:  # offline or no access: the run records none and loads what load_dataset finds
        return None


def epoch_counts(weights: dict[str, float], total: int) -> dict[str, int]:
    """Split ``total`` examples by relative weight (largest remainder); weight 0 draws nothing."""
    active = {k: w for k, w in weights.items() if w > 0}
    norm = sum(active.values())
    exact = {k: total * w / norm for k, w in active.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def index_stream(n_rows: int, seed: int, epoch: int, key: str) -> Iterator[tuple[int, int]]:
    """(row index, pass) forever: seeded permutations of the rows, one pass after another."""
    rng = random.Random(f"{seed}/{epoch}/{key}")
    rows = list(range(n_rows))
    round_ = 0
    while n_rows:
        rng.shuffle(rows)
        for i in rows:
            yield i, round_
        round_ += 1


def sample_indices(n_rows: int, count: int, seed: int, epoch: int, key: str) -> list[tuple[int, int]]:
    """The first ``count`` draws of ``index_stream``: distinct rows while count <= n_rows."""
    stream = index_stream(n_rows, seed, epoch, key)
    return [next(stream) for _ in range(count)] if n_rows else []


def message_text(message) -> str:
    return message["content"] if isinstance(message, dict) else str(message)


def selfplay_item(row: dict, key: str, index: int, repeat: int = 0) -> dict:
    """A selfplay prompt with its gold answer and a stable id (``~N`` for its N-th repetition)."""
    completion = row["completion"]
    gold = message_text(completion[-1] if isinstance(completion, list) else completion)
    uid = row.get("snippet_id", "") + f"#{row.get('line_index', index)}" if row.get("snippet_id") else f"{key}#{index}"
    return {"id": uid + (f"~{repeat}" if repeat else ""), "source": key, "prompt": list(row["prompt"]),
            "gold": gold, "language": row.get("language", "")}


def _messages(value, role: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": m["role"], "content": m["content"]} for m in value or []]


def preference_row(row: dict, key: str) -> dict:
    """TRL preference format: prompt (messages), chosen and rejected (one assistant message each).

    Accepted: TRL's explicit prompt (``prompt`` string or messages; ``chosen``/``rejected`` strings or one
    assistant message), and whole conversations (Tülu 3's preference mixture, TRL's implicit prompt) whose
    shared turns before the final assistant message are the prompt (a ``prompt`` string beside them, as
    Tülu has, is its first user turn and adds nothing). Raises ``DropRow`` with the reason otherwise.
    """
    chosen, rejected = _messages(row.get("chosen"), "assistant"), _messages(row.get("rejected"), "assistant")
    if not chosen or not rejected:
        raise DropRow("empty chosen or rejected")
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise DropRow("does not end with an assistant turn")
    if len(chosen) > 1 or len(rejected) > 1:  # whole conversations
        if chosen[:-1] != rejected[:-1]:
            raise DropRow("conversations differ before the final assistant turn")
        prompt = chosen[:-1]
    else:
        prompt = _messages(row.get("prompt"), "user")
    if not prompt or prompt[-1]["role"] != "user":
        raise DropRow("no user turn before the answers")
    return {"prompt": prompt, "chosen": chosen[-1:], "rejected": rejected[-1:], "source": key}


class Mixture:
    """The loaded datasets of a run, by key; ``revisions`` pins Hub datasets to commits."""

    def __init__(self, cfg: RunConfig, loader: Callable = load_entry, revisions: Optional[dict] = None):
        self.cfg = cfg
        self.entries = {e.key: e for e in cfg.train_mixture}
        self.revisions = dict(revisions or {})
        self.datasets = {e.key: loader(e, self.revisions.get(e.key)) for e in cfg.train_mixture}

    def sizes(self) -> dict[str, int]:
        return {k: len(d) for k, d in self.datasets.items()}

    def plan(self, epoch: int) -> dict[str, int]:
        """Examples requested per dataset for a 1-based epoch."""
        return epoch_counts(self.cfg.curriculum.weights[epoch - 1], self.cfg.curriculum.examples_per_epoch)

    def draw(self, epoch: int) -> tuple[list[dict], list[dict], dict]:
        """(selfplay items, preference rows, report per dataset) for the epoch, deterministic.

        The report gives, per dataset: weight, requested, drawn, unique rows, repeats and dropped rows by reason.
        """
        selfplay, preference, report = [], [], {}
        seed = self.cfg.generation.seed
        weights = self.cfg.curriculum.weights[epoch - 1]
        for key, count in self.plan(epoch).items():
            ds, kind = self.datasets[key], self.entries[key].type
            if len(ds) == 0:
                raise DataError(f"train_mixture entry {key!r} has no rows but weight {weights[key]:g} in epoch {epoch}")
            drawn, seen, dropped = [], set(), {}  # dropped: row -> reason, each row counted once
            for i, round_ in index_stream(len(ds), seed, epoch, key):
                if len(drawn) == count or len(dropped) == len(ds):
                    break
                if i in dropped:
                    continue
                if kind == "selfplay":
                    drawn.append(selfplay_item(ds[i], key, i, round_))
                else:
                    try:
                        drawn.append(preference_row(ds[i], key))
                    except DropRow as why:
                        dropped[i] = str(why)
                        continue
                seen.add(i)
            if not drawn:
                raise DataError(f"train_mixture entry {key!r}: no usable row in {len(ds)} "
                                f"({dict(Counter(dropped.values()))})")
            (selfplay if kind == "selfplay" else preference).extend(drawn)
            report[key] = {"type": kind, "weight": weights[key], "requested": count, "drawn": len(drawn),
                           "unique": len(seen), "repeats": len(drawn) - len(seen),
                           "dropped": dict(Counter(dropped.values())), "rows": len(ds)}
        return selfplay, preference, report
