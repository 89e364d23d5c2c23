"""Dynamic task filtering and pair building (SPIN with the recipe's filter).

For a question with gold answer A and k candidates, l of which are identical
to A, the question is trained on with probability 1 - l/k: the model is not
drilled on what it already does. Pairs: chosen = gold, rejected = a candidate
that differs from it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Callable

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def same_exact(a: str, b: str) -> bool:
    return normalise(a) == normalise(b)


def same_argdown(a: str, b: str) -> bool:
    """Same after whitespace normalisation, or both parse to the same Argdown model (one line in isolation)."""
    if same_exact(a, b):
        return True
    from argdown_lbl.argdown import parse

    da, db = parse(a.strip()), parse(b.strip())
    return da.ok and db.ok and da.to_json() == db.to_json()


RULES: dict[str, Callable[[str, str], bool]] = {"exact": same_exact, "argdown": same_argdown}


def keep_probability(l: int, k: int) -> float:
    return 1.0 - l / k


def decide(item_id: str, l: int, k: int, seed: int, epoch: int) -> bool:
    """Keep the question? Seeded per (seed, epoch, question), so reruns decide alike."""
    return random.Random(f"{seed}/{epoch}/{item_id}").random() < keep_probability(l, k)


def build_pairs(items: list[dict], candidates: dict[str, list[str]], rule: str, seed: int, epoch: int):
    """-> (pairs, stats). One pair per kept question, with a differing candidate as rejected."""
    same = RULES[rule]
    pairs, l_hist = [], Counter()
    dropped_filter = dropped_no_rejected = 0
    for item in items:
        cands = candidates[item["id"]]
        matches = [same(c, item["gold"]) for c in cands]
        l = sum(matches)
        l_hist[l] += 1
        if not decide(item["id"], l, len(cands), seed, epoch):
            dropped_filter += 1
            continue
        differing = [c for c, m in zip(cands, matches) if not m]
        if not differing:
            dropped_no_rejected += 1
            continue
        rejected = random.Random(f"{seed}/{epoch}/{item['id']}/pick").choice(differing)
        pairs.append({"prompt": item["prompt"], "chosen": [{"role": "assistant", "content": item["gold"]}],
                      "rejected": [{"role": "assistant", "content": rejected}], "source": item["source"]})
    stats = {"questions": len(items), "kept": len(pairs), "dropped_by_filter": dropped_filter,
             "dropped_no_rejected": dropped_no_rejected, "l_histogram": {str(k): v for k, v in sorted(l_hist.items())}}
    return pairs, stats
