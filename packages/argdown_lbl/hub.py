"""Upload a folder to the Hub: a dataset folder (``dataset_folder``) as a dataset repository, a checkpoint with
its model card (spin_train.model_card) as a model repository.

The token comes from HF_TOKEN or the saved login (huggingface_hub's usual lookup); it is never printed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import httpx

from .errors import UserError

UPLOAD_IGNORE = [".git/*", ".cache/*", ".*"]


@dataclass
class UploadPlan:
    repo_id: str
    files: list[tuple[str, str]]  # (local path, path in repo)
    private: bool
    repo_type: str = "dataset"
    revision: Optional[str] = None  # a branch (made if missing); None: main

    @property
    def where(self) -> str:
        return f"{'datasets/' if self.repo_type == 'dataset' else ''}{self.repo_id}" + \
            (f"@{self.revision}" if self.revision else "")


MISSING_CARD = {"dataset": "is this a folder written by `argdown-lbl split`?",
                "model": "is this a checkpoint saved by `spin-train run` or `spin-train sft` (they write its card)?"}


def plan_upload(folder: Path, repo_id: str, private: bool = False, repo_type: str = "dataset",
                revision: Optional[str] = None) -> UploadPlan:
    """The files ``push`` would send, after the same ignore patterns as ``upload_folder``."""
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise UserError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    if not (folder / "README.md").exists():
        raise UserError(f"{folder}: no README.md; {MISSING_CARD[repo_type]}")
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if not any(fnmatch.fnmatch(rel, pat) for pat in UPLOAD_IGNORE):
            files.append((str(path), rel))
    return UploadPlan(repo_id, files, private, repo_type, revision)


def push(folder: Path, repo_id: str, private: bool = False, api=None, message: Optional[str] = None,
         repo_type: str = "dataset", revision: Optional[str] = None):
    """Create the repo (and the ``revision`` branch) if needed and upload the folder in one commit.

    The token comes from HF_TOKEN or the saved login (huggingface_hub's usual
    lookup); it is never printed.
    """
    from huggingface_hub import HfApi

    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    plan = plan_upload(folder, repo_id, private, repo_type, revision)
    api = api or HfApi()
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), repo_type=repo_type, ignore_patterns=UPLOAD_IGNORE,
            revision=revision, commit_message=message or f"{len(plan.files)} files",
        )
    except HfHubHTTPError as exc:  # the Hub answered: 401/403 (token), 404, 5xx; the token is not in the message
        status = exc.response.status_code if exc.response is not None else "?"
        hint = " (set HF_TOKEN or run `hf auth login`)" if status in (401, 403) else ""
        raise UserError(f"the Hub refused {plan.where}: HTTP {status}{hint}: "
                        f"{str(exc).splitlines()[0]}") from None
    except OfflineModeIsEnabled:
        raise UserError("HF_HUB_OFFLINE is set: unset it to push (or use --dry-run)") from None
    except httpx.TransportError as exc:  # no answer at all
        raise UserError(f"cannot reach the Hub at {api.endpoint} ({type(exc).__name__}: {exc}); check the network, "
                        "or HF_ENDPOINT if you use a mirror") from None


def describe(plan: UploadPlan) -> str:
    head = f"would upload {len(plan.files)} files to {plan.where} ({'private' if plan.private else 'public'})"
    return "\n".join([head] + [f"  {local} -> {remote}" for local, remote in plan.files])
