"""What a model or dataset reference means: a local folder, or else a Hub id.

A reference that exists on disk is local. One that does not exist and cannot be a Hub id
(``runs/tiny/base`` has two slashes) is a missing folder, reported as such with what to do,
instead of being passed to transformers or datasets as a Hub id. A valid Hub id that the Hub
cannot provide (offline, private, misspelt) is reported by the loader (``load_failure``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from argdown_lbl.errors import UserError

from .config import RunConfig, check_trackers

MODEL_HINT = ("build one with `spin-train init-tiny DIR --data DATASET` (what `make demo` does) "
              "or give a checkpoint folder or a Hub id ORG/NAME")
DATASET_HINT = ("write one with `argdown-lbl split corpora --out DIR` (what `make demo` does) "
                "or give a dataset folder or a Hub id ORG/NAME")


def is_hub_id(ref: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(ref)
    except HFValidationError:
        return False
    return not ref.startswith((".", "~"))


def require(ref: str, what: str, hint: str) -> None:
    """Raise a ``UserError`` naming ``what`` (a config key or an option) when ``ref`` is a missing local path."""
    if Path(ref).expanduser().exists() or is_hub_id(ref):
        return
    raise UserError(f"{what}: {ref} does not exist (no such folder, and not a Hub id ORG/NAME); {hint}")


def require_file(ref: Optional[str], what: str) -> None:
    if ref is not None and not Path(ref).expanduser().is_file():
        raise UserError(f"{what}: {ref} is not a file")


def load_failure(ref: str, what: str, exc: BaseException) -> UserError:
    """A loader's error for a reference that passed ``require``: one line naming it."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = "the folder" if Path(ref).expanduser().exists() else "neither a local folder nor on the Hub (offline?)"
    return UserError(f"{what}: cannot load {ref} ({where}): {first}")


def check_run_sources(cfg: RunConfig) -> None:
    """Every path a run reads, and the trackers it reports to, checked before anything heavy starts."""
    require(cfg.model.path, "model.path", MODEL_HINT)
    for i, entry in enumerate(cfg.train_mixture):
        require(entry.path, f"train_mixture[{i}].path", DATASET_HINT)
    if cfg.evaluation.enabled and cfg.evaluation.dataset:
        require(cfg.evaluation.dataset, "evaluation.dataset", DATASET_HINT)
    require_file(cfg.spectrum.unfrozen_parameters_file, "spectrum.unfrozen_parameters_file")
    require_file(cfg.dpo.accelerate_config, "dpo.accelerate_config")
    require_file(cfg.dpo.deepspeed, "dpo.deepspeed")
    check_trackers(cfg.dpo.report_to)
