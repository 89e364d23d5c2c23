"""The DPO phase on CPU on the real model: Spectrum 30 % and all parameters, against plain TRL, in one run.

Three phases on the same pairs of SmolLM2-135M-Instruct (prompts of the line-by-line dataset, gold next line
as chosen, another prompt's gold as rejected), one process, the same settings (batch, accumulation,
max_length, gradient checkpointing, precomputed reference log-probs): ours through launch.run_dpo (the code
path of `spin-train run`) with the Spectrum 30 % set and with every parameter trainable, and
benchmarks/plain_trl_dpo.py (a plain TRL DPOTrainer script, nothing of spin_train) with the same Spectrum set.
Reports each phase's wall time, mean optimizer step (the first left out: warm-up) and tokens/s.

    python benchmarks/dpo_cpu.py --model runs/base/SmolLM2-135M-Instruct --data runs/demo/argdown_line-by-line

`make base` first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def tokens_in(pairs_path: Path, model: Path) -> int:
    """Tokens of one pass over the pairs: prompt + chosen and prompt + rejected, with the chat template."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    n = 0
    for row in Dataset.from_parquet(str(pairs_path)):
        for answer in (row["chosen"], row["rejected"]):
            n += len(tok.apply_chat_template(row["prompt"] + answer, tokenize=True, return_dict=True)["input_ids"])
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "runs" / "base" / "SmolLM2-135M-Instruct")
    ap.add_argument("--data", type=Path, default=ROOT / "runs" / "demo" / "argdown_line-by-line")
    ap.add_argument("--config", default="critical-thinking-ten-arguments")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-dpo-cpu")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM

    from dpo_beside_server import pairs
    from gpu_bench import Bench, dpo_config, dpo_ours, dpo_plain, steady
    from spin_train.spectrum import select, write_yaml

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, unfrozen = tmp / "pairs.parquet", tmp / "unfrozen.yaml"
        pairs(args.data, args.config, args.pairs, data)
        write_yaml(select(AutoModelForCausalLM.from_pretrained(args.model), 0.30), unfrozen)
        tokens = tokens_in(data, args.model)
        os.environ.setdefault("GPU_BENCH_WORK", str(tmp / "work"))
        bench = Bench(args.out, budget_s=3600, smoke=False)

        def raw(spectrum: bool) -> dict:
            cfg = dpo_config(args.model, unfrozen, batch=2, accumulation=2, seq=1024, pairs=args.pairs)
            del cfg["dpo"]["launcher"], cfg["dpo"]["deepspeed"]  # one process, as a CPU run has it
            if not spectrum:
                cfg["spectrum"] = {}
            return cfg

        results = {"ours, Spectrum 30 %": dpo_ours(bench, "spectrum", raw(True), data),
                   "ours, all parameters": dpo_ours(bench, "all", raw(False), data),
                   "plain TRL, Spectrum 30 %": dpo_plain(bench, "plain", raw(True), data)}
    print(f"{args.pairs} pairs ({tokens} tokens a pass) of {args.model.name}, batch 2 x 2, {os.cpu_count()} CPU cores")
    print(f"{'':26} {'phase s':>8} {'step s':>7} {'tokens/s':>8} {'steps':>5}")
    for name, r in results.items():
        step = steady(r["step_seconds"])
        print(f"{name:26} {r['phase_seconds']:8.1f} {step:7.2f} {tokens / sum(r['step_seconds']):8.1f} {r['steps']:5}")
    ours, plain = results["ours, Spectrum 30 %"], results["plain TRL, Spectrum 30 %"]
    print(f"ours / plain TRL: step {steady(ours['step_seconds']) / steady(plain['step_seconds']):.3f}x, "
          f"phase {ours['phase_seconds'] / plain['phase_seconds']:.3f}x")
    every = results["ours, all parameters"]
    print(f"all parameters / Spectrum 30 %: step {steady(every['step_seconds']) / steady(ours['step_seconds']):.2f}x")


if __name__ == "__main__":
    main()
