"""Recursive-descent parser: tokens -> syntax tree of ``Node`` objects.

One function per grammar rule, mirroring the reference grammar:

    document   := [FrontMatter Emptyline] block (Emptyline block)*
    block      := heading | statement | pcs | argument | orderedList | unorderedList
    statement  := (content | StatementReference Tag* [Newline] | StatementDefinition content)
                  [Data [Newline]] [relations]
    argument   := (ArgumentDefinition content | ArgumentReference Tag* [Newline])
                  [Data [Newline]] [relations]
    pcs        := pcsStatement (pcsStatement* inference pcsStatement)+
    inference  := InferenceStart [[Newline] rules] [Newline] [Data [Newline]] InferenceEnd Newline
                  [Indent outgoingUndercut+ Dedent]
    relations  := Indent (relationSymbol (statement | argument))+ Dedent

A syntax error aborts the current top-level block only: the parser records it
and resumes after the next empty line, so one bad paragraph never hides the
errors of the others.
"""

from __future__ import annotations

from ..issues import Issue, at_offset
from . import tokens as T
from .tokens import Token

# Rule node names (match the reference's rule names where they exist).
ARGDOWN = "argdown"
HEADING = "heading"
STATEMENT = "statement"
STATEMENT_DEFINITION = "statementDefinition"
STATEMENT_CONTENT = "statementContent"
FREESTYLE_TEXT = "freestyleText"
ARGUMENT = "argument"
PCS = "pcs"
PCS_TAIL = "pcsTail"
PCS_STATEMENT = "pcsStatement"
INFERENCE = "inference"
INFERENCE_RULES = "inferenceRules"
RELATIONS = "relations"
RELATION = "relation"
ORDERED_LIST = "orderedList"
UNORDERED_LIST = "unorderedList"
LIST_ITEM = "listItem"
BOLD = "bold"
ITALIC = "italic"


class Node:
    """A rule node; ``children`` holds Tokens and Nodes in source order."""

    __slots__ = ("name", "children", "data", "relation_kind", "statement", "argument", "inference", "relation",
                 "text")

    def __init__(self, name: str, children: list):
        self.name = name
        self.children = children
        self.data = None  # parsed YAML of a Data child
        self.relation_kind = None
        # What the builder made of the node: a statement (or an argument's description), its argument,
        # an inference, a relation, or a text node's text.
        self.statement = self.argument = self.inference = self.relation = self.text = None

    @property
    def start(self) -> int | None:
        node = self  # the first token's start, found without recursion: this runs for every node
        while node.__class__ is Node:
            if not node.children:
                return None
            node = node.children[0]
        return node.start

    @property
    def end(self) -> int | None:
        node = self
        while node.__class__ is Node:
            if not node.children:
                return None
            node = node.children[-1]
        return node.end


class _Abort(Exception):
    pass


_EOF = Token("EOF", "", -1, -1)
# Deeper trees are rejected rather than risking Python's recursion limit.
MAX_NESTING = 120

_TOP_LEVEL_HINT = (
    "A top-level paragraph must start with text, a statement title ([title] or [title]:), "
    "an argument title (<title> or <title>:), a heading (#), a numbered premise ((1)) "
    "or a list item (* or 1.)."
)


