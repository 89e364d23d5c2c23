"""Repeating a relation never loses it: the relation set follows the reference's rule, whatever the places.

Maps of arguments (some reconstructed) with support, attack and undercut relations; each relation is
written in one or more of the places the syntax allows: under the source's title (outgoing), under the
target's title (incoming), and under the source's conclusion when it is reconstructed. The reference's
rule (@argdown/core's model plugin): a relation from a reconstructed argument starts at its main
conclusion's statement; an undercut of a reconstructed argument ends at its inference; identical
relations are merged into one.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from argdown_lbl.argdown import parse

OUT = {"support": "+>", "attack": "->", "undercut": "_>"}  # under the source: source -> target
IN = {"support": "+", "attack": "-", "undercut": "<_"}  # under the target: source -> target


@st.composite
def maps(draw):
    n = draw(st.integers(2, 4))
    reconstructed = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    relations = draw(st.lists(st.tuples(st.sampled_from(sorted(OUT)), st.sampled_from(pairs)), min_size=1,
                              max_size=5, unique=True))
    places = []
    for kind, (i, j) in relations:
        options = ["source", "target"] + (["conclusion"] if reconstructed[i] else [])
        chosen = draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True))
        places.append(chosen)
    return n, reconstructed, relations, places


def render(n, reconstructed, relations, places) -> str:
    blocks = [f"<A{i}>: Argument {i}." for i in range(n)]
    under_conclusion = {i: [] for i in range(n)}
    for (kind, (i, j)), where in zip(relations, places):
        if "source" in where:
            blocks.append(f"<A{i}>\n  {OUT[kind]} <A{j}>")
        if "target" in where:
            blocks.append(f"<A{j}>\n  {IN[kind]} <A{i}>")
        if "conclusion" in where:
            under_conclusion[i].append(f"  {OUT[kind]} <A{j}>")
    for i in range(n):
        if reconstructed[i]:
            lines = [f"<A{i}>", "", f"(1) [P{i}]: Premise {i}.", "----", f"(2) [C{i}]: Conclusion {i}."]
            blocks.append("\n".join(lines + under_conclusion[i]))
    return "\n\n".join(blocks) + "\n"


def expected(reconstructed, relations) -> set:
    out = set()
    for kind, (i, j) in relations:
        source = ("equivalence-class", f"C{i}") if reconstructed[i] else ("argument", f"A{i}")
        target = ("inference" if kind == "undercut" and reconstructed[j] else "argument", f"A{j}")
        out.add((kind, source, target))
    return out


def found(doc) -> list:
    return [(r["relationType"], (r["fromType"], r["from"]), (r["toType"], r["to"]))
            for r in doc.to_json()["relations"]]


@settings(max_examples=300, deadline=None)
@given(maps())
def test_repeated_relations_merge_into_one_and_none_is_lost(case):
    n, reconstructed, relations, places = case
    text = render(n, reconstructed, relations, places)
    doc = parse(text)
    assert doc.ok, (text, doc.errors)
    got = found(doc)
    assert sorted(got) == sorted(expected(reconstructed, relations)), text  # as a list: no duplicates either


def test_the_undercut_under_title_and_conclusion_is_kept_once():
    text = "<A>: a.\n  _> <B>\n\n<A>\n\n(1) p\n----\n(2) q\n  _> <B>\n\n<B>\n\n(1) x\n----\n(2) y\n"
    assert found(parse(text)) == [("undercut", ("equivalence-class", "Untitled 2"), ("inference", "B"))]
