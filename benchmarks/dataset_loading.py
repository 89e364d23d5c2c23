"""What reading a local dataset folder by content costs: ``dataset_folder.load`` against plain ``load_dataset``.

Both read the configs the demo's run reads (train mixture and evaluation) of the demo's dataset, each in a
fresh process (as a run or an evaluation starts), with a cold cache (a new folder) and then warm (the same
folder again), alternating the order over rounds; the report gives median seconds and the ratio.

    python benchmarks/dataset_loading.py [--data runs/demo/argdown_line-by-line] [--config configs/smollm2-vllm.yaml]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import options
from options import ROOT


CHILD = """
import json, sys, time
from datasets.utils.logging import disable_progress_bar
disable_progress_bar()
how, data, configs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
if how == "plain":
    from datasets import load_dataset as read
else:
    from argdown_lbl.dataset_folder import load as read
rows = sum(len(split) for name in configs for split in read(data, name=name).values())
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows}))
"""


def once(how: str, data: str, configs: list[str], cache: Path) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHILD, how, data, json.dumps(configs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--data", default=str(ROOT / "runs/demo/argdown_line-by-line"))
    ap.add_argument("--config", type=Path, default=ROOT / "configs/smollm2-vllm.yaml")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "packages"))
    from spin_train.config import load

    cfg = load(args.config)
    configs = sorted({e.config_name for e in cfg.train_mixture} | set(cfg.evaluation.configs or []))
    times: dict[tuple[str, str], list[float]] = {}
    rows = {}
    for r in range(args.rounds):
        for how in (["plain", "content"] if r % 2 == 0 else ["content", "plain"]):
            with tempfile.TemporaryDirectory() as tmp:
                for state in ("cold", "warm"):
                    result = once(how, args.data, configs, Path(tmp))
                    times.setdefault((how, state), []).append(result["seconds"])
                    rows[how] = result["rows"]
    print(f"{len(configs)} configs of {args.data}, {rows} rows read, median of {args.rounds} rounds:")
    for state in ("cold", "warm"):
        plain, content = (statistics.median(times[(h, state)]) for h in ("plain", "content"))
        print(f"  {state} cache: load_dataset {plain:.2f} s, dataset_folder.load {content:.2f} s "
              f"({content / plain:.2f}x)")


if __name__ == "__main__":
    main()