class Parser:
    def __init__(self, tokens: list[Token], text: str):
        self.toks = tokens + [_EOF, _EOF]  # lookahead of up to 2 needs no bounds test
        self.n = len(tokens)
        self.i = 0
        self.issues: list[Issue] = []
        self.text = text  # for quoting the source in messages
        self.text_length = len(text)
        self.depth = 0

    # -- cursor ------------------------------------------------------------
    # The rules that run per statement read ``toks[self.i].kind`` instead of calling ``kind()``
    # (600,000 calls for the 3.8 MB benchmark map).
    def peek(self, k: int = 0) -> Token:
        return self.toks[self.i + k]

    def kind(self, k: int = 0) -> str:
        return self.toks[self.i + k].kind

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, why: str = "") -> Token:
        if self.kind() is kind:
            return self.take()
        self.fail(f"Expected {T.LABELS.get(kind, kind)}{why}", self.peek())

    def fail(self, message: str, tok: Token, fix: str = ""):
        """Record "MESSAGE, but found WHAT. FIX" at ``tok`` and abandon the element."""
        found = tok.kind
        if found == "EOF":
            # Like the reference: point at the last character of the last token.
            where = "the end of the document"
            last = self.toks[self.n - 1] if self.n else None
            offset = max(last.end - 1, last.start) if last else 0
        else:
            where, offset = self._describe(tok), tok.start
        self.issues.append(at_offset(offset, f"{message}, but found {where}." + (f" {fix}" if fix else ""), "syntax"))
        raise _Abort

    def _describe(self, tok: Token) -> str:
        """What was found, quoting the source: a token's own text, or for an empty or blank token (an
        indentation change, a line break) the source line it starts, if it has text."""
        label = T.LABELS.get(tok.kind, tok.kind)
        quote = tok.image.strip()
        if tok.kind is T.SPECIAL_CHAR and not any(ch.isalnum() for ch in quote):
            label = "text"  # "..." is an ellipsis, not a shortcode like :+1: or .therefore.
        if not quote and tok.kind is not T.EMPTYLINE:
            end = self.text.find("\n", tok.start)
            quote = self.text[tok.start:end if end >= 0 else len(self.text)].strip()
        return f"{label} {quote!r}" if quote else label

    # -- document ------------------------------------------------------------
    def document(self) -> Node:
        children: list = []
        if self.kind() is T.NEWLINE:
            self.i += 1
        if self.kind() is T.EMPTYLINE:
            self.i += 1
        if self.kind() is T.FRONT_MATTER:
            children.append(self.take())
            if self.kind() is T.NEWLINE:
                self.i += 1
            if self.kind() is T.EMPTYLINE:
                children.append(self.take())
            else:
                self._recover("Front matter must be followed by an empty line and at least one element", self.peek())
        first = True
        while self.i < self.n:
            if not first:
                if self.kind() is not T.EMPTYLINE:
                    self._recover(
                        "Expected an empty line between paragraphs (or the end of the document)", self.peek()
                    )
                    continue
                self.i += 1
                if self.i >= self.n:
                    break
            first = False
            start = self.i
            self.depth = 0
            try:
                children.append(self.block())
            except _Abort:
                self._skip_block(start)
        if not any(c.__class__ is Node for c in children) and not self.issues:
            self.issues.append(at_offset(0, "The document contains no Argdown element.", "syntax"))
        return Node(ARGDOWN, children)

    def _recover(self, message, tok):
        try:
            self.fail(message, tok)
        except _Abort:
            self._skip_block(self.i)

    def _skip_block(self, start):
        """Skip to the next empty line (the start of the next top-level block)."""
        i = max(self.i, start + 1)
        while i < self.n and self.toks[i].kind is not T.EMPTYLINE:
            i += 1
        self.i = i

    def block(self) -> Node:
        k = self.kind()
        if k is T.HEADING_START:
            return self.heading()
        if k is T.STATEMENT_NUMBER:
            return self.pcs()
        if k is T.ARGUMENT_DEFINITION or k is T.ARGUMENT_REFERENCE:
            return self.argument()
        if k is T.INDENT and self.kind(1) in (T.ORDERED_LIST_ITEM, T.UNORDERED_LIST_ITEM):
            return self.list_()
        if k in T.CONTENT_KINDS or k is T.STATEMENT_REFERENCE or k is T.STATEMENT_DEFINITION:
            return self.statement()
        if k in T.RELATION_KINDS or k is T.INDENT:
            self.fail(
                "A relation (+, -, <+, ...) must directly follow the line of its parent element, "
                "indented, without an empty line in between", self.peek(),
                "Remove the empty line above it, or start a new paragraph with text, a statement or argument "
                "title, or a list item (* or 1.)."
            )
        if k is T.INFERENCE_START or k is T.INFERENCE_END:
            self.fail("An inference line (----) must stand between numbered pcs lines ((1), (2), ...)", self.peek())
        self.fail(_TOP_LEVEL_HINT[:-1], self.peek())

    # -- blocks ----------------------------------------------------------------
    def heading(self) -> Node:
        children = [self.take()]
        if self.kind() not in T.CONTENT_KINDS:
            self.fail("Expected the heading's text after '#'", self.peek())
        children.append(self.content())
        self._data_tail(children, newline_before=True)
        return Node(HEADING, children)

    def _data_tail(self, children, newline_before=False):
        toks = self.toks
        if newline_before and toks[self.i].kind is T.NEWLINE and toks[self.i + 1].kind is T.DATA:
            children.append(self.take())
        if toks[self.i].kind is T.DATA:
            children.append(self.take())
            if toks[self.i].kind is T.NEWLINE:
                children.append(self.take())

    def statement(self) -> Node:
        toks = self.toks
        children: list = []
        k = toks[self.i].kind
        if k is T.STATEMENT_REFERENCE:
            children.append(self.take())
            self._tags_and_newline(children)
        elif k is T.STATEMENT_DEFINITION:
            defn = [self.take()]
            if toks[self.i].kind not in T.CONTENT_KINDS:
                self.fail("Expected the statement's text after its title", self.peek())
            defn.append(self.content())
            children.append(Node(STATEMENT_DEFINITION, defn))
        elif k in T.CONTENT_KINDS:
            children.append(self.content())
        else:
            self.fail("Expected a statement (text, [title]: text or [title])", self.peek())
        self._data_tail(children)
        if toks[self.i].kind is T.INDENT:
            children.append(self.relations())
        return Node(STATEMENT, children)

    def _tags_and_newline(self, children):
        toks = self.toks
        while toks[self.i].kind is T.TAG:
            children.append(self.take())
        if toks[self.i].kind is T.NEWLINE:
            children.append(self.take())

    def argument(self) -> Node:
        toks = self.toks
        children: list = []
        if toks[self.i].kind is T.ARGUMENT_DEFINITION:
            children.append(self.take())
            if toks[self.i].kind not in T.CONTENT_KINDS:
                self.fail("Expected the argument's description after its title", self.peek())
            children.append(self.content())
        else:
            children.append(self.expect(T.ARGUMENT_REFERENCE))
            self._tags_and_newline(children)
        self._data_tail(children)
        if toks[self.i].kind is T.INDENT:
            children.append(self.relations())
        return Node(ARGUMENT, children)

    def statement_or_argument(self) -> Node:
        toks = self.toks
        k = toks[self.i].kind
        if k is T.ARGUMENT_DEFINITION or k is T.ARGUMENT_REFERENCE:
            return self.argument()
        return self.statement()

    def list_(self) -> Node:
        children = [self.take()]  # Indent
        item_kind = self.kind()
        name = ORDERED_LIST if item_kind is T.ORDERED_LIST_ITEM else UNORDERED_LIST
        while self.kind() is item_kind:
            item = [self.take()]
            item.append(self.statement_or_argument())
            children.append(Node(LIST_ITEM, item))
        self.expect(T.DEDENT, " (nested lists are not supported; list items must share one indentation)")
        return Node(name, children)

    def relations(self) -> Node:
        toks = self.toks
        self._enter()
        children = [self.take()]  # Indent
        if toks[self.i].kind not in T.RELATION_KINDS:
            self.fail("Expected a relation symbol (+, -, <+, <-, +>, ->, ><, _, <_, _>) on the indented line", self.peek())
        while toks[self.i].kind in T.RELATION_KINDS:
            sym = self.take()
            if sym.kind is T.CONTRADICTION:
                member = self.statement()
            else:
                member = self.statement_or_argument()
            node = Node(RELATION, [sym, member])
            node.relation_kind = sym.kind
            children.append(node)
        self.expect(
            T.DEDENT,
            " (relations of the same parent must share one indentation; end the indented tree before continuing)",
        )
        self.depth -= 1
        return Node(RELATIONS, children)

    def pcs(self) -> Node:
        toks = self.toks
        children = [self.pcs_statement()]
        tails = 0
        while toks[self.i].kind is T.STATEMENT_NUMBER or toks[self.i].kind is T.INFERENCE_START:
            tail = []
            while toks[self.i].kind is T.STATEMENT_NUMBER:
                tail.append(self.pcs_statement())
            if toks[self.i].kind is not T.INFERENCE_START:
                self.fail(
                    "A premise-conclusion structure must end with an inference line (----) "
                    "followed by its conclusion", self.peek()
                )
            tail.append(self.inference())
            if toks[self.i].kind is not T.STATEMENT_NUMBER:
                self.fail("An inference line must be followed by a numbered conclusion ((n) text)", self.peek())
            tail.append(self.pcs_statement())
            children.append(Node(PCS_TAIL, tail))
            tails += 1
        if tails == 0:
            self.fail("A premise-conclusion structure needs an inference line (----) before its conclusion", self.peek())
        return Node(PCS, children)

    def pcs_statement(self) -> Node:
        toks = self.toks
        num = self.take()
        if toks[self.i].kind in (T.ARGUMENT_DEFINITION, T.ARGUMENT_REFERENCE):
            self.fail("Expected a statement after the pcs number", self.peek(),
                      "An argument (<Title>) cannot be a premise or conclusion: write a statement reference "
                      "([Title]) or definition ([Title]: text) instead.")
        if not (toks[self.i].kind in T.CONTENT_KINDS or toks[self.i].kind in (T.STATEMENT_REFERENCE, T.STATEMENT_DEFINITION)):
            self.fail("Expected a statement after the pcs number", self.peek())
        return Node(PCS_STATEMENT, [num, self.statement()])

    def inference(self) -> Node:
        children = [self.take()]  # InferenceStart
        if self.kind() in T.FREESTYLE_KINDS or (self.kind() is T.NEWLINE and self.kind(1) in T.FREESTYLE_KINDS):
            if self.kind() is T.NEWLINE:
                children.append(self.take())
            rules = [self.freestyle()]
            while self.kind() is T.LIST_DELIMITER:
                self.take()
                if self.kind() not in T.FREESTYLE_KINDS:
                    self.fail("Expected an inference rule name after ','", self.peek())
                rules.append(self.freestyle())
            children.append(Node(INFERENCE_RULES, rules))
        if self.kind() is T.NEWLINE:
            children.append(self.take())
        if self.kind() is T.DATA:
            children.append(self.take())
            if self.kind() is T.NEWLINE:
                children.append(self.take())
        children.append(
            self.expect(T.INFERENCE_END, " to close the inference (use ---- alone, or -- rules {data} -- with two or more hyphens on both sides)")
        )
        children.append(self.expect(T.NEWLINE, " after the inference line"))
        if self.kind() is T.INDENT:
            rel = [self.take()]
            if self.kind() is not T.OUTGOING_UNDERCUT:
                self.fail("Only undercuts (_ or <_) may be attached to an inference", self.peek())
            while self.kind() is T.OUTGOING_UNDERCUT:
                sym = self.take()
                node = Node(RELATION, [sym, self.statement_or_argument()])
                node.relation_kind = sym.kind
                rel.append(node)
            self.expect(T.DEDENT)
            children.append(Node(RELATIONS, rel))
        return Node(INFERENCE, children)

    # -- inline ----------------------------------------------------------------
    def _enter(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"Nesting deeper than {MAX_NESTING} levels (formatting or relation tree)", self.peek())

    def content(self) -> Node:
        self._enter()
        children = []
        toks = self.toks
        n = self.n
        while self.i < n:
            tok = toks[self.i]
            k = tok.kind
            if k is T.FREESTYLE or k is T.UNUSED_CONTROL_CHAR or k is T.ESCAPED_CHAR or k is T.SPECIAL_CHAR:
                children.append(self.freestyle())
            elif k is T.LINK or k is T.TAG or k is T.NEWLINE or k is T.ARGUMENT_MENTION or k is T.STATEMENT_MENTION:
                children.append(tok)
                self.i += 1
            elif k in T.BOLD_STARTS:
                children.append(self._range(BOLD, T.BOLD_STARTS[k]))
            elif k in T.ITALIC_STARTS:
                children.append(self._range(ITALIC, T.ITALIC_STARTS[k]))
            else:
                break
        self.depth -= 1
        return Node(STATEMENT_CONTENT, children)

    def _range(self, name, end_kind) -> Node:
        children = [self.take()]
        if self.kind() in T.CONTENT_KINDS:
            children.append(self.content())
        if self.kind() is not end_kind:
            style = "bold" if name == BOLD else "italic"
            self.fail(
                f"Unclosed {style} text: expected {T.LABELS[end_kind]} (escape a literal * or _ with a backslash)",
                self.peek(),
            )
        children.append(self.take())
        return Node(name, children)

    def freestyle(self) -> Node:
        toks = self.toks
        n = self.n
        start = self.i
        i = start
        while i < n and toks[i].kind in T.FREESTYLE_KINDS:
            i += 1
        self.i = i
        return Node(FREESTYLE_TEXT, toks[start:i])


def parse_tokens(tokens: list[Token], text: str) -> tuple[Node, list[Issue]]:
    parser = Parser(tokens, text)
    tree = parser.document()
    return tree, parser.issues
