"""Evaluation: next-line match and our Argdown Bench (see docs/evaluation.md for the definitions).

- Next line: greedy answers to the test split's line-by-line prompts; exact match (up to trailing
  whitespace) and Argdown-aware match (the same parse after the snippet so far), as in filtering.
- Argdown Bench: from every held-out Argdown snippet (the closing row of a snippet in the test split
  carries the whole snippet and its context), a prompt asking for the whole snippet. k samples per
  prompt; pass@1 and pass@k (unbiased estimator) of answers that parse as a map or reconstruction
  (``passes``); on the first sample, the
  graph similarity to the reference (typed-edge F1 after node matching, and a normalised graph edit
  distance for graphs of at most 10 nodes) and whether the graphs are isomorphic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Optional

from argdown_lbl.argdown import parse
from argdown_lbl.graphs import edge_f1, ged_similarity, isomorphic

from .filtering import matcher

BENCH_INSTRUCTION = (
    "Write the complete Argdown snippet that belongs at this point of the text below, inside a fenced "
    "```argdown block."
)
_FENCE = re.compile(r"```argdown[^\n]*\n(.*?)(?:```|\Z)", re.S)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k); 0 when no sample passed (or none was drawn)."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: expected 0 <= c <= n, got n={n}, c={c}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def passes(doc) -> bool:
    """A pass: the answer parses and is an argument map or reconstruction (an argument or a relation).

    Any plain text is valid Argdown (a statement), so validity alone would count prose as a pass.
    """
    return doc.ok and bool(doc.arguments or doc.relations)


def argdown_blocks(answer: str) -> list[str]:
    """The contents of ```argdown fences in a model's answer (an unclosed last fence runs to the end)."""
    return _FENCE.findall(answer)


def extract_argdown(answer: str) -> str:
    blocks = argdown_blocks(answer)
    return blocks[0] if blocks else answer


@dataclass
class BenchItem:
    id: str
    source: str
    context: str
    gold: str

    @property
    def prompt(self) -> list[dict]:
        body = BENCH_INSTRUCTION + (f"\n\nContext:\n{self.context}" if self.context else "")
        return [{"role": "user", "content": body}]


def bench_items(rows: list[dict]) -> list[BenchItem]:
    """Whole snippets from the closing rows of Argdown snippets (prompt = context + the full snippet)."""
    items = []
    for row in rows:
        if row.get("language") != "argdown" or row.get("element") != "end" or not row.get("valid", True):
            continue
        content = row["prompt"][-1]["content"]
        head, sep, code = content.rpartition("```argdown\n")
        if not sep:
            continue
        context = head.split("Context:\n", 1)[1].strip() if "Context:\n" in head else ""
        items.append(BenchItem(row["snippet_id"], row["source"], context, code))
    return items


def next_line(answer: Callable[[list[list[dict]]], list[str]], rows: list[dict], batch: int = 8) -> dict:
    """Greedy next-line accuracy: exact and Argdown-aware (the latter on Argdown rows)."""
    exact = argdown = n_argdown = 0
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        outs = answer([r["prompt"] for r in chunk])
        for row, out in zip(chunk, outs):
            item = {"prompt": row["prompt"], "gold": row["completion"][-1]["content"], "language": row.get("language")}
            exact += matcher("exact", item)(out)
            if row.get("language") == "argdown":
                n_argdown += 1
                argdown += matcher("argdown", item)(out)
    n = len(rows)
    return {"prompts": n, "exact_match": exact / n if n else None,
            "argdown_match": argdown / n_argdown if n_argdown else None}


def bench(sample: Callable[[list[list[dict]]], list[list[str]]], items: list[BenchItem], k: int,
          batch: int = 4) -> dict:
    """pass@1, pass@k, graph similarity and isomorphic rate over ``items`` (k samples each)."""
    p1 = pk = f1 = iso = 0.0
    geds = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        for item, answers in zip(chunk, sample([it.prompt for it in chunk])):
            docs = [parse(extract_argdown(a)) for a in answers]
            c = sum(passes(d) for d in docs)
            p1 += pass_at_k(len(docs), c, 1)
            pk += pass_at_k(len(docs), c, min(k, len(docs)))
            first, reference = docs[0], parse(item.gold).to_networkx()
            if passes(first):
                graph = first.to_networkx()
                f1 += edge_f1(graph, reference)
                iso += isomorphic(graph, reference)
                geds.append(ged_similarity(graph, reference))
            else:
                geds.append(0.0)
    n = len(items)
    known = [g for g in geds if g is not None]
    return {"prompts": n, "k": k, "pass@1": p1 / n if n else None, f"pass@{k}": pk / n if n else None,
            "graph_similarity": f1 / n if n else None, "ged_similarity": sum(known) / len(known) if known else None,
            "ged_prompts": len(known), "isomorphic": iso / n if n else None}


def evaluate(model_path: str, dataset: str, configs: Optional[list[str]], k: int = 5, max_prompts: int = 64,
             max_tokens: int = 256, seed: int = 0, model_cfg=None, device: str = "auto") -> dict:
    """Both evaluations on the test split of the given line-by-line configs."""
    import random

    from datasets import load_dataset

    from .config import GenerationConfig, ModelConfig
    from .generation import LocalBackend
    from .paths import load_failure

    model_cfg = model_cfg or ModelConfig(path=model_path)
    names = configs or _config_names(dataset)
    rows = []
    for name in names:
        try:
            ds = load_dataset(dataset, name=name, split="test")
        except Exception as exc:  # datasets raises many types; one line naming the dataset is what helps
            raise load_failure(dataset, "dataset", exc) from None
        rows += [dict(r, config=name) for r in ds]
    rng = random.Random(seed)
    line_rows = [r for r in rows if r.get("element") != "end"]
    rng.shuffle(line_rows)
    items = bench_items(rows)
    rng.shuffle(items)
    backend = LocalBackend(model_path, GenerationConfig(k=k, temperature=0.7, max_tokens=max_tokens, device=device),
                           model_cfg)
    greedy = GenerationConfig(k=1, temperature=0.0, max_tokens=64)
    result = {
        "model": model_path, "dataset": dataset, "configs": names,
        "next_line": next_line(lambda ps: [c[0].text for c in backend.generate(ps, seed, greedy)],
                               line_rows[:max_prompts]),
        "bench": bench(lambda ps: [[s.text for s in c] for c in backend.generate(ps, seed)], items[:max_prompts], k),
    }
    return result


def _config_names(dataset: str) -> list[str]:
    from pathlib import Path

    from argdown_lbl.dataset_folder import card_config_names

    from .paths import load_failure

    if Path(dataset).exists():
        return card_config_names(Path(dataset))
    from datasets import get_dataset_config_names

    try:
        return get_dataset_config_names(dataset)
    except Exception as exc:  # offline, unknown id, no access
        raise load_failure(dataset, "dataset", exc) from None


def table(result: dict) -> str:
    nl, b = result["next_line"], result["bench"]

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    k = b["k"]
    return "\n".join([
        f"model {result['model']}",
        f"  next line ({nl['prompts']} prompts): exact {f(nl['exact_match'])}, argdown-aware {f(nl['argdown_match'])}",
        f"  Argdown Bench ({b['prompts']} prompts, k={k}): pass@1 {f(b['pass@1'])}, pass@{k} {f(b[f'pass@{k}'])}, "
        f"graph similarity {f(b['graph_similarity'])}, GED similarity {f(b['ged_similarity'])} "
        f"({b['ged_prompts']} graphs), isomorphic {f(b['isomorphic'])}",
    ])
