"""Differential testing against the reference Argdown CLI (@argdown/cli 1.7.5).

The CLI is installed by ``make test`` into tests/reference/node_modules when node
exists. Snippets are written to a temp folder and exported in one batch call
(one node process for all snippets), then compared on a projection of the
model: validity, titles, member texts and positions, pcs roles and relations.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from argdown_lbl.argdown import find_snippets, parse

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CLI = ROOT / "tests" / "reference" / "node_modules" / ".bin" / "argdown"
SHARED = ROOT.parent / "shared"
ARGDOWN_DOCS = SHARED / "upstream" / "argdown-docs"
TRICKY = ROOT / "tests" / "fixtures" / "tricky_cases.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def reference_available() -> str | None:
    """None if the reference can be used, else the reason it cannot."""
    if shutil.which("node") is None:
        return "node is not installed, so the reference CLI (@argdown/cli 1.7.5) cannot run"
    if not REFERENCE_CLI.exists():
        return "the reference CLI is not installed: run `make reference` (npm install in tests/reference)"
    return None


def run_reference(snippets: dict[str, str], workdir: Path) -> dict[str, dict]:
    """Export every snippet with the reference; -> name: {"json": dict|None, "errors": [(line, col)]}."""
    src = workdir / "src"
    out = workdir / "out"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in snippets.items():
        (src / f"{name}.argdown").write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [str(REFERENCE_CLI), "json", str(src / "*.argdown"), str(out)],
        capture_output=True, text=True, timeout=600,
    )
    log = _ANSI.sub("", proc.stdout + proc.stderr)
    errors: dict[str, list] = {}
    current = None
    for line in log.splitlines():
        m = re.match(r"Argdown syntax errors in (.*)\.argdown: \d+", line)
        if m:
            current = Path(m.group(1)).name
            errors[current] = []
            continue
        m = re.match(r"At (\d+):(\d+)", line)
        if m and current is not None:
            errors[current].append((int(m.group(1)), int(m.group(2))))
    results = {}
    for name in snippets:
        path = out / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        results[name] = {"json": data, "errors": errors.get(name, [])}
    return results


def _member(m: dict) -> tuple:
    return (
        m.get("role"), m.get("title"), m.get("text"), bool(m.get("isReference")),
        m.get("startLine"), m.get("startColumn"), m.get("endLine"), m.get("endColumn"),
    )


def projection(data: dict) -> dict:
    """The parts of an ``argdown json`` export that the parser must agree on."""
    return {
        "statements": {
            title: {
                "members": [_member(m) for m in ec["members"]],
                "tags": sorted(ec.get("tags", [])),
            }
            for title, ec in data["statements"].items()
        },
        "arguments": {
            title: {
                "members": [_member(m) for m in a["members"]],
                "pcs": [(s.get("title"), s.get("role"), tuple(s.get("inference", {}).get("inferenceRules", [])))
                        for s in a["pcs"]],
            }
            for title, a in data["arguments"].items()
        },
        "relations": sorted(
            (r["from"], r["relationType"], r["to"], r.get("toType"), r.get("conclusionIndex"))
            for r in data["relations"]
        ),
        "sections": [(s["id"], s["title"], s["level"]) for s in data.get("sections", [])],
    }


def compare(name: str, text: str, ref: dict) -> list[str]:
    """Differences between our parse and the reference's result (empty = agreement)."""
    ours = parse(text)
    problems = []
    ref_ok = ref["json"] is not None
    if ours.ok != ref_ok:
        where = ref["errors"][:1] or [(e.line, e.column) for e in ours.errors[:1]]
        problems.append(f"{name}: validity differs (reference ok={ref_ok}, ours ok={ours.ok}) at {where}: "
                        + "; ".join(str(e) for e in ours.errors[:2]))
        return problems
    if not ref_ok:
        return problems
    a, b = projection(ours.to_json()), projection(ref["json"])
    for key in a:
        if a[key] != b[key]:
            problems.append(f"{name}: {key} differ\n  ours: {a[key]}\n  ref:  {b[key]}")
    return problems


def docs_snippets() -> dict[str, str]:
    """Every fenced Argdown snippet of the official guide and syntax spec."""
    out = {}
    for md in sorted(ARGDOWN_DOCS.rglob("*.md")):
        for snip in find_snippets(md.read_text(encoding="utf-8")):
            stem = re.sub(r"[^A-Za-z0-9]+", "-", f"{md.parent.name}-{md.stem}")
            out[f"{stem}-{snip.index:03d}"] = snip.code
    return out


def tricky_snippets() -> dict[str, str]:
    """Our hand-written edge cases (name -> exact source text, CRLF and missing newlines kept)."""
    cases = json.loads(TRICKY.read_text(encoding="utf-8"))
    return {re.sub(r"[^A-Za-z0-9]+", "-", name): text for name, text in cases.items()}
