"""From the weighted relevance network to a fuzzy argument map, and from the map to Argdown.

The map's tree is a maximum branching of the network (every reason gets its
single best parent; the central claim is the root); the strongest remaining
edges are added on top: those above a weight percentile, at most ``max_extra_out``
per source reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx

from .stages import Edge, Reason

CENTRAL = "__central__"


@dataclass
class FuzzyMap:
    central: str
    reasons: dict[str, Reason]
    tree: list[Edge]  # child -> parent edges of the branching
    extra: list[Edge] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        return 1 + len(self.reasons)

    @property
    def n_edges(self) -> int:
        return len(self.tree) + len(self.extra)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def build(central: str, reasons: list[Reason], edges: list[Edge], extra_percentile: float = 80,
          max_extra_out: int = 1) -> FuzzyMap:
    by_label = {r.label: r for r in reasons}
    graph = nx.DiGraph()
    graph.add_node(CENTRAL)
    graph.add_nodes_from(by_label)
    best: dict[tuple[str, str], Edge] = {}
    for e in edges:
        if e.source in by_label and (e.target == CENTRAL or e.target in by_label) and e.source != e.target:
            key = (e.source, e.target)
            if key not in best or e.weight > best[key].weight:
                best[key] = e
    for (child, parent), e in best.items():
        # Branchings give each node at most one incoming edge: orient parent -> child.
        graph.add_edge(parent, child, weight=e.weight + 1e-9)
    branching = nx.maximum_branching(graph, attr="weight", preserve_attrs=True)
    tree = [best[(child, parent)] for parent, child in branching.edges()]
    attached = {e.source for e in tree}
    for label in by_label:  # a reason with no usable edge hangs under the central claim
        if label not in attached:
            tree.append(Edge(label, CENTRAL, "support" if by_label[label].valence == "pro" else "attack", 0.0,
                             "default"))
    in_tree = {(e.source, e.target) for e in tree}
    rest = [e for key, e in best.items() if key not in in_tree]
    threshold = percentile([e.weight for e in best.values()], extra_percentile)
    extra, out_degree = [], {}
    for e in sorted(rest, key=lambda e: e.weight, reverse=True):
        if e.weight >= threshold and out_degree.get(e.source, 0) < max_extra_out:
            extra.append(e)
            out_degree[e.source] = out_degree.get(e.source, 0) + 1
    return FuzzyMap(central, by_label, tree, extra)


_UNSAFE = re.compile(r"[\[\]<>{}]")


def clean_text(text: str) -> str:
    """One line of plain text that Argdown reads as text (no titles, YAML, comments or emphasis)."""
    text = " ".join(text.split())
    text = _UNSAFE.sub(lambda m: {"[": "(", "]": ")", "<": "(", ">": ")", "{": "(", "}": ")"}[m.group()], text)
    text = text.replace("//", "/ /").replace("/*", "/ *")
    text = re.sub(r"([\\*_#])", r"\\\1", text)  # backslashes, emphasis and tags, escaped
    return text.strip() or "(empty)"


def clean_title(label: str, taken: set[str]) -> str:
    title = " ".join(re.sub(r"[\[\]<>{}:#@*_\\/]", " ", label).split())[:60] or "Reason"
    base, n = title, 2
    while title.lower() in taken:
        title, n = f"{base} {n}", n + 1
    taken.add(title.lower())
    return title


def to_argdown(fmap: FuzzyMap, central_title: str = "Central claim") -> str:
    """The map as Argdown: the central claim at the root, reasons as arguments nested by the tree."""
    taken = {central_title.lower()}
    titles = {label: clean_title(label, taken) for label in fmap.reasons}
    children: dict[str, list[Edge]] = {}
    for e in fmap.tree:
        children.setdefault(e.target, []).append(e)
    lines = [f"[{central_title}]: {clean_text(fmap.central)}"]

    def walk(node: str, depth: int, seen: frozenset):
        for e in sorted(children.get(node, []), key=lambda e: -e.weight):
            if e.source in seen:
                continue
            symbol = "<+" if e.valence == "support" else "<-"
            lines.append(f"{'    ' * depth}{symbol} <{titles[e.source]}>: {clean_text(fmap.reasons[e.source].text)}")
            walk(e.source, depth + 1, seen | {e.source})

    walk(CENTRAL, 1, frozenset())
    for e in fmap.extra:
        target = f"[{central_title}]" if e.target == CENTRAL else f"<{titles[e.target]}>"
        symbol = "<+" if e.valence == "support" else "<-"
        lines += ["", target, f"    {symbol} <{titles[e.source]}>"]
    return "\n".join(lines) + "\n"
