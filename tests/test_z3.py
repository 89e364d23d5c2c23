"""z3 checks: verdicts and errors, and agreement with the outputs upstream printed (z3 5.0.0)."""

import json
from pathlib import Path

import pytest

from argdown_lbl.readers import read_markdown
from argdown_lbl.z3check import run_smtlib, verdicts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "z3guide"


def test_verdicts_and_error_positions_in_a_fresh_context():
    result = run_smtlib("(declare-const p Bool)\n(assert p)\n(check-sat)\n(assert (not p))\n(check-sat)\n")
    assert result.verdicts == ["sat", "unsat"] and not result.errors
    # a fresh context: p from the script above is unknown here; the error is on line 1, column 9 as z3 prints it
    result = run_smtlib("(assert p)\n(check-sat)\n")
    assert result.verdicts[0] == "error" and result.errors[0][:2] == (1, 9)
    assert result.verdicts[-1] == "sat"


def test_timeout_returns_unknown_instead_of_hanging():
    hard = ("(set-option :smt.mbqi true)\n(declare-sort S)\n(declare-fun g (S) S)\n(declare-fun f (S) S)\n"
            "(declare-const a S)\n(assert (forall ((x S)) (= (g (f x)) x)))\n"
            "(assert (forall ((x S)) (not (= a (f x)))))\n(check-sat)\n")
    assert run_smtlib(hard, timeout_ms=500).verdicts == ["unknown"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/upstream/z3guide is absent (upstream data, not in the repo)")
def test_verdicts_agree_with_upstream_outputs():
    records = [json.loads(line) for line in (SHARED / "logic-snippets-with-outputs.jsonl").open()]
    assert len(records) == 44
    # Our reader finds the same snippets at the same lines.
    found = {}
    for path in sorted((SHARED / "logic").glob("*.md")):
        for s in read_markdown(path.read_text(encoding="utf-8"), path.name).snippets:
            found[(s.source, s.line - 1)] = s  # upstream records the fence line
    agree = 0
    for rec in records:
        snippet = found[(rec["file"], rec["line"])]
        assert snippet.code.rstrip("\n") == rec["code"]
        if "no-build" in snippet.flags:
            continue  # upstream marks it not to be run; with z3 4.15+/5.x it does not finish
        ours = run_smtlib(snippet.code, timeout_ms=5000)
        theirs, their_errors = verdicts(rec["z3_output"])
        assert ours.verdicts == theirs, (rec["file"], rec["line"])
        assert [e[:2] for e in ours.errors] == [e[:2] for e in their_errors]
        agree += 1
    assert agree == 43
