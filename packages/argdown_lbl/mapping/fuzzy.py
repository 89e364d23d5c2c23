"""From the weighted relevance network to a fuzzy argument map, and from the map to Argdown (Logikon's method).

1. With several root claims, a pseudo super-root above them (so one branching spans them all).
2. A maximum branching of the network: every reason gets its single best parent.
3. Extra edges from the network on top of the tree: those whose weight lies strictly above the
   ``extra_percentile``-th percentile of the tree's weights of the same valence, never one whose reverse
   is in the map, and no reason with more than ``max_out`` outgoing edges (strongest first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx

from .stages import ATTACK, SUPPORT, Edge, ProsCons, Reason, root_id

SUPER_ROOT = "__super_root__"


@dataclass
class FuzzyMap:
    roots: list[str]  # root claim texts; node ids ``root_id(i)``
    reasons: dict[str, Reason]
    tree: list[Edge]  # child -> parent edges of the branching
    extra: list[Edge] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        return len(self.roots) + len(self.reasons)

    @property
    def n_edges(self) -> int:
        return len(self.tree) + len(self.extra)

    @property
    def edges(self) -> list[Edge]:
        return self.tree + self.extra

    def to_json(self) -> dict:
        """Nodes and weighted edges, as stored in the pairs dataset (users filter on them)."""
        nodes = [{"id": root_id(i), "kind": "root", "text": text} for i, text in enumerate(self.roots)]
        nodes += [{"id": r.label, "kind": "reason", "text": r.text, "valence": r.valence, "root": root_id(r.root)}
                  for r in self.reasons.values()]
        edges = [{"source": e.source, "target": e.target, "valence": e.valence, "weight": round(e.weight, 6),
                  "method": e.method, "in_tree": i < len(self.tree)} for i, e in enumerate(self.edges)]
        return {"nodes": nodes, "edges": edges}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def build(found: ProsCons, edges: list[Edge], extra_percentile: float = 80, max_out: int = 3) -> FuzzyMap:
    by_label = {r.label: r for r in found.reasons}
    roots = {root_id(i) for i in range(len(found.roots))}
    best: dict[tuple[str, str], Edge] = {}
    for e in edges:
        if e.source in by_label and (e.target in roots or e.target in by_label) and e.source != e.target:
            key = (e.source, e.target)
            if key not in best or e.weight > best[key].weight:
                best[key] = e
    graph = nx.DiGraph()
    graph.add_nodes_from([*roots, *by_label])
    if len(roots) > 1:
        graph.add_edges_from((SUPER_ROOT, r, {"weight": 1.0}) for r in roots)
    for (child, parent), e in best.items():  # a branching gives each node one incoming edge: parent -> child
        graph.add_edge(parent, child, weight=e.weight + 1e-9)
    branching = nx.maximum_branching(graph, attr="weight", preserve_attrs=True)
    tree = [best[(child, parent)] for parent, child in branching.edges() if parent != SUPER_ROOT]
    attached = {e.source for e in tree}
    for r in found.reasons:  # a reason with no usable edge hangs under its root, as the list has it
        if r.label not in attached:
            tree.append(Edge(r.label, root_id(r.root), SUPPORT if r.valence == "pro" else ATTACK, 0.0, "default"))
    return FuzzyMap(list(found.roots), by_label, tree, _extra(tree, best, extra_percentile, max_out))


def _extra(tree: list[Edge], best: dict, q: float, max_out: int) -> list[Edge]:
    weights = {v: [e.weight for e in tree if e.valence == v and e.method != "default"] for v in (SUPPORT, ATTACK)}
    threshold = {v: percentile(w, q) if w else None for v, w in weights.items()}
    in_map = {(e.source, e.target) for e in tree}
    out_degree: dict[str, int] = {}
    for e in tree:
        out_degree[e.source] = out_degree.get(e.source, 0) + 1
    extra = []
    for e in sorted(best.values(), key=lambda e: -e.weight):
        key, limit = (e.source, e.target), threshold[e.valence]
        if key in in_map or (e.target, e.source) in in_map or limit is None or e.weight <= limit \
                or out_degree.get(e.source, 0) >= max_out:
            continue
        extra.append(e)
        in_map.add(key)
        out_degree[e.source] = out_degree.get(e.source, 0) + 1
    return extra


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
    """The map as Argdown: each root claim at the top of its tree, reasons as arguments nested by the tree,
    extra edges as separate blocks."""
    taken = {central_title.lower()}
    root_titles = {root_id(i): central_title if i == 0 else clean_title(f"{central_title} {i + 1}", taken)
                   for i in range(len(fmap.roots))}
    titles = {label: clean_title(label, taken) for label in fmap.reasons}
    children: dict[str, list[Edge]] = {}
    for e in fmap.tree:
        children.setdefault(e.target, []).append(e)
    lines: list[str] = []

    def walk(node: str, depth: int, seen: frozenset):
        for e in sorted(children.get(node, []), key=lambda e: -e.weight):
            if e.source in seen:
                continue
            symbol = "<+" if e.valence == SUPPORT else "<-"
            lines.append(f"{'    ' * depth}{symbol} <{titles[e.source]}>: {clean_text(fmap.reasons[e.source].text)}")
            walk(e.source, depth + 1, seen | {e.source})

    for i, text in enumerate(fmap.roots):
        lines += ([""] if lines else []) + [f"[{root_titles[root_id(i)]}]: {clean_text(text)}"]
        walk(root_id(i), 1, frozenset())
    for e in fmap.extra:
        target = f"[{root_titles[e.target]}]" if e.target in root_titles else f"<{titles[e.target]}>"
        symbol = "<+" if e.valence == SUPPORT else "<-"
        lines += ["", target, f"    {symbol} <{titles[e.source]}>"]
    return "\n".join(lines) + "\n"
