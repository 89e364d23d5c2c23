"""HTML sources: ``<pre>``/``<code>`` blocks with language classes, and z3py-style ``<example>`` elements.

Syntax-highlighting markup (``<span class="k">``) is dropped by taking the
element's text. The stdlib ``html.parser`` keeps ``<example><html><body>...``
nested as written, which the z3py tutorial pages rely on.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from ..snippets import ReadResult, Snippet, language_of

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CLASS_PREFIX = re.compile(r"^(?:language-|lang-|highlight-source-|highlight-|brush:)")
_SPACE = re.compile(r"\s+")


def _class_language(tag) -> str | None:
    """Language from the classes of the block, its <code> child or its wrappers.

    Covers GitHub (div.highlight-source-python), Sphinx (div.highlight-python > div.highlight > pre),
    MkDocs (div.language-python), Docusaurus (pre.language-python) and pandoc (pre.sourceCode.argdown).
    """
    parent = tag.parent
    candidates = [tag, tag.find("code"), parent, parent.parent if parent is not None else None]
    for el in candidates:
        if el is None or not hasattr(el, "get"):
            continue
        for cls in el.get("class") or []:
            language = language_of(_CLASS_PREFIX.sub("", cls))
            if language:
                return language
    return None


def _code(tag) -> tuple[str, int]:
    """Text of a code element and the 1-based source line of its first code line."""
    text = tag.get_text()
    line = tag.sourceline or 1
    if text.startswith("\n"):  # a newline right after <pre> is not content
        text = text[1:]
        line += 1
    if text and not text.endswith("\n"):
        text += "\n"
    return text, line


def read_html(text: str, source: str) -> ReadResult:
    """Code blocks in collected languages, each with its heading path and the paragraphs before it."""
    result = ReadResult()
    soup = BeautifulSoup(text, "html.parser")
    headings: list[tuple[int, str]] = []
    prose: list[str] = []
    for tag in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "pre", "example"]):
        if tag.name in HEADINGS:
            level = HEADINGS[tag.name]
            title = _SPACE.sub(" ", tag.get_text()).strip()
            headings = [h for h in headings if h[0] < level] + [(level, title)]
        elif tag.name == "p":
            if tag.find_parent("example") is None:
                prose.append(_SPACE.sub(" ", tag.get_text()).strip())
        elif tag.name == "example":
            pre = tag.find("pre")
            code, line = _code(pre if pre is not None else tag)
            result.snippets.append(_snippet(code, "python", source, line, headings, prose, "example"))
        elif tag.find_parent("example") is None:
            language = _class_language(tag)
            if language:
                code, line = _code(tag)
                result.snippets.append(_snippet(code, language, source, line, headings, prose, language))
    return result


def _snippet(code, language, source, line, headings, prose, info) -> Snippet:
    return Snippet(code=code, language=language, source=source, line=line,
                   headings=[h[1] for h in headings], prose="\n\n".join(p for p in prose if p), info=info)
