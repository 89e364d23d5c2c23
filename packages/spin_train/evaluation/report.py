"""Plots and a Markdown report of a run: curriculum, training curves, filtering, evaluation.

``spin-train report RUN_DIR`` writes ``RUN_DIR/report/report.md`` and its PNGs
(matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..run.run_dir import RunDir, status
from .stats import interval, paired_change

TRAIN_METRICS = [("loss", "loss"), ("rewards/margins", "reward margin"), ("rewards/accuracies", "reward accuracy")]
EVAL_METRICS = [("next_line", "exact_match", "next-line exact match"),
                ("next_line", "argdown_match", "next-line Argdown-aware"), ("bench", "solved@1", "Argdown Bench solved@1"),
                ("bench", "pass@1", "Argdown Bench pass@1 (form)"), ("bench", "isomorphic", "isomorphic")]  # shares of n


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curriculum_heatmap(cfg: dict, path: Path) -> Path:
    plt = _plt()
    keys = [m.get("config_name") or m["path"] for m in cfg["train_mixture"]]
    weights = cfg["curriculum"]["weights"]
    grid = [[w.get(k, 0) for w in weights] for k in keys]
    fig, ax = plt.subplots(figsize=(max(6.0, 3.5 + 0.45 * len(weights)), 1.2 + 0.4 * len(keys)))
    ax.imshow(grid, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(weights)), [str(e + 1) for e in range(len(weights))])
    ax.set_yticks(range(len(keys)), [k.split("/")[-1] for k in keys])
    ax.set_xlabel("epoch")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=8)
    ax.set_title("curriculum: relative weight per dataset and epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(run_dir: Path, epochs: list[str], path: Path) -> Path | None:
    plt = _plt()
    logs = {}
    for e in epochs:
        f = RunDir(run_dir).checkpoint_path(int(e)) / "train_metrics.json"
        if f.exists():
            logs[e] = json.loads(f.read_text())["log"]
    if not logs:
        return None
    fig, axes = plt.subplots(1, len(TRAIN_METRICS), figsize=(4 * len(TRAIN_METRICS), 3.2))
    for ax, (key, label) in zip(axes, TRAIN_METRICS):
        for e, log in logs.items():
            points = [(x.get("step", i + 1), float(x[key])) for i, x in enumerate(log) if key in x]
            if points:
                ax.plot(*zip(*points), marker=".", label=f"epoch {e}")
        ax.set_title(label)
        ax.set_xlabel("optimizer step")
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole steps
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def filtering_plot(info: dict, path: Path, k: int) -> Path | None:
    plt = _plt()
    epochs = [e for e, x in info["epochs"].items() if "filtering" in x]
    if not epochs:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    width = 0.8 / len(epochs)
    for i, e in enumerate(epochs):
        hist = info["epochs"][e]["filtering"]["l_histogram"]
        xs = list(range(k + 1))
        left.bar([x + i * width for x in xs], [hist.get(str(x), 0) for x in xs], width, label=f"epoch {e}")
    left.set_xlabel(f"l = candidates equal to the gold answer (of k={k})")
    left.set_ylabel("questions")
    left.legend(fontsize=8)
    shares = [info["epochs"][e]["filtering"]["kept"] / max(1, info["epochs"][e]["filtering"]["questions"])
              for e in epochs]
    right.bar(epochs, shares)
    right.set_ylim(0, 1)
    right.set_xlabel("epoch")
    right.set_title("share of selfplay questions kept")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def eval_results(run_dir: Path) -> list[dict]:
    out = []
    run = RunDir(run_dir)
    for epoch in range(0, max(run.open().epochs, default=0) + 1):
        if run.eval_path(epoch).exists():
            out.append(json.loads(run.eval_path(epoch).read_text()))
    return sorted(out, key=lambda r: r["epoch"])


def _n(result: dict, section: str, key: str) -> int | None:
    """The sample a figure is a share of: next-line prompts (Argdown rows for the Argdown-aware match), Bench items."""
    if section == "next_line" and key == "argdown_match":
        return len(result[section].get("argdown_hits") or []) or None
    return result[section].get("prompts")


def eval_plot(results: list[dict], path: Path) -> Path | None:
    """Each figure per epoch with its 95 % interval as error bars; whole-epoch ticks, epoch 0 marked as the base."""
    if not results:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    eval_axes(ax, results)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def eval_axes(ax, results: list[dict]) -> None:
    xs = [r["epoch"] for r in results]
    for i, (section, key, label) in enumerate(EVAL_METRICS):
        ys = [r[section].get(key) for r in results]
        if all(y is None for y in ys):
            continue
        shift = (i - len(EVAL_METRICS) / 2) * 0.03  # bars side by side, not on top of each other
        cis = [interval(y, _n(r, section, key)) for r, y in zip(results, ys)]
        lows = [y - c[0] if c else 0 for y, c in zip(ys, cis) if y is not None]
        highs = [c[1] - y if c else 0 for y, c in zip(ys, cis) if y is not None]
        points = [(x + shift, y) for x, y in zip(xs, ys) if y is not None]
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[lows, highs], marker="o", capsize=3,
                    label=f"{label} (n={_n(results[0], section, key)})")
    ax.set_xticks(xs, ["base" if x == 0 else str(x) for x in xs])
    ax.set_xlabel("epoch (base: the model before the first)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("evaluation after each epoch (bars: 95 % exact binomial intervals)", fontsize=9)


def mixture_table(info: dict) -> list[str]:
    """Per epoch and dataset: the weight, what was drawn (weights apply here) and the pairs left after filtering."""
    lines = ["", "## Mixture", "", "Weights set the shares of the drawn examples (selfplay prompts before filtering, "
             "preference pairs); filtering then changes the shares of the pairs trained on.", "",
             "| epoch | dataset | weight | requested | drawn (repeats) | share drawn | pairs | share of pairs | "
             "too long |", "|---|---|---|---|---|---|---|---|---|"]
    for e, x in info["epochs"].items():
        drawn = x.get("drawn") or {}
        pairs = x.get("counts", {}).get("pairs_per_source") or {}
        total_drawn, total_pairs = sum(d["drawn"] for d in drawn.values()), sum(pairs.values())
        mixed = "pairs" in x.get("counts", {})
        too_long = x.get("counts", {}).get("too_long") or {}
        for key, d in drawn.items():
            n_pairs = pairs.get(key, 0) if mixed else "-"
            share_pairs = f"{pairs.get(key, 0) / total_pairs:.1%}" if total_pairs else "-"
            lines.append(f"| {e} | {key} | {d['weight']:g} | {d['requested']} | {d['drawn']} ({d['repeats']}) | "
                         f"{d['drawn'] / total_drawn:.1%} | {n_pairs} | {share_pairs} | "
                         f"{too_long.get(key, 0) if mixed else '-'} |")
    return lines


def breakdown_table(results: list[dict], key: str, what: str) -> list[str]:
    """Bench solved@1 / pass@1 per task or per config (``key``: per_task, per_config; n items each) after every
    epoch."""
    names = sorted({t for r in results for t in r["bench"].get(key, {})})
    if not names:
        return []
    first = results[0]["bench"].get(key, {})
    lines = ["", f"Argdown Bench solved@1 / pass@1 per {what}:", "",
             "| after epoch | " + " | ".join(f"{t} (n={first.get(t, {}).get('prompts', 0)})" for t in names) + " |",
             "|---|" + "---|" * len(names)]

    def cell(c):
        return "-" if c.get("pass@1") is None else f"{_f(c.get('solved@1'))} / {_f(c['pass@1'])}"

    for r in results:
        lines.append(f"| {r['epoch']} | " + " | ".join(cell(r["bench"].get(key, {}).get(t, {})) for t in names) + " |")
    return lines


def eval_table(results: list[dict]) -> list[str]:
    """Next-line measures after every epoch with their paired changes against the first evaluated checkpoint and
    the one before; the Bench's columns only where it was measured (a Bench whose max_tokens holds no reference
    answer is left out, with the reason, rather than shown as zeros)."""
    measured = [r for r in results if not r["bench"].get("not_measured")]
    lines = ["", "next-line exact and Argdown-aware: the change on the same prompts against the first evaluated "
             "checkpoint and against the one before, prompts turned right (+) and wrong (-), McNemar's exact p. "
             "First line (lenient): the answer's first line alone under exact match, whatever followed it.", ""]
    if measured:
        lines += ["solved@k: the task done in substance (graph similarity >= 0.5); pass@k: validity and form "
                  "(docs/evaluation.md).", ""]
    skipped = {r["bench"]["not_measured"] for r in results if r["bench"].get("not_measured")}
    lines += [f"Argdown Bench not measured after epoch(s) "
              f"{', '.join(str(r['epoch']) for r in results if r['bench'].get('not_measured'))}: {why}." for why in
              sorted(skipped)] + ([""] if skipped else [])
    bench_heads = ["solved@1 (n)", "solved@k", "pass@1", "pass@k", "graph sim.", "GED sim.", "isomorphic"]
    heads = ["after epoch", "next-line exact", "vs. first", "vs. previous", "argdown-aware", "vs. first",
             "vs. previous", "first line (lenient)"] + (bench_heads if measured else [])
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for i, r in enumerate(results):
        nl, b = r["next_line"], r["bench"]

        def vs(other, key):  # the paired change of the hits under ``key`` ("-" against itself)
            return _change(paired_change(other["next_line"].get(key), nl.get(key) or []) if other is not r else None)

        cells = [nl["exact_match"], vs(results[0], "hits"), vs(results[max(i - 1, 0)], "hits"), nl["argdown_match"],
                 vs(results[0], "argdown_hits"), vs(results[max(i - 1, 0)], "argdown_hits"), nl.get("first_line_match")]
        if measured:
            kk = b["k"]
            cells += ["-"] * 7 if b.get("not_measured") else [
                f"{_f(b.get('solved@1'))} ({b.get('prompts', '-')})", b.get(f"solved@{kk}"), b["pass@1"],
                b[f"pass@{kk}"], b["graph_similarity"], b["ged_similarity"], b["isomorphic"]]
        lines.append(f"| {r['epoch']} | " + " | ".join(c if isinstance(c, str) else _f(c) for c in cells) + " |")
    return lines


def _change(c: dict | None) -> str:
    if c is None:
        return "-"
    return f"{c['change']:+.3f} (+{c['gained']}/-{c['lost']}, p={c['p']:.2g})"


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def write_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    info = status(run_dir)
    cfg = yaml.safe_load(RunDir(run_dir).config_path.read_text())
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    k = cfg["generation"]["k"]
    figures = [
        ("Curriculum", curriculum_heatmap(cfg, out / "curriculum.png")),
        ("Training (DPO) per epoch", training_curves(run_dir, list(info["epochs"]), out / "training.png")),
        ("Dynamic task filtering", filtering_plot(info, out / "filtering.png", k)),
        ("Evaluation", eval_plot(eval_results(run_dir), out / "evaluation.png")),
    ]
    lines = [f"# SPIN run report: {run_dir}", "", f"Epochs completed: {info['epochs_completed']} of "
             f"{len(cfg['curriculum']['weights'])}; model `{cfg['model']['path']}`.", "",
             "Prompts too long: not generated (no room for max_tokens within the context and dpo.max_length); "
             "refused: sent, and refused by the server for their length; pairs too long: dropped (longer than "
             "dpo.max_length).", "",
             "| epoch | prompts | prompts too long | refused | kept | pairs | pairs too long | train loss | generate s "
             "| train s | pairs_sha256 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e, x in info["epochs"].items():
        c, t = x.get("counts", {}), x.get("timings", {})
        dropped = sum(c["too_long"].values()) if "too_long" in c else "-"
        lines.append(f"| {e} | {c.get('prompts', '-')} | {c.get('prompts_too_long', '-')} | {c.get('refused', '-')} | "
                     f"{c.get('kept', '-')} | "
                     f"{c.get('pairs', '-')} | {dropped} | "
                     f"{x.get('train_loss', float('nan')):.4f} | {t.get('generate', '-')} | {t.get('train', '-')} | "
                     f"`{x.get('pairs_sha256', '')[:12]}` |")
    lines += mixture_table(info)
    results = eval_results(run_dir)
    if results:
        lines += eval_table(results)
        lines += breakdown_table(results, "per_task", "task") + breakdown_table(results, "per_config", "config")
    for title, figure in figures:
        if figure is not None:
            lines += ["", f"## {title}", "", f"![{title}]({figure.name})"]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report
