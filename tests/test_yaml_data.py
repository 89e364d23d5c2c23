"""YAML data blocks read as the reference reads them (its js-yaml 4), differentially.

Live: hypothesis generates data blocks (tests/yaml_blocks.py) and the reference's own js-yaml
(tests/reference/load_yaml.js) reads each batch; without node, the stored answers of js-yaml for
a generated sample (tests/fixtures/yaml_reference.json) are checked. Agreement: both reject, or
both accept with the same value as the JSON export writes it. ``python tests/test_yaml_data.py
--record`` (part of ``make reference``) draws a new sample and stores js-yaml's answers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import oracle
from argdown_lbl.argdown import parse, yaml_data
from yaml_blocks import DATA_BLOCKS

STORED = Path(__file__).parent / "fixtures" / "yaml_reference.json"


class _QuoteOverLineBreak:
    """A quote that opens a scalar and is not closed on its line (js-yaml's folding of such lines
    differs from PyYAML's where a continuation line is not indented)."""

    _CLOSED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'')
    _OPEN = re.compile(r"(?:^|(?<=[\s\[{,:]))[\"']", re.M)

    def search(self, source: str):
        return self._OPEN.search(self._CLOSED.sub("x", source))


# The differences docs/parser.md lists (each with its example, checked below to still differ):
# blocks of these shapes are left out of the comparison, and counted.
KNOWN_DIFFERENCES = {
    "an anchor or alias name other than ASCII letters, digits, '-' and '_' (PyYAML's rule)": (
        re.compile(r"[&*](?![A-Za-z0-9_-]*(?:[\s,\[\]{}]|$))"), "{a: &Ä 1}"),
    "a tab before the first token of a line": (re.compile(r"(^|\n)[ ]*\t"), "\t{a: 1}"),
    "a tab after the '-' of a block sequence entry": (re.compile(r"(^|\n)[ ]*-\t"), "-\ta: [1]\n"),
    "a first line like 'k:{a, b}' (one plain scalar in js-yaml) with more lines after it": (
        re.compile(r"\A[^\s\[{'\"#](?:(?!:[ \t])[^\n])*:[\[{](?:(?!:[ \t])[^\n])*\n[\s\S]*\S"),
        "k:{a, b}\n\"c\":[-]\n"),
    "a block scalar indicator at the start of a line": (re.compile(r"\n[|>]"), "a: &x\n>\n"),
    "a non-specific tag '!' (js-yaml: a string)": (re.compile(r"(^|[\s,\[{:])!(\s|$)"), "{a: ! 1}"),
    "a quoted scalar that runs on over a line break": (_QuoteOverLineBreak(), 'a: "x\n"b" : 1\n'),
    "an empty key in a flow collection": (re.compile(r"[\[{,]\s*:(?![^\s,\[\]{}])"), "[[:]]"),
}


def known_difference(source: str) -> str | None:
    return next((name for name, (pattern, _) in KNOWN_DIFFERENCES.items() if pattern.search(source)), None)


def ours(source: str) -> dict:
    """Our reading of ``source`` in the oracle's shape ({"json": ...} or {"error": ..., line, column})."""
    try:
        value = yaml_data.load(source)
    except yaml_data.YAMLError as exc:
        mark = exc.problem_mark
        return {"error": exc.problem, "line": mark.line, "column": mark.column}
    return {"json": json.loads(orjson.dumps(value))}


