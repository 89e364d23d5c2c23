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
        parse(text)  # must finish (pytest-timeout guards the suite)


@given(st.text(alphabet=st.sampled_from("ab\n\r \U0001F600"), max_size=40), st.data())
def test_line_index_positions_agree_with_counting(text, data):
    # LineIndex finds line starts two ways (with and without "\r"); both must count as the reference:
    # "\r\n", "\r" and "\n" end a line, and columns are UTF-16 units.
    from argdown_lbl.argdown.document import LineIndex

    offset = data.draw(st.integers(0, len(text)))
    if text[offset - 1:offset + 1] == "\r\n":
        offset -= 1  # the "\n" of a "\r\n" sits on the line that pair ends
    before = text[:offset].replace("\r\n", "\n").replace("\r", "\n")
    line = before.count("\n") + 1
    column = len(before.rsplit("\n", 1)[-1].encode("utf-16-le")) // 2 + 1
    index = LineIndex(text)
    assert index.position(offset) == (line, column)
    assert index.span(offset, offset) == (line, column, line, column)
