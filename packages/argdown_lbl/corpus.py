"""A corpus is a folder of config folders; each config folder holds sources and an optional config.yaml.

    corpora/
      classic-philosophical-arguments/   <- a config: sources only, all defaults
        cogito.argdown
      argdown-docs-guide/
        config.yaml                      <- upstream: repo, commit, paths; fetched into .cache/
      synthetic_corpus-001/
        config.yaml                      <- generator: {seed, count}; no files needed (Markdown documents:
                                            each argument in prose, its reconstruction and its map)

``load_corpus`` validates every config.yaml (unknown keys and bad values are
errors naming the file and key) and lists the sources each config will read.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


from .errors import ConfigError, read_text
from .yamlfile import YAMLFileError, load_yaml

CACHE = ".cache"  # inside the corpus folder; git-ignored
DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
SMALL_SPLITS = {"train": 0.8, "test": 0.2}
SMALL_CONFIG = 50  # configs with fewer snippets get train and test only (unless splits are given)


@dataclass
class Upstream:
    """Text that is not ours: where it lives and where a --from folder keeps it."""

    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits
    paths: list[str]  # globs inside the repository
    offline: str  # the same files inside a folder laid out like ../shared/upstream
    strip: str = ""  # repository prefix that `offline` replaces (e.g. docs/)
    license: str = "unknown"


@dataclass
class Generator:
    seed: int = 1
    count: int = 1000
    family: str = "arguments"  # synthetic.generate_documents; "logic": synthetic.logic_documents (Z3 validity)


@dataclass
class ConfigSpec:
    name: str
    folder: Path
    license: str = "cc-by-4.0"
    description: str = ""
    kind: str = "line-by-line"  # or "texts": inputs of `argdown-lbl pairs`, not split
    languages: list[str] = field(default_factory=lambda: ["argdown", "smt2", "python"])
    keep_invalid: bool = False
    context_chars: int = 1200
    max_snippet_lines: int = 2000
    z3_timeout_ms: int = 5000
    split_by: str = "snippet"  # or "source": every snippet of a source in the source's split
    splits: Optional[dict[str, float]] = None  # None: DEFAULT_SPLITS, or SMALL_SPLITS for small configs
    upstream: Optional[Upstream] = None
    generator: Optional[Generator] = None

    @property
    def cache(self) -> Path:
        return self.folder.parent / CACHE / self.name

    def sources(self) -> list[tuple[Path, str]]:
        """(file, source label) for every file, sorted; upstream files come from the cache. Which of them can
        be read is the readers' business (``split`` reports our unreadable files and skips upstream's)."""
        if self.upstream is not None:
            root = self.cache
            if not root.is_dir():
                return []
            files = [p for p in root.rglob("*") if p.is_file() and p.name != "FETCHED.json"]
            return sorted((p, p.relative_to(root).as_posix()) for p in files)
        files = [p for p in self.folder.rglob("*") if p.is_file() and p.name != "config.yaml"]
        return sorted((p, p.relative_to(self.folder).as_posix()) for p in files if not _hidden(p, self.folder))

    def split_ratios(self, n_snippets: int) -> dict[str, float]:
        if self.splits is not None:
            return self.splits
        return SMALL_SPLITS if n_snippets < SMALL_CONFIG else DEFAULT_SPLITS


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


_SCALARS = {
    "license": str, "description": str, "kind": str, "keep_invalid": bool, "context_chars": int,
    "max_snippet_lines": int, "z3_timeout_ms": int, "split_by": str,
}
_KEYS = set(_SCALARS) | {"languages", "splits", "upstream", "generator"}


def _fail(path: Path, key: str, message: str) -> None:
    raise ConfigError(f"{path}: key '{key}': {message}")


def _check_type(path: Path, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        _fail(path, key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _upstream(path: Path, raw: Any) -> Upstream:
    if not isinstance(raw, dict):
        _fail(path, "upstream", "expected a mapping with repo, commit, paths, offline")
    allowed = {"repo", "commit", "paths", "offline", "strip", "license"}
    for key in raw:
        if key not in allowed:
            _fail(path, f"upstream.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in ("repo", "commit", "paths", "offline"):
        if key not in raw:
            _fail(path, f"upstream.{key}", "missing")
    commit = str(raw["commit"])
    if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit.lower()):
        _fail(path, "upstream.commit", f"expected a full 40-hex commit hash, got {commit!r}")
    paths = raw["paths"]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        _fail(path, "upstream.paths", "expected a list of glob strings")
    return Upstream(repo=str(raw["repo"]), commit=commit, paths=paths, offline=str(raw["offline"]),
                    strip=str(raw.get("strip", "")), license=str(raw.get("license", "unknown")))


def load_config(folder: Path) -> ConfigSpec:
    spec = ConfigSpec(name=folder.name, folder=folder)
    path = folder / "config.yaml"
    if not path.exists():
        return spec
    try:
        raw = load_yaml(read_text(path), path) or {}
    except YAMLFileError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    for key, value in raw.items():
        if key not in _KEYS:
            _fail(path, key, f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
        if key in _SCALARS:
            setattr(spec, key, _check_type(path, key, value, _SCALARS[key]))
    if "languages" in raw:
        langs = raw["languages"]
        if not isinstance(langs, list) or not set(langs) <= {"argdown", "smt2", "python"}:
            _fail(path, "languages", "expected a list drawn from argdown, smt2, python")
        spec.languages = langs
    if "splits" in raw:
        splits = raw["splits"]
        if (not isinstance(splits, dict) or not splits or "train" not in splits
                or not set(splits) <= {"train", "validation", "test"}
                or not all(isinstance(v, (int, float)) and v >= 0 for v in splits.values())
                or abs(sum(splits.values()) - 1) > 1e-6):
            _fail(path, "splits", "expected ratios for train (and validation, test) that sum to 1")
        spec.splits = {k: float(v) for k, v in splits.items()}
    if "upstream" in raw:
        spec.upstream = _upstream(path, raw["upstream"])
    if "generator" in raw:
        gen = raw["generator"]
        if not isinstance(gen, dict) or not set(gen) <= {"seed", "count", "family"}:
            _fail(path, "generator", "expected a mapping with seed, count and family")
        spec.generator = Generator(
            seed=_check_type(path, "generator.seed", gen.get("seed", 1), int),
            count=_check_type(path, "generator.count", gen.get("count", 1000), int),
            family=_check_type(path, "generator.family", gen.get("family", "arguments"), str),
        )
        if spec.generator.family not in ("arguments", "logic"):
            _fail(path, "generator.family", f"expected 'arguments' or 'logic', got {spec.generator.family!r}")
    if spec.split_by not in ("snippet", "source"):
        _fail(path, "split_by", f"expected 'snippet' or 'source', got {spec.split_by!r}")
    if spec.kind not in ("line-by-line", "texts"):
        _fail(path, "kind", f"expected 'line-by-line' or 'texts', got {spec.kind!r}")
    if spec.context_chars < 0 or spec.max_snippet_lines < 1 or spec.z3_timeout_ms < 1:
        _fail(path, "context_chars/max_snippet_lines/z3_timeout_ms", "must be positive")
    return spec


def load_corpus(root: Path, only: Optional[list[str]] = None, kind: str = "line-by-line") -> list[ConfigSpec]:
    """Every config folder of a corpus of the given kind (sorted), or the ones named in ``only`` (globs allowed)."""
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if only:
        missing = [o for o in only if not any(fnmatch.fnmatch(f.name, o) for f in folders)]
        if missing:
            raise ConfigError(f"{root}: no config folder matches {', '.join(missing)}")
        folders = [f for f in folders if any(fnmatch.fnmatch(f.name, o) for o in only)]
    return [spec for spec in map(load_config, folders) if spec.kind == kind]
