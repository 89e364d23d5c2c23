"""Differential testing against the reference Argdown CLI (@argdown/cli 1.7.5).

The CLI is installed by ``make test`` into tests/reference/node_modules when node
exists. Snippets are written to a temp folder and exported in one batch call
(one node process for all snippets), then compared on a projection of the
model: validity, titles, member texts and positions, pcs roles and relations.

The reference's results for our own cases (the tricky cases, the corpora we wrote and a synthetic
sample) are stored in tests/fixtures/reference_outputs.json, so that agreement is checked on every
machine, also without node; ``make reference`` regenerates it (``python tests/oracle.py --record``).
The official docs' snippets are upstream text: they are compared live only.
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
STORED = ROOT / "tests" / "fixtures" / "reference_outputs.json"
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


def run_js_yaml(sources: list[str]) -> list[dict]:
    """The reference's YAML reader (its js-yaml) on each data block source, in one node process:
    -> {"json": value} or {"error": reason, "line": L, "column": C} per source."""
    proc = subprocess.run(["node", str(ROOT / "tests" / "reference" / "load_yaml.js")],
                          input=json.dumps(sources), capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in proc.stdout.split("\n") if line]  # not splitlines: U+2028 is in strings


def _member(m: dict) -> tuple:
    return (
        m.get("role"), m.get("title"), m.get("text"), bool(m.get("isReference")),
        m.get("startLine"), m.get("startColumn"), m.get("endLine"), m.get("endColumn"), m.get("data"),
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
                "pcs": [(s.get("title"), s.get("role"), tuple(s.get("inference", {}).get("inferenceRules", [])),
                         s.get("inference", {}).get("data"))
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


def corpora_snippets() -> dict[str, str]:
    """Every Argdown snippet we wrote (corpora/, upstream configs aside) and 60 synthetic arguments."""
    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.readers import read_source
    from argdown_lbl.synthetic import generate_sources

    snippets = {}
    for spec in load_corpus(ROOT / "corpora"):
        if spec.upstream is not None or spec.generator is not None:
            continue
        for path, label in spec.sources():
            for s in read_source(path, label).snippets:
                if s.language == "argdown":
                    snippets[re.sub(r"[^A-Za-z0-9]+", "-", f"{spec.name}-{label}-{s.line}")] = s.code
    for label, text in generate_sources(seed=1, count=60):
        snippets[re.sub(r"[^A-Za-z0-9]+", "-", label)] = text
    return snippets


def stored_cases() -> dict[str, str]:
    """The cases whose reference results are stored: ours, never upstream text."""
    return {**{f"tricky/{k}": v for k, v in tricky_snippets().items()},
            **{f"corpora/{k}": v for k, v in corpora_snippets().items()}}


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record(cases: dict[str, str], workdir: Path) -> dict[str, dict]:
    """The reference's results for ``cases`` as stored: text hash, first errors and the model's projection."""
    safe = {re.sub(r"[^A-Za-z0-9]+", "-", name): name for name in cases}
    ref = run_reference({s: cases[n] for s, n in safe.items()}, workdir)
    results = {name: {"sha256": _sha(cases[name]), "errors": ref[s]["errors"],
                      "json": None if ref[s]["json"] is None else projection(ref[s]["json"])}
               for s, name in safe.items()}
    return json.loads(json.dumps(results))  # as stored: tuples become lists


def load_stored() -> dict[str, dict]:
    return json.loads(STORED.read_text(encoding="utf-8"))


def compare_stored(name: str, text: str, stored: dict) -> list[str]:
    """Like ``compare``, against a stored result (projection already applied); a changed case text is stale."""
    if stored["sha256"] != _sha(text):
        return [f"{name}: the stored reference result is for another text; run `make reference`"]
    ours = parse(text)
    ref_ok = stored["json"] is not None
    if ours.ok != ref_ok:
        return [f"{name}: validity differs (reference ok={ref_ok}, ours ok={ours.ok}) at "
                f"{stored['errors'][:1]}: " + "; ".join(str(e) for e in ours.errors[:2])]
    if not ref_ok:
        return []
    a = json.loads(json.dumps(projection(ours.to_json())))
    return [f"{name}: {key} differ\n  ours: {a[key]}\n  ref:  {stored['json'][key]}"
            for key in a if a[key] != stored["json"][key]]


if __name__ == "__main__":  # python tests/oracle.py --record
    import sys
    import tempfile

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/oracle.py --record")
    reason = reference_available()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        results = record(stored_cases(), Path(tmp))
    STORED.write_text(json.dumps(results, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(results)} reference results -> {STORED}")
