"""Source readers, one module per format; ``read_source`` picks one by file suffix.

Every reader takes decoded text and a source label and returns snippets and
problems; ``read_source`` adds the checks common to all files (binary, encoding).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import NotText, decode_text
from ..issues import Issue
from ..snippets import ReadResult
from .argdown import read_argdown
from .chat import read_chat_jsonl
from .html import read_html
from .markdown import read_markdown

READERS = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".argdown": read_argdown,
    ".ad": read_argdown,
    ".jsonl": read_chat_jsonl,
}
SUFFIXES = frozenset(READERS)


def decode(data: bytes, source: str) -> tuple[str | None, Issue | None]:
    """UTF-8 text, or an issue naming the line and column of the first bad byte (the file is left out)."""
    try:
        return decode_text(data, source), None
    except NotText as bad:
        return None, Issue(bad.line, bad.column, f"{bad.why}; file left out", "source", source)


def read_source(path: Path, source: str, keep_invalid: bool = False) -> ReadResult:
    """Read one file; unknown suffixes are the caller's business (see ``SUFFIXES``)."""
    text, problem = decode(path.read_bytes(), source)
    if problem is not None:
        return ReadResult(problems=[problem])
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = READERS[path.suffix.lower()]
    if reader is read_argdown:
        return read_argdown(text, source, keep_invalid=keep_invalid)
    return reader(text, source)


__all__ = ["READERS", "SUFFIXES", "decode", "read_argdown", "read_chat_jsonl", "read_html", "read_markdown",
           "read_source"]
