"""Shared, session-scoped fixtures for the spin_train tests: a small dataset and a tiny model, built locally."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def build_dataset(out: Path) -> Path:
    """A line-by-line dataset of two of our configs (split by the real CLI code)."""
    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.dataset_folder import write_dataset
    from argdown_lbl.split import split_config

    specs = load_corpus(ROOT / "corpora", ["classic-philosophical-arguments", "critical-thinking-ten-arguments"])
    write_dataset([split_config(s) for s in specs], out)
    return out


def build_model(out: Path, dataset: Path) -> Path:
    from spin_train.data.rows import load_rows
    from spin_train.training.tiny import init_tiny

    init_tiny(out, load_rows(dataset, limit=300), steps=4, vocab_size=600, hidden=32, layers=2,
              max_length=512, log=lambda m: None)
    return out


def tiny_config(model: Path, dataset: Path, **overrides) -> dict:
    cfg = {
        "model": {"path": str(model)},
        "train_mixture": [
            {"path": str(dataset), "config_name": "classic-philosophical-arguments", "type": "selfplay"},
            {"path": str(dataset), "config_name": "critical-thinking-ten-arguments", "type": "selfplay"},
        ],
        "curriculum": {"examples_per_epoch": 8, "weights": [
            {"classic-philosophical-arguments": 1, "critical-thinking-ten-arguments": 1},
            {"critical-thinking-ten-arguments": 1},
        ]},
        "generation": {"backend": "local", "k": 3, "temperature": 0.9, "max_tokens": 6, "batch_size": 2},
        # 6 new tokens cut almost every candidate: let cut ones be rejected answers, or no pair is left
        "filtering": {"truncated_as_rejected": True},
        "dpo": {"learning_rate": 1e-3, "effective_batch_size": 4, "per_device_batch_size": 2,
                "gradient_accumulation_steps": 2, "max_length": 512},
        "spectrum": {"top_percent": 50},
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def processes_of(run_dir) -> list[str]:
    """Command lines of live processes that name ``run_dir`` (the run, its supervisors, launchers and ranks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(run_dir) in cmd and state != "Z":
            found.append(f"{entry.name}: {cmd[:160]}")
    return found


def wait_until(predicate, timeout_s: float, what: str):
    deadline = time.time() + timeout_s
    while not predicate():
        assert time.time() < deadline, what
        time.sleep(0.5)


REAL_BASE = ROOT / "runs" / "base" / "SmolLM2-135M-Instruct"  # `make base` (make test's set-up) makes it


def require_real_base() -> Path:
    """The real base model; its tests skip where `make base` could not make it, and fail under CI."""
    import os

    import pytest

    if not (REAL_BASE / "conversion.json").exists():
        why = f"{REAL_BASE} is missing: `make base` makes it (make test tries; .base-install.log says why it failed)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return REAL_BASE
