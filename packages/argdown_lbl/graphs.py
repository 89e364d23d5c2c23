"""Comparing argument graphs: the similarity measures of our Argdown Bench (see docs/evaluation.md).

A document's graph is ``Document.to_networkx()``: statement and argument nodes, typed relation edges
(explicit and derived from reconstructions). Answer and reference nodes are matched one to one by what
they say: word overlap of their texts (a node without text: its title, unless it is an automatic
"Untitled N", which says nothing), only between nodes of the same kind, by an optimal assignment
(scipy's ``linear_sum_assignment``); pairs below ``MATCH_THRESHOLD`` stay unmatched. Every measure is
symmetric: the matching is computed in one canonical order of the two graphs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Optional

import networkx as nx

MATCH_THRESHOLD = 0.5  # word overlap (Dice) at which two nodes say the same
_WORD = re.compile(r"\w+")
_AUTOMATIC_TITLE = re.compile(r"Untitled \d+")


def node_label(data: dict) -> str:
    """What a node says: its text, else its title unless the parser made that title up."""
    text = (data.get("text") or "").strip()
    if text:
        return text
    title = data.get("title") or ""
    return "" if _AUTOMATIC_TITLE.fullmatch(title) else title


def _words(text: str) -> frozenset:
    return frozenset(w.lower() for w in _WORD.findall(text))


def text_similarity(a: str, b: str) -> float:
    """Dice coefficient of the two texts' word sets; equal texts without words (emoji) are 1, and a text
    that says nothing matches nothing."""
    if a and a == b:
        return 1.0
    return _dice(_words(a), _words(b))


def _canonical(graph: nx.MultiDiGraph) -> tuple:
    return tuple(sorted((d["kind"], node_label(d), str(n)) for n, d in graph.nodes(data=True)))


def match_nodes(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> dict:
    """Answer node -> (reference node, similarity) for the optimal one-to-one matching of same-kind nodes."""
    if _canonical(answer) > _canonical(reference):  # one order for both directions: symmetric with ties too
        return {a: (r, s) for r, (a, s) in match_nodes(reference, answer).items()}
    from scipy.optimize import linear_sum_assignment

    left = sorted(answer.nodes(data=True), key=lambda nd: (nd[1]["kind"], node_label(nd[1]), str(nd[0])))
    right = sorted(reference.nodes(data=True), key=lambda nd: (nd[1]["kind"], node_label(nd[1]), str(nd[0])))
    if not left or not right:
        return {}
    labels = [node_label(d) for _, d in right]
    scores = [[text_similarity(node_label(da), labels[j]) if da["kind"] == db["kind"] else 0.0
               for j, (_, db) in enumerate(right)] for _, da in left]
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return {left[i][0]: (right[j][0], scores[i][j]) for i, j in zip(rows, cols) if scores[i][j] >= MATCH_THRESHOLD}


def _dice(x: frozenset, y: frozenset) -> float:
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def edge_triples(graph: nx.MultiDiGraph, keys: Optional[dict] = None) -> set:
    """(source, target, type) of every edge; with ``keys`` (answer node -> matched reference node), an
    unmatched node becomes ("unmatched", id), so it never meets a reference node of the same id."""
    keys = {n: n for n in graph.nodes} if keys is None else keys
    return {(keys.get(u, ("unmatched", u)), keys.get(v, ("unmatched", v)), d["type"])
            for u, v, d in graph.edges(data=True)}


def _f1(hits: float, got: int, want: int) -> float:
    if got == 0 and want == 0:
        return 1.0
    if hits == 0:
        return 0.0
    precision, recall = hits / got, hits / want
    return 2 * precision * recall / (precision + recall)


def content_similarity(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> float:
    """F1 over nodes and typed edges: a matched node counts its text similarity, an answer edge counts 1
    when the reference has the same type between the matched nodes. 1.0 for two empty graphs."""
    matched = match_nodes(answer, reference)
    keys = {a: r for a, (r, _) in matched.items()}
    hits = sum(s for _, s in matched.values()) + len(edge_triples(answer, keys) & edge_triples(reference))
    return _f1(hits, answer.number_of_nodes() + len(edge_triples(answer)),
               reference.number_of_nodes() + len(edge_triples(reference)))


def edge_f1(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> float:
    """F1 of typed edges after the content matching; 1.0 when neither graph has edges."""
    keys = {a: r for a, (r, _) in match_nodes(answer, reference).items()}
    got, want = edge_triples(answer, keys), edge_triples(reference)
    return _f1(len(got & want), len(got), len(want))


def structure_similarity(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> float:
    """Content-blind: F1 of the multisets of node kinds and of typed edge signatures (source kind, target
    kind, type). The shape of the answer, whatever it says."""
    def parts(g):
        kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
        return Counter([("node", k) for k in kinds.values()]
                       + [("edge", kinds[u], kinds[v], t) for u, v, t in edge_triples(g)])

    a, b = parts(answer), parts(reference)
    return _f1(sum((a & b).values()), sum(a.values()), sum(b.values()))


def _typed_digraph(graph: nx.MultiDiGraph) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from((n, {"kind": d["kind"]}) for n, d in graph.nodes(data=True))
    for u, v, d in graph.edges(data=True):
        types = g.edges[u, v]["types"] if g.has_edge(u, v) else frozenset()
        g.add_edge(u, v, types=types | {d["type"]})
    return g


def isomorphic(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> bool:
    """Same shape: an isomorphism that keeps node kinds and edge types (titles and texts ignored)."""
    return nx.is_isomorphic(_typed_digraph(answer), _typed_digraph(reference),
                            node_match=lambda a, b: a["kind"] == b["kind"],
                            edge_match=lambda a, b: a["types"] == b["types"])


def ged_similarity(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph, max_nodes: int = 10,
                   timeout: float = 2.0) -> Optional[float]:
    """1 - GED / (|V1| + |E1| + |V2| + |E2|), nodes equal when the content matching pairs them, edges when
    their types are equal.

    Graph edit distance is exponential: None when a graph has more than ``max_nodes`` nodes.
    With a timeout, networkx returns the best distance found so far (an upper bound), or None when
    the timeout expires before the first edit path: then the similarity is unknown (None) too.
    """
    a, b = _typed_digraph(answer), _typed_digraph(reference)
    if a.number_of_nodes() > max_nodes or b.number_of_nodes() > max_nodes:
        return None
    matched = {n: r for n, (r, _) in match_nodes(answer, reference).items()}
    nx.set_node_attributes(a, {n: matched.get(n, ("answer", n)) for n in a.nodes}, "key")
    nx.set_node_attributes(b, {n: n for n in b.nodes}, "key")
    size = a.number_of_nodes() + a.number_of_edges() + b.number_of_nodes() + b.number_of_edges()
    if size == 0:
        return 1.0
    distance = nx.graph_edit_distance(a, b, node_match=lambda x, y: x["key"] == y["key"],
                                      edge_match=lambda x, y: x["types"] == y["types"], timeout=timeout)
    return None if distance is None else 1.0 - distance / size
