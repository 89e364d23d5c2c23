"""A dataset folder as the Hub serves it: a card (README.md with ``configs:``) and parquet per config and split.

``datasets.load_dataset(DIR, name=CONFIG)`` resolves it locally exactly as it resolves ``ORG/NAME`` on
the Hub, and ``hf upload ORG/NAME DIR --repo-type dataset`` (or ``hub.push``) uploads it unchanged.
Written by ``split`` (line-by-line rows) and ``pairs`` (map pairs); read back by spin-train through
``load`` (the one loading function of both packages).

Why ``load`` and not plain ``load_dataset`` for a folder: ``datasets`` keys its cache of a local folder
on the folder's name, the card and the files' paths and modification times, not on their content, and
serves the cached rows when the key matches: a corpus fixed and split again into the same folder, or
another folder of the same name, gave the earlier rows (tests/test_dataset_loading.py). ``load`` keeps
each content in a cache of its own (``content_fingerprint``: the sha256 of the config's data files).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Optional

import yaml

from . import __version__
from .errors import UserError, read_text
from .split import INSTRUCTION, ConfigResult

def features():
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    string, int32 = Value("string"), Value("int32")
    return Features({
        "prompt": List(message), "completion": List(message),
        "snippet_id": string, "source": string, "source_sha256": string, "upstream": string,
        "line_index": int32, "source_line": int32, "n_lines": int32, "language": string,
        "fence_info": string, "element": string, "valid": Value("bool"), "check": string,
    })


def card_config_names(folder: Path) -> list[str]:
    """The config names a dataset folder's card declares (as ``datasets`` resolves them)."""
    from .yamlfile import load_yaml

    path = Path(folder) / "README.md"
    if not path.is_file():
        raise UserError(f"{folder}: no README.md; not a dataset folder written by `argdown-lbl split`")
    card = read_text(path)
    meta = load_yaml(card.split("---")[1], path) if card.startswith("---") else None
    if not isinstance(meta, dict) or not isinstance(meta.get("configs"), list):
        raise UserError(f"{path}: no `configs:` list in the card's YAML header; not written by `argdown-lbl split`?")
    return [c["config_name"] for c in meta["configs"]]


def local_files(folder: Path, name: Optional[str] = None) -> dict[str, list[Path]]:
    """The data files per split of config ``name`` of a local folder, resolved as ``datasets`` resolves them
    (the card's ``configs:``, else its default layout)."""
    from datasets import load_dataset_builder

    builder = load_dataset_builder(str(folder), name=name)
    return {split: sorted(Path(f) for f in files) for split, files in (builder.config.data_files or {}).items()}


def content_fingerprint(folder: Path, names: list[Optional[str]]) -> str:
    """sha256 over the data files of configs ``names`` of a local folder: their paths in it and their bytes."""
    folder = Path(folder).expanduser().resolve()
    digest = hashlib.sha256()
    for name in names:
        for split, files in sorted(local_files(folder, name).items()):
            for path in files:
                digest.update(f"{name}\0{split}\0{path.resolve().relative_to(folder).as_posix()}\0".encode())
                with open(path, "rb") as fh:
                    digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def is_local(path: str) -> bool:
    return Path(path).expanduser().exists()


def load(path: str, name: Optional[str] = None, split: Optional[str] = None, revision: Optional[str] = None):
    """``datasets.load_dataset(path, name=name, split=split)``; a local folder is read from a cache keyed on its
    content (the module docstring says why), a Hub id at ``revision``."""
    from datasets import config, load_dataset

    if not is_local(path):
        return load_dataset(path, name=name, split=split, revision=revision)
    folder = Path(path).expanduser()
    cache = Path(config.HF_DATASETS_CACHE) / "by-content" / content_fingerprint(folder, [name])[:32]
    return load_dataset(str(folder), name=name, split=split, cache_dir=str(cache))


def parquet_rows(path: Path) -> list[dict]:
    """The rows of one parquet file, read as they are on disk (no ``datasets`` cache)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path)).to_pylist()


def parquet_name(split: str) -> str:
    return f"{split}-00000-of-00001.parquet"


def write_tables(out: Path, tables: dict[str, dict[str, list[dict]]], feats) -> list[Path]:
    """Write ``<config>/<split>-*.parquet`` for {config: {split: rows}}; stale parquet files go."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # one bar per parquet file drowns the caller's own progress bar
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for config, splits in tables.items():
        folder = out / config
        folder.mkdir(exist_ok=True)
        for stale in folder.glob("*.parquet"):
            stale.unlink()
        for split, rows in splits.items():
            path = folder / parquet_name(split)
            Dataset.from_list(rows, features=feats).to_parquet(str(path))
            written.append(path)
    return written


def write_dataset(results: list[ConfigResult], out: Path, pretty_name: str = "Argdown line-by-line") -> list[Path]:
    """Write ``<config>/<split>-*.parquet`` and README.md; returns the files written."""
    written = write_tables(out, {r.spec.name: r.rows for r in results}, features())
    card = out / "README.md"
    card.write_text(dataset_card(results, pretty_name, {p.relative_to(out).as_posix(): p.stat().st_size
                                                        for p in written}), encoding="utf-8")
    written.append(card)
    return written


