"""The DPO phase as one rank against two ZeRO-3 ranks (DeepSpeed, gloo on CPU), on the same pairs.

Runs one epoch of `spin-train run` twice in fresh run dirs, alike but for the number of DPO processes
(the effective batch stays the same: per-device batch x accumulation x processes), and compares the
epoch's `timings.train` (the launch, DeepSpeed's set-up, reference log-probs, the steps and the save).
The pairs are checked to be the same (`pairs_sha256`). The model and dataset default to the tiny base (`spin-train init-tiny runs/tiny/base --data runs/demo/argdown_line-by-line`) and `make demo`'s dataset.

    python benchmarks/dpo_ranks.py [--model runs/tiny/base] [--data runs/demo/argdown_line-by-line]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import options
from options import ROOT

import yaml



def config(model: Path, data: Path, names: list[str], examples: int, processes: int) -> dict:
    per_device, effective = 4, 8
    return {
        "model": {"path": str(model)},
        "train_mixture": [{"path": str(data), "config_name": n, "type": "selfplay"} for n in names],
        "curriculum": {"examples_per_epoch": examples, "weights": [{n: 1 for n in names}]},
        "generation": {"backend": "local", "k": 3, "temperature": 0.9, "max_tokens": 8, "batch_size": 8},
        "filtering": {"truncated_as_rejected": True},
        "dpo": {"learning_rate": 1e-4, "effective_batch_size": effective, "per_device_batch_size": per_device,
                "gradient_accumulation_steps": effective // (per_device * processes), "num_processes": processes,
                "max_length": 512, "deepspeed": str(ROOT / "configs" / "deepspeed-zero3.json")},
        "spectrum": {"top_percent": 30},
    }


def run_epoch(tmp: Path, cfg: dict, name: str) -> dict:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp / name
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}
    subprocess.run([sys.executable, "-m", "spin_train.cli", "run", str(path), "--run-dir", str(run_dir)],
                   check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((run_dir / "state.json").read_text())["epochs"]["1"]


def main() -> None:
    ap = options.parser(__doc__)
    options.model_and_data(ap, model=options.TINY)
    options.configs(ap)
    ap.add_argument("--examples", type=int, default=64, help="selfplay prompts of the epoch")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # a warm-up launch first: the first one on a machine JIT-builds DeepSpeed's shm op
        run_epoch(Path(tmp), config(args.model, args.data, args.configs, 16, 2), "warm-up")
        results = {n: run_epoch(Path(tmp), config(args.model, args.data, args.configs, args.examples, n), f"ranks-{n}")
                   for n in (1, 2)}
    one, two = results[1], results[2]
    assert one["pairs_sha256"] == two["pairs_sha256"], "the two runs trained on different pairs"
    for n, r in results.items():
        d = r["distributed"]
        print(f"{n} rank(s): {r['counts']['pairs']} pairs, {r['steps']} steps, DPO phase {r['timings']['train']:.1f} s "
              f"(world size {d['world_size']}, ZeRO-{d['zero_stage']}, parameter shares {d['parameter_shares']})")
    print(f"two ranks / one rank: {two['timings']['train'] / one['timings']['train']:.2f} x the time of the DPO phase "
          f"on {os.cpu_count()} CPU cores")


if __name__ == "__main__":
    main()
