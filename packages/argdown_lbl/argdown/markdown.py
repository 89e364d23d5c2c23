"""Find Argdown snippets in Markdown (fenced code blocks), with their line offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

ARGDOWN_LANGUAGES = ("argdown", "argdown-map", "argdown-cheatsheet")
_PANDOC_CLASS = re.compile(r"\{[^}]*\.argdown\b[^}]*\}")


@dataclass
class Snippet:
    """A fenced block: its code, info string and where it sits in the Markdown."""

    code: str
    info: str
    language: str
    line: int  # 1-based line of the first code line in the Markdown file
    fence_line: int  # 1-based line of the opening fence
    index: int  # position among the file's Argdown snippets
    closed: bool = True  # False: no closing fence, markdown-it ran the block to the end of the file

    def to_markdown_position(self, line: int, column: int) -> tuple[int, int]:
        """Map a position inside the snippet to the Markdown file."""
        return self.line + line - 1, column


def fence_language(info: str) -> Optional[str]:
    """The Argdown language of a fence info string, or None if it is not Argdown."""
    info = info.strip()
    if not info:
        return None
    if info.startswith("{"):
        return "argdown" if _PANDOC_CLASS.match(info) else None
    word = info.split()[0]
    return word if word in ARGDOWN_LANGUAGES else None


def fence_is_closed(tok, lines: list[str]) -> bool:
    """Whether a markdown-it fence token has its closing fence (markdown-it runs an unclosed fence to the
    end of the document). ``lines``: the document split at LF, as markdown-it's line map counts.

    The one test for every reader of fences: ``parse`` reports an unclosed Argdown fence as an error,
    ``split`` as a problem, and neither uses its content."""
    last = lines[tok.map[1] - 1].strip() if tok.map[1] - 1 < len(lines) else ""
    return tok.map[1] - tok.map[0] >= 2 and last.startswith(tok.markup) and not last.strip(tok.markup[0])


def find_snippets(markdown: str, languages=ARGDOWN_LANGUAGES) -> list[Snippet]:
    """All fenced Argdown blocks of a Markdown document, in order (an unclosed one with ``closed=False``)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    lines = markdown.split("\n")
    out: list[Snippet] = []
    for tok in md.parse(markdown):
        if tok.type != "fence" or tok.map is None:
            continue
        lang = fence_language(tok.info)
        if lang is None or lang not in languages:
            continue
        start = tok.map[0]
        out.append(Snippet(tok.content, tok.info.strip(), lang, start + 2, start + 1, len(out),
                           fence_is_closed(tok, lines)))
    return out
