"""Syntax tree -> data model.

Walks the tree in source order, entering and leaving rule nodes, and builds
equivalence classes, arguments, sections and relations with the reference's
semantics: titles of untitled elements are numbered in the order the reference
numbers them, a pcs attaches to the argument block directly before it, an
undercut below a statement that follows an inference targets that inference, and
relations of reconstructed arguments are moved to their main conclusion.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Optional

from ..issues import Issue, at_offset
from . import model as M
from . import parser as P
from . import tokens as T
from . import yaml_data
from .model import Argument, EquivalenceClass, Inference, Relation, Section, Span, Statement, TextRange

_NODE = P.Node
_FREESTYLE_TEXT = P.FREESTYLE_TEXT

_REFERENCE_TITLE = re.compile(r"\[(.+)\]")
_DEFINITION_TITLE = re.compile(r"\[(.+)\]:")
_MENTION_TITLE = re.compile(r"@[\[<](.+)[\]>]")
_ARG_REFERENCE_TITLE = re.compile(r"<(.+)>")
_ARG_DEFINITION_TITLE = re.compile(r"<(.+)>:")
_LINK_PARTS = re.compile(r"\[(.+)\]\((.+)\)", re.S)
_TAG_NAME = re.compile(r"#(?:\(([^)]+)\)|([^ \t]+))")
_BLOCK_DATA_START = re.compile(r"^\{[ \t]*(\n\r|\n)")
_BLOCK_DATA_END = re.compile(r"\}\s*$")
_FRONT_START = re.compile(r"^\s*={3,}")
_FRONT_END = re.compile(r"={3,}\s*$")


@lru_cache(maxsize=1)
def default_shortcodes() -> dict[str, str]:
    """Shortcode -> character table of Argdown's default configuration."""
    return json.loads(resources.files(__package__).joinpath("shortcodes.json").read_text("utf-8"))


def css_class(name: str) -> str:
    name = name.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    name = re.sub(r"\s", "-", name)
    return re.sub(r"[^a-z0-9\-]", "", name)


class _Heading:
    __slots__ = ("text", "ranges", "tags", "data")

    def __init__(self):
        self.text = ""
        self.ranges: list[TextRange] = []
        self.tags: Optional[list[str]] = None
        self.data = None


