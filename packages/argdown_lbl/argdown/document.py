"""The parse pipeline (lexer -> parser -> builder -> relations) and exports.

Read this module first: ``parse`` runs every step in order and returns a
``Document`` that carries the model, the diagnostics and the exports.
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import os
import re
import sys
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Optional

from ..errors import UserError, read_text
from ..issues import Issue
from . import lexer, model as M, parser as P, relations as R
from .model import Argument, EquivalenceClass, Relation, Section

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_LENIENT_LABEL = re.compile(r"^([ \t]*)\(([A-Za-z]+)(\d+)\)", re.M)
_LENIENT_INFERENCE = re.compile(r"^([ \t]*)---[ \t]*$", re.M)
INCLUDE = re.compile(r"@include\(([^)]+)\)")


class LineIndex:
    """Offset -> (line, column), with columns in UTF-16 code units like the reference."""

    def __init__(self, text: str):
        self.text = text
        # Line i spans starts[i]:starts[i + 1]; the last entry, sys.maxsize, closes the last line.
        if "\r" in text:
            self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)] + [sys.maxsize]
        else:  # the common case, without a Python step per line (0.01 s against 0.03 s for 80,000 lines)
            self.starts = list(accumulate(map((1).__add__, map(len, text.split("\n"))), initial=0))
            self.starts[-1] = sys.maxsize
        self.astral = not text.isascii() and _ASTRAL.search(text) is not None  # isascii: no scan
        self.cursor = 0  # the line of span's last answer

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        col = offset - self.starts[i]
        if self.astral:
            col += len(_ASTRAL.findall(self.text, self.starts[i], offset))
        return i + 1, col + 1

    def span(self, start: int, last: int) -> tuple[int, int, int, int]:
        """``position(start) + position(last)``, in one call: the builder asks this for every node.

        The builder asks in source order, mostly for the line of its last answer or the next one: those
        are tried before a binary search (0.06 s against 0.10 s for the 3.8 MB benchmark map's spans)."""
        if self.astral:
            return self.position(start) + self.position(last)
        starts = self.starts
        i = self.cursor
        if start < starts[i] or start >= starts[i + 1]:
            i = i + 1 if starts[i + 1] <= start < starts[i + 2] else bisect.bisect_right(starts, start) - 1
            self.cursor = i
        j = i
        if last >= starts[i + 1]:
            j = i + 1 if last < starts[i + 2] else bisect.bisect_right(starts, last, i) - 1
        return i + 1, start - starts[i] + 1, j + 1, last - starts[j] + 1


class ArgdownSyntaxError(ValueError):
    """Raised by ``Document.raise_for_errors`` (and ``parse(..., raise_errors=True)``)."""

    def __init__(self, diagnostics: list[Issue]):
        self.diagnostics = diagnostics
        lines = [str(d) for d in diagnostics[:10]]
        if len(diagnostics) > 10:
            lines.append(f"... and {len(diagnostics) - 10} more")
        super().__init__("\n".join(lines))


@dataclass
class Document:
    """A parsed Argdown document: the model, its diagnostics and exports."""

    statements: dict[str, EquivalenceClass] = field(default_factory=dict)
    arguments: dict[str, Argument] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    tags: dict[str, M.TagInfo] = field(default_factory=dict)
    front_matter: Any = None
    errors: list[Issue] = field(default_factory=list)
    source: Optional[str] = None
    # The syntax tree (tokens included), only with parse(keep_tree=True).
    tree: Optional[P.Node] = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> "Document":
        if self.errors:
            raise ArgdownSyntaxError(self.errors)
        return self

    def derived_relations(self) -> list[Relation]:
        """Argument-level relations implied by pcs (as the reference derives them for maps)."""
        seen = set()
        out = []
        for node in list(self.statements.values()) + list(self.arguments.values()):
            for rel in R.derive_implicit(node, self.statements, self.arguments):
                key = (rel.type, id(rel.source), id(rel.target))
                if key not in seen and not any(
                    e.type == rel.type and e.source is rel.source and e.target is rel.target for e in self.relations
                ):
                    seen.add(key)
                    out.append(rel)
        return out

    def to_json(self) -> dict:
        from .export import to_json

        return to_json(self)

    def to_networkx(self, derived: bool = True):
        """A networkx MultiDiGraph; ``derived`` adds the relations implied by pcs (marked ``derived=True``)."""
        from .export import to_networkx

        return to_networkx(self, list(self.relations) + (self.derived_relations() if derived else []))


def _lenient_rewrite(text: str) -> str:
    """Accept pyargdown-style input: ``(P1)``/``(C2)`` labels and ``---`` inference lines."""

    def label(m):
        head = f"{m.group(1)}({m.group(3)})"
        return head + " " * (len(m.group(0)) - len(head))

    text = _LENIENT_LABEL.sub(label, text)
    return _LENIENT_INFERENCE.sub(lambda m: m.group(1) + "----", text)


def expand_includes(text: str, path: str, seen: Optional[list[str]] = None) -> tuple[str, list[Issue]]:
    """Replace ``@include(FILE)`` by FILE's content (paths relative to ``path``), once per file."""
    seen = seen if seen is not None else [os.path.abspath(path)]
    problems: list[Issue] = []
    out = []
    last = 0
    index = None
    for m in INCLUDE.finditer(text):
        out.append(text[last:m.start()])
        last = m.end()
        target = os.path.abspath(os.path.join(os.path.dirname(path), m.group(1).strip()))
        if target in seen:
            out.append(f"<!-- Include skipped: '{m.group(1)}' was already included. -->")
            continue
        seen.append(target)
        try:
            included = read_text(target)
        except (OSError, UserError) as exc:
            index = index or LineIndex(text)
            line, col = index.position(m.start())
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            problems.append(Issue(line, col, f"@include: cannot read {m.group(1)!r}: {why}",
                                       code="include", source=path))
            continue
        expanded, sub = expand_includes(included, target, seen)
        problems.extend(sub)
        out.append(expanded)
    out.append(text[last:])
    return "".join(out), problems


def parse(
    text: str,
    *,
    source: Optional[str] = None,
    lenient: bool = False,
    mode: Optional[str] = None,
    include_base: Optional[str] = None,
    raise_errors: bool = False,
    model_on_errors: bool = True,
    keep_tree: bool = False,
) -> Document:
    """Parse Argdown ``text``; never raises on bad input unless ``raise_errors``.

    ``lenient`` additionally accepts what pyargdown accepts (``(P1)`` labels, ``---``).
    ``mode`` ("loose" or "strict") overrides the front matter's ``model.mode``.
    ``include_base``: a file path; ``@include(...)`` is resolved relative to it.
    ``model_on_errors=False``: with syntax errors, stop after the parser (no model, no model-level
    errors), as the reference does; a caller that only reports errors saves the model's cost.
    ``keep_tree``: keep the syntax tree as ``Document.tree``. A process that exits without freeing
    its objects (the CLI) saves freeing the tree token by token (0.06 s of the 3.8 MB benchmark map).
    """
    # The parse allocates millions of short-lived objects and frees no cycles;
    # pausing the cyclic GC halves its run time (measured: benchmarks/parse_speed.py).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, source, lenient, mode, include_base, raise_errors, model_on_errors, keep_tree)
    finally:
        if paused:
            gc.enable()


def _parse(text, source, lenient, mode, include_base, raise_errors, model_on_errors, keep_tree) -> Document:
    pre: list[Issue] = []
    if include_base is not None and "@include(" in text:
        text, pre = expand_includes(text, include_base)
    if lenient:
        text = _lenient_rewrite(text)
    tree, found = syntax_tree(text)
    index = LineIndex(text)
    if not model_on_errors and (pre or found):
        doc = Document(source=source)
    else:
        from .builder import Builder  # here: the error path needs no model (nor YAML), and starts sooner

        builder = Builder(text, index)
        settings = builder.build(tree)
        relations = R.normalize(
            builder.statements, builder.arguments, builder.relations, mode or settings.get("mode"),
            transform=bool(settings.get("transformArgumentRelations", True)),
        )
        doc = Document(
            statements=builder.statements, arguments=builder.arguments, relations=relations,
            sections=builder.sections, tags=builder.tags, front_matter=builder.front_matter, source=source,
        )
        found += builder.problems
    if keep_tree:
        doc.tree = tree
    return _with_errors(doc, pre, found, index, text, raise_errors)


def syntax_tree(text: str) -> tuple[P.Node, list[Issue]]:
    """Lexer and parser only: the syntax tree, and the problems they found (positioned by offset)."""
    lexed = lexer.tokenize(text)
    tree, issues = P.parse_tokens(lexed.tokens, text)
    return tree, lexed.errors + issues


def _with_errors(doc: Document, pre: list[Issue], found: list[Issue], index: LineIndex, text: str,
                 raise_errors: bool) -> Document:
    """``doc`` with ``pre`` and ``found`` (by offset, resolved to line and column) as its errors."""
    doc.errors = list(pre)
    for issue in sorted(found, key=lambda i: i.offset):
        line, col = index.position(min(issue.offset, len(text)))
        doc.errors.append(dataclasses.replace(issue, line=line, column=col, source=doc.source))
    if raise_errors:
        doc.raise_for_errors()
    return doc


def parse_file(path: str, *, lenient: bool = False, mode: Optional[str] = None,
               model_on_errors: bool = True, keep_tree: bool = False) -> Document:
    text = read_text(path)  # a binary or non-UTF-8 file is a UserError naming its line and column
    return parse(text, source=str(path), lenient=lenient, mode=mode, include_base=str(path),
                 model_on_errors=model_on_errors, keep_tree=keep_tree)
