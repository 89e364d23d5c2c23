"""Snippets (fenced or whole-file code with where it came from) and what readers return (snippets, issues).

One ``Snippet`` for every reader: ``argdown.find_snippets`` (``argdown-lbl parse`` on Markdown) and the
dataset readers (``split``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .issues import Issue

ARGDOWN_LANGUAGES = ("argdown", "argdown-map", "argdown-cheatsheet")
_PANDOC_CLASS = re.compile(r"\{[^}]*\.argdown\b[^}]*\}")


def fence_language(info: str) -> Optional[str]:
    """The Argdown language of a fence info string (``argdown-map``, ``{.argdown}``), or None if not Argdown."""
    info = info.strip()
    if not info:
        return None
    if info.startswith("{"):
        return "argdown" if _PANDOC_CLASS.match(info) else None
    word = info.split()[0]
    return word if word in ARGDOWN_LANGUAGES else None


# Fence languages -> the snippet language we record (others are not collected).
LANGUAGES = {
    "z3": "smt2",
    "smt2": "smt2",
    "smtlib": "smt2",
    "smt-lib": "smt2",
    "z3-py": "python",
    "python": "python",
    "py": "python",
}


def language_of(info: str) -> str | None:
    """The snippet language of a fence info string (``z3 ignore-errors`` -> ``smt2``), or None."""
    if fence_language(info):  # argdown, argdown-map, argdown-cheatsheet, {.argdown}
        return "argdown"
    info = info.strip()
    word = info.split()[0].lower() if info else ""
    return LANGUAGES.get(word)


@dataclass
class Snippet:
    """A block of code to split, with where it came from and the prose around it."""

    code: str
    language: str  # argdown | smt2 | python
    source: str  # path relative to the config folder, or the upstream path ("" when parsing a text)
    line: int  # 1-based line of the first code line in the source
    headings: list[str] = field(default_factory=list)
    prose: str = ""  # the prose before the snippet in its file (cut to size by ``context``)
    info: str = ""  # the fence info string as written (e.g. "z3 ignore-errors", "argdown-map")
    fence_line: int = 0  # 1-based line of the opening fence (0: not fenced)
    index: int = 0  # position among the file's snippets
    closed: bool = True  # False: no closing fence; markdown-it ran the block to the end of the file

    @property
    def flags(self) -> set[str]:
        return set(self.info.split()[1:]) if self.info and not self.info.startswith("{") else set()

    def context(self, max_chars: int) -> str:
        """Heading path and the prose before the snippet, cut from the front to ``max_chars``."""
        parts = []
        if self.headings:
            parts.append(" > ".join(self.headings))
        prose = self.prose.strip()
        if len(prose) > max_chars:
            prose = prose[-max_chars:]
            cut = prose.find("\n")  # start at a line boundary when one is near
            prose = prose[cut + 1:] if 0 <= cut < max_chars // 4 else prose
        if prose:
            parts.append(prose)
        return "\n\n".join(parts)


@dataclass
class ReadResult:
    snippets: list[Snippet] = field(default_factory=list)
    problems: list[Issue] = field(default_factory=list)