def deep_merge(base: Any, extra: Any) -> Any:
    """Merge ``extra`` into ``base`` recursively (dicts merge, anything else replaces)."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = deep_merge(out.get(key), value) if key in out else value
        return out
    return extra if extra is not None else base


# Model settings before the front matter's ``model:`` section (the reference's defaults).
DEFAULT_SETTINGS = {"mode": "loose", "transformArgumentRelations": True}


class Builder:
    """Walks the parse tree into the model; ``build`` returns the model settings the front matter chose."""

    def __init__(self, text: str, index):
        self.text = text
        self.index = index  # LineIndex
        self.settings = dict(DEFAULT_SETTINGS)
        self.statements: dict[str, EquivalenceClass] = {}
        self.arguments: dict[str, Argument] = {}
        self.relations: list[Relation] = []
        self.sections: list[Section] = []
        self.tags: dict[str, M.TagInfo] = {}
        self.front_matter = None
        self.problems: list[Issue] = []  # by offset; the document resolves line and column
        self.untitled = 0
        self.section_counter = 0
        # The text being built is the heading's, else the statement's (``heading or statement``).
        self.statement: Optional[Statement] = None
        self.heading: Optional[_Heading] = None
        self.section: Optional[Section] = None
        self.relation_parent = None
        self.argument: Optional[Argument] = None
        self.pcs_argument: Optional[Argument] = None
        self.inference: Optional[Inference] = None
        self.relation: Optional[Relation] = None
        self.relation_parents: list = []
        self.ranges_stack: list[TextRange] = []
        self.shortcodes = default_shortcodes()
        self.yaml_cache: dict[str, Any] = {}  # data block source -> its value (only JSON-like values)

    # -- helpers -------------------------------------------------------------
    def span(self, node) -> Span:
        children = node.children
        if not children:
            return Span()
        first, last = children[0], children[-1]  # Node.start/.end, inlined: this runs for most nodes
        while first.__class__ is _NODE:
            first = first.children[0]
        while last.__class__ is _NODE:
            last = last.children[-1]
        start, end = first.start, last.end - 1
        return Span(*self.index.span(start, end if end > start else start))

    def unique_title(self) -> str:
        self.untitled += 1
        return f"Untitled {self.untitled}"

    def equivalence_class(self, title: str) -> EquivalenceClass:
        ec = self.statements.get(title)
        if ec is None:
            ec = self.statements[title] = EquivalenceClass(title)
        return ec

    def get_argument(self, title: Optional[str] = None) -> Argument:
        arg = self.arguments.get(title) if title else None
        if arg is None:
            arg = Argument(title or self.unique_title())
            self.arguments[arg.title] = arg
        self.argument = arg
        self.relation_parent = arg
        return arg

    def relation_member(self, parent):
        if isinstance(parent, Statement):
            if not parent.title:
                parent.title = self.unique_title()
            if parent.role == M.ARGUMENT_DESCRIPTION:
                return self.get_argument(parent.title)
            return self.equivalence_class(parent.title)
        return parent

    def load_yaml(self, source: str, offset: int):
        """The value of the data block ``source``, which starts at ``offset`` of the text; an error is
        reported at the line and column of its problem."""
        # Maps repeat their data blocks ({isGroup: true}, ...): each source is parsed once and each
        # node gets its own copy (measured: 0.09 s of the 3.8 MB benchmark map's build, 5,626 blocks).
        cached = self.yaml_cache.get(source, _MISSING)
        if cached is not _MISSING:
            return _copy(cached)
        try:
            data = yaml_data.load(source)
        except yaml_data.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            where = offset + (mark.index if mark is not None else 0)
            self.problems.append(at_offset(where, f"Invalid YAML data: {problem}", "yaml"))
            return None
        if _plain(data):
            self.yaml_cache[source] = _copy(data)
        return data

    # -- walk ------------------------------------------------------------------
    def build(self, tree) -> dict:
        """Walk ``tree``; -> the model settings (defaults updated by the front matter)."""
        self.walk(tree)
        return dict(self.settings)

    def walk(self, node, parent=None, index=0):
        enter, leave = _RULES.get(node.name, _NO_RULES)  # one lookup: this runs for every node
        if enter:
            enter(self, node, parent, index)
        children = node.children
        last = len(children) - 1
        i = 0
        for child in children:
            if child.__class__ is _NODE:
                if child.name is _FREESTYLE_TEXT:
                    self.on_freestyle(child)  # a leaf: its tokens are read there, none has a handler
                else:
                    self.walk(child, node, i)
            else:
                handler = _TOKEN.get(child.kind)
                if handler:
                    handler(self, child, node, i, last)
            i += 1
        if leave:
            leave(self, node, parent, index)

    # -- tokens ----------------------------------------------------------------
    def on_statement_definition(self, tok, node, i, last):
        m = _DEFINITION_TITLE.match(tok.image)
        if m and self.statement is not None:
            self.statement.title = m.group(1)

    def on_statement_reference(self, tok, node, i, last):
        m = _REFERENCE_TITLE.match(tok.image)
        if m and self.statement is not None:
            self.statement.title = m.group(1)
            self.statement.is_reference = True

    def on_argument_reference(self, tok, node, i, last):
        m = _ARG_REFERENCE_TITLE.match(tok.image)
        if m and self.statement is not None:
            self.statement.title = m.group(1)
            self.statement.is_reference = True

    def on_argument_definition(self, tok, node, i, last):
        m = _ARG_DEFINITION_TITLE.match(tok.image)
        if m and self.statement is not None:
            self.statement.title = m.group(1)

    def on_mention(self, tok, node, i, last):
        target = self.heading or self.statement
        m = _MENTION_TITLE.match(tok.image)
        if m and target is not None:
            old = target.text or ""
            target.text = old + tok.image
            kind = "statement-mention" if tok.kind is T.STATEMENT_MENTION else "argument-mention"
            if target.ranges is None:
                target.ranges = []
            target.ranges.append(TextRange(kind, len(old), len(target.text) - 1, title=m.group(1)))

    def on_link(self, tok, node, i, last):
        target = self.heading or self.statement
        if target is None:
            return
        m = _LINK_PARTS.match(tok.image)
        old = target.text or ""
        target.text = old + m.group(1)
        rng = TextRange("link", len(old), len(target.text) - 1, url=m.group(2))
        if tok.image.endswith(" "):
            target.text += " "
        if target.ranges is None:
            target.ranges = []
        target.ranges.append(rng)

    def on_tag(self, tok, node, i, last):
        target = self.heading or self.statement
        if target is None:
            return
        m = _TAG_NAME.match(tok.image)
        tag = m.group(1) or m.group(2)
        if not self.settings.get("removeTagsFromText"):
            old = target.text or ""
            target.text = old + tok.image
            if target.ranges is None:
                target.ranges = []
            target.ranges.append(TextRange("tag", len(old), len(target.text) - 1, tag=tag))
        if target.tags is None:
            target.tags = []
        if tag not in target.tags:
            target.tags.append(tag)
        if tag not in self.tags:
            self.tags[tag] = M.TagInfo(tag, css_class("tag-" + tag), len(self.tags))

    def on_newline(self, tok, node, i, last):
        target = self.heading or self.statement
        if target is None:
            return
        old = target.text or ""
        if i != last and not old.endswith(" "):
            target.text = old + " "

    def on_data(self, tok, node, i, last):
        source, start = tok.image, tok.start
        m = _BLOCK_DATA_START.match(source)
        if m:
            source, start = _BLOCK_DATA_END.sub("", source[m.end():]), start + m.end()
        node.data = self.load_yaml(source, start)

    def on_front_matter(self, tok, node, i, last):
        after_start = _FRONT_START.sub("", tok.image)
        source = _FRONT_END.sub("", after_start)
        data = self.load_yaml(source, tok.start + len(tok.image) - len(after_start))
        node.data = data
        self.front_matter = data
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            self.settings.update(data["model"])
            custom = data["model"].get("shortcodes")
            if isinstance(custom, dict):
                self.shortcodes = dict(self.shortcodes)
                for code, info in custom.items():
                    char = info.get("unicode") if isinstance(info, dict) else info
                    if isinstance(char, str):
                        self.shortcodes[code] = char

    # -- rules -------------------------------------------------------------------
    def enter_heading(self, node, parent, index):
        self.heading = _Heading()

    def exit_heading(self, node, parent, index):
        heading = self.heading
        level = len(node.children[0].image) - 1
        self.section_counter += 1
        span = self.span(node)
        section = Section(
            id=f"s{self.section_counter}", level=level, title=heading.text.strip(),
            span=Span(span.start_line, span.start_column), tags=heading.tags, ranges=heading.ranges,
            data=node.data,
        )
        if isinstance(node.data, dict):
            if "isGroup" in node.data:
                section.is_group = node.data["isGroup"]
            if "isClosed" in node.data:
                section.is_closed = node.data["isClosed"]
        previous = self.section
        while previous is not None and previous.level >= level:
            previous.span.end_line = span.start_line - 1
            previous.span.end_column = 0
            previous = previous.parent
        if previous is not None:
            previous.children.append(section)
            section.parent = previous
        else:
            self.sections.append(section)
        self.section = section
        self.heading = None

    def exit_document(self, node, parent, index):
        if node.children:
            span = self.span(node)
            section = self.section
            while section is not None:
                section.span.end_line = span.end_line
                section.span.end_column = span.end_column
                section = section.parent

    def enter_statement(self, node, parent, index):
        stmt = Statement(span=self.span(node))
        if parent is not None and parent.name == P.ARGDOWN:
            stmt.role = M.TOP_LEVEL_STATEMENT
            stmt.is_top_level = True
        elif self.relation is not None:
            stmt.role = M.RELATION_STATEMENT
        self.statement = stmt
        self.relation_parent = stmt
        node.statement = stmt

    def exit_statement(self, node, parent, index):
        stmt = node.statement
        stmt.data = node.data
        if not stmt.title:
            stmt.title = self.unique_title()
        ec = self.equivalence_class(stmt.title)
        if stmt.tags:
            ec.tags = _union(ec.tags, stmt.tags)
        if stmt.data is not None:
            ec.data = deep_merge(ec.data, stmt.data)
        if self.section is not None:
            stmt.section = self.section
        ec.members.append(stmt)
        in_group = stmt.data.get("isInGroup") if isinstance(stmt.data, dict) else None
        if in_group is True or (not stmt.is_reference and in_group is None and ec.section is None):
            ec.section = stmt.section
        if stmt.role == M.TOP_LEVEL_STATEMENT:
            ec.is_used_as_top_level_statement = True
        elif stmt.role == M.RELATION_STATEMENT:
            ec.is_used_as_relation_statement = True
        self.statement = None

    def enter_argument(self, node, parent, index):
        desc = Statement(role=M.ARGUMENT_DESCRIPTION, text="", span=self.span(node))
        desc.is_top_level = parent is None or parent.name == P.ARGDOWN
        if self.section is not None:
            desc.section = self.section
        self.statement = desc
        self.relation_parent = desc
        node.statement = desc

    def exit_argument(self, node, parent, index):
        desc = node.statement
        desc.data = node.data
        if not desc.title:
            desc.title = self.unique_title()
        arg = self.get_argument(desc.title)
        node.argument = arg
        if desc.tags:
            arg.tags = _union(arg.tags, desc.tags)
        if desc.data is not None:
            arg.data = deep_merge(arg.data, desc.data)
        if self.section is not None:
            desc.section = self.section
        arg.members.append(desc)
        in_group = desc.data.get("isInGroup") if isinstance(desc.data, dict) else None
        if in_group is True or (not desc.is_reference and in_group is None and arg.section is None):
            arg.section = desc.section
        self.statement = None
        self.argument = None

    def enter_pcs(self, node, parent, index):
        arg = desc = None
        siblings = parent.children if parent is not None else []
        if index > 0:
            before = siblings[index - 1]
            if before.__class__ is not P.Node and before.kind is T.EMPTYLINE and index > 1:
                before = siblings[index - 2]
            if before.__class__ is P.Node and before.name == P.ARGUMENT:
                desc, arg = before.statement, before.argument
        if arg is None:
            arg = self.get_argument()
        if self.section is not None:
            arg.section = self.section
        if arg.pcs:
            self.problems.append(at_offset(
                node.start,
                f"Argument <{arg.title}> already has a premise-conclusion structure; "
                "an argument can be reconstructed only once.",
                "multiple-pcs",
            ))
        arg.pcs = []
        if desc is not None:
            desc.pcs = arg.pcs
        node.argument = arg
        self.pcs_argument = arg

    def exit_pcs(self, node, parent, index):
        arg = node.argument
        last = arg.pcs[-1]
        last.role = M.MAIN_CONCLUSION
        ec = self.statements[last.title]
        ec.is_used_as_main_conclusion = True
        if not any(s.role == M.INTERMEDIARY_CONCLUSION for s in ec.members):
            ec.is_used_as_intermediary_conclusion = False
        arg.span = self.span(node)
        self.statement = None
        self.argument = None
        self.pcs_argument = None

    def exit_pcs_statement(self, node, parent, index):
        stmt = node.children[1].statement
        ec = self.equivalence_class(stmt.title)
        stmt.role = M.PREMISE
        stmt.argument_title = self.pcs_argument.title
        if index > 0:
            before = parent.children[index - 1]
            if before.__class__ is P.Node and before.name == P.INFERENCE:
                stmt.role = M.INTERMEDIARY_CONCLUSION
                ec.is_used_as_intermediary_conclusion = True
                stmt.inference = before.inference
                stmt.inference.conclusion_index = len(self.pcs_argument.pcs)
                stmt.inference.argument_title = self.pcs_argument.title
        if stmt.role == M.PREMISE:
            ec.is_used_as_premise = True
        self.pcs_argument.pcs.append(stmt)

    def enter_inference(self, node, parent, index):
        inf = Inference(span=self.span(node))
        self.inference = inf
        self.relation_parent = inf
        node.inference = inf

    def exit_inference(self, node, parent, index):
        node.inference.data = node.data

    def exit_inference_rules(self, node, parent, index):
        if self.inference is not None:
            for child in node.children:
                self.inference.rules.append((child.text or "").strip())

    def enter_relations(self, node, parent, index):
        self.relation_parents.append(self.relation_member(self.relation_parent))

    def exit_relations(self, node, parent, index):
        self.relation = None
        self.relation_parents.pop()

    def enter_relation(self, node, parent, index):
        kind = node.relation_kind
        anchor = self.relation_parents[-1]
        rel = Relation(_RELATION_TYPES[kind], None, None, occurrences=[self.span(node)])
        if kind is T.OUTGOING_UNDERCUT and isinstance(anchor, EquivalenceClass) and self.inference is not None:
            # An undercut below a conclusion (or any statement after an inference) hits the inference.
            rel.target = self.inference
        elif kind in _OUTGOING:
            rel.target = anchor
        else:
            rel.source = anchor
        self.relation = rel
        node.relation = rel

    def exit_relation(self, node, parent, index):
        rel = node.relation
        child = node.children[1]
        member = child.argument if child.name == P.ARGUMENT else self.relation_member(child.statement)
        if rel.source is not None:
            rel.target = member
        else:
            rel.source = member
        for existing in rel.source.relations:
            same = existing.target is rel.target and existing.type == rel.type
            mirrored = (
                rel.type == M.CONTRADICTORY and existing.type == rel.type
                and rel.source is existing.target and rel.target is existing.source
            )
            if same or mirrored:
                existing.occurrences.extend(rel.occurrences)
                return
        self.relations.append(rel)
        rel.source.relations.append(rel)
        rel.target.relations.append(rel)

    def on_freestyle(self, node):
        children = node.children
        if len(children) == 1 and children[0].kind is T.FREESTYLE:
            text = children[0].image  # most text: one plain token
        else:
            text = self.joined(children)
        node.text = text
        target = self.heading or self.statement
        if target is not None:
            target.text = (target.text or "") + text

    def joined(self, tokens) -> str:
        """The text of a run of text tokens: escapes resolved, shortcodes replaced."""
        parts = []
        for tok in tokens:
            kind = tok.kind
            image = tok.image
            if kind is T.ESCAPED_CHAR:
                piece = image[1:]
            elif kind is T.SPECIAL_CHAR:
                char = self.shortcodes.get(image.strip())
                if char is None:
                    piece = image
                else:
                    start = sum(map(len, parts))
                    piece = char + (" " if image.endswith(" ") else "")
                    # The reference never attaches these ranges but keeps them on its stack.
                    self.ranges_stack.append(TextRange("special-char", start, start + len(char)))
            else:
                piece = image
            parts.append(piece)
        return "".join(parts)

    def enter_range(self, node, parent, index):
        target = self.heading or self.statement
        if target is None:
            return
        pos = len(target.text or "")
        rng = TextRange("bold" if node.name == P.BOLD else "italic", pos, pos)
        self.ranges_stack.append(rng)
        if target.ranges is None:
            target.ranges = []
        target.ranges.append(rng)

    def exit_range(self, node, parent, index):
        target = self.heading or self.statement
        if target is None:
            return
        if self.ranges_stack:
            self.ranges_stack.pop().stop = len(target.text) - 1 if target.text else 0
        if node.children[-1].image.endswith(" "):
            target.text = (target.text or "") + " "


_MISSING = object()
_SCALARS = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    """Whether ``value`` is built of dicts, lists and immutable scalars only (so ``_copy`` copies it)."""
    if isinstance(value, dict):
        return all(isinstance(k, _SCALARS) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, _SCALARS)


def _copy(value):
    """A copy of a ``_plain`` value that shares nothing mutable with it."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _union(old, new):
    out = list(old or [])
    for tag in new:
        if tag not in out:
            out.append(tag)
    return out


