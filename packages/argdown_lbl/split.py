"""Snippets -> "write the next line" chat rows, assigned to train/validation/test by snippet.

For a snippet of n lines, the item for line i shows the instruction, the
context and lines 1..i-1 inside an open fence; its completion is line i
exactly as written. Blank lines are kept in the prompt (in Argdown they end
statements and separate a title from its pcs) but are never targets: an empty
gold line would make exact-match filtering trivial, so the target is always
the next non-blank line. A last item per snippet has the closing fence as its
completion: it teaches where the snippet ends.

Splits are chosen by a hash of the snippet's code (whitespace at line ends
ignored), so identical snippets from different sources land in the same split;
a config with ``split_by: source`` hashes the source instead, so that all its
snippets (a generated argument's reconstruction and its map) share a split.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional

from .argdown import parse
from .argdown.lines import line_kinds
from .corpus import ConfigSpec
from .hash_split import assign_split, snippet_key
from .readers import SUFFIXES, read_source
from .issues import Issue
from .snippets import ReadResult, Snippet
from .z3check import run_smtlib

END = "```"
FENCE_TAG = {"argdown": "argdown", "smt2": "smt2", "python": "python"}
WHAT = {"argdown": "Argdown snippet", "smt2": "SMT-LIB script for Z3", "python": "Python program using z3py"}
INSTRUCTION = (
    "Continue the {what} below. Write only its next non-empty line, exactly as it should appear "
    "(keep its indentation). If the snippet is complete, write ``` to close it."
)


@dataclass
class Checked:
    snippet: Snippet
    valid: bool
    check: str  # "ok", the first error, z3's verdicts, or "not run (...)"
    source_sha256: str
    upstream: str


@dataclass
class ConfigResult:
    spec: ConfigSpec
    rows: dict[str, list[dict]] = field(default_factory=dict)
    problems: list[Issue] = field(default_factory=list)
    n_sources: int = 0
    n_snippets: int = 0  # read, before checks
    n_kept: int = 0
    n_invalid_kept: int = 0
    n_duplicates: int = 0
    snippets_per_split: dict[str, int] = field(default_factory=dict)


def prompt_text(snippet: Snippet, previous: list[str], context: str) -> str:
    parts = [INSTRUCTION.format(what=WHAT[snippet.language])]
    if context:
        parts.append("Context:\n" + context)
    parts.append("```" + FENCE_TAG[snippet.language] + "\n" + "".join(line + "\n" for line in previous))
    return "\n\n".join(parts)


def snippet_rows(item: Checked, config: str, context_chars: int) -> list[dict]:
    """One row per non-blank line, plus the closing-fence row."""
    snippet = item.snippet
    lines = snippet.code.rstrip("\n").split("\n")
    kinds = line_kinds(snippet.code) if snippet.language == "argdown" else [""] * len(lines)
    context = snippet.context(context_chars)
    common = {
        "snippet_id": f"{config}/{snippet.source}:{snippet.line}",
        "source": snippet.source, "source_sha256": item.source_sha256, "upstream": item.upstream,
        "n_lines": len(lines), "language": snippet.language, "fence_info": snippet.info,
        "valid": item.valid, "check": item.check,
    }
    rows = []
    targets = [i for i, line in enumerate(lines) if line.strip()] + [len(lines)]
    for i in targets:
        completion = lines[i] if i < len(lines) else END
        rows.append({
            "prompt": [{"role": "user", "content": prompt_text(snippet, lines[:i], context)}],
            "completion": [{"role": "assistant", "content": completion}],
            **common,
            "line_index": i,
            "source_line": snippet.line + i,
            "element": kinds[i] if i < len(lines) else "end",  # line_kinds covers every line of the code
        })
    return rows


def check_snippet(snippet: Snippet, spec: ConfigSpec) -> tuple[bool, str, list[Issue]]:
    """Validate one snippet: (valid, check summary, problems with source positions)."""
    if snippet.language == "argdown":
        doc = parse(snippet.code, source=snippet.source)
        if doc.ok:
            return True, "ok", []
        problems = [Issue(snippet.line + e.line - 1, e.column, e.message, "argdown", snippet.source)
                    for e in doc.errors]
        return False, f"{doc.errors[0].line}:{doc.errors[0].column}: {doc.errors[0].message}", problems
    if snippet.language == "smt2":
        if "no-build" in snippet.flags:
            return True, "not run (no-build)", []
        result = run_smtlib(snippet.code, spec.z3_timeout_ms)
        if result.errors and "ignore-errors" not in snippet.flags:
            problems = [Issue(snippet.line + ln - 1, col, f"z3: {msg}", "z3", snippet.source)
                        for ln, col, msg in result.errors]
            return False, result.summary, problems
        return True, result.summary, []
    return True, "not run (python)", []  # corpora code is not executed


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_all(spec: ConfigSpec, keep_invalid: bool, progress: Callable[[str], None]):
    """Yield (ReadResult, sha256, upstream label) per source of the config."""
    upstream = f"{spec.upstream.repo}@{spec.upstream.commit}" if spec.upstream else ""
    if spec.generator is not None:
        from .readers.markdown import read_markdown
        from .synthetic import generate_documents, logic_documents

        documents = logic_documents if spec.generator.family == "logic" else generate_documents
        for label, text in documents(spec.generator.seed, spec.generator.count):
            yield read_markdown(text, label), _sha256(text.encode()), f"seed={spec.generator.seed}"
            progress(label)
        return
    for path, label in spec.sources():
        if path.suffix.lower() not in SUFFIXES and spec.upstream is not None:
            continue  # the pinned globs may match files we do not read (images); not the user's to fix
        if path.suffix.lower() not in SUFFIXES:
            yield ReadResult(problems=[Issue(1, 1, f"unsupported file type {path.suffix or '(none)'}; "
                                               "left out", "source", label)]), "", upstream
        else:
            yield read_source(path, label, keep_invalid), _sha256(path.read_bytes()), upstream
        progress(label)


def split_config(spec: ConfigSpec, keep_invalid: bool = False,
                 progress: Optional[Callable[[str], None]] = None) -> ConfigResult:
    """Read, check and split one config; nothing raises on bad sources (see ``problems``)."""
    progress = progress or (lambda label: None)
    keep_invalid = keep_invalid or spec.keep_invalid
    out = ConfigResult(spec)
    if spec.upstream is not None and not spec.cache.is_dir():
        out.problems.append(Issue(1, 1, "upstream sources not fetched: run `argdown-lbl fetch` first", "config",
                                  str(spec.folder / "config.yaml")))
        return out
    checked: list[Checked] = []
    for read, sha, upstream in _read_all(spec, keep_invalid, progress):
        out.n_sources += 1
        out.problems.extend(read.problems)
        for snippet in read.snippets:
            if snippet.language not in spec.languages:
                continue
            out.n_snippets += 1
            n = snippet.code.count("\n") + 1
            if not snippet.code.strip():
                out.problems.append(Issue(snippet.line, 1, "empty snippet; left out", "source", snippet.source))
                continue
            if n > spec.max_snippet_lines:
                out.problems.append(Issue(snippet.line, 1, f"snippet of {n} lines exceeds max_snippet_lines="
                                          f"{spec.max_snippet_lines}; left out", "source", snippet.source))
                continue
            valid, summary, problems = check_snippet(snippet, spec)
            if not valid:
                if not keep_invalid:
                    out.problems.extend(problems)
                    continue
                out.n_invalid_kept += 1
            checked.append(Checked(snippet, valid, summary, sha, upstream))
    _assign(out, checked)
    return out


def _assign(out: ConfigResult, checked: list[Checked]) -> None:
    ratios = out.spec.split_ratios(len(checked))
    by_key: dict[str, list[Checked]] = defaultdict(list)
    by_source = out.spec.split_by == "source"  # the snippets of one source (an argument's pcs and map) together
    for item in checked:
        by_key[snippet_key(item.snippet.source if by_source else item.snippet.code)].append(item)
    rows: dict[str, list[dict]] = {name: [] for name in ratios}
    counts: dict[str, int] = {name: 0 for name in ratios}
    for key, items in by_key.items():
        split = assign_split(key, ratios)
        first = items[0].snippet
        for dup in ([] if by_source else items[1:]):
            out.n_duplicates += 1
            out.problems.append(Issue(dup.snippet.line, 1, f"same code as {first.source}:{first.line}; kept, in the "
                                      f"same split ({split})", "duplicate", dup.snippet.source))
        for item in items:
            rows[split].extend(snippet_rows(item, out.spec.name, out.spec.context_chars))
            counts[split] += 1
    for split_rows in rows.values():
        split_rows.sort(key=lambda r: (r["source"], r["source_line"], r["line_index"]))
    out.rows = {k: v for k, v in rows.items() if v}
    out.snippets_per_split = {k: v for k, v in counts.items() if v}
    out.n_kept = len(checked)


def source_count(spec: ConfigSpec) -> int:
    """How many sources a config will read (for progress bars)."""
    if spec.generator is not None:
        return spec.generator.count
    return sum(1 for path, _ in spec.sources() if spec.upstream is None or path.suffix.lower() in SUFFIXES)


__all__ = ["ConfigResult", "END", "INSTRUCTION", "check_snippet", "prompt_text", "snippet_rows", "source_count",
           "split_config"]
