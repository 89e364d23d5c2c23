"""Argdown lexer: source text -> flat token list with Indent/Dedent tokens.

The token rules and their priority follow the reference implementation's lexer
(@argdown/core 1.7.5): at each position the first rule that matches wins (not the
longest match), and several rules only apply at the start of a line. Spaces and
comments are skipped. Indentation is tracked on a stack; relation and list
symbols open (Indent) or close (Dedent) nesting levels, an empty line, a
``(n)`` line or an inference line closes all of them.

Dispatch is a rule table (``_DEFAULT_RULES``, ``_INFERENCE_RULES``): the character at
the cursor selects its rules in order of precedence, each consumes or declines; a
character with no rule, or whose rules all decline, is text. Plain text thus costs
one dict lookup and one regex match (measured: as fast as the if/elif chain it
replaced, 0.97x its time on the 3.8 MB benchmark map in one process).
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
_BLANK_AHEAD = re.compile(r"[ \t]*(?:[\r\n]|\Z)")  # the rest of the line is blank
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
# Plain text, with a "." that ends a line (the reference makes that "." a token of its own, as text;
# one token fewer per sentence-ending line: 36,569 of the 3.8 MB benchmark map's 402,261).
_FREESTYLE = re.compile(r"[^\\@#*_\[\],.:;</>\-\r\n(){}]+(?:\.(?=[\r\n]|\Z))?")
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
        # One step per token: the first rule (by first character, for the current mode) that accepts
        # wins; else spaces are skipped and plain text is one token. Inlined here: a call less per token.
        text = self.text
        n = len(text)
        pos = 0
        tokens = self.tokens
        freestyle, spaces, FREESTYLE = _FREESTYLE.match, _SPACES.match, T.FREESTYLE
        NEWLINE, EMPTYLINE, blank_ahead = T.NEWLINE, T.EMPTYLINE, _BLANK_AHEAD.match
        while pos < n:
            c = text[pos]
            if c == " " or c == "\t":
                end = spaces(text, pos).end()
                if end == n or text[end] not in "\r\n":
                    # Spaces before text: no line break rule takes them. Inside a line no rule does
                    # (100,000 of them in the 3.8 MB benchmark map); at a line start only the line-start
                    # rule may (indentation before a relation or list item).
                    last = tokens[-1].kind if tokens else None
                    if not self.inference_mode and (last is None or last is NEWLINE or last is EMPTYLINE):
                        taken = self._line_start(pos, last)
                        if taken is not None:
                            pos = taken
                            continue
                    pos = self.skipped_end = end
                    continue
            elif c == "\n" and not blank_ahead(text, pos + 1):
                # A line break before a line with text: no empty line starts here, and both modes'
                # rules make it this token (62,000 of them in the 3.8 MB benchmark map).
                tokens.append(Token(NEWLINE, "\n", pos, pos + 1))
                pos += 1
                continue
            rules = (_INFERENCE_RULES if self.inference_mode else _DEFAULT_RULES).get(c)
            if rules:
                last = tokens[-1].kind if tokens else None
                end = None
                for rule in rules:
                    end = rule(self, pos, last)
                    if end is not None:
                        break
                if end is not None:
                    pos = end
                    continue
            # (Spaces never get here: those before text were skipped above, the line-break rule of
            # either mode takes those before a line break.)
            m = freestyle(text, pos)
            if m:
                end = m.end()
                tokens.append(Token(FREESTYLE, text[pos:end], pos, end))
                pos = end
                continue
            pos = self._control_char(pos, c)
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

    def _control_char(self, pos, c):
        """A character no rule took and that is not plain text: a control character as text, else an error."""
        text = self.text
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


# -- rules: (lexer, pos, last token kind) -> end of what was consumed, or None to decline ---------------------

def _token(rx: re.Pattern, kind: str):
    """A rule that emits ``kind`` where ``rx`` matches."""
    def rule(lx: _Lexer, pos: int, last):
        m = rx.match(lx.text, pos)
        if m is None:
            return None
        end = m.end()
        lx.tokens.append(Token(kind, m.group(), pos, end))  # emit, inlined
        return end
    return rule


def _at_line_start(last) -> bool:
    return last is None or last is T.NEWLINE or last is T.EMPTYLINE


def _comment(lx: _Lexer, pos: int, last):
    end = lx._comment_end(pos, last)
    if end is not None:
        lx.skipped_end = end
    return end


def _data(lx: _Lexer, pos: int, last):
    m = lx._data(pos)
    if m is None:
        return None
    lx.emit(T.DATA, pos, m.end())
    return m.end()


def _line_breaks(lx: _Lexer, pos: int, last):
    """An empty line (one or more blank lines; it ends every indented block), else one line break."""
    text = lx.text
    if last is not T.EMPTYLINE and text.startswith(("\n", "\r", " ", "\t"), pos + 1):  # else no empty line
        m = _EMPTYLINE.match(text, pos)
        if m:
            if m.end() < len(text):
                lx.dedent_all(pos)
            lx.emit(T.EMPTYLINE, pos, m.end())
            return m.end()
    m = _NEWLINE.match(text, pos)
    if m is None:
        return None
    end = m.end()
    lx.tokens.append(Token(T.NEWLINE, m.group(), pos, end))  # emit, inlined: a line break is a frequent token
    return end


def _line_start(lx: _Lexer, pos: int, last):
    # _at_line_start inlined: this rule runs for every +, -, <, >, _, (, digit and * in the text
    if last is None or last is T.NEWLINE or last is T.EMPTYLINE:
        return lx._line_start(pos, last)
    return None


def _heading(lx: _Lexer, pos: int, last):
    return _heading_start(lx, pos, last) if _at_line_start(last) else None


def _emphasis(lx: _Lexer, pos: int, last):
    return lx._emphasis(pos, lx.text[pos])


def _link(lx: _Lexer, pos: int, last):
    """A Markdown link ``[text](url)`` at ``pos`` (either part may span lines, as in the reference's
    ``\\[[^\\]]+?\\]\\([^)]+?\\)[ \\t]?``), found with memoised searches."""
    text = lx.text
    close = lx.find("]", pos + 1)
    if close < pos + 2 or not text.startswith("(", close + 1):
        return None
    paren = lx.find(")", close + 2)
    if paren < close + 3:
        return None
    end = paren + 1
    if end < len(text) and text[end] in " \t":
        end += 1
    lx.emit(T.LINK, pos, end)
    return end


def _list_delimiter(lx: _Lexer, pos: int, last):
    lx.emit(T.LIST_DELIMITER, pos, pos + 1)
    return pos + 1


def _inference_end(lx: _Lexer, pos: int, last):
    end = _inference_dashes(lx, pos, last)
    if end is not None:
        lx.inference_mode = False
    return end


_newline = _token(_NEWLINE, T.NEWLINE)
_heading_start = _token(_HEADING_START, T.HEADING_START)
_inference_dashes = _token(_INFERENCE_END, T.INFERENCE_END)
_escaped_char = _token(_ESCAPED_CHAR, T.ESCAPED_CHAR)
_special_char = _token(_SPECIAL_CHAR, T.SPECIAL_CHAR)


def _table(*entries) -> dict[str, tuple]:
    """First character -> its rules in order of precedence (as markdown-it-py's rule chains)."""
    table: dict[str, list] = {}
    for chars, *rules in entries:
        for c in chars:
            table.setdefault(c, []).extend(rules)
    return {c: tuple(rules) for c, rules in table.items()}


# A character with no rules, or whose rules all decline, is text (``_Lexer._text``).
_DEFAULT_RULES = _table(
    ("/<", _comment),
    ("=", _token(_FRONT_MATTER, T.FRONT_MATTER)),
    ("{", _data),
    ("\\", _escaped_char),
    (".:", _special_char),
    (" \t\r\n", _line_breaks),
    (_LINE_START_CHARS, _line_start),  # relations, (n), lists, "--", indentation
    ("#", _heading, _token(_TAG, T.TAG)),
    ("*_", _emphasis),
    ("[", _link, _token(_STATEMENT_DEFINITION, T.STATEMENT_DEFINITION),
     _token(_STATEMENT_REFERENCE, T.STATEMENT_REFERENCE)),
    ("@", _token(_STATEMENT_MENTION, T.STATEMENT_MENTION), _token(_ARGUMENT_MENTION, T.ARGUMENT_MENTION)),
    ("<", _token(_ARGUMENT_DEFINITION, T.ARGUMENT_DEFINITION), _token(_ARGUMENT_REFERENCE, T.ARGUMENT_REFERENCE)),
)
# Between "--" and "--": inference rules, YAML data and the list commas.
_INFERENCE_RULES = _table(
    ("/<", _comment),
    (" \t\r\n", _newline),
    ("\\", _escaped_char),
    (".:", _special_char),
    ("-", _inference_end),
    ("{", _data),
    (",", _list_delimiter),
)


def tokenize(text: str) -> LexResult:
    """Split Argdown source into tokens; never raises."""
    return _Lexer(text).run()
