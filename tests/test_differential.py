"""Our parser against the reference CLI on the official docs and our tricky cases."""

import pytest

import oracle

# Frontmatter settings of map plugins that rewrite the model after parsing; not
# part of the syntax and not implemented here (see docs/parser.md).
MAP_PLUGIN_SNIPPETS = {
    "guide-creating-group-nodes-004": "group.regroup (RegroupPlugin)",
    "guide-creating-group-nodes-007": "group.regroup (RegroupPlugin)",
    "guide-creating-oldschool-argument-maps-and-inference-trees-000": "model.explodeArguments",
    "guide-creating-statement-and-argument-nodes-014": "model.explodeArguments",
    "guide-creating-statement-and-argument-nodes-015": "model.explodeArguments",
}

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def need_reference():
    reason = oracle.reference_available()
    if reason:
        pytest.skip(reason)


def _problems(snippets, ref, exempt=()):
    return [p for name, text in snippets.items() if name not in exempt for p in oracle.compare(name, text, ref[name])]


def test_docs_snippets_agree(need_reference, tmp_path_factory):
    if not oracle.ARGDOWN_DOCS.exists():
        pytest.skip(f"{oracle.ARGDOWN_DOCS} is absent (the upstream Argdown docs live in ../shared)")
    snippets = oracle.docs_snippets()
    assert len(snippets) >= 150
    ref = oracle.run_reference(snippets, tmp_path_factory.mktemp("ref"))
    problems = _problems(snippets, ref, MAP_PLUGIN_SNIPPETS)
    assert problems == [], "\n".join(problems)
    # The exemptions name real snippets (a renamed docs file must not silently drop one).
    for name in MAP_PLUGIN_SNIPPETS:
        assert name in snippets


# Our own cases are checked against the stored reference results on every machine (no node needed).

@pytest.fixture(scope="module")
def stored():
    return oracle.stored_cases(), oracle.load_stored()


def test_every_case_has_a_stored_reference_result(stored):
    cases, results = stored
    assert set(results) == set(cases), "run `make reference` to record the reference's results"


def test_tricky_cases_agree(stored):
    cases, results = stored
    tricky = {n: t for n, t in cases.items() if n.startswith("tricky/")}
    assert len(tricky) >= 100
    problems = [p for name, text in tricky.items() for p in oracle.compare_stored(name, text, results[name])]
    assert problems == [], "\n".join(problems)
    assert sum(results[n]["json"] is None for n in tricky) >= 20  # the set exercises errors as well as models


def test_invalid_snippets_report_the_references_first_error_line(stored):
    from argdown_lbl.argdown import parse

    cases, results = stored
    checked = 0
    for name, text in cases.items():
        if results[name]["errors"]:
            ours = parse(text).errors
            assert ours and ours[0].line == results[name]["errors"][0][0], (name, ours[0], results[name]["errors"])
            checked += 1
    assert checked >= 15


def test_our_corpora_agree_with_the_reference(stored):
    """Every Argdown snippet we wrote (corpora/) and a sample of the synthetic corpus: same model as the reference."""
    cases, results = stored
    ours = {n: t for n, t in cases.items() if n.startswith("corpora/")}
    assert len(ours) >= 60 + 60 + 40 + 20
    problems = [p for name, text in ours.items() for p in oracle.compare_stored(name, text, results[name])]
    assert problems == [], "\n".join(problems)
    assert all(results[name]["json"] is not None for name in ours)  # the reference accepts all of them


def test_stored_results_are_the_references(need_reference, tmp_path_factory):
    """Where node runs: the stored results are what the reference says now (else `make reference`)."""
    cases, results = oracle.stored_cases(), oracle.load_stored()
    live = oracle.record(cases, tmp_path_factory.mktemp("ref"))
    stale = [name for name in cases if live[name] != results.get(name)]
    assert stale == [], f"{len(stale)} stored results differ from the reference, e.g. {stale[:3]}; run `make reference`"


REALWORLD = oracle.SHARED / "upstream" / "argdown-realworld"


def _realworld_invalid() -> dict[str, list[tuple[int, int]]]:
    """expected/INVALID.txt: file stem -> the reference's error positions."""
    import re

    out: dict[str, list[tuple[int, int]]] = {}
    stem = None
    for line in (REALWORLD / "expected" / "INVALID.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and not line.startswith(" "):
            stem = line.strip()
            out[stem] = []
        elif (m := re.match(r"\s+At (\d+):(\d+)", line)) and stem is not None:
            out[stem].append((int(m.group(1)), int(m.group(2))))
    return out


def test_real_world_files_agree_with_the_references_output():
    """Files from public repositories: the reference's model where it accepts them, its first error line
    where it does not (its outputs are stored in ../shared, so this runs without node)."""
    if not REALWORLD.is_dir():
        pytest.skip(f"{REALWORLD} is absent (the real-world Argdown files live in ../shared)")
    import json

    from argdown_lbl.argdown import parse

    invalid = _realworld_invalid()
    files = sorted((REALWORLD / "files").glob("*.argdown"))
    problems = []
    for path in files:
        text = path.read_bytes().decode("utf-8-sig")  # as the CLI reads it: CRLF kept
        if path.stem in invalid:
            ours = parse(text).errors
            if not ours or ours[0].line != invalid[path.stem][0][0]:
                problems.append(f"{path.name}: ours {ours[:1]}, reference {invalid[path.stem][:1]}")
        else:
            ref = {"json": json.loads((REALWORLD / "expected" / f"{path.stem}.json").read_text(encoding="utf-8")),
                   "errors": []}
            problems += oracle.compare(path.name, text, ref)
    assert len(files) >= 40 and len(invalid) >= 5
    assert problems == [], "\n".join(problems)
