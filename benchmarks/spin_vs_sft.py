"""The CPU-scale study: from one SFT base, (a) 3 SPIN epochs vs (b) 3 more SFT epochs on the same selfplay
prompts with matched optimizer steps; 3 seeds each; next-line exact match, Argdown Bench pass@k and graph
similarity on the test split. Writes runs/study/results.json and runs/study/study.png.

    python benchmarks/spin_vs_sft.py --dataset runs/demo/argdown_line-by-line [--seeds 0 1 2]

The dataset is the demo's (make demo builds it). Takes about 15 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

CONFIGS = ["classic-philosophical-arguments", "critical-thinking-ten-arguments", "argument-analysis-textbook",
           "synthetic_corpus-001"]


def spin_config(base: Path, dataset: Path, seed: int, epochs: int, examples: int) -> dict:
    return {
        "model": {"path": str(base)},
        "train_mixture": [{"path": str(dataset), "config_name": c, "type": "selfplay"} for c in CONFIGS],
        "curriculum": {"examples_per_epoch": examples, "weights": [{c: 1 for c in CONFIGS}] * epochs},
        "generation": {"backend": "local", "k": 5, "temperature": 0.7, "max_tokens": 32, "seed": seed,
                       "batch_size": 8},
        "filtering": {"seed": seed},
        "dpo": {"learning_rate": 1e-4, "beta": 0.1, "effective_batch_size": 8, "per_device_batch_size": 4,
                "gradient_accumulation_steps": 2, "max_length": 768, "seed": seed},
        "spectrum": {},
    }


def final_checkpoint(run_dir: Path, base: Path, epochs: int) -> Path:
    """What the run's last epoch left (an epoch without pairs leaves its start checkpoint)."""
    from spin_train.run_dir import RunDir

    run = RunDir(run_dir)
    run.open()
    return Path(run.checkpoint_before(epochs + 1, str(base)))


def sft_arm(cfg_dict: dict, base: Path, out: Path, steps: list[int], seed: int) -> Path:
    """SFT on the gold answers of the same prompts SPIN drew, for the same number of optimizer steps per epoch."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spin_train.config import from_dict
    from spin_train.data import Mixture
    from spin_train.tiny import sft

    cfg = from_dict(cfg_dict)
    mixture = Mixture(cfg)
    current = base
    for epoch, n_steps in enumerate(steps, start=1):
        items, _, _ = mixture.draw(epoch)
        rows = [{"prompt": it["prompt"], "completion": [{"role": "assistant", "content": it["gold"]}]} for it in items]
        model = AutoModelForCausalLM.from_pretrained(str(current))
        tok = AutoTokenizer.from_pretrained(str(current))
        target = out / f"epoch-{epoch:02d}"
        sft(model, tok, rows, target, max(1, n_steps), seed=seed, max_length=768, batch_size=8,
            learning_rate=1e-4)
        model.save_pretrained(str(target))
        tok.save_pretrained(str(target))
        shutil.rmtree(target / ".sft-work", ignore_errors=True)
        current = target
    return current


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=Path("runs/demo/argdown_line-by-line"))
    ap.add_argument("--out", type=Path, default=Path("runs/study"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--examples", type=int, default=64, help="selfplay prompts per epoch")
    ap.add_argument("--base-steps", type=int, default=600, help="SFT steps of the shared base model")
    ap.add_argument("--eval-prompts", type=int, default=64)
    args = ap.parse_args()

    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as hf_logging

    from spin_train.config import from_dict
    from spin_train.evaluate import evaluate
    from spin_train.run import Loop, status
    from spin_train.tiny import init_tiny, load_rows

    disable_progress_bar()
    hf_logging.set_verbosity_error()
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "base"
    if not (base / "config.json").exists():
        rows = load_rows(args.dataset, configs=CONFIGS, limit=8000)
        init_tiny(base, rows, steps=args.base_steps, hidden=96, layers=3, max_length=768)

    def score(model: Path) -> dict:
        r = evaluate(str(model), str(args.dataset), CONFIGS, k=3, max_prompts=args.eval_prompts, max_tokens=96)
        return {"exact_match": r["next_line"]["exact_match"], "argdown_match": r["next_line"]["argdown_match"],
                "pass@1": r["bench"]["pass@1"], "pass@3": r["bench"]["pass@3"],
                "graph_similarity": r["bench"]["graph_similarity"]}

    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"runs": []}
    if "base" not in results:
        results["base"] = score(base)
    done = {(r["arm"], r["seed"]) for r in results["runs"]}
    for seed in args.seeds:
        cfg = spin_config(base, args.dataset, seed, args.epochs, args.examples)
        if ("spin", seed) not in done:
            t = time.time()
            run_dir = args.out / f"spin-seed{seed}"
            Loop(from_dict(cfg), run_dir, log=lambda m: None).run_all()
            info = status(run_dir)
            steps = [info["epochs"][str(e)]["steps"] for e in range(1, args.epochs + 1)]
            results["runs"].append({"arm": "spin", "seed": seed, "steps": steps, "seconds": round(time.time() - t),
                                    **score(final_checkpoint(run_dir, base, args.epochs))})
            results_path.write_text(json.dumps(results, indent=2))
        if ("sft", seed) not in done:
            t = time.time()
            steps = next(r["steps"] for r in results["runs"] if r["arm"] == "spin" and r["seed"] == seed)
            final = sft_arm(cfg, base, args.out / f"sft-seed{seed}", steps, seed)
            results["runs"].append({"arm": "sft", "seed": seed, "steps": steps, "seconds": round(time.time() - t),
                                    **score(final)})
            results_path.write_text(json.dumps(results, indent=2))
        print(json.dumps(results["runs"][-2:], indent=1), flush=True)
    plot(results, args.out / "study.png")
    print(f"results in {results_path}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["exact_match", "pass@1", "pass@3", "graph_similarity"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2))
    for ax, m in zip(axes, metrics):
        for i, arm in enumerate(["spin", "sft"]):
            ys = [r[m] for r in results["runs"] if r["arm"] == arm and r[m] is not None]
            ax.scatter([i] * len(ys), ys, label=arm)
            if ys:
                ax.hlines(sum(ys) / len(ys), i - 0.2, i + 0.2)
        base = results["base"].get(m)
        if base is not None:
            ax.axhline(base, color="grey", linestyle="--", label="SFT base")
        ax.set_xticks([0, 1], ["SPIN", "more SFT"])
        ax.set_title(m)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
