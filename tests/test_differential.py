"""Our parser against the reference CLI on the official docs and our tricky cases."""

import re

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


@pytest.fixture(scope="module")
def tricky(need_reference, tmp_path_factory):
    """The tricky cases and the reference's results for them (one CLI run for the module)."""
    snippets = oracle.tricky_snippets()
    return snippets, oracle.run_reference(snippets, tmp_path_factory.mktemp("ref"))


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


def test_tricky_cases_agree(tricky):
    snippets, ref = tricky
    assert len(snippets) >= 100
    problems = _problems(snippets, ref)
    assert problems == [], "\n".join(problems)
    invalid = [n for n in snippets if ref[n]["json"] is None]
    assert len(invalid) >= 20  # the set exercises errors as well as models


def test_invalid_snippets_report_the_references_first_error_line(tricky):
    from argdown_lbl.argdown import parse

    snippets, ref = tricky
    checked = 0
    for name, text in snippets.items():
        if ref[name]["errors"]:
            ours = parse(text).errors
            assert ours and ours[0].line == ref[name]["errors"][0][0], (name, ours[0], ref[name]["errors"])
            checked += 1
    assert checked >= 15


def test_our_corpora_agree_with_the_reference(need_reference, tmp_path_factory):
    """Every Argdown snippet we wrote (corpora/) and a sample of the synthetic corpus: same model as the reference."""
    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.readers import read_source
    from argdown_lbl.synthetic import generate_sources

    snippets = {}
    for spec in load_corpus(oracle.ROOT / "corpora"):
        if spec.upstream is not None or spec.generator is not None:
            continue
        for path, label in spec.sources():
            for s in read_source(path, label).snippets:
                if s.language == "argdown":
                    snippets[re.sub(r"[^A-Za-z0-9]+", "-", f"{spec.name}-{label}-{s.line}")] = s.code
    for label, text in generate_sources(seed=1, count=60):
        snippets[re.sub(r"[^A-Za-z0-9]+", "-", label)] = text
    assert len(snippets) >= 60 + 60 + 40 + 20
    ref = oracle.run_reference(snippets, tmp_path_factory.mktemp("ref"))
    problems = _problems(snippets, ref)
    assert problems == [], "\n".join(problems)
    assert all(ref[name]["json"] is not None for name in snippets)  # the reference accepts all of them
