"""Floors and ceilings of the Argdown Bench: what constant answers and the references themselves score.

    python benchmarks/bench_floors.py [--dataset runs/demo/argdown_line-by-line] [--config NAME ...]

Every test-split item of the dataset (text -> map, text -> reconstruction, repair, Z3 formalisation),
answered by the reference itself, by each of floors.FLOOR_ANSWERS (a fixed map, a fixed Z3 script,
`<A>`, an empty fence, the prompt echoed back) and by each of floors.HEURISTIC_ANSWERS (built from the
item's own text, no model). Prints one row per answerer (solved@1 and pass@1 overall and per task,
graph similarity, structure similarity, isomorphic) and the items per task.
"""

from __future__ import annotations

from pathlib import Path

import options

def items_of(dataset: str, configs: list[str] | None):
    from argdown_lbl.dataset_folder import card_config_names
    from spin_train.evaluation.bench import load_bench

    _, items, dropped = load_bench(dataset, configs or card_config_names(Path(dataset)))
    return items, dropped


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--dataset", default="runs/demo/argdown_line-by-line")
    ap.add_argument("--config", action="append")
    args = ap.parse_args()
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    from spin_train.evaluation.bench import bench_of
    from spin_train.evaluation.floors import FLOOR_ANSWERS, HEURISTIC_ANSWERS, reference_answer

    items, dropped = items_of(args.dataset, args.config)
    answerers = {"reference": reference_answer, **FLOOR_ANSWERS, **HEURISTIC_ANSWERS}
    tasks = {t: sum(it.task == t for it in items) for t in sorted({it.task for it in items})}
    print(f"{len(items)} items {tasks}; no item (per config and reason): {dropped}")
    names = sorted(tasks)
    print("| answer | solved@1 | pass@1 | " + " | ".join(f"solved@1 / pass@1 {t}" for t in names)
          + " | graph similarity | structure similarity | isomorphic |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|---|")
    for name, answer in answerers.items():
        b = bench_of(items, answer)
        per = " | ".join(f"{b['per_task'][t]['solved@1']:.3f} / {b['per_task'][t]['pass@1']:.3f}" for t in names)
        print(f"| {name} | {b['solved@1']:.3f} | {b['pass@1']:.3f} | {per} | {b['graph_similarity']:.3f} | "
              f"{b['structure_similarity']:.3f} | {b['isomorphic']:.3f} |")


if __name__ == "__main__":
    main()
