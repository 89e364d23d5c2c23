"""The DPO phase on CPU on the real model: Spectrum 30 % and all parameters, against plain TRL, in one run.

Three phases on the same pairs of SmolLM2-135M-Instruct (prompts of the line-by-line dataset, gold next line
as chosen, another prompt's gold as rejected), one process, the same settings (batch, accumulation,
max_length, gradient checkpointing, precomputed reference log-probs): ours through launch.run_dpo (the code
path of `spin-train run`) with the Spectrum 30 % set and with every parameter trainable, and
benchmarks/plain_trl_dpo.py (a plain TRL DPOTrainer script, nothing of spin_train) with the same Spectrum set.
Reports each phase's wall time, mean optimizer step (the first left out: warm-up) and tokens/s. With
--repeats R, ours and plain TRL run R times each in alternating order (ours first, then plain first, ...), so
that a machine that slows down or speeds up during the benchmark does not favour either.

    python benchmarks/dpo_cpu.py --model runs/base/SmolLM2-135M-Instruct --data runs/demo/argdown_line-by-line

`make base` first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import options
from options import ROOT



def tokens_in(pairs_path: Path, model: Path) -> int:
    """Tokens of one pass over the pairs: prompt + chosen and prompt + rejected, with the chat template."""
    from argdown_lbl.dataset_folder import parquet_rows
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    n = 0
    for row in parquet_rows(pairs_path):
        for answer in (row["chosen"], row["rejected"]):
            n += len(tok.apply_chat_template(row["prompt"] + answer, tokenize=True, return_dict=True)["input_ids"])
    return n


def main() -> None:
    ap = options.parser(__doc__)
    options.model_and_data(ap)
    options.pairs(ap)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-dpo-cpu")
    ap.add_argument("--repeats", type=int, default=1, help="runs of ours and of plain TRL each, alternating order")
    ap.add_argument("--no-all", action="store_true", help="leave out the phase with every parameter trainable")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM

    from dpo_beside_server import pairs
    from gpu_bench import Bench, dpo_config, dpo_ours, dpo_plain, steady
    from spin_train.training.spectrum import select, write_yaml

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

        runs: dict[str, list[dict]] = {"ours, Spectrum 30 %": [], "plain TRL, Spectrum 30 %": []}
        for r in range(args.repeats):
            arms = [("ours, Spectrum 30 %", lambda i: dpo_ours(bench, f"spectrum-{i}", raw(True), data)),
                    ("plain TRL, Spectrum 30 %", lambda i: dpo_plain(bench, f"plain-{i}", raw(True), data))]
            for name, arm in arms if r % 2 == 0 else arms[::-1]:
                runs[name].append(arm(r))
                print(f"run {r + 1}: {name}: step {steady(runs[name][-1]['step_seconds']):.2f} s", flush=True)
        if not args.no_all:
            runs["ours, all parameters"] = [dpo_ours(bench, "all", raw(False), data)]
    print(f"{args.pairs} pairs ({tokens} tokens a pass) of {args.model.name}, batch 2 x 2, {os.cpu_count()} CPU cores")
    print(f"{'':26} {'run':>3} {'phase s':>8} {'step s':>7} {'tokens/s':>8} {'steps':>5}")
    for name, rs in runs.items():
        for i, r in enumerate(rs):
            print(f"{name:26} {i + 1:3} {r['phase_seconds']:8.1f} {steady(r['step_seconds']):7.2f} "
                  f"{tokens / sum(r['step_seconds']):8.1f} {r['steps']:5}")
    ours, plain = runs["ours, Spectrum 30 %"], runs["plain TRL, Spectrum 30 %"]
    step_ratios = [steady(o["step_seconds"]) / steady(p["step_seconds"]) for o, p in zip(ours, plain)]
    phase_ratios = [o["phase_seconds"] / p["phase_seconds"] for o, p in zip(ours, plain)]
    print(f"ours / plain TRL per repeat: step {', '.join(f'{x:.3f}x' for x in step_ratios)}; "
          f"phase {', '.join(f'{x:.3f}x' for x in phase_ratios)}")
    print(f"mean: step {sum(step_ratios) / len(step_ratios):.3f}x, phase {sum(phase_ratios) / len(phase_ratios):.3f}x")
    if "ours, all parameters" in runs:
        every = runs["ours, all parameters"][0]
        print(f"all parameters / Spectrum 30 %: step "
              f"{steady(every['step_seconds']) / steady(ours[0]['step_seconds']):.2f}x")


if __name__ == "__main__":
    main()
