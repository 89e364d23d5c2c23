"""Floors and ceilings of the Argdown Bench: what constant answers and the references themselves score.

    python benchmarks/bench_floors.py [--dataset runs/demo/argdown_line-by-line] [--config NAME ...]

Every test-split item of the dataset (text -> map and text -> reconstruction), answered by: the reference itself, a fixed 3-node map, `<A>`,
an empty fence, and the prompt echoed back. Prints one row per answerer (pass@1, graph similarity,
structure similarity, isomorphic) and the items per config.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FIXED_MAP = "```argdown\n[Claim]: We should act now.\n    <+ <Reason>: Waiting costs more.\n" \
            "    <- <Objection>: Acting now is risky.\n```"
FIXED_SCRIPT = "```smt2\n(declare-const a Bool)\n(declare-const b Bool)\n(assert (=> a b))\n(assert a)\n" \
               "(assert (not b))\n(check-sat)\n```"
CONSTANTS = {"fixed 3-node map": lambda item: FIXED_MAP, "fixed Z3 script": lambda item: FIXED_SCRIPT, "<A>": lambda item: "```argdown\n<A>\n```",
             "empty fence": lambda item: "```argdown\n```", "prompt echoed": lambda item: item.prompt[-1]["content"]}


def items_of(dataset: str, configs: list[str] | None):
    from datasets import load_dataset

    from argdown_lbl.dataset_folder import card_config_names
    from spin_train.evaluate import bench_items

    rows = []
    for name in configs or card_config_names(Path(dataset)):
        rows += [dict(r, config=name) for r in load_dataset(dataset, name=name, split="test")]
    dropped: dict = {}
    items = bench_items(rows, dropped)
    return items, dropped


def score(items, answer) -> dict:
    """The bench with every sample and the greedy answer given by ``answer(item)`` (items in order: bench
    asks for a chunk's samples, then for its greedy answers)."""
    from spin_train.evaluate import bench

    cursor = {"sample": 0, "greedy": 0}

    def take(which, prompts):
        start = cursor[which]
        cursor[which] += len(prompts)
        return items[start:start + len(prompts)]

    return bench(lambda ps: [[answer(it)] * 2 for it in take("sample", ps)],
                 lambda ps: [answer(it) for it in take("greedy", ps)], items, k=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="runs/demo/argdown_line-by-line")
    ap.add_argument("--config", action="append")
    args = ap.parse_args()
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    items, dropped = items_of(args.dataset, args.config)
    answerers = {"reference": lambda item: ("```smt2\n" if item.task == "z3" else "```argdown\n") + item.gold + "```",
                 **CONSTANTS}
    tasks = {t: sum(it.task == t for it in items) for t in sorted({it.task for it in items})}
    print(f"{len(items)} items {tasks}; no item (per config and reason): {dropped}")
    print("| answer | pass@1 | pass@1 z3 | graph similarity | structure similarity | isomorphic |")
    print("|---|---|---|---|---|---|")
    for name, answer in answerers.items():
        b = score(items, answer)
        print(f"| {name} | {b['pass@1']:.3f} | {b['per_task']['z3']['pass@1']:.3f} | {b['graph_similarity']:.3f} | "
              f"{b['structure_similarity']:.3f} | "
              f"{b['isomorphic']:.3f} |")


if __name__ == "__main__":
    main()