_RELATION_TYPES = {
    T.INCOMING_SUPPORT: M.SUPPORT,
    T.INCOMING_ATTACK: M.ATTACK,
    T.OUTGOING_SUPPORT: M.SUPPORT,
    T.OUTGOING_ATTACK: M.ATTACK,
    T.CONTRADICTION: M.CONTRADICTORY,
    T.INCOMING_UNDERCUT: M.UNDERCUT,
    T.OUTGOING_UNDERCUT: M.UNDERCUT,
}
_OUTGOING = {T.OUTGOING_SUPPORT, T.OUTGOING_ATTACK, T.OUTGOING_UNDERCUT}

_RULES = {  # rule node -> (enter, exit)
    P.ARGDOWN: (None, Builder.exit_document),
    P.HEADING: (Builder.enter_heading, Builder.exit_heading),
    P.STATEMENT: (Builder.enter_statement, Builder.exit_statement),
    P.ARGUMENT: (Builder.enter_argument, Builder.exit_argument),
    P.PCS: (Builder.enter_pcs, Builder.exit_pcs),
    P.PCS_STATEMENT: (None, Builder.exit_pcs_statement),
    P.INFERENCE: (Builder.enter_inference, Builder.exit_inference),
    P.INFERENCE_RULES: (None, Builder.exit_inference_rules),
    P.RELATIONS: (Builder.enter_relations, Builder.exit_relations),
    P.RELATION: (Builder.enter_relation, Builder.exit_relation),
    P.BOLD: (Builder.enter_range, Builder.exit_range),
    P.ITALIC: (Builder.enter_range, Builder.exit_range),
}
_NO_RULES = (None, None)
_TOKEN = {
    T.STATEMENT_DEFINITION: Builder.on_statement_definition,
    T.STATEMENT_REFERENCE: Builder.on_statement_reference,
    T.STATEMENT_MENTION: Builder.on_mention,
    T.ARGUMENT_REFERENCE: Builder.on_argument_reference,
    T.ARGUMENT_DEFINITION: Builder.on_argument_definition,
    T.ARGUMENT_MENTION: Builder.on_mention,
    T.LINK: Builder.on_link,
    T.TAG: Builder.on_tag,
    T.NEWLINE: Builder.on_newline,
    T.DATA: Builder.on_data,
    T.FRONT_MATTER: Builder.on_front_matter,
}
