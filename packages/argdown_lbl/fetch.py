"""Download the upstream sources a config pins (repo, commit, paths) into the corpus cache.

Online: the repository's tarball at the pinned commit from codeload.github.com
(any base URL that serves ``{base}/{owner}/{name}/tar.gz/{commit}`` works).
Offline: ``--from DIR`` where DIR is laid out like ../shared/upstream; the
config's ``offline`` prefix stands in for the repository prefix ``strip``.
Either way the cache keeps repository paths and a FETCHED.json manifest
(repo, commit, sha256 per file), so a second fetch of the same commit is a no-op.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import shutil
import tarfile
import urllib.request
from pathlib import Path
from typing import Optional

from .corpus import ConfigSpec
from .errors import UserError

CODELOAD = "https://codeload.github.com"
MANIFEST = "FETCHED.json"


class FetchError(UserError):
    """Upstream files could not be had: names the config, the URL or folder, and the way out."""


def _matches(path: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


def _safe(rel: str) -> bool:
    """A repository path that stays inside the cache (no absolute paths, no '..')."""
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _write(cache: Path, files: dict[str, bytes], spec: ConfigSpec, origin: str) -> dict:
    unsafe = [rel for rel in files if not _safe(rel)]
    if unsafe:
        raise FetchError(f"{spec.name}: refusing paths that leave the cache: {unsafe[:3]}")
    if cache.exists():
        shutil.rmtree(cache)
    for rel, data in files.items():
        target = cache / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    manifest = {
        "repo": spec.upstream.repo, "commit": spec.upstream.commit, "origin": origin,
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def cached_manifest(spec: ConfigSpec) -> Optional[dict]:
    path = spec.cache / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return manifest if manifest.get("commit") == spec.upstream.commit else None


def fetch_offline(spec: ConfigSpec, root: Path) -> dict:
    """Copy the pinned paths from a folder laid out like ../shared/upstream."""
    up = spec.upstream
    files = {}
    base = root / up.offline
    if not base.is_dir():
        raise FetchError(f"{spec.name}: {base} does not exist (expected the upstream files under --from DIR)")
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        repo_path = up.strip + path.relative_to(base).as_posix()
        if _matches(repo_path, up.paths):
            files[repo_path] = path.read_bytes()
    if not files:
        raise FetchError(f"{spec.name}: no file under {base} matches {up.paths}")
    return _write(spec.cache, files, spec, f"offline:{root}")


def fetch_online(spec: ConfigSpec, base_url: str = CODELOAD, timeout: float = 60) -> dict:
    """Download the tarball at the pinned commit and keep the files matching ``paths``."""
    up = spec.upstream
    url = f"{base_url.rstrip('/')}/{up.repo}/tar.gz/{up.commit}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https or a test server)
            payload = response.read()
    except OSError as exc:
        raise FetchError(f"{spec.name}: cannot download {url}: {exc} (offline? use --from DIR)") from None
    files = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            repo_path = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if _matches(repo_path, up.paths):
                files[repo_path] = tar.extractfile(member).read()
    if not files:
        raise FetchError(f"{spec.name}: the tarball of {up.repo}@{up.commit[:7]} has no file matching {up.paths}")
    return _write(spec.cache, files, spec, url)


def fetch(spec: ConfigSpec, from_dir: Optional[Path] = None, base_url: str = CODELOAD,
          force: bool = False) -> tuple[dict, bool]:
    """Fetch one config's upstream files; returns (manifest, fetched_now)."""
    if spec.upstream is None:
        raise FetchError(f"{spec.name}: no upstream in config.yaml")
    manifest = None if force else cached_manifest(spec)
    if manifest is not None:
        return manifest, False
    if from_dir is not None:
        return fetch_offline(spec, from_dir), True
    return fetch_online(spec, base_url), True
