"""Hypothesis strategies for YAML data blocks as Argdown authors (and models) write them.

Flow mappings as inline data (``{from:["1"]}``), block mappings as block data and front
matter, with the spellings where YAML readers differ: colons with and without a space, nested
flow collections, quotes, numbers in every base, YAML 1.1 booleans, nulls, empty values, trailing
commas, unicode, duplicate keys, and a character broken here and there for the rejections.
"""

from hypothesis import strategies as st

WORDS = st.sampled_from(["from", "a", "b", "uses", "weight", "title", "isGroup", "k", "Ä", "名前", "x y", "-", "_z"])

NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.integers(-10**25, 10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["0x1F", "0o17", "0b101", "017", "08", "1_000", "1:20", "+5", "-0", "1e5", "1E-3", "2.",
                     ".5", ".inf", "-.Inf", ".NaN", "1e400", "0x", "12345678901234567890", "3.0", "-2.50"]),
)
WORDLIKE = st.sampled_from(["true", "True", "TRUE", "false", "yes", "no", "on", "off", "y", "n", "~", "null",
                            "Null", "NULL", "nil", "2020-01-02", "2001-12-14t21:59:43.10-05:00",
                            "2002-12-14 21:59:43", "2020-13-40", "0050-01-01", "<<", "=", "!", "&a", "*a", "@x"])
PLAIN = st.one_of(WORDS, st.text(st.characters(whitelist_categories=("L", "Nd")), min_size=1, max_size=6))
DOUBLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=5).map(
    lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
SINGLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=5).map(
    lambda s: "'" + s.replace("'", "''") + "'")
ESCAPES = st.sampled_from(['"\\u263A"', '"\\x41"', '"a\\tb"', '"\\/"', '"\\e"', '"\\N"', "'it''s'", '"\\q"'])
SCALARS = st.one_of(PLAIN, NUMBERS, WORDLIKE, DOUBLE, SINGLE, ESCAPES, st.just(""))
KEYS = st.one_of(WORDS, DOUBLE, SINGLE, NUMBERS, st.sampled_from(["true", "null", "1", "1.0", "[1, 2]", "<<"]))
COLON = st.sampled_from([": ", ":", ":  ", " : ", ":\t"])
COMMA = st.sampled_from([", ", ",", " ,", ",  "])


def _mapping(children):
    pair = st.tuples(KEYS, COLON, children).map(lambda t: f"{t[0]}{t[1]}{t[2]}")
    return st.tuples(st.lists(st.one_of(pair, KEYS), max_size=4), COMMA, st.booleans()).map(
        lambda t: "{" + t[1].join(t[0]) + ("," if t[2] and t[0] else "") + "}")


def _flow(children):
    mapping = _mapping(children)
    sequence = st.tuples(st.lists(children, max_size=4), COMMA, st.booleans()).map(
        lambda t: "[" + t[1].join(t[0]) + ("," if t[2] and t[0] else "") + "]")
    return st.one_of(mapping, sequence)


FLOW = st.recursive(SCALARS, _flow, max_leaves=10)
INLINE = _mapping(FLOW)  # inline data is one flow mapping
BLOCK = st.lists(st.tuples(KEYS, COLON, FLOW), min_size=1, max_size=4).map(
    lambda pairs: "".join(f"{k}{c}{v}\n" for k, c, v in pairs))


@st.composite
def broken(draw, source):
    """``source`` with one character inserted or deleted (mostly the syntax-bearing ones)."""
    text = draw(source)
    i = draw(st.integers(0, len(text)))
    if draw(st.booleans()) and text:
        return text[:max(i - 1, 0)] + text[i:]
    return text[:i] + draw(st.sampled_from(list("{}[],:\"'#&*!|>-? \n\t"))) + text[i:]


DATA_BLOCKS = st.one_of(INLINE, INLINE, BLOCK, broken(INLINE), broken(BLOCK))
