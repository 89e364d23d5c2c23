"""YAML data blocks read as the reference reads them.

The reference (@argdown/cli 1.7.5) loads data with js-yaml 4 and its default schema: YAML 1.2
core scalars (``yes`` is a string, ``0o17`` an octal, no ``1_000`` or ``1:20``), timestamps,
merge keys, duplicate keys rejected, and a lenient flow context where ``{from:["2"]}`` is a
mapping. We keep PyYAML's safe loading (no object construction) and give it that schema:

- first a pre-pass (``_prepass``) for what both PyYAML scanners read as YAML 1.1 and js-yaml as
  YAML 1.2: a ``?`` inside a plain scalar of a flow collection (``{title: Why?}``) and a tab inside
  a plain scalar (``a: b<TAB>c``) are content, another tab outside a quoted scalar or the
  indentation is white space, and a lone ``-`` in a flow collection (``[-, a]``) is an error. It
  changes no character's position, so errors keep their line and column;
- then the scanner: libyaml (fast); it rejects a ``:`` directly before a flow indicator, which
  PyYAML's Python scanner accepts as js-yaml does, so a block libyaml rejects is read again by the
  Python scanner, and only an error of that one is reported;
- the values: what the reference's JSON export holds. Numbers follow JavaScript (an integral
  float is an integer, a big integer is rounded to a double's digits), mapping keys are strings
  in JavaScript's order, and a timestamp is the ISO string ``JSON.stringify`` writes for a Date.

Differences that remain are listed in docs/parser.md.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, SequenceNode
from yaml.resolver import BaseResolver

__all__ = ["load", "YAMLError"]

YAMLError = yaml.YAMLError

_INT = re.compile(r"^[-+]?(?:0b[01]+|0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+)$")
_FLOAT = re.compile(r"^(?:[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_TIMESTAMP = re.compile(r"^([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?)(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9]{2}):([0-9]{2})"
                        r"(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9]{2}))?))?$")
_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]{0,9})$")
_MAX_SAFE = 2 ** 53
_MERGE = "tag:yaml.org,2002:merge"


class _Resolver(BaseResolver):
    """js-yaml's default schema: null, bool, int, float, timestamp, merge (in that order)."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in (
    ("null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
    ("timestamp", re.compile(_DATE.pattern + "|" + _TIMESTAMP.pattern), list("0123456789")),
    ("merge", re.compile(r"^<<$"), ["<"]),
):
    _Resolver.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", _regexp, _first)


def _js_number(value: float):
    """A double as the reference's JSON writes it: integral values as integers (below 2**63, which
    orjson writes; JavaScript writes digits up to 1e21)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2 ** 63:
        return int(Decimal(repr(value))) if abs(value) >= _MAX_SAFE else int(value)
    return value  # inf and nan: JSON null in orjson and in JSON.stringify


def _js_key(key) -> str:
    """A mapping key as JavaScript's ``String()`` makes it (js-yaml keys are object properties)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return _js_number_string(key)
    if isinstance(key, list):
        return ",".join("" if k is None else "[object Object]" if isinstance(k, dict) else _js_key(k) for k in key)
    if isinstance(key, dict):
        return "[object Object]"
    return str(key)


