"""Dynamic task filtering and pair building (SPIN with the recipe's filter).

For a question with gold answer A and k candidates, l of which are identical
to A, the question is trained on with probability 1 - l/k: the model is not
drilled on what it already does. Pairs: chosen = gold, rejected = a candidate
that differs from it.

Identity (``filtering.rule``):

- ``exact``: the same text up to trailing whitespace at line ends. Leading
  whitespace counts: indentation is nesting in Argdown and the prompt asks to keep it.
- ``argdown``: exact, or, for Argdown snippets, the snippet so far followed by the
  candidate parses to the same model (and the same errors) as followed by the gold
  line, positions aside. Indentation is structure there: ``  + <B>`` under a claim
  and ``+ <B>`` at column 0 differ; two indentation widths that nest alike do not.
  Other languages (SMT-LIB, z3py) fall back to ``exact``.

Candidates cut by ``max_tokens`` (finish reason ``length``) count for l like any
other but are not used as rejected answers unless ``filtering.truncated_as_rejected``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Callable

_POSITION_KEYS = frozenset({"startLine", "startColumn", "endLine", "endColumn"})


def _trailing_stripped(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def same_exact(candidate: str, gold: str, prefix: str = "") -> bool:
    """Identical up to trailing whitespace (at line ends and at the end)."""
    return _trailing_stripped(candidate) == _trailing_stripped(gold)


def without_positions(value):
    """A ``to_json`` model with every line and column left out."""
    if isinstance(value, dict):
        return {k: without_positions(v) for k, v in value.items() if k not in _POSITION_KEYS}
    if isinstance(value, list):
        return [without_positions(v) for v in value]
    return value


def _parse_in_context(prefix: str, line: str):
    from argdown_lbl.argdown import parse

    doc = parse(prefix + line + "\n")
    return without_positions(doc.to_json()), [(e.line, e.message) for e in doc.errors]


def same_argdown(candidate: str, gold: str, prefix: str = "") -> bool:
    """Exact, or the same parse when written after ``prefix`` (the snippet so far)."""
    if same_exact(candidate, gold):
        return True
    return _parse_in_context(prefix, candidate.rstrip()) == _parse_in_context(prefix, gold.rstrip())


RULES: dict[str, Callable[[str, str, str], bool]] = {"exact": same_exact, "argdown": same_argdown}


def snippet_so_far(prompt: list[dict]) -> str:
    """The snippet lines a line-by-line prompt shows: what follows its last opening fence."""
    content = prompt[-1]["content"] if prompt else ""
    start = content.rfind("```")
    if start < 0:
        return ""
    newline = content.find("\n", start)
    return content[newline + 1:] if newline >= 0 else ""


def matcher(rule: str, item: dict) -> Callable[[str], bool]:
    """candidate -> identical to the item's gold under ``rule`` (Argdown rule only for Argdown items)."""
    same = RULES[rule] if item.get("language", "argdown") == "argdown" else same_exact
    prefix = snippet_so_far(item["prompt"]) if same is same_argdown else ""
    return lambda candidate: same(candidate, item["gold"], prefix)


def keep_probability(l: int, k: int) -> float:
    return 1.0 - l / k


def decide(item_id: str, l: int, k: int, seed: int, epoch: int) -> bool:
    """Keep the question? Seeded per (seed, epoch, question), so reruns decide alike."""
    return random.Random(f"{seed}/{epoch}/{item_id}").random() < keep_probability(l, k)


def build_pairs(items: list[dict], candidates: dict[str, list[str]], rule: str, seed: int, epoch: int,
                truncated: dict[str, list[bool]] | None = None, truncated_as_rejected: bool = False,
                token_ids: dict[str, list] | None = None):
    """-> (pairs, stats). One pair per kept question, with a differing candidate as rejected.

    ``truncated``: per question, which candidates were cut by max_tokens (not rejected answers unless
    ``truncated_as_rejected``). ``token_ids``: per question, the ids each candidate was sampled as (None where
    the backend did not say); the rejected one's become the pair's ``rejected_ids``.
    """
    truncated, token_ids = truncated or {}, token_ids or {}
    pairs, l_hist = [], Counter()
    dropped_filter = dropped_no_rejected = dropped_only_truncated = no_candidates = 0
    for item in items:
        cands = candidates.get(item["id"]) or []
        if not cands:  # too long for the context, or refused by the server: not generated
            no_candidates += 1
            continue
        cut = truncated.get(item["id"]) or [False] * len(cands)
        is_gold = matcher(rule, item)
        matches = [is_gold(c) for c in cands]
        l = sum(matches)
        l_hist[l] += 1
        if not decide(item["id"], l, len(cands), seed, epoch):
            dropped_filter += 1
            continue
        differing = [j for j, (m, t) in enumerate(zip(matches, cut)) if not m and (truncated_as_rejected or not t)]
        if not differing:
            if any(not m for m in matches):
                dropped_only_truncated += 1
            else:
                dropped_no_rejected += 1
            continue
        j = random.Random(f"{seed}/{epoch}/{item['id']}/pick").choice(differing)
        sampled = (token_ids.get(item["id"]) or [None] * len(cands))[j]
        pairs.append({"prompt": item["prompt"], "chosen": [{"role": "assistant", "content": item["gold"]}],
                      "rejected": [{"role": "assistant", "content": cands[j]}], "source": item["source"],
                      "rejected_ids": sampled, "rejected_cut": cut[j]})
    stats = {"questions": len(items), "kept": len(pairs), "dropped_by_filter": dropped_filter,
             "dropped_no_rejected": dropped_no_rejected, "dropped_only_truncated": dropped_only_truncated,
             "no_candidates": no_candidates,
             "truncated_candidates": sum(sum(v) for v in truncated.values()),
             "l_histogram": {str(k): v for k, v in sorted(l_hist.items())}}
    return pairs, stats
