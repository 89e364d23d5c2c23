"""The DPO phase: TRL's DPOTrainer with the sigmoid loss; the reference is the epoch-start checkpoint.

SPIN's opponent is the previous iterate: the policy is loaded from the
epoch-start checkpoint and TRL copies it as the frozen reference, so
chosen = gold and rejected = own candidate give exactly SPIN's loss.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .config import RunConfig
from .models import cuda_available


def dpo_args(cfg: RunConfig, out: Path):
    from trl import DPOConfig

    d = cfg.dpo
    return DPOConfig(
        output_dir=str(out), loss_type=[d.loss], beta=d.beta, learning_rate=d.learning_rate,
        lr_scheduler_type=d.scheduler, warmup_steps=d.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        num_train_epochs=d.epochs,
        per_device_train_batch_size=d.per_device_batch_size, gradient_accumulation_steps=d.gradient_accumulation_steps,
        max_length=d.max_length, seed=d.seed, data_seed=d.seed, bf16=d.bf16,
        gradient_checkpointing=d.gradient_checkpointing, deepspeed=d.deepspeed, report_to="none",
        precompute_ref_log_probs=d.precompute_ref_log_probs,
        save_strategy="no", logging_steps=1, use_cpu=not cuda_available(), dataloader_num_workers=0,
    )


def _step_callback(fn):
    from transformers import TrainerCallback

    class OnStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            fn()

    return OnStep()


def train_epoch(cfg: RunConfig, start_checkpoint: str, pairs, out: Path, unfrozen: list[str] | None,
                on_step=None) -> dict:
    """Train on ``pairs`` (a datasets.Dataset) from ``start_checkpoint``; save the model to ``out``."""
    import torch
    from trl import DPOTrainer

    from .models import load_model, load_tokenizer
    from .spectrum import freeze

    torch.manual_seed(cfg.dpo.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    tok = load_tokenizer(start_checkpoint, cfg.model)
    model = load_model(start_checkpoint, cfg.model)
    total = sum(p.numel() for p in model.parameters())
    trainable = freeze(model, unfrozen) if unfrozen else total  # before the optimizer is built
    work = out.parent / (out.name + ".work")
    trainer = DPOTrainer(model=model, args=dpo_args(cfg, work), train_dataset=pairs, processing_class=tok,
                         callbacks=[_step_callback(on_step)] if on_step else None)
    result = trainer.train()
    trainer.save_model(str(out))
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    metrics = {"train_loss": result.training_loss, "steps": trainer.state.global_step,
               "trainable_parameters": trainable, "total_parameters": total, "log": logs}
    if trainer.is_world_process_zero():
        tok.save_pretrained(str(out))
        shutil.rmtree(work, ignore_errors=True)
        (out / "train_metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics
