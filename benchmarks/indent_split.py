"""Next-line hits of two evaluations of the same prompts, overall and split by whether the gold line is indented.

Indentation is nesting in Argdown, and the line where a tokenizer merges the chat template's last newline with
the answer (data/tokens.py). For each measure (exact, Argdown-aware) and each part (all, indented, unindented): the
hits of both evaluations and the paired change with McNemar's exact p (stats.paired_change).

    python benchmarks/indent_split.py BEFORE/eval.json AFTER/eval.json [--labels base epoch-1]
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import options



def argdown_rows(result: dict) -> list[int]:
    """Indices of the Argdown rows among the evaluated prompts (the rows argdown_hits covers), picked as
    checkpoint.evaluate picks them: the test rows of its configs, shuffled by its seed."""
    from spin_train.evaluation.bench import load_bench

    rows = load_bench(result["dataset"], result["configs"])[0]
    line_rows = [r for r in rows if r.get("element") != "end"]
    random.Random(result["seed"]).shuffle(line_rows)
    line_rows = line_rows[:result["next_line"]["prompts"]]
    indented = [int(r["completion"][-1]["content"][:1].isspace()) for r in line_rows]
    if "indented" in result["next_line"] and result["next_line"]["indented"] != indented:
        raise SystemExit(f"{result['dataset']}: the rows picked again are not the evaluated ones")
    return [i for i, r in enumerate(line_rows) if r.get("language") == "argdown"], indented


def parts(result: dict) -> dict[str, dict[str, list[int]]]:
    """{measure: {part: hits}} for exact and Argdown-aware, over all, indented and unindented gold lines."""
    nl = result["next_line"]
    argdown, indented = argdown_rows(result)
    out = {"exact": {"all": nl["hits"],
                     "indented": [h for h, i in zip(nl["hits"], indented) if i],
                     "unindented": [h for h, i in zip(nl["hits"], indented) if not i]},
           "Argdown-aware": {"all": nl["argdown_hits"],
                             "indented": [h for h, r in zip(nl["argdown_hits"], argdown) if indented[r]],
                             "unindented": [h for h, r in zip(nl["argdown_hits"], argdown) if not indented[r]]}}
    return out


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--labels", nargs=2, default=["before", "after"])
    args = ap.parse_args()
    from spin_train.evaluation.stats import paired_change

    before, after = (parts(json.loads(p.read_text(encoding="utf-8"))) for p in (args.before, args.after))
    print(f"| measure | gold lines | n | {args.labels[0]} | {args.labels[1]} | gained/lost | McNemar p |")
    print("|---|---|---|---|---|---|---|")
    for measure in before:
        for part in ("all", "indented", "unindented"):
            a, b = before[measure][part], after[measure][part]
            change = paired_change(a, b)
            p = f"{change['p']:.3g}" if change else "-"
            print(f"| {measure} | {part} | {len(b)} | {sum(a)} | {sum(b)} | "
                  f"+{change['gained'] if change else 0}/-{change['lost'] if change else 0} | {p} |")


if __name__ == "__main__":
    main()
