"""The typed data model of a parsed Argdown document.

Names follow the Argdown terminology: statements are string occurrences that
belong to an ``EquivalenceClass`` (one per title); an ``Argument`` collects
descriptions and may carry a premise-conclusion structure (``pcs``). Positions
are 1-based; end positions point at the last character, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

# Relation types (values as in the reference's JSON export).
SUPPORT = "support"
ATTACK = "attack"
UNDERCUT = "undercut"
CONTRADICTORY = "contradictory"
CONTRARY = "contrary"
ENTAILS = "entails"

# Statement roles.
PREMISE = "premise"
INTERMEDIARY_CONCLUSION = "intermediary-conclusion"
MAIN_CONCLUSION = "main-conclusion"
ARGUMENT_DESCRIPTION = "argument-description"
TOP_LEVEL_STATEMENT = "top-level-statement"
RELATION_STATEMENT = "relation-statement"
PCS_ROLES = frozenset({PREMISE, INTERMEDIARY_CONCLUSION, MAIN_CONCLUSION})


@dataclass(slots=True)
class Span:
    """Where an element sits in the source (1-based, end inclusive)."""

    start_line: Optional[int] = None
    start_column: Optional[int] = None
    end_line: Optional[int] = None
    end_column: Optional[int] = None


@dataclass(slots=True)
class TextRange:
    """A formatted or linked part of a text: ``text[start:stop + 1]``."""

    type: str  # bold, italic, link, tag, statement-mention, argument-mention
    start: int
    stop: int
    title: Optional[str] = None  # mentions: the mentioned title
    url: Optional[str] = None  # links
    tag: Optional[str] = None  # tags


@dataclass(eq=False, slots=True)
class Section:
    """A heading and the part of the document it governs."""

    id: str
    level: int
    title: str
    span: Span = field(default_factory=Span)
    children: list["Section"] = field(default_factory=list)
    parent: Optional["Section"] = None
    tags: Optional[list[str]] = None
    ranges: list[TextRange] = field(default_factory=list)
    data: Any = None
    is_group: Optional[bool] = None
    is_closed: Optional[bool] = None


@dataclass(eq=False, slots=True)
class Inference:
    """The step to a conclusion in a pcs (``----`` or ``-- rules {data} --``)."""

    span: Span = field(default_factory=Span)
    rules: list[str] = field(default_factory=list)
    data: Any = None
    relations: list["Relation"] = field(default_factory=list)
    conclusion_index: Optional[int] = None  # 0-based index of its conclusion in the pcs
    argument_title: Optional[str] = None


@dataclass(eq=False, slots=True)
class Statement:
    """One occurrence: a statement, a pcs line or an argument description."""

    role: Optional[str] = None
    title: Optional[str] = None
    text: Optional[str] = None
    span: Span = field(default_factory=Span)
    ranges: Optional[list[TextRange]] = None
    tags: Optional[list[str]] = None
    is_reference: bool = False
    is_top_level: Optional[bool] = None
    section: Optional[Section] = None
    data: Any = None
    argument_title: Optional[str] = None  # pcs statements: the argument they belong to
    inference: Optional[Inference] = None  # conclusions: the inference leading to them
    pcs: Optional[list["Statement"]] = None  # argument descriptions followed by a pcs


@dataclass(eq=False, slots=True)
class EquivalenceClass:
    """All statements sharing one title (untitled ones get "Untitled N")."""

    title: str
    members: list[Statement] = field(default_factory=list)
    relations: list["Relation"] = field(default_factory=list)
    tags: Optional[list[str]] = None
    section: Optional[Section] = None
    data: Any = None
    is_used_as_top_level_statement: bool = False
    is_used_as_relation_statement: bool = False
    is_used_as_premise: bool = False
    is_used_as_main_conclusion: bool = False
    is_used_as_intermediary_conclusion: Optional[bool] = None

    type = "equivalence-class"


@dataclass(eq=False, slots=True)
class Argument:
    """An argument: its descriptions, its pcs (if reconstructed) and relations."""

    title: str
    members: list[Statement] = field(default_factory=list)
    pcs: list[Statement] = field(default_factory=list)
    relations: list["Relation"] = field(default_factory=list)
    tags: Optional[list[str]] = None
    section: Optional[Section] = None
    data: Any = None
    span: Span = field(default_factory=Span)

    type = "argument"

    @property
    def is_reconstructed(self) -> bool:
        return bool(self.pcs)


Node = Union[EquivalenceClass, Argument, Inference]


@dataclass(eq=False, slots=True)
class Relation:
    """A dialectical or logical relation ``source --type--> target``."""

    type: str
    source: Node
    target: Node
    occurrences: list[Span] = field(default_factory=list)
    derived: bool = False  # True for relations implied by pcs (see Document.derived_relations)


@dataclass
class TagInfo:
    tag: str
    css_class: str
    occurrence_index: int
