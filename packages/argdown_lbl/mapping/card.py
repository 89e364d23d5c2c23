"""The pairs dataset folder: parquet under ``default/`` and a card, pushable like the line-by-line one."""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import __version__
from ..dataset_folder import write_tables
from .pairs import INSTRUCTION, PairsResult

CONFIG = "default"


def features():
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    string, int32, boolean = Value("string"), Value("int32"), Value("bool")
    return Features({
        "prompt": List(message), "chosen": List(message), "rejected": List(message),
        "text_id": string, "source": string, "source_sha256": string, "genre": string,
        "strong_model": string, "weak_model": string,
        "chosen_nodes": int32, "chosen_edges": int32, "chosen_parse_ok": boolean,
        "rejected_nodes": int32, "rejected_edges": int32, "rejected_parse_ok": boolean,
        "chosen_issue": string, "rejected_issue": string, "chosen_map": string, "rejected_map": string,
        "margin": Value("float64"),
    })


def card(result: PairsResult, strong: str, weak: str, license: str = "cc-by-4.0") -> str:
    meta = {
        "pretty_name": "Argument mapping DPO pairs", "license": license, "language": ["en"],
        "task_categories": ["text-generation"], "tags": ["argdown", "argument-mapping", "dpo", "preference"],
        "configs": [{"config_name": CONFIG, "default": True,
                     "data_files": [{"split": s, "path": f"{CONFIG}/{s}-*"} for s in result.rows]}],
    }
    counts = ", ".join(f"{s}: {len(r)}" for s, r in result.rows.items()) or "none"
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False).rstrip(), "---", "", "# Argument mapping DPO pairs", "",
        "Each argumentative text was mapped twice by the same pipeline (central issue rated on three criteria; "
        "options, root claims, pros and cons, critiqued and revised; a relevance network with valences from the "
        "pros and cons list and by dialectical equivalence; a maximum branching plus the edges above the 80th "
        "percentile per valence, no reverse edges, at most 3 outgoing edges per reason), once with a strong and "
        "once with a weak model. The strong model's map is `chosen`, the weak one's `rejected`.", "",
        f"- strong model: `{strong}`", f"- weak model: `{weak}`",
        f"- texts: {result.n_texts}; pairs: {counts}; skipped: {len(result.skipped)}",
        f"- built with argunauts {__version__}: `argdown-lbl pairs`", "",
        "Rows are TRL's conversational preference format: `prompt` (one user message: the instruction and the "
        "text), `chosen` and `rejected` (one assistant message each, an Argdown map in a fence), plus `text_id`, "
        "`source`, `source_sha256`, `genre`, both models, nodes/edges/parse status of both maps, the central "
        "issue each model chose, each map's nodes and weighted edges as JSON (`chosen_map`, `rejected_map`: "
        "`nodes` with id, kind, text; `edges` with source, target, valence, weight, method, in_tree) and "
        "`margin`, (reasons + relations of the chosen map - those of the rejected one) / those of the chosen "
        "one. The instruction reads:", "", "> " + INSTRUCTION, "",
        "## Quality gate", "",
        "A text gives no pair when the strong map does not parse, has no reasons or no relations, has a question "
        "as a root claim, when both maps are the same, or when the weak map is richer (more reasons + relations) "
        "than the strong one. Texts skipped, per reason:", "",
        "| reason | texts |", "|---|---|",
    ] + [f"| {why} | {n} |" for why, n in sorted(result.skip_counts().items())] + [
        f"| (none: pairs written) | {sum(len(r) for r in result.rows.values())} |", ""]
    if result.skipped:
        lines += ["## Skipped texts", ""] + [f"- `{tid}`: {why}" for tid, why in result.skipped] + [""]
    return "\n".join(lines)


def write_pairs(result: PairsResult, out: Path, strong: str, weak: str) -> list[Path]:
    written = write_tables(out, {CONFIG: result.rows}, features())
    path = out / "README.md"
    path.write_text(card(result, strong, weak), encoding="utf-8")
    return written + [path]
