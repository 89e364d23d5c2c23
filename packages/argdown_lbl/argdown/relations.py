"""Relation post-processing after the walk, and relations implied by pcs.

``normalize`` does what the reference does before export:
 1. relations *from* a reconstructed argument move to its main conclusion's
    equivalence class; undercuts *of* a reconstructed argument move to the
    inference before its main conclusion;
 2. in strict mode, statement->statement support becomes ``entails`` and attack
    ``contrary`` (duplicates merged);
 3. an attack from a class on a reconstructed argument is dropped where the
    class is already contrary/contradictory to (or attacks) one of its premises.

``derive_implicit`` computes the argument-level relations the reference derives
for maps: an argument is supported/attacked by another whose main conclusion
equals, entails or is contrary to one of its premises, etc.
"""

from __future__ import annotations

from . import model as M
from .model import Argument, EquivalenceClass, Inference, Relation


def _remove(lst: list, item) -> None:
    for i, x in enumerate(lst):
        if x is item:
            del lst[i]
            return


def _other(rel: Relation, node):
    return rel.target if rel.source is node else rel.source


def _merge_into(existing_list, rel, match) -> bool:
    for existing in existing_list:
        if match(existing):
            existing.occurrences.extend(rel.occurrences)
            return True
    return False


def transform_argument_relations(statements: dict, relations: list[Relation]) -> list[Relation]:
    kept = []
    for rel in relations:
        add = True
        src, dst = rel.source, rel.target
        if isinstance(src, Argument) and src.pcs:
            _remove(src.relations, rel)
            ec = statements[src.pcs[-1].title]
            rel.source = ec
            if _merge_into(ec.relations, rel, lambda e: e.target is rel.target and e.type == rel.type):
                # Merged into a relation still to be (or already) transformed itself: this one is gone, and
                # must not be attached to the target's inference as well (both would then be dropped).
                _remove(rel.target.relations, rel)
                continue
            ec.relations.append(rel)
        if isinstance(dst, Argument) and dst.pcs and rel.type == M.UNDERCUT:
            inference = dst.pcs[-1].inference
            rel.target = inference
            _remove(dst.relations, rel)
            if _merge_into(inference.relations, rel, lambda e: e.source is rel.source and e.type == rel.type):
                _remove(rel.source.relations, rel)
                add = False
            else:
                inference.relations.append(rel)
        if add:
            kept.append(rel)
    return kept


def transform_statement_relations(relations: list[Relation]) -> list[Relation]:
    kept = []
    for rel in relations:
        if isinstance(rel.source, EquivalenceClass) and isinstance(rel.target, EquivalenceClass):
            if rel.type == M.SUPPORT:
                rel.type = M.ENTAILS
            elif rel.type == M.ATTACK:
                dup = any(
                    r.type == M.CONTRARY
                    and ((r.source is rel.source and r.target is rel.target)
                         or (r.source is rel.target and r.target is rel.source))
                    for r in rel.source.relations
                )
                if dup:
                    _remove(rel.source.relations, rel)
                    _remove(rel.target.relations, rel)
                    continue
                rel.type = M.CONTRARY
        kept.append(rel)
    return kept


def remove_redundant_attacks(relations: list[Relation]) -> list[Relation]:
    kept = []
    for rel in relations:
        ec, arg = rel.source, rel.target
        if not (isinstance(ec, EquivalenceClass) and rel.type == M.ATTACK and isinstance(arg, Argument) and arg.pcs):
            kept.append(rel)
            continue
        premises = {s.title for s in arg.pcs if s.role == M.PREMISE}
        redundant = None
        for other in ec.relations:
            peer = _other(other, ec)
            if not isinstance(peer, EquivalenceClass):
                continue
            if ((other.type == M.ATTACK and other.source is ec) or other.type in (M.CONTRADICTORY, M.CONTRARY)) \
                    and peer.title in premises:
                redundant = other
                break
        if redundant is not None:
            _remove(ec.relations, rel)
            _remove(arg.relations, rel)
            redundant.occurrences.extend(rel.occurrences)
        else:
            kept.append(rel)
    return kept


def normalize(statements: dict, arguments: dict, relations: list[Relation], mode: str, transform: bool = True):
    for node in list(statements.values()) + list(arguments.values()):
        if node.section is None and node.members:
            node.section = node.members[0].section
    if transform:
        relations = transform_argument_relations(statements, relations)
    if mode == "strict":
        relations = transform_statement_relations(relations)
    return remove_redundant_attacks(relations)


_TO_ARGUMENT_TYPE = {M.ENTAILS: M.SUPPORT, M.CONTRADICTORY: M.ATTACK, M.CONTRARY: M.ATTACK}
_SYMMETRIC = {M.CONTRADICTORY, M.CONTRARY}


def derive_implicit(node, statements: dict, arguments: dict) -> list[Relation]:
    """Relations of ``node`` (a class or an argument) implied by pcs membership."""
    out: list[Relation] = []
    for rel in node.relations:
        peer = _other(rel, node)
        if isinstance(peer, Argument):
            continue
        if isinstance(peer, Inference):
            out.append(Relation(rel.type, rel.source, arguments[peer.argument_title], derived=True))
            continue
        outgoing = rel.source is node
        symmetric = rel.type in _SYMMETRIC
        for stmt in peer.members:
            if stmt.role not in M.PCS_ROLES:
                continue
            arg = arguments[stmt.argument_title]
            kind = _TO_ARGUMENT_TYPE.get(rel.type, rel.type)
            if (symmetric or outgoing) and stmt.role == M.PREMISE:
                out.append(Relation(kind, node, arg, derived=True))
            elif (symmetric or not outgoing) and stmt.role == M.MAIN_CONCLUSION:
                out.append(Relation(kind, arg, node, derived=True))
    if isinstance(node, EquivalenceClass):
        for stmt in node.members:
            if stmt.role == M.PREMISE:
                out.append(Relation(M.SUPPORT, node, arguments[stmt.argument_title], derived=True))
            elif stmt.role == M.MAIN_CONCLUSION:
                out.append(Relation(M.SUPPORT, arguments[stmt.argument_title], node, derived=True))
    elif isinstance(node, Argument):
        for pcs_stmt in node.pcs:
            ec = statements[pcs_stmt.title]
            for rel in ec.relations + derive_implicit(ec, statements, arguments):
                peer = _other(rel, ec)
                if peer is node:
                    continue
                symmetric = rel.type in _SYMMETRIC
                kind = _TO_ARGUMENT_TYPE.get(rel.type, rel.type)
                if pcs_stmt.role == M.PREMISE and (symmetric or rel.target is ec):
                    out.append(Relation(kind, peer, node, derived=True))
                elif pcs_stmt.role == M.MAIN_CONCLUSION and (symmetric or rel.source is ec):
                    out.append(Relation(kind, node, peer, derived=True))
    return out