def _js_number_string(value: float) -> str:
    """JavaScript's ``String(number)``: the shortest digits (as Python's ``repr``), written as
    digits between 1e-7 and 1e21 and with an exponent ``e+N``/``e-N`` outside."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    point = exponent + len(digit_tuple)  # value = 0.DIGITS * 10**point
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        e = point - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return ("-" if sign else "") + text


def _js_order(mapping: dict) -> dict:
    """JavaScript objects list array-index keys first, ascending, then the others in insertion order."""
    index = [k for k in mapping if _ARRAY_INDEX.match(k) and int(k) < 2 ** 32 - 1]
    if not index:
        return mapping
    indices = set(index)
    rest = {k: v for k, v in mapping.items() if k not in indices}
    return {**{k: mapping[k] for k in sorted(index, key=int)}, **rest}


class _Constructor(SafeConstructor):
    """SafeConstructor with js-yaml's scalar types and mapping rules."""

    yaml_constructors = dict(SafeConstructor.yaml_constructors)

    def construct_js_int(self, node):
        text = self.construct_scalar(node)
        sign = -1 if text[0] == "-" else 1
        digits = text.lstrip("+-")
        base = {"0b": 2, "0x": 16, "0o": 8}.get(digits[:2], 10)
        value = sign * int(digits[2:] if base != 10 else digits, base)
        if abs(value) > _MAX_SAFE:  # a double in the reference
            as_float = float(value) if abs(value) < 1.8e308 else math.inf
            return text if math.isinf(as_float) else _js_number(as_float)
        return value

    def construct_js_float(self, node):
        text = self.construct_scalar(node)
        lower = text.lower().lstrip("+-")
        sign = -1.0 if text.startswith("-") else 1.0
        if lower == ".inf":
            return sign * math.inf
        if lower == ".nan":
            return math.nan
        value = float(text)
        return text if math.isinf(value) else _js_number(value)  # js-yaml: not finite -> a string

    def construct_js_bool(self, node):
        return self.construct_scalar(node) in ("true", "True", "TRUE")

    def construct_js_timestamp(self, node):
        """The ISO string of the Date js-yaml builds (``Date.UTC`` rolls over months and days)."""
        text = self.construct_scalar(node)
        m = _DATE.match(text) or _TIMESTAMP.match(text)
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if year < 100:  # Date.UTC reads years 0-99 as 1900-1999
            year += 1900
        moment = datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=timezone.utc)
        moment += timedelta(days=day - 1)
        if m.re is _TIMESTAMP:
            fraction = int((m.group(7) or "")[:3].ljust(3, "0"))
            moment += timedelta(hours=int(m.group(4)), minutes=int(m.group(5)), seconds=int(m.group(6)),
                                milliseconds=fraction)
            if m.group(9):
                offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11) or 0))
                moment -= offset if m.group(9) == "+" else -offset
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def construct_js_mapping(self, node, deep=False):
        """Keys as strings; a duplicate key is an error unless it came from a merge (``<<``)."""
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}", node.start_mark)
        mapping: dict = {}
        overridable: set = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(mapping, overridable, value_node)
                continue
            key = _js_key(self.construct_object(key_node, deep=True))
            if key in mapping and key not in overridable:
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       "duplicated mapping key", key_node.start_mark)
            overridable.discard(key)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return _js_order(mapping)

    def _merge(self, mapping: dict, overridable: set, value_node) -> None:
        """``<<: SOURCE`` or ``<<: [SOURCE, ...]``; a sequence source merges as JavaScript's array
        object does (index keys)."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if isinstance(source, SequenceNode):
                merged = _js_order({str(i): v for i, v in enumerate(self.construct_sequence(source, deep=True))})
            elif isinstance(source, MappingNode):
                merged = self.construct_js_mapping(source, deep=True)
            elif source.tag == "tag:yaml.org,2002:timestamp":
                merged = {}  # a Date: an object without own keys
            else:
                raise ConstructorError("while merging", value_node.start_mark,
                                       "cannot merge mappings; the provided source object is unacceptable",
                                       source.start_mark)
            for key, value in merged.items():
                if key not in mapping:
                    mapping[key] = value
                    overridable.add(key)

    def construct_js_merge_scalar(self, node):
        return self.construct_scalar(node)  # '<<' that is not a key is a string

    def construct_js_map(self, node):
        data: dict = {}
        yield data
        data.update(self.construct_js_mapping(node))


for _tag, _method in (("int", "construct_js_int"), ("float", "construct_js_float"), ("bool", "construct_js_bool"),
                      ("timestamp", "construct_js_timestamp"), ("map", "construct_js_map"),
                      ("merge", "construct_js_merge_scalar")):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", getattr(_Constructor, _method))


class _PyLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                _Constructor, _Resolver):
    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)

    def compose_node(self, parent, index):
        # js-yaml lets a later anchor of the same name replace the earlier one; PyYAML refuses it.
        if not self.check_event(yaml.events.AliasEvent):
            anchor = getattr(self.peek_event(), "anchor", None)
            if anchor is not None:
                self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


if hasattr(yaml, "CParser"):
    class _CLoader(yaml.CParser, _Constructor, _Resolver):
        def __init__(self, stream):
            yaml.CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)
else:  # PyYAML built without libyaml
    _CLoader = None


def load(source: str):
    """The value of one YAML data block as the reference reads it; raises ``yaml.YAMLError``."""
    text, table = _prepass(source) if _PREPASS_NEEDED.search(source) else (source, None)
    value = unread = object()
    if _CLoader is not None:
        try:
            value = yaml.load(text, Loader=_CLoader)
        except yaml.YAMLError:
            pass  # libyaml is stricter than js-yaml in flow context: ask the Python scanner
    if value is unread:
        value = yaml.load(text, Loader=_PyLoader)
    return _restore(value, table) if table else value


# Content characters the PyYAML scanners would read as syntax; the pre-pass puts a private-use
# stand-in (one the block lacks) in their place and ``_restore`` puts them back.
_STANDS_IN_FOR = "?\t:\x85\u2028\u2029"  # PyYAML reads the last three as line breaks (YAML 1.1)
_FLOW_INDICATORS = ",[]{}"
_PREPASS_NEEDED = re.compile("[-?\t:\x85\u2028\u2029]")


class _PrepassError(yaml.scanner.ScannerError):
    pass


def _prepass(source: str) -> tuple[str, dict | None]:
    """``source`` with the YAML 1.2 readings above made explicit; -> (text, the table that restores
    the stand-ins, or None where none was needed). A stand-in is a private-use character ``source``
    lacks."""
    free = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in source)
    marks = dict(zip(_STANDS_IN_FOR, free))
    out = [marks.get(ch, ch) if ch in "\x85\u2028\u2029" else ch for ch in source]
    used = any(ch in "\x85\u2028\u2029" for ch in source)
    n, i, flow = len(source), 0, 0
    first = len(source) - len(source.lstrip())  # where the document's first token is
    outer = -1  # where the outermost open flow collection began (not at `first`: inside a block)
    plain = False  # the last token was a plain scalar (it may continue on the next line)
    json_key = False  # the last token was quoted or a flow collection (a ':' may follow it directly)
    start = True  # a token may begin here
    indentation = True  # only spaces since the line began
    while i < n:
        ch = source[i]
        if ch == "\n":
            start = indentation = True
            if plain and flow and outer != first and i + 1 < n and source[i + 1] not in " \t\n#" + _FLOW_INDICATORS:
                raise _PrepassError(None, None, "a plain scalar in a flow collection inside a block must continue "
                                    "on an indented line", _mark(source, i + 1))
        elif ch in " \t":
            if ch == "\t" and (flow or not indentation):
                out[i] = " "
            start = True
        elif start and ch == "#":
            while i < n and source[i] != "\n":
                i += 1
            continue
        elif start and ch in "\"'":
            i = _skip_quoted(source, i)
            indentation, start, json_key = False, False, True
            continue
        elif ch == ":" and json_key:  # after a JSON-like key a value may follow the ':' at once
            start = True
        elif start and not flow and ch in "|>":  # a block scalar keeps every character from here
            return "".join(out[:i]) + source[i:], (_restoring(marks) if used else None)
        elif ch in _FLOW_INDICATORS:
            if ch in "[{" and not flow:
                outer = i
            flow += 1 if ch in "[{" else -1 if ch in "]}" and flow else 0
            start = True
            if ch in "]}":
                json_key = True
                i += 1
                continue
        elif (start or ch == ":") and ch in "-?:" and _ends_scalar(source, i + 1, flow):
            if flow and (ch == "-" or (ch == "?" and i + 1 < n and source[i + 1] in _FLOW_INDICATORS)):
                raise _PrepassError(None, None, f"a '{ch}' in a flow collection must begin a scalar", _mark(source, i))
            start = True
        elif start and ch in "&*!":
            while i < n and source[i] not in " \t\n" + (_FLOW_INDICATORS if flow else ""):
                i += 1
            indentation = False
            continue
        else:
            i, used = _plain(source, out, i, flow, used, marks)
            indentation, start, plain, json_key = False, False, True, False
            continue
        if ch not in " \t\n":
            indentation = plain = json_key = False
        i += 1
    return "".join(out), (_restoring(marks) if used else None)


def _mark(source: str, i: int) -> yaml.Mark:
    return yaml.Mark("<data>", i, source.count("\n", 0, i), i - source.rfind("\n", 0, i) - 1, None, None)


def _ends_scalar(source: str, i: int, flow: int) -> bool:
    """Whether the character at ``i`` may not continue a plain scalar (js-yaml's rule after ``:``)."""
    return i >= len(source) or source[i] in " \t\n\r" or bool(flow and source[i] in _FLOW_INDICATORS)


def _skip_quoted(source: str, i: int) -> int:
    """The index after the quoted scalar that starts at ``i`` (its end, or the end of ``source``)."""
    quote, n = source[i], len(source)
    i += 1
    while i < n:
        if quote == '"' and source[i] == "\\":
            i += 2
            continue
        if source[i] == quote:
            if quote == "'" and source[i + 1:i + 2] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _plain(source: str, out: list, i: int, flow: int, used: bool, marks: dict) -> tuple[int, bool]:
    """Walk the plain scalar that starts at ``i`` to its end on this line, marking its content
    ``?`` (in flow context) and inner tabs; -> (index after it, placeholders used)."""
    n = len(source)
    if flow and source[i] == ":":  # js-yaml: a plain scalar may begin with ':' (PyYAML: not in flow)
        out[i], used, i = marks[":"], True, i + 1
    while i < n:
        ch = source[i]
        if ch == "\n" or (flow and ch in _FLOW_INDICATORS):
            break
        if ch == ":" and _ends_scalar(source, i + 1, flow):
            break
        if ch in " \t":
            j = i
            while j < n and source[j] in " \t":
                j += 1
            if _ends_scalar(source, j, flow) or source[j] == "#" or (source[j] == ":" and _ends_scalar(source, j + 1, flow)):
                return i, used  # white space after the scalar: the caller makes its tabs spaces
            for k in range(i, j):
                if source[k] == "\t":
                    out[k], used = marks["\t"], True
            i = j
            continue
        if ch == "?" and flow:
            out[i], used = marks["?"], True
        i += 1
    return i, used


def _restoring(marks: dict) -> dict:
    """The ``str.translate`` table from each stand-in back to the character it stands for."""
    return str.maketrans({stand_in: ch for ch, stand_in in marks.items()})


def _restore(value, table: dict):
    """``value`` with the pre-pass's stand-ins turned back into the characters they stand for."""
    if isinstance(value, str):
        return value.translate(table)
    if isinstance(value, list):
        return [_restore(v, table) for v in value]
    if isinstance(value, dict):
        return {_restore(k, table): _restore(v, table) for k, v in value.items()}
    return value
