"""The DPO phase beside the run's vLLM server: up and idle, paused (as a CPU run has it), and no server, in one run.

vLLM's engine core busy-polls a core even when idle. On a GPU node the server sleeps or stops through the
DPO phase; on CPU (serving.Serving.release) its processes are paused. This measures what each costs: the
same DPO phase (launch.run_dpo, the code path of `spin-train run`) on the same pairs, first with a real vLLM
server of the same model started and idle, then with it paused, between two phases without one, and reports the phase's
wall time and its mean optimizer-step time for each (no server first and last, to see the machine's
drift), and that the paused server answers after it.

    python benchmarks/dpo_beside_server.py --model runs/base/SmolLM2-135M-Instruct --data runs/demo/argdown_line-by-line

`make vllm` and `make base` first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import options

VLLM_ARGS = ["--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--no-enable-chunked-prefill",
             "--max-num-batched-tokens", "16384"]


def pairs(data: Path, config: str, n: int, out: Path) -> None:
    """``n`` selfplay prompts with their gold next line as chosen and another prompt's gold as rejected."""
    from datasets import Dataset

    from spin_train.data.rows import load_rows

    rows = [r for r in load_rows(data, [config]) if len(str(r["prompt"])) < 1500][: n + 1]
    Dataset.from_list([{"prompt": a["prompt"], "chosen": a["completion"], "rejected": b["completion"],
                        "source": config} for a, b in zip(rows, rows[1:])]).to_parquet(str(out))


def phase(tmp: Path, name: str, raw: dict, data: Path) -> dict:
    from spin_train.run.children import Children
    from spin_train.config import from_dict
    from spin_train.training.launch import run_dpo
    from spin_train.run.machines import Machine
    from spin_train.run.run_dir import RunDir

    cfg = from_dict(raw)
    run = RunDir(tmp / name)
    run.start(cfg)
    run.epoch_dir(1).mkdir(parents=True)
    shutil.copy(data, run.pairs_path(1))
    t = time.perf_counter()
    run_dpo(cfg, run, 1, cfg.model.path, Machine(), Children(run.children_dir(), log=lambda m: None), log=lambda m: None)
    seconds = time.perf_counter() - t
    metrics = json.loads((run.partial_checkpoint_path(1) / "train_metrics.json").read_text())
    steps = metrics["step_seconds"]
    return {"phase_seconds": seconds, "steps": len(steps), "step_seconds": sum(steps) / len(steps)}


def main() -> None:
    ap = options.parser(__doc__)
    options.model_and_data(ap)
    options.pairs(ap)
    options.vllm_python(ap)
    args = ap.parse_args()

    from spin_train.run.children import Children
    from spin_train.config import from_dict
    from spin_train.run.run_dir import RunDir
    from spin_train.serving.run_server import Serving

    raw = {"model": {"path": str(args.model)}, "train_mixture": [{"path": "d", "type": "selfplay"}],
           "curriculum": {"examples_per_epoch": args.pairs, "weights": [{"d": 1}]},
           "generation": {"backend": "vllm", "vllm_python": args.vllm_python, "vllm_args": VLLM_ARGS,
                          "vllm_env": {"VLLM_CPU_KVCACHE_SPACE": "1"}},
           "dpo": {"learning_rate": 1e-5, "effective_batch_size": 4, "per_device_batch_size": 2,
                   "gradient_accumulation_steps": 2, "max_length": 1024},
           "spectrum": {"unfrozen_parameters_file": None}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "pairs.parquet"
        pairs(args.data, args.config, args.pairs, data)
        from spin_train.training.spectrum import select, write_yaml
        from transformers import AutoModelForCausalLM

        write_yaml(select(AutoModelForCausalLM.from_pretrained(args.model), 0.30), tmp / "unfrozen.yaml")
        raw["spectrum"]["unfrozen_parameters_file"] = str(tmp / "unfrozen.yaml")
        run = RunDir(tmp / "serving")
        run.root.mkdir()
        serving = Serving(from_dict(raw), run, Children(run.children_dir(), log=lambda m: None), log=lambda m: None)
        before = phase(tmp, "alone-before", raw, data)  # no server, first and last: the machine's drift
        serving.load(str(args.model), 1)  # up and idle, as through a GPU-less run's DPO phase before pausing
        try:
            beside = phase(tmp, "beside-server", raw, data)
            serving.release()
            paused = phase(tmp, "paused-server", raw, data)
            served = serving.load(str(args.model), 1)  # continued: it must answer as before
            answers = served.healthy() and serving.probe() == serving.probe()
        finally:
            serving.close()
        after = phase(tmp, "alone-after", raw, data)
        alone = {k: (before[k] + after[k]) / 2 for k in ("phase_seconds", "step_seconds")}
    print(f"{args.pairs} pairs of {args.model.name}, Spectrum 30 %, {beside['steps']} optimizer steps, "
          f"{os.cpu_count()} CPU cores")
    print(f"{'':24} {'phase s':>8} {'step s':>8}")
    for name, r in (("no server (first)", before), ("idle vLLM server up", beside), ("server paused", paused),
                    ("no server (last)", after)):
        print(f"{name:24} {r['phase_seconds']:8.1f} {r['step_seconds']:8.2f}")
    for name, r in (("server up", beside), ("server paused", paused)):
        print(f"{name} / no server (mean of first and last): phase {r['phase_seconds'] / alone['phase_seconds']:.2f}x, "
              f"step {r['step_seconds'] / alone['step_seconds']:.2f}x")
    print(f"the paused server answers after it continues, with the same greedy probes twice: {answers}")


if __name__ == "__main__":
    main()
