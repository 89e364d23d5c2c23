"""Find Argdown snippets in Markdown (fenced code blocks), with their line offsets."""

from __future__ import annotations

from ..snippets import ARGDOWN_LANGUAGES, Snippet, fence_language


def fence_is_closed(tok, lines: list[str]) -> bool:
    """Whether a markdown-it fence token has its closing fence (markdown-it runs an unclosed fence to the
    end of the document). ``lines``: the document split at LF, as markdown-it's line map counts.

    The one test for every reader of fences: ``parse`` reports an unclosed Argdown fence as an error,
    ``split`` as a problem, and neither uses its content."""
    last = lines[tok.map[1] - 1].strip() if tok.map[1] - 1 < len(lines) else ""
    return tok.map[1] - tok.map[0] >= 2 and last.startswith(tok.markup) and not last.strip(tok.markup[0])


def _newlines_only(state) -> None:
    """CommonMark's normalize step without its NUL -> U+FFFD (an HTML safeguard): code stays the source's text."""
    state.src = state.src.replace("\r\n", "\n").replace("\r", "\n")


def markdown_parser():
    """markdown-it (CommonMark) as every Markdown reader here uses it."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    md.core.ruler.at("normalize", _newlines_only)
    return md


def find_snippets(markdown: str, languages=ARGDOWN_LANGUAGES) -> list[Snippet]:
    """All fenced Argdown blocks of a Markdown document, in order (an unclosed one with ``closed=False``)."""
    md = markdown_parser()
    lines = markdown.split("\n")
    out: list[Snippet] = []
    for tok in md.parse(markdown):
        if tok.type != "fence" or tok.map is None:
            continue
        lang = fence_language(tok.info)
        if lang is None or lang not in languages:
            continue
        start = tok.map[0]
        out.append(Snippet(tok.content, "argdown", "", start + 2, info=tok.info.strip(), fence_line=start + 1,
                           index=len(out), closed=fence_is_closed(tok, lines)))
    return out