def _doubles(value):
    """JSON numbers as the doubles they denote (we write an integral double >= 2**63 with an
    exponent, JavaScript with all its digits: the same number)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if abs(value) >= 2 ** 53 else value
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    return {k: _doubles(v) for k, v in value.items()}


def disagreements(sources, answers) -> list[str]:
    out = []
    for source, ref in zip(sources, answers):
        if known_difference(source):
            continue
        mine = ours(source)
        if ("error" in mine) != ("error" in ref) or _doubles(mine.get("json")) != _doubles(ref.get("json")):
            out.append(f"{source!r}\n  reference: {ref}\n  ours:      {mine}")
    return out


@pytest.fixture(scope="module")
def need_node():
    reason = oracle.reference_available()
    if reason:
        pytest.skip(reason)


# No shrinking: each example is a batch for one node process, and the message names the blocks.
# Derandomized, so that every run (CI too) reads the same 2,500 blocks; `python
# tests/test_yaml_data.py --explore N` compares N fresh ones.
@pytest.mark.reference
@settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(DATA_BLOCKS, min_size=80, max_size=120))
def test_generated_data_blocks_agree_with_the_references_js_yaml(need_node, sources):
    problems = disagreements(sources, oracle.run_js_yaml(sources))
    assert problems == [], "\n".join(problems[:5])


@pytest.mark.reference
def test_the_listed_differences_are_still_differences(need_node):
    examples = [example for _, example in KNOWN_DIFFERENCES.values()]
    for example, ref in zip(examples, oracle.run_js_yaml(examples)):
        assert known_difference(example)
        mine = ours(example)
        assert ("error" in mine) != ("error" in ref) or mine.get("json") != ref.get("json"), example


def test_stored_js_yaml_answers_agree():
    stored = json.loads(STORED.read_text(encoding="utf-8"))
    cases = [c for c in stored["cases"] if not known_difference(c["source"])]
    assert len(cases) >= 500
    assert sum("error" in c["reference"] for c in cases) >= 50  # rejections are in the sample too
    problems = disagreements([c["source"] for c in cases], [c["reference"] for c in cases])
    assert problems == [], f"{len(problems)} of {len(cases)} disagree:\n" + "\n".join(problems[:5])


# The probe of forms where PyYAML's libyaml reader and js-yaml differ, each checked by hand with
# the reference (also through the whole CLI: the "yaml …" tricky cases in reference_outputs.json).
@pytest.mark.parametrize("source, expected", [
    ('{from:["1","2"]}', {"from": ["1", "2"]}),
    ("{k:{x: 1}}", {"k": {"x": 1}}),
    ("{k:}", {"k": None}),
    ("{k:1}", {"k:1": None}),
    ("{a: yes, b: on, c: ~}", {"a": "yes", "b": "on", "c": None}),
    ("{o: 0o17, d: 017, u: 1_000, s: 1:20, e: 1e5, f: 3.0}", {"o": 15, "d": 17, "u": "1_000", "s": "1:20",
                                                             "e": 100000, "f": 3}),
    ("{t: 2001-12-14 21:59:43.10 -5}", {"t": "2001-12-15T02:59:43.100Z"}),
    ("{b: 1, 2: x, 1: y}", {"1": "y", "2": "x", "b": 1}),
    ("{<<: {a: 1, b: 2}, a: 3}", {"a": 3, "b": 2}),
])
def test_values_are_the_references(source, expected):
    assert yaml_data.load(source) == expected
    assert list(yaml_data.load(source)) == list(expected)  # JavaScript's key order


def test_rejections_name_line_and_column_of_the_problem():
    doc = parse("[A]: a\n\n[B]: b {k: 1, k: 2}\n")
    assert [(e.line, e.column) for e in doc.errors] == [(3, 15)]
    assert "duplicated mapping key" in doc.errors[0].message
    doc = parse("<A>\n\n(1) p\n-- {\nfrom: [1,\n} --\n(2) q\n")
    assert doc.errors and doc.errors[0].line == 6


def record(count: int = 700) -> list[dict]:
    """A fresh generated sample with js-yaml's answer for each block."""
    seen: dict[str, None] = {}

    @settings(max_examples=count * 2, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(DATA_BLOCKS)
    def draw(source):
        if len(seen) < count:
            seen.setdefault(source)

    draw()
    sources = list(seen)
    return [{"source": s, "reference": r} for s, r in zip(sources, oracle.run_js_yaml(sources))]


if __name__ == "__main__":  # python tests/test_yaml_data.py --record | --explore N
    import sys

    if sys.argv[1:2] not in (["--record"], ["--explore"]):
        sys.exit("usage: python tests/test_yaml_data.py --record | --explore N")
    if reason := oracle.reference_available():
        sys.exit(reason)
    if sys.argv[1] == "--explore":
        fresh = [c["source"] for c in record(int(sys.argv[2]))]
        found = disagreements(fresh, oracle.run_js_yaml(fresh))
        left_out = sum(bool(known_difference(s)) for s in fresh)
        print(f"{len(fresh)} fresh blocks, {left_out} of a listed difference, {len(found)} disagree", *found[:10], sep="\n")
        sys.exit(1 if found else 0)
    cases = record()
    STORED.write_text(json.dumps({"reader": "js-yaml as resolved by @argdown/cli 1.7.5", "cases": cases},
                                 indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(cases)} js-yaml answers -> {STORED}")
