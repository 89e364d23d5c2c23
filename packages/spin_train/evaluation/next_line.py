"""Next-line match: greedy answers to the line-by-line prompts, scored exact and Argdown-aware (as in filtering),
stopped at the line break where that cannot change a hit, in prefix waves for a server's prefix cache."""

from __future__ import annotations

import os
from typing import Callable, Optional

from ..data.filtering import matcher

LINE_BREAK = "\n"


def next_line(answer: Callable[[list[list[dict]]], list], rows: list[dict], batch: int = 8,
              log: Optional[Callable[[str], None]] = None, finish: Optional[Callable] = None,
              by_prefix: bool = False) -> dict:
    """Greedy next-line accuracy: exact and Argdown-aware (the latter on Argdown rows). ``hits``: 1/0 per prompt,
    in the rows' order (the same prompts for every checkpoint of a run: stats.paired_change compares two);
    ``argdown_hits`` the same for the Argdown-aware match, over the Argdown rows; ``indented`` 1/0 per prompt:
    whether its gold line starts with whitespace (nesting in Argdown). ``log`` hears each tenth of the prompts
    done.

    ``answer`` gives a Sample per prompt. With ``finish``, ``answer`` stops at the first line break (a
    one-line gold is decided there: an answer that writes on is wrong) and ``finish`` gives the whole answer,
    as ``answer`` would without the stop, for the few prompts that need it: those whose first line is a hit
    under either measure (the model may end its turn after the line break, or write on and miss). Every
    exact hit is among them, so exact match is unchanged; an Argdown-aware hit whose first line alone is no
    hit (a statement broken over two lines) would be missed (benchmarks/next_line_eval.py compares both
    ways). ``first_line_hits``: a lenient measure, the first line alone under exact match, whatever followed
    it; ``wrote_on`` (with ``finish``): 1 where the answer reached a line break (and was stopped there).

    ``by_prefix``: the prompts are answered in ``prefix_waves`` order, so that a server's prefix cache holds a
    snippet's shorter prompt when its longer ones arrive; the results keep the rows' order."""
    n = len(rows)
    order = prefix_waves([_text(r) for r in rows]) if by_prefix else range(n)
    scores: dict[int, tuple] = {}  # row -> (exact, Argdown-aware or None, first line, wrote on)
    progress = tenths(n, log) if log else None
    for start in range(0, n, batch):
        if progress and start:
            progress(start)
        at = order[start:start + batch]
        chunk = [rows[i] for i in at]
        outs = answer([r["prompt"] for r in chunk])
        items = [{"prompt": r["prompt"], "gold": r["completion"][-1]["content"], "language": r.get("language")}
                 for r in chunk]
        firsts = [s.text.split(LINE_BREAK, 1)[0] for s in outs]
        texts = list(firsts) if finish else [s.text for s in outs]
        if finish:  # the whole answer where the first line leaves it open (not cut by max_tokens: it is whole)
            undecided = [j for j, (s, it) in enumerate(zip(outs, items)) if s.finish_reason != "length"
                         and _line_hit(it, firsts[j])]
            for j, whole in zip(undecided, finish([chunk[j]["prompt"] for j in undecided]) if undecided else []):
                texts[j] = whole.text
        for i, row, item, text, first, s in zip(at, chunk, items, texts, firsts, outs):
            scores[i] = (int(matcher("exact", item)(text)),
                         int(matcher("argdown", item)(text)) if row.get("language") == "argdown" else None,
                         int(matcher("exact", item)(first)), int(s.stopped_at == LINE_BREAK))
    hits, argdown, first_hits, wrote_on = ([scores[i][k] for i in range(n) if scores[i][k] is not None]
                                          for k in range(4))
    indented = [int(r["completion"][-1]["content"][:1].isspace()) for r in rows]
    return {"prompts": n, "exact_match": sum(hits) / n if n else None,
            "argdown_match": sum(argdown) / len(argdown) if argdown else None, "hits": hits, "argdown_hits": argdown,
            "first_line_match": sum(first_hits) / n if n else None, "first_line_hits": first_hits,
            **({"wrote_on": wrote_on} if finish else {}), "indented": indented}


def _text(row: dict) -> str:
    return "\n".join(m["content"] for m in row["prompt"])


def prefix_waves(texts: list[str]) -> list[int]:
    """An order of the prompts for a server's prefix cache: wave 0 holds the shortest prompt of each snippet, wave
    1 the next, and so on. A snippet's prompts extend each other (the same context, more lines so far), so each
    finds the previous wave's prompt computed and cached; side by side in one step they would each compute it.
    Prompts are of one snippet when, sorted by text, they share at least half of the shorter one."""
    rank, prev = {}, None
    for i in sorted(range(len(texts)), key=texts.__getitem__):
        shared = prev is not None and len(os.path.commonprefix([texts[prev], texts[i]])) >= \
            min(len(texts[prev]), len(texts[i])) / 2
        rank[i], prev = rank[prev] + 1 if shared else 0, i
    return sorted(range(len(texts)), key=lambda i: (rank[i], texts[i]))


def _line_hit(item: dict, line: str) -> bool:
    """The line is the gold one under exact match, or (Argdown rows) under Argdown-aware match."""
    return matcher("exact", item)(line) or (item["language"] == "argdown" and matcher("argdown", item)(line))


def tenths(n: int, log: Callable[[str], None]) -> Callable[[int], None]:
    """A ``done`` callback that logs when the count of ``n`` next-line prompts answered passes a tenth (counts may
    come one by one, from a server's replies, or a batch at a time)."""
    last = [0]

    def done(count: int) -> None:
        if count < n and count * 10 // n > last[0] * 10 // n:
            log(f"  next line: {count} of {n} prompts answered")
        last[0] = count
    return done
