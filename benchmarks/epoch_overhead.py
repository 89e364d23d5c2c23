"""Share of a SPIN epoch's wall time spent outside generation and training (goal: < 10 %).

Runs a config (default: configs/tiny-cpu.yaml, both epochs) as one
`spin-train run` process in a fresh run dir and splits the time:
per epoch, its wall time into generation, DPO training and the rest
(planning, filtering, mixing, state writes); once per run, the process
start-up (imports, dataset loading, Spectrum's SNR scan). The tiny model must
exist (`spin-train init-tiny runs/tiny/base --data runs/demo/argdown_line-by-line`).

    python benchmarks/epoch_overhead.py [--config configs/tiny-cpu.yaml] [--examples 96]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import options
from options import ROOT

import yaml

from spin_train.run.run_dir import RunDir



def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "tiny-cpu.yaml")
    ap.add_argument("--examples", type=int, default=96, help="examples_per_epoch")
    args = ap.parse_args()
    cfg = yaml.safe_load(args.config.read_text())
    cfg["curriculum"]["examples_per_epoch"] = args.examples
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(yaml.safe_dump(cfg))
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "spin_train.cli", "run", str(config), "--run-dir", str(run_dir)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        epochs = RunDir(run_dir).open().to_dict()["epochs"]
    in_epochs = 0.0
    for epoch, info in sorted(epochs.items(), key=lambda kv: int(kv[0])):
        t = info["timings"]
        other = t["epoch"] - t["generate"] - t["train"]
        in_epochs += t["epoch"]
        print(f"epoch {epoch}: {t['epoch']:.1f} s = generation {t['generate']:.1f} s + training {t['train']:.1f} s "
              f"+ other {other:.2f} s -> {other / t['epoch']:.1%} outside generation and training (goal < 10 %)")
    startup = wall - in_epochs
    print(f"once per run: start-up {startup:.1f} s of {wall:.1f} s ({startup / wall:.1%}): interpreter, imports, "
          f"dataset loading, Spectrum scan")


if __name__ == "__main__":
    main()
