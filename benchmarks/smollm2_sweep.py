"""A small sweep of the DPO settings on SmolLM2-135M-Instruct: which one moves the model, on held-out prompts.

Each setting is a real `spin-train run` of one epoch (the config given, with dpo.learning_rate, dpo.beta and
curriculum.examples_per_epoch replaced) in a run dir of its own under --out. The first setting also evaluates
the base model; every setting's checkpoint is compared with it on the same next-line test prompts (same seed,
same order: paired), with McNemar's exact test. Settings already finished under --out are read, not run again.

    python benchmarks/smollm2_sweep.py --config configs/smollm2-vllm.yaml --out runs/sweep \
        --set lr=1e-4,beta=0.1 --set lr=5e-4,beta=0.1

`make vllm`, `make base` and the demo's dataset (`make demo` or `argdown-lbl split`) first.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import options
from options import ROOT

import yaml

KEYS = {"lr": ("dpo", "learning_rate", float), "beta": ("dpo", "beta", float),
        "prompts": ("curriculum", "examples_per_epoch", int)}


def setting(text: str) -> dict:
    """``lr=1e-4,beta=0.1[,prompts=48]`` -> {"lr": 1e-4, ...}"""
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key not in KEYS:
            raise SystemExit(f"--set {text}: unknown key {key!r} (known: {', '.join(KEYS)})")
        out[key] = KEYS[key][2](value)
    return out


def name_of(values: dict) -> str:
    return "-".join(f"{k}{v:g}" for k, v in values.items())


def config_for(base: dict, values: dict, baseline: bool) -> dict:
    cfg = json.loads(json.dumps(base))
    cfg["curriculum"]["weights"] = cfg["curriculum"]["weights"][:1]  # one epoch
    for key, value in values.items():
        section, field, _ = KEYS[key]
        cfg[section][field] = value
    cfg["evaluation"]["baseline"] = baseline
    return cfg


def run(cfg: dict, run_dir: Path) -> float:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    t = time.time()
    subprocess.run([str(ROOT / ".venv" / "bin" / "spin-train"), "run", str(path), "--run-dir", str(run_dir)],
                   check=True)
    return time.time() - t


def row(name: str, run_dir: Path, base: dict) -> dict:
    from spin_train.evaluation.stats import paired_change

    state = json.loads((run_dir / "state.json").read_text())["epochs"]["1"]
    after = json.loads((run_dir / "epoch-01" / "eval.json").read_text())["next_line"]
    change = paired_change(base["hits"], after["hits"])
    return {"setting": name, "train_loss": state.get("train_loss"), "steps": state.get("steps"),
            "pairs": state["counts"]["pairs"], "exact": after["exact_match"], "argdown": after["argdown_match"],
            "gained": change["gained"], "lost": change["lost"], "p": change["p"], "seconds": state["timings"]}


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "smollm2-vllm.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "sweep")
    ap.add_argument("--set", dest="settings", action="append", type=setting, required=True)
    args = ap.parse_args()

    base_cfg = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    names = [name_of(v) for v in args.settings]
    for i, (name, values) in enumerate(zip(names, args.settings)):
        if not (args.out / name / "epoch-01" / "eval.json").exists():
            print(f"== {name}: {run(config_for(base_cfg, values, baseline=i == 0), args.out / name):.0f} s",
                  flush=True)
    base = json.loads((args.out / names[0] / "epoch-00" / "eval.json").read_text())["next_line"]
    rows = [row(n, args.out / n, base) for n in names]
    (args.out / "sweep.json").write_text(json.dumps({"base": {k: v for k, v in base.items() if k != "hits"},
                                                     "rows": rows}, indent=2))
    print(f"base: next-line exact {base['exact_match']:.4f} on {base['prompts']} prompts, "
          f"Argdown-aware {base['argdown_match']}")
    print(f"{'setting':28} {'pairs':>5} {'steps':>5} {'loss':>7} {'exact':>7} {'gained':>6} {'lost':>5} {'p':>8}")
    for r in rows:
        print(f"{r['setting']:28} {r['pairs']:5} {r['steps']:5} {r['train_loss']:7.4f} {r['exact']:7.4f} "
              f"{r['gained']:6} {r['lost']:5} {r['p']:8.2g}")


if __name__ == "__main__":
    main()
