"""Upload a dataset folder (``dataset_folder``) to the Hub as a dataset repository.

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


def plan_upload(folder: Path, repo_id: str, private: bool = False) -> UploadPlan:
    """The files ``push`` would send, after the same ignore patterns as ``upload_folder``."""
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise UserError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    if not (folder / "README.md").exists():
        raise UserError(f"{folder}: no README.md; is this a folder written by `argdown-lbl split`?")
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if not any(fnmatch.fnmatch(rel, pat) for pat in UPLOAD_IGNORE):
            files.append((str(path), rel))
    return UploadPlan(repo_id, files, private)


def push(folder: Path, repo_id: str, private: bool = False, api=None, message: Optional[str] = None):
    """Create the dataset repo if needed and upload the folder in one commit.

    The token comes from HF_TOKEN or the saved login (huggingface_hub's usual
    lookup); it is never printed.
    """
    from huggingface_hub import HfApi

    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    plan = plan_upload(folder, repo_id, private)
    api = api or HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), repo_type="dataset", ignore_patterns=UPLOAD_IGNORE,
            commit_message=message or f"argdown-lbl: {len(plan.files)} files",
        )
    except HfHubHTTPError as exc:  # the Hub answered: 401/403 (token), 404, 5xx; the token is not in the message
        status = exc.response.status_code if exc.response is not None else "?"
        hint = " (set HF_TOKEN or run `hf auth login`)" if status in (401, 403) else ""
        raise UserError(f"the Hub refused datasets/{repo_id}: HTTP {status}{hint}: "
                        f"{str(exc).splitlines()[0]}") from None
    except OfflineModeIsEnabled:
        raise UserError("HF_HUB_OFFLINE is set: unset it to push (or use --dry-run)") from None
    except httpx.TransportError as exc:  # no answer at all
        raise UserError(f"cannot reach the Hub at {api.endpoint} ({type(exc).__name__}: {exc}); check the network, "
                        "or HF_ENDPOINT if you use a mirror") from None


def describe(plan: UploadPlan) -> str:
    head = f"would upload {len(plan.files)} files to datasets/{plan.repo_id} ({'private' if plan.private else 'public'})"
    return "\n".join([head] + [f"  {local} -> {remote}" for local, remote in plan.files])
