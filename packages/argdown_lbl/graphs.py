"""Comparing argument graphs: the similarity measures of our Argdown Bench (see docs/evaluation.md).

A document's graph is ``Document.to_networkx()``: statement and argument
nodes, typed relation edges (explicit and derived from reconstructions).
Nodes of an answer are matched to the reference's by normalised title, else by
normalised text; edges are compared as (source, target, type) triples.
"""

from __future__ import annotations

import re
from typing import Optional

import networkx as nx

_SPACE = re.compile(r"\s+")


def _norm(text) -> str:
    return _SPACE.sub(" ", str(text or "")).strip().lower()


def _keys(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> dict:
    """Answer node -> reference node it matches (by kind and title, else by kind and text), or its own key."""
    by_title = {(d["kind"], _norm(d["title"])): n for n, d in reference.nodes(data=True)}
    by_text = {(d["kind"], _norm(d["text"])): n for n, d in reference.nodes(data=True) if d.get("text")}
    out = {}
    for n, d in answer.nodes(data=True):
        out[n] = by_title.get((d["kind"], _norm(d["title"]))) or by_text.get((d["kind"], _norm(d.get("text")))) \
            or ("answer", n)
    return out


def edge_triples(graph: nx.MultiDiGraph, keys: Optional[dict] = None) -> set:
    keys = keys or {n: n for n in graph.nodes}
    return {(keys[u], keys[v], d["type"]) for u, v, d in graph.edges(data=True)}


def edge_f1(answer: nx.MultiDiGraph, reference: nx.MultiDiGraph) -> float:
    """F1 of typed relation edges after node matching; 1.0 when both graphs have no edges."""
    got = edge_triples(answer, _keys(answer, reference))
    want = edge_triples(reference)
    if not got and not want:
        return 1.0
    hits = len(got & want)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(got), hits / len(want)
    return 2 * precision * recall / (precision + recall)


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
    """1 - GED / (|V1| + |E1| + |V2| + |E2|) with nodes matched by kind and title, edges by types.

    Graph edit distance is exponential: None when a graph has more than ``max_nodes`` nodes.
    With a timeout, networkx returns the best distance found so far (an upper bound), or None when
    the timeout expires before the first edit path: then the similarity is unknown (None) too.
    """
    a, b = _typed_digraph(answer), _typed_digraph(reference)
    if a.number_of_nodes() > max_nodes or b.number_of_nodes() > max_nodes:
        return None
    keys = _keys(answer, reference)
    nx.set_node_attributes(a, {n: keys[n] for n in a.nodes}, "key")
    nx.set_node_attributes(b, {n: n for n in b.nodes}, "key")
    size = a.number_of_nodes() + a.number_of_edges() + b.number_of_nodes() + b.number_of_edges()
    if size == 0:
        return 1.0
    distance = nx.graph_edit_distance(a, b, node_match=lambda x, y: x["key"] == y["key"],
                                      edge_match=lambda x, y: x["types"] == y["types"], timeout=timeout)
    return None if distance is None else 1.0 - distance / size