def _card_metadata(results: list[ConfigResult], pretty_name: str, sizes: Optional[dict[str, int]] = None) -> dict:
    kept = [r for r in results if r.rows]
    licenses = sorted({_license(r) for r in kept})
    meta = {
        "pretty_name": pretty_name,
        "license": licenses[0] if len(licenses) == 1 else licenses,
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["argdown", "argumentation", "argument-mapping", "logic", "z3", "line-by-line"],
        "configs": [
            {"config_name": r.spec.name,
             "data_files": [{"split": s, "path": f"{r.spec.name}/{s}-*"} for s in r.rows]}
            for r in kept
        ],
    }
    if sizes is not None:
        # Split sizes, as the Hub's cards carry them. They also make the card differ whenever the data does:
        # `datasets` keys its cache of a local folder on the card alone, so a rewritten folder with the same card
        # would load the rows of the first one.
        meta["dataset_info"] = [
            {"config_name": r.spec.name,
             "splits": [{"name": s, "num_examples": len(rows),
                         "num_bytes": sizes.get(f"{r.spec.name}/{parquet_name(s)}", 0)} for s, rows in r.rows.items()]}
            for r in kept
        ]
    return meta


def _license(result: ConfigResult) -> str:
    if result.spec.upstream is not None:
        return result.spec.upstream.license.lower()
    return result.spec.license.lower()


def _provenance(result: ConfigResult) -> str:
    spec = result.spec
    if spec.upstream is not None:
        up = spec.upstream
        return f"[{up.repo}](https://github.com/{up.repo}) @ `{up.commit}`: {', '.join(f'`{p}`' for p in up.paths)}"
    if spec.generator is not None:
        return f"generated by `argdown_lbl.synthetic` (seed {spec.generator.seed}, {spec.generator.count} arguments)"
    return "written for this dataset (`corpora/" + spec.name + "`)"


def dataset_card(results: list[ConfigResult], pretty_name: str, sizes: Optional[dict[str, int]] = None) -> str:
    meta = yaml.safe_dump(_card_metadata(results, pretty_name, sizes), sort_keys=False, allow_unicode=True)
    lines = [
        "---", meta.rstrip(), "---", "", f"# {pretty_name}", "",
        "\"Write the next line\" chat prompts cut from Argdown argument maps and reconstructions, "
        "SMT-LIB scripts for Z3 and z3py programs, each with the prose around its snippet. "
        "Built for self-play fine-tuning (SPIN): the gold completion is the snippet's real next line.", "",
        "## Configs", "",
        "| config | license | source | snippets | rows (train / validation / test) | invalid kept |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r.rows:
            continue
        counts = " / ".join(str(len(r.rows.get(s, []))) for s in ("train", "validation", "test"))
        lines.append(f"| `{r.spec.name}` | {_license(r)} | {_provenance(r)} | {r.n_kept} | {counts} | "
                     f"{r.n_invalid_kept} |")
    lines += [
        "", "## Rows", "",
        "TRL's conversational prompt/completion format: `prompt` is one user message (instruction, context, "
        "the snippet's lines so far inside an open fence), `completion` is one assistant message holding the "
        "next line exactly as written. The instruction reads:", "", "> " + INSTRUCTION.format(what="<language>"),
        "", "Columns: `snippet_id`, `source` (path in the corpus or the upstream repository), `source_sha256`, "
        "`upstream` (repo@commit, or the generator seed), `line_index` (0-based, in the snippet), "
        "`source_line` (1-based, in the source file), `n_lines`, `language` (argdown, smt2, python), "
        "`fence_info`, `element` (for Argdown, what the line is: statement, argument, premise, inference, "
        "conclusion, relation, heading, list-item, comment, front-matter; `end` for the closing row), "
        "`valid` and `check` (the parser's or z3's verdict).", "",
        "Blank lines stay in the prompts but are never targets; each snippet ends with a row whose completion "
        "is the closing fence. Splits are assigned per snippet by a hash of its code, so a snippet never "
        "appears in two splits and duplicates share one split.", "",
        "## How it was built", "",
        f"`argdown-lbl split corpora/ --out DIR` (argunauts {__version__}). Argdown snippets are checked with the "
        "argunauts parser (which agrees with @argdown/cli 1.7.5), SMT-LIB snippets are run with z3-solver (a fresh "
        "context each, with a timeout); Python snippets are not executed.", "",
        "| config | sources | snippets read | kept | duplicates | problems |", "|---|---|---|---|---|---|",
    ]
    for r in results:
        problems = Counter(p.code for p in r.problems if p.code != "duplicate")
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(problems.items())) or "none"
        lines.append(f"| `{r.spec.name}` | {r.n_sources} | {r.n_snippets} | {r.n_kept} | {r.n_duplicates} | "
                     f"{summary} |")
    lines += ["", "Load a config with `datasets.load_dataset(REPO_OR_FOLDER, name=CONFIG)`.", ""]
    return "\n".join(lines)
