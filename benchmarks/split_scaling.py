"""Does `argdown-lbl split` scale linearly? Times the built-in corpora at 1x and 10x, in one run.

The 10x corpus holds ten copies of every config folder (synthetic configs get
ten different seeds; upstream configs share the fetched cache). Each size is
split by a whole `argdown-lbl split` process, alternating, 3 rounds; the
report gives median wall times and the ratio (goal: 10x corpus <= 11x time).

    python benchmarks/split_scaling.py [--rounds 3] [--shared ../shared/upstream]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import options
from options import ROOT

import yaml

CLI = [sys.executable, "-m", "argdown_lbl.cli"]


def build(corpus: Path, copies: int) -> None:
    cache = ROOT / "corpora" / ".cache"
    for folder in sorted(p for p in (ROOT / "corpora").iterdir() if p.is_dir() and not p.name.startswith(".")):
        for k in range(copies):
            target = corpus / f"{folder.name}-{k}"
            shutil.copytree(folder, target)
            config = target / "config.yaml"
            if config.exists():
                raw = yaml.safe_load(config.read_text()) or {}
                if "generator" in raw:
                    raw["generator"]["seed"] = raw["generator"].get("seed", 1) + k
                    config.write_text(yaml.safe_dump(raw))
            if (cache / folder.name).is_dir():
                shutil.copytree(cache / folder.name, corpus / ".cache" / target.name)


def run(corpus: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(CLI + ["split", str(corpus), "--out", str(out), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "upstream")
    args = ap.parse_args()
    if not (ROOT / "corpora" / ".cache").is_dir():
        fetch = CLI + ["fetch", str(ROOT / "corpora")] + (["--from", str(args.shared)] if args.shared.is_dir() else [])
        subprocess.run(fetch, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = {1: tmp / "x1", 10: tmp / "x10"}
        for copies, corpus in sizes.items():
            build(corpus, copies)
        times = {copies: [] for copies in sizes}
        for _ in range(args.rounds):
            for copies, corpus in sizes.items():
                times[copies].append(run(corpus, tmp / f"out{copies}"))
        rows = sum(1 for _ in (tmp / "out10").rglob("*.parquet"))
    one, ten = statistics.median(times[1]), statistics.median(times[10])
    print(f"split 1x corpus:  median {one:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"split 10x corpus: median {ten:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times[10])}; "
          f"{rows} parquet files)")
    print(f"ratio 10x/1x: {ten / one:.2f} (goal <= 11)")


if __name__ == "__main__":
    main()
