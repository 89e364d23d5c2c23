"""Which Argdown element each source line belongs to, and the top-level units of a file.

Both read the syntax tree (lexer + parser, no model building), so they agree
with the parser on what a premise, a relation or an inference line is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import parser as P, tokens as T
from .document import LineIndex, syntax_tree

# Element kinds, in the order a reader meets them in a reconstruction.
FRONT_MATTER = "front-matter"
HEADING = "heading"
STATEMENT = "statement"
ARGUMENT = "argument"
PREMISE = "premise"
INFERENCE = "inference"
CONCLUSION = "conclusion"
RELATION = "relation"
LIST_ITEM = "list-item"
COMMENT = "comment"  # a line with no tokens that is not blank
BLANK = "blank"
UNKNOWN = "unknown"  # inside a block the parser rejected

_TOP_KINDS = {
    P.HEADING: HEADING,
    P.STATEMENT: STATEMENT,
    P.ARGUMENT: ARGUMENT,
    P.ORDERED_LIST: LIST_ITEM,
    P.UNORDERED_LIST: LIST_ITEM,
}


def source_lines(text: str) -> list[str]:
    """Lines as the lexer and ``LineIndex`` count them (only CR, LF and CRLF break lines)."""
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _mark(node, kind: str, index: LineIndex, out: dict[int, str]) -> None:
    """Label every line a token of ``node`` starts on (first label wins: outer before inner)."""
    if isinstance(node, T.Token):
        if node.start < 0 or node.kind in (T.EMPTYLINE, T.INDENT, T.DEDENT):
            return
        first = index.position(node.start)[0]
        last = index.position(max(node.start, node.end - 1))[0]
        for line in range(first, last + 1):
            out.setdefault(line, kind)
        return
    if node.name == P.RELATION:
        kind = RELATION
    elif node.name == P.PCS:
        _mark_pcs(node, index, out)
        return
    for child in node.children:
        _mark(child, kind, index, out)


def _mark_pcs(node, index: LineIndex, out: dict[int, str]) -> None:
    after_inference = False
    items = []
    for child in node.children:
        items.extend(child.children if getattr(child, "name", None) == P.PCS_TAIL else [child])
    for item in items:
        if item.name == P.INFERENCE:
            _mark(item, INFERENCE, index, out)
            after_inference = True
        else:
            _mark(item, CONCLUSION if after_inference else PREMISE, index, out)
            after_inference = False


def line_kinds(text: str) -> list[str]:
    """One element kind per line of ``text`` (see the constants above)."""
    tree, _ = syntax_tree(text)
    index = LineIndex(text)
    out: dict[int, str] = {}
    for child in tree.children:
        if isinstance(child, T.Token):
            if child.kind == T.FRONT_MATTER:
                _mark(child, FRONT_MATTER, index, out)
            continue
        _mark(child, _TOP_KINDS.get(child.name, STATEMENT), index, out)
    lines = source_lines(text)
    kinds = []
    for number, line in enumerate(lines, start=1):
        if number in out:
            kinds.append(out[number])
        elif not line.strip():
            kinds.append(BLANK)
        elif _is_comment(line):
            kinds.append(COMMENT)
        elif kinds and kinds[-1] not in (BLANK, COMMENT):
            kinds.append(kinds[-1])  # continuation of a token-less span (e.g. inside a comment block)
        else:
            kinds.append(UNKNOWN)
    return kinds


def _is_comment(line: str) -> bool:
    s = line.strip()
    return s.startswith(("//", "<!--", "/*", "*/", "-->"))


@dataclass
class Unit:
    """A top-level block group of an .argdown file: lines ``first``..``last`` (1-based, inclusive)."""

    first: int
    last: int
    headings: list[str]


def top_level_units(text: str) -> tuple[list[Unit], list[tuple[int, int]]]:
    """Split an Argdown file into the units the parser builds, with their heading path.

    An argument title followed by its premise-conclusion structure is one unit;
    headings are context, not units. Returns (units, rejected line ranges): the
    ranges are blocks the parser rejected (blank-line separated, 1-based).
    """
    tree, _ = syntax_tree(text)
    index = LineIndex(text)
    units: list[Unit] = []
    headings: list[tuple[int, str]] = []
    covered: set[int] = set()
    lines = source_lines(text)
    previous = None
    for child in tree.children:
        if isinstance(child, T.Token):
            if child.kind == T.FRONT_MATTER:
                first, last = index.position(child.start)[0], index.position(child.end - 1)[0]
                covered.update(range(first, last + 1))
            continue
        first = index.position(child.start)[0]
        last = index.position(max(child.start, child.end - 1))[0]
        covered.update(range(first, last + 1))
        if child.name == P.HEADING:
            level = len(child.children[0].image.strip())  # the HeadingStart token: "#", "##", ...
            title = lines[first - 1].lstrip("#").strip()
            headings = [h for h in headings if h[0] < level] + [(level, title)]
            previous = None
            continue
        path = [h[1] for h in headings]
        if child.name == P.PCS and previous is not None and previous.name == P.ARGUMENT:
            units[-1].last = last
        else:
            units.append(Unit(first, last, path))
        previous = child
    return units, _uncovered_blocks(text, covered)


def _uncovered_blocks(text: str, covered: set[int]) -> list[tuple[int, int]]:
    """Blank-line separated runs of non-comment lines that no parsed block covers."""
    blocks = []
    start = None
    lines = source_lines(text)
    for number, line in enumerate(lines + [""], start=1):
        content = line.strip() and not _is_comment(line) and number not in covered
        if content and start is None:
            start = number
        elif not line.strip() and start is not None:
            blocks.append((start, number - 1))
            start = None
        elif number in covered and start is not None:
            blocks.append((start, number - 1))
            start = None
    return blocks
