"""Markdown sources: fenced code blocks with their heading path and preceding prose (markdown-it-py)."""

from __future__ import annotations

import yaml
from mdit_py_plugins.front_matter import front_matter_plugin

from ..argdown.markdown import fence_is_closed, markdown_parser
from ..issues import Issue
from ..snippets import ReadResult, Snippet, language_of

_MD = markdown_parser().use(front_matter_plugin)
PROSE_BLOCKS = ("paragraph_open", "html_block")


def _title(front_matter: str) -> str | None:
    try:
        meta = yaml.safe_load(front_matter)
    except yaml.YAMLError:
        return None
    title = meta.get("title") if isinstance(meta, dict) else None
    return str(title) if title else None


def read_markdown(text: str, source: str) -> ReadResult:
    """Every fenced block in a collected language (see ``snippets.LANGUAGES``), in order."""
    result = ReadResult()
    lines = text.split("\n")  # markdown-it's line map counts only LF
    tokens = _MD.parse(text)
    headings: list[tuple[int, str]] = []
    prose: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type == "front_matter":
            title = _title(tok.content)
            if title:
                headings = [(0, title)]
        elif tok.type == "heading_open":
            level = int(tok.tag[1])
            headings = [h for h in headings if h[0] < level] + [(level, tokens[i + 1].content.strip())]
        elif tok.type in PROSE_BLOCKS and tok.map:
            prose.append("\n".join(lines[tok.map[0]:tok.map[1]]).strip())
        elif tok.type == "fence" and tok.map:
            language = language_of(tok.info)
            if language is None:
                continue
            if not fence_is_closed(tok, lines):
                result.problems.append(Issue(
                    tok.map[0] + 1, 1,
                    f"unclosed code fence {tok.markup}{tok.info.strip()} runs to the end of the file; left out",
                    "source", source))
                continue
            result.snippets.append(Snippet(
                code=tok.content, language=language, source=source, line=tok.map[0] + 2,
                headings=[h[1] for h in headings], prose="\n\n".join(prose), info=tok.info.strip(),
            ))
    return result
