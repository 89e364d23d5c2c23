"""Argdown lexer: source text -> flat token list with Indent/Dedent tokens.

The token rules and their priority follow the reference implementation's lexer
(@argdown/core 1.7.5): at each position the first rule that matches wins (not the
longest match), and several rules only apply at the start of a line. Spaces and
comments are skipped. Indentation is tracked on a stack; relation and list
symbols open (Indent) or close (Dedent) nesting levels, an empty line, a
``(n)`` line or an inference line closes all of them.

Rules are tried by the first character at the cursor so that the common case,
plain text, costs one regex match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..issues import Issue, at_offset
from . import tokens as T
from .tokens import Token

# JavaScript's "." excludes all four line terminators; Python's only "\n".
_DOT = r"[^\n\r\u2028\u2029]"

# Comments: <!-- ... -->, /* ... */ (up to the first closer) and // up to the next line break (which
# must exist). Matched with a memoised str.find, not a regex: an unclosed opener then costs one scan
# of the rest of the text, once, however many openers follow (a regex like (?:.|\n)*? backtracks
# exponentially over the line breaks after an unclosed opener).
_BLOCK_COMMENTS = (("<!--", "-->"), ("/*", "*/"))
# After an empty line a comment also swallows the line breaks that follow it.
_BREAKS_AFTER_EMPTYLINE = re.compile(r"(?:[ \t]*\r\n|\n|\r)*")
# After a line break it swallows one more line break unless an empty line follows.
_BREAK_AFTER_NEWLINE = re.compile(r"(?:[ \t]*(?:\r\n|\n|\r)(?!([ \t]*(\r\n|\n|\r))))?")
_FRONT_MATTER = re.compile(r"===+[\s\S]*?===+")
_DATA = re.compile(r"\{(?:(?!\}\s[^,}])(?:" + _DOT + r"|\n))*\}(?!\s*(?:,|\}))")
_ESCAPED_CHAR = re.compile(r"\\" + _DOT + r"(?: )*")
_SPECIAL_CHAR = re.compile(r"(?:\.[^\s]+?\.[ \t]?)|(?::[^\s]+?:[ \t]?)")
_EMPTYLINE = re.compile(r"(?:[ \t]*(?:\r\n|\n)){2,}")
_NEWLINE = re.compile(r"[ \t]*(?:\r\n|\n|\r)")
# Line-start rules; group 1 is the indentation.
_LINE_START = re.compile(
    r"([ \t]*)(?:"
    r"(?P<inf>--)|(?P<isup>\+>)|(?P<iatt>->)|(?P<osup><?\+)|(?P<oatt><?-)|(?P<contra>><)"
    r"|(?P<iund>_>)|(?P<ound><_|_(?=\s))|(?P<num>\(\d+\))|(?P<olist>\d+\.(?=\s))|(?P<ulist>\*(?=\s)))"
)
_LINE_START_KINDS = {
    "isup": T.INCOMING_SUPPORT,
    "iatt": T.INCOMING_ATTACK,
    "osup": T.OUTGOING_SUPPORT,
    "oatt": T.OUTGOING_ATTACK,
    "contra": T.CONTRADICTION,
    "iund": T.INCOMING_UNDERCUT,
    "ound": T.OUTGOING_UNDERCUT,
}
# What a "--" line becomes after an empty line, where no inference may start.
_ATTACK_AFTER_EMPTYLINE = re.compile(r"([ \t]*)(<?-)")
_HEADING_START = re.compile(r"(#+) ")
_END_LOOKAHEAD = r"(?:[ \t]|(?=\n|\r|\)|\}|_|\.|,|!|\?|;|:|-|\*|$))"
_ASTERISK_BOLD_END = re.compile(r"\*\*" + _END_LOOKAHEAD)
_UNDERSCORE_BOLD_END = re.compile(r"__" + _END_LOOKAHEAD)
_ASTERISK_ITALIC_END = re.compile(r"\*" + _END_LOOKAHEAD)
_UNDERSCORE_ITALIC_END = re.compile(r"_" + _END_LOOKAHEAD)
# "A-z" (sic) also admits [ \ ] ^ _ and backtick, as in the reference.
_TAG_CHARS = r"a-zA-z0-9\-\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF"
_TAG = re.compile(r"#(?:\([^)]+\)|[" + _TAG_CHARS + r"]+)[ \t]?")
_STATEMENT_DEFINITION = re.compile(r"\[" + _DOT + r"+?\]:")
_STATEMENT_REFERENCE = re.compile(r"\[[^-]" + _DOT + r"*?\]")
_STATEMENT_MENTION = re.compile(r"@\[" + _DOT + r"+?\][ \t]?")
_ARGUMENT_DEFINITION = re.compile(r"<" + _DOT + r"+?>:")
_ARGUMENT_REFERENCE = re.compile(r"<[^-]" + _DOT + r"*?>")
_ARGUMENT_MENTION = re.compile(r"@<" + _DOT + r"+?>[ \t]?")
_SPACES = re.compile(r"[ \t]+")
_FREESTYLE = re.compile(r"[^\\@#*_\[\],.:;</>\-\r\n(){}]+")
_CONTROL_CHARS = frozenset("@#*_[],.:;</>-(){}")
_INFERENCE_END = re.compile(r"-{2,}")

_LINE_START_CHARS = frozenset(" \t+-<>_(0123456789*")


@dataclass
class LexResult:
    tokens: list[Token]
    errors: list[Issue] = field(default_factory=list)


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[Token] = []
        self.errors: list[Issue] = []
        self.indents = [0]
        self.ranges: list[str] = []  # open bold/italic kinds, innermost last
        self.skipped_end = -1  # end offset of the last skipped span (spaces, comments)
        self.inference_mode = False
        self._found: dict[str, tuple[int, int]] = {}  # needle -> (searched from, first index there or -1)

    # -- helpers -----------------------------------------------------------
    def emit(self, kind, start, end):
        self.tokens.append(Token(kind, self.text[start:end], start, end))

    def dedent_all(self, offset):
        while len(self.indents) > 1:
            self.indents.pop()
            self.tokens.append(Token(T.DEDENT, "", offset, offset))

    def indent_to(self, width, offset):
        if width > self.indents[-1]:
            self.indents.append(width)
            self.tokens.append(Token(T.INDENT, "", offset, offset))
        else:
            while len(self.indents) > 1 and width < self.indents[-1]:
                self.indents.pop()
                self.tokens.append(Token(T.DEDENT, "", offset, offset))

    # -- main loop ---------------------------------------------------------
    def run(self) -> LexResult:
        text = self.text
        n = len(text)
        pos = 0
        while pos < n:
            if self.inference_mode:
                pos = self._inference_step(pos)
            else:
                pos = self._default_step(pos)
        if self.tokens and self.tokens[-1].kind is T.EMPTYLINE:
            self.tokens.pop()
        self.dedent_all(n)
        return LexResult(self.tokens, self.errors)

    def find(self, needle: str, start: int) -> int:
        """``text.find(needle, start)``, memoised: the lexer asks with growing ``start``, so all the
        searches for one needle together scan the text about once."""
        cached = self._found.get(needle)
        if cached is not None and cached[0] <= start and (cached[1] < 0 or cached[1] >= start):
            return cached[1]
        found = self.text.find(needle, start)
        self._found[needle] = (start, found)
        return found

    def _data(self, pos):
        """YAML data ``{...}``; without any ``}`` after ``pos`` no scan at all (else every ``{`` of a text
        without closers would scan to the end)."""
        return _DATA.match(self.text, pos) if self.find("}", pos + 1) >= 0 else None

    def _link_end(self, pos) -> int | None:
        """End of a Markdown link ``[text](url)`` at ``pos`` (either part may span lines, as in the
        reference's ``\\[[^\\]]+?\\]\\([^)]+?\\)[ \\t]?``), found with memoised searches."""
        text = self.text
        close = self.find("]", pos + 1)
        if close < pos + 2 or not text.startswith("(", close + 1):
            return None
        paren = self.find(")", close + 2)
        if paren < close + 3:
            return None
        end = paren + 1
        return end + 1 if end < len(text) and text[end] in " \t" else end

    def _comment_end(self, pos, last) -> int | None:
        """End offset of a comment at ``pos`` (with the line breaks it swallows), or None."""
        text = self.text
        end = None
        for opener, closer in _BLOCK_COMMENTS:
            if text.startswith(opener, pos):
                close = self.find(closer, pos + len(opener))
                end = close + len(closer) if close >= 0 else None
                break
        else:
            if text.startswith("//", pos):
                breaks = [i for i in (self.find("\n", pos + 2), self.find("\r", pos + 2)) if i >= 0]
                end = min(breaks) if breaks else None
        if end is None:
            return None
        if last is T.EMPTYLINE:
            return _BREAKS_AFTER_EMPTYLINE.match(text, end).end()
        if last is T.NEWLINE:
            return _BREAK_AFTER_NEWLINE.match(text, end).end()
        return end

    def _default_step(self, pos: int) -> int:
        text = self.text
        c = text[pos]
        toks = self.tokens
        last = toks[-1].kind if toks else None

        if c == "/" or c == "<":
            end = self._comment_end(pos, last)
            if end is not None:
                self.skipped_end = end
                return end
        elif c == "=":
            m = _FRONT_MATTER.match(text, pos)
            if m:
                self.emit(T.FRONT_MATTER, pos, m.end())
                return m.end()
        elif c == "{":
            m = self._data(pos)
            if m:
                self.emit(T.DATA, pos, m.end())
                return m.end()
        elif c == "\\":
            m = _ESCAPED_CHAR.match(text, pos)
            if m:
                self.emit(T.ESCAPED_CHAR, pos, m.end())
                return m.end()
        elif c == "." or c == ":":
            m = _SPECIAL_CHAR.match(text, pos)
            if m:
                self.emit(T.SPECIAL_CHAR, pos, m.end())
                return m.end()

        if c in " \t\r\n":
            if last is not T.EMPTYLINE:
                m = _EMPTYLINE.match(text, pos)
                if m:
                    if m.end() < len(text):
                        self.dedent_all(pos)
                    self.emit(T.EMPTYLINE, pos, m.end())
                    return m.end()
            m = _NEWLINE.match(text, pos)
            if m:
                self.emit(T.NEWLINE, pos, m.end())
                return m.end()

        at_line_start = last is None or last is T.NEWLINE or last is T.EMPTYLINE
        if at_line_start and c in _LINE_START_CHARS:
            end = self._line_start(pos, last)
            if end is not None:
                return end
        if c == "#" and at_line_start:
            m = _HEADING_START.match(text, pos)
            if m:
                self.emit(T.HEADING_START, pos, m.end())
                return m.end()

        if c == "*" or c == "_":
            end = self._emphasis(pos, c)
            if end is not None:
                return end
        elif c == "[":
            end = self._link_end(pos)
            if end is not None:
                self.emit(T.LINK, pos, end)
                return end
            for rx, kind in (
                (_STATEMENT_DEFINITION, T.STATEMENT_DEFINITION),
                (_STATEMENT_REFERENCE, T.STATEMENT_REFERENCE),
            ):
                m = rx.match(text, pos)
                if m:
                    self.emit(kind, pos, m.end())
                    return m.end()
        elif c == "#":
            m = _TAG.match(text, pos)
            if m:
                self.emit(T.TAG, pos, m.end())
                return m.end()
        elif c == "@":
            for rx, kind in ((_STATEMENT_MENTION, T.STATEMENT_MENTION), (_ARGUMENT_MENTION, T.ARGUMENT_MENTION)):
                m = rx.match(text, pos)
                if m:
                    self.emit(kind, pos, m.end())
                    return m.end()
        elif c == "<":
            for rx, kind in ((_ARGUMENT_DEFINITION, T.ARGUMENT_DEFINITION), (_ARGUMENT_REFERENCE, T.ARGUMENT_REFERENCE)):
                m = rx.match(text, pos)
                if m:
                    self.emit(kind, pos, m.end())
                    return m.end()
        return self._text(pos, c)

    def _line_start(self, pos, last):
        m = _LINE_START.match(self.text, pos)
        if not m:
            return None
        group = m.lastgroup
        indent = m.group(1)
        if group == "inf":
            # An inference line only starts directly after a line break.
            if last is T.EMPTYLINE:
                m2 = _ATTACK_AFTER_EMPTYLINE.match(self.text, pos)
                self.indent_to(len(m2.group(1)), pos)
                self.emit(T.OUTGOING_ATTACK, pos, m2.end())
                return m2.end()
            self.dedent_all(pos)
            self.emit(T.INFERENCE_START, pos, m.end())
            self.inference_mode = True
            return m.end()
        if group == "num":
            self.dedent_all(pos)
            self.emit(T.STATEMENT_NUMBER, pos, m.end())
            return m.end()
        if group == "olist" or group == "ulist":
            self.indent_to(len(indent) + 1, pos)
            self.emit(T.ORDERED_LIST_ITEM if group == "olist" else T.UNORDERED_LIST_ITEM, pos, m.end())
            return m.end()
        self.indent_to(len(indent), pos)
        self.emit(_LINE_START_KINDS[group], pos, m.end())
        return m.end()

    def _emphasis(self, pos, c):
        text = self.text
        ranges = self.ranges
        toks = self.tokens
        if ranges and toks and self.skipped_end <= toks[-1].end:
            top = ranges[-1]
            if c == "*":
                candidates = ((T.ASTERISK_BOLD_START, _ASTERISK_BOLD_END, T.ASTERISK_BOLD_END),
                              (T.ASTERISK_ITALIC_START, _ASTERISK_ITALIC_END, T.ASTERISK_ITALIC_END))
            else:
                candidates = ((T.UNDERSCORE_BOLD_START, _UNDERSCORE_BOLD_END, T.UNDERSCORE_BOLD_END),
                              (T.UNDERSCORE_ITALIC_START, _UNDERSCORE_ITALIC_END, T.UNDERSCORE_ITALIC_END))
            for start_kind, rx, end_kind in candidates:
                if top is start_kind:
                    m = rx.match(text, pos)
                    if m:
                        ranges.pop()
                        self.emit(end_kind, pos, m.end())
                        return m.end()
        nxt = text[pos + 1] if pos + 1 < len(text) else ""
        if nxt == c:
            after = text[pos + 2] if pos + 2 < len(text) else ""
            if after and not after.isspace():
                kind = T.ASTERISK_BOLD_START if c == "*" else T.UNDERSCORE_BOLD_START
                ranges.append(kind)
                self.emit(kind, pos, pos + 2)
                return pos + 2
        if nxt and not nxt.isspace():
            kind = T.ASTERISK_ITALIC_START if c == "*" else T.UNDERSCORE_ITALIC_START
            ranges.append(kind)
            self.emit(kind, pos, pos + 1)
            return pos + 1
        return None

    def _text(self, pos, c):
        text = self.text
        if c == " " or c == "\t":
            m = _SPACES.match(text, pos)
            self.skipped_end = m.end()
            return m.end()
        m = _FREESTYLE.match(text, pos)
        if m:
            self.emit(T.FREESTYLE, pos, m.end())
            return m.end()
        if c in _CONTROL_CHARS:
            end = pos + 1
            if end < len(text) and text[end] in " \t":
                end += 1
            self.emit(T.UNUSED_CONTROL_CHAR, pos, end)
            return end
        # Only a backslash before a line break (or at the end) gets here.
        self.errors.append(at_offset(pos, f"Unexpected character {c!r}: escape it or remove it.", "lexer"))
        self.skipped_end = pos + 1
        return pos + 1

    def _inference_step(self, pos: int) -> int:
        text = self.text
        c = text[pos]
        last = self.tokens[-1].kind if self.tokens else None
        if c == "/" or c == "<":
            end = self._comment_end(pos, last)
            if end is not None:
                self.skipped_end = end
                return end
        if c in " \t\r\n":
            m = _NEWLINE.match(text, pos)
            if m:
                self.emit(T.NEWLINE, pos, m.end())
                return m.end()
        if c == "\\":
            m = _ESCAPED_CHAR.match(text, pos)
            if m:
                self.emit(T.ESCAPED_CHAR, pos, m.end())
                return m.end()
        if c == "." or c == ":":
            m = _SPECIAL_CHAR.match(text, pos)
            if m:
                self.emit(T.SPECIAL_CHAR, pos, m.end())
                return m.end()
        if c == "-":
            m = _INFERENCE_END.match(text, pos)
            if m:
                self.emit(T.INFERENCE_END, pos, m.end())
                self.inference_mode = False
                return m.end()
        if c == "{":
            m = self._data(pos)
            if m:
                self.emit(T.DATA, pos, m.end())
                return m.end()
        if c == ",":
            self.emit(T.LIST_DELIMITER, pos, pos + 1)
            return pos + 1
        return self._text(pos, c)


def tokenize(text: str) -> LexResult:
    """Split Argdown source into tokens; never raises."""
    return _Lexer(text).run()
