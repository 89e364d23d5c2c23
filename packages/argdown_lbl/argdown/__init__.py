"""A complete Argdown parser that agrees with the reference implementation.

    >>> from argdown_lbl.argdown import parse
    >>> doc = parse("[A]: Cats purr.\\n    + <Why>: They are happy.")
    >>> doc.ok, list(doc.statements), doc.relations[0].type
    (True, ['A'], 'support')

Pipeline (see document.py): lexer -> parser -> builder -> relations -> exports.
"""

from ..issues import Issue
from .document import ArgdownSyntaxError, Document, LineIndex, expand_includes, parse, parse_file
from .markdown import Snippet, find_snippets
from .model import (
    Argument,
    EquivalenceClass,
    Inference,
    Relation,
    Section,
    Span,
    Statement,
    TextRange,
)

__all__ = [
    "ArgdownSyntaxError", "Argument", "Document", "EquivalenceClass", "Inference", "Issue", "LineIndex",
    "Relation", "Section", "Snippet", "Span", "Statement", "TextRange", "expand_includes", "find_snippets",
    "parse", "parse_file",
]
