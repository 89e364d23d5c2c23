"""The one record of a problem at a position, from every step: lexer, parser, builder, readers, split, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Issue:
    """A problem at a 1-based line and column of a source; printed as ``SOURCE:LINE:COL: MESSAGE``.

    The lexer, parser and builder know only character offsets: they fill ``offset`` and leave line and
    column 0, and ``argdown.parse`` resolves them against the text.
    """

    line: int
    column: int
    message: str
    # lexer | syntax | yaml | include | fence (parser); source | argdown | z3 | config | duplicate (datasets)
    code: str = "syntax"
    source: Optional[str] = None  # file name or snippet label
    offset: Optional[int] = None  # character offset, while line and column are not known yet

    def __str__(self) -> str:
        where = f"{self.source}:" if self.source else ""
        return f"{where}{self.line}:{self.column}: {self.message}"


def at_offset(offset: int, message: str, code: str) -> Issue:
    """An issue known by its character offset only (lexer, parser, builder)."""
    return Issue(0, 0, message, code, offset=offset)
