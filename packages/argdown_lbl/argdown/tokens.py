"""Token kinds and the token record produced by the lexer.

Kinds are plain interned strings so that comparisons are identity checks and
tokens print readably in tests.
"""

from __future__ import annotations

# Block structure
FRONT_MATTER = "FrontMatter"
EMPTYLINE = "Emptyline"
NEWLINE = "Newline"
INDENT = "Indent"
DEDENT = "Dedent"
HEADING_START = "HeadingStart"
STATEMENT_NUMBER = "StatementNumber"
ORDERED_LIST_ITEM = "OrderedListItem"
UNORDERED_LIST_ITEM = "UnorderedListItem"
INFERENCE_START = "InferenceStart"
INFERENCE_END = "InferenceEnd"
LIST_DELIMITER = "ListDelimiter"
DATA = "Data"

# Relations (the symbol at the start of an indented child line)
INCOMING_SUPPORT = "IncomingSupport"  # +>
INCOMING_ATTACK = "IncomingAttack"  # ->
OUTGOING_SUPPORT = "OutgoingSupport"  # + or <+
OUTGOING_ATTACK = "OutgoingAttack"  # - or <-
CONTRADICTION = "Contradiction"  # ><
INCOMING_UNDERCUT = "IncomingUndercut"  # _>
OUTGOING_UNDERCUT = "OutgoingUndercut"  # _ or <_
RELATION_KINDS = frozenset(
    {
        INCOMING_SUPPORT,
        INCOMING_ATTACK,
        OUTGOING_SUPPORT,
        OUTGOING_ATTACK,
        CONTRADICTION,
        INCOMING_UNDERCUT,
        OUTGOING_UNDERCUT,
    }
)

# Titles
STATEMENT_DEFINITION = "StatementDefinition"
STATEMENT_REFERENCE = "StatementReference"
STATEMENT_MENTION = "StatementMention"
ARGUMENT_DEFINITION = "ArgumentDefinition"
ARGUMENT_REFERENCE = "ArgumentReference"
ARGUMENT_MENTION = "ArgumentMention"

# Inline
ASTERISK_BOLD_START = "AsteriskBoldStart"
ASTERISK_BOLD_END = "AsteriskBoldEnd"
UNDERSCORE_BOLD_START = "UnderscoreBoldStart"
UNDERSCORE_BOLD_END = "UnderscoreBoldEnd"
ASTERISK_ITALIC_START = "AsteriskItalicStart"
ASTERISK_ITALIC_END = "AsteriskItalicEnd"
UNDERSCORE_ITALIC_START = "UnderscoreItalicStart"
UNDERSCORE_ITALIC_END = "UnderscoreItalicEnd"
LINK = "Link"
TAG = "Tag"
ESCAPED_CHAR = "EscapedChar"
SPECIAL_CHAR = "SpecialChar"
FREESTYLE = "Freestyle"
UNUSED_CONTROL_CHAR = "UnusedControlChar"

BOLD_STARTS = {ASTERISK_BOLD_START: ASTERISK_BOLD_END, UNDERSCORE_BOLD_START: UNDERSCORE_BOLD_END}
ITALIC_STARTS = {
    ASTERISK_ITALIC_START: ASTERISK_ITALIC_END,
    UNDERSCORE_ITALIC_START: UNDERSCORE_ITALIC_END,
}
FREESTYLE_KINDS = frozenset({FREESTYLE, UNUSED_CONTROL_CHAR, ESCAPED_CHAR, SPECIAL_CHAR})
# Tokens that may start or continue the text of a statement, argument description or heading.
CONTENT_KINDS = FREESTYLE_KINDS | {
    LINK,
    TAG,
    ARGUMENT_MENTION,
    STATEMENT_MENTION,
    NEWLINE,
    ASTERISK_BOLD_START,
    UNDERSCORE_BOLD_START,
    ASTERISK_ITALIC_START,
    UNDERSCORE_ITALIC_START,
}

# Human-readable names used in error messages.
LABELS = {
    FRONT_MATTER: "front matter (===)",
    EMPTYLINE: "an empty line",
    NEWLINE: "a line break",
    INDENT: "an indented line",
    DEDENT: "the end of an indented block",
    HEADING_START: "a heading (#)",
    STATEMENT_NUMBER: "a numbered premise-conclusion line ((n))",
    ORDERED_LIST_ITEM: "an ordered list item (1.)",
    UNORDERED_LIST_ITEM: "an unordered list item (*)",
    INFERENCE_START: "an inference line (--)",
    INFERENCE_END: "the end of an inference (--)",
    LIST_DELIMITER: "a comma",
    DATA: "YAML data ({...})",
    INCOMING_SUPPORT: "an incoming support (+>)",
    INCOMING_ATTACK: "an incoming attack (->)",
    OUTGOING_SUPPORT: "an outgoing support (+ or <+)",
    OUTGOING_ATTACK: "an outgoing attack (- or <-)",
    CONTRADICTION: "a contradiction (><)",
    INCOMING_UNDERCUT: "an incoming undercut (_>)",
    OUTGOING_UNDERCUT: "an outgoing undercut (_ or <_)",
    STATEMENT_DEFINITION: "a statement definition ([title]:)",
    STATEMENT_REFERENCE: "a statement reference ([title])",
    STATEMENT_MENTION: "a statement mention (@[title])",
    ARGUMENT_DEFINITION: "an argument definition (<title>:)",
    ARGUMENT_REFERENCE: "an argument reference (<title>)",
    ARGUMENT_MENTION: "an argument mention (@<title>)",
    ASTERISK_BOLD_START: "bold start (**)",
    ASTERISK_BOLD_END: "bold end (**)",
    UNDERSCORE_BOLD_START: "bold start (__)",
    UNDERSCORE_BOLD_END: "bold end (__)",
    ASTERISK_ITALIC_START: "italic start (*)",
    ASTERISK_ITALIC_END: "italic end (*)",
    UNDERSCORE_ITALIC_START: "italic start (_)",
    UNDERSCORE_ITALIC_END: "italic end (_)",
    LINK: "a link",
    TAG: "a tag (#tag)",
    ESCAPED_CHAR: "an escaped character",
    SPECIAL_CHAR: "a shortcode",
    FREESTYLE: "text",
    UNUSED_CONTROL_CHAR: "text",
    "EOF": "the end of the document",
}


class Token:
    """One lexeme: its kind, its text and its offsets in the source (end exclusive).

    Line and column are computed on demand from offsets (see ``LineIndex``):
    most tokens never need them.
    """

    __slots__ = ("kind", "image", "start", "end")

    def __init__(self, kind: str, image: str, start: int, end: int):
        self.kind = kind
        self.image = image
        self.start = start
        self.end = end

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Token({self.kind}, {self.image!r}, {self.start})"
