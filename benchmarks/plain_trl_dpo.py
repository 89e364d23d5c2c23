"""The peer of our DPO phase: a plain TRL DPOTrainer script on the same model folder, pairs and frozen set.

Nothing of spin_train is imported. benchmarks/gpu_bench.py launches it with the same `accelerate launch`
flags as the phase (DeepSpeed config, mixed precision) and compares the step times it writes to ``--out``:

    accelerate launch [flags] benchmarks/plain_trl_dpo.py --model M --pairs P.parquet --unfrozen U.yaml \
        --batch 8 --accumulation 2 --max-length 1024 --bf16 --deepspeed configs/deepspeed-zero3.json --out J
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time

import torch
import yaml
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer


class Clock(TrainerCallback):
    """Wall time of each optimizer step, the GPU synchronised at both ends (as the phase's own clock)."""

    def __init__(self):
        self.seconds, self.start = [], 0.0

    @staticmethod
    def now() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = self.now()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(self.now() - self.start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--model", "--pairs", "--unfrozen", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--deepspeed")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--accumulation", type=int, default=1)
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as work:
        config = DPOConfig(  # before the model: under ZeRO-3 it makes from_pretrained partition the weights
            output_dir=work, loss_type=["sigmoid"], beta=0.1, learning_rate=2e-7, lr_scheduler_type="linear",
            num_train_epochs=1,  # as the phase: one pass over the pairs (TRL's default is 3)
            per_device_train_batch_size=args.batch, gradient_accumulation_steps=args.accumulation,
            max_length=args.max_length, bf16=args.bf16, gradient_checkpointing=True, deepspeed=args.deepspeed,
            precompute_ref_log_probs=True, save_strategy="no", report_to="none", logging_steps=1, seed=0,
            use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16 if args.bf16 else torch.float32)
        patterns = [re.compile(p) for p in yaml.safe_load(open(args.unfrozen))["unfrozen_parameters"]]
        for name, param in model.named_parameters():
            param.requires_grad = any(p.search(name) for p in patterns)
        pairs = Dataset.from_parquet(args.pairs, cache_dir=f"{work}/cache").remove_columns(["source"])
        clock = Clock()
        trainer = DPOTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer,
                             callbacks=[clock])
        trainer.train()
        trainer.save_model(f"{work}/model")  # as the phase does: the trained weights gathered and written
    if trainer.is_world_process_zero():
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        with open(args.out, "w") as f:
            json.dump({"step_seconds": clock.seconds, "steps": trainer.state.global_step, "peak_memory_gib": peak}, f)


if __name__ == "__main__":
    main()
