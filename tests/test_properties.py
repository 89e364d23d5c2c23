"""Property tests: random and mutated Argdown never raises, the token count stays linear,
and every error points inside the input. Linear work on unclosed constructs: test_linear_time.py."""

import json

from hypothesis import given, settings, strategies as st

from argdown_lbl.argdown import lexer, parse
from oracle import TRICKY

ALPHABET = st.sampled_from(list("ab <>[]():@#*_-+=/{}.,\\\n\n\t\r!?123") + ["----", "(1) ", "    + ", "<_ ", "==="])
SEEDS = list(json.loads(TRICKY.read_text(encoding="utf-8")).values())


def check(text):
    doc = parse(text)
    lines = text.splitlines() or [""]
    for err in doc.errors:
        assert 1 <= err.line <= len(lines) + 1, (err, text)
        assert err.column >= 1
        assert err.message
    doc.to_json()
    doc.to_networkx()
    # Each lexer step consumes at least one character (empty Indent/Dedent tokens
    # are bounded by the number of indentation changes), so work is linear.
    assert len(lexer.tokenize(text).tokens) <= 3 * len(text) + 2


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_random_argdown_never_raises(text):
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.integers(0, 400), st.integers(0, 20), st.sampled_from(["", "\n", "*", "{", "--", "    -", "["]))
def test_mutated_argdown_never_raises(seed, at, cut, insert):
    at = min(at, len(seed))
    check(seed[:at] + insert + seed[at + cut:])


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_raises(text):
    check(text)


def test_pathological_repetition_is_handled():
    for unit in ["{", "{a: 1} ", "[", "<", "*", "_a", "(1) ", "    + x\n", "===", "/*", "<!--"]:
        text = unit * 3000
        doc = parse(text)  # must finish (pytest-timeout guards the suite), with errors that point into the text
        lines = text.count("\n") + 1
        assert all(1 <= e.line <= lines for e in doc.errors), (unit, [e.line for e in doc.errors][:5])


def _counted(text: str, offset: int) -> tuple[int, int]:
    """Line and UTF-16 column of ``offset``, counted the slow way."""
    before = text[:offset].replace("\r\n", "\n").replace("\r", "\n")
    return before.count("\n") + 1, len(before.rsplit("\n", 1)[-1].encode("utf-16-le")) // 2 + 1


@given(st.text(alphabet=st.sampled_from("ab\n\r \U0001F600"), max_size=40), st.data())
def test_line_index_positions_agree_with_counting(text, data):
    # LineIndex finds line starts two ways (with and without "\r") and answers spans from a cursor
    # (asked in any order here); all must count as the reference: "\r\n", "\r" and "\n" end a line,
    # and columns are UTF-16 units.
    from argdown_lbl.argdown.document import LineIndex

    def offset():
        at = data.draw(st.integers(0, len(text)))
        return at - 1 if text[at - 1:at + 1] == "\r\n" else at  # a "\r\n"'s "\n" is on the line it ends

    index = LineIndex(text)
    for _ in range(data.draw(st.integers(1, 6))):
        start, last = sorted((offset(), offset()))
        assert index.position(start) == _counted(text, start)
        assert index.span(start, last) == _counted(text, start) + _counted(text, last)
