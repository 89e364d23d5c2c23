"""The DPO phase: TRL's DPOTrainer with the sigmoid loss; the reference is the epoch-start checkpoint.

SPIN's opponent is the previous iterate: the policy is loaded from the
epoch-start checkpoint and TRL copies it as the frozen reference, so
chosen = gold and rejected = own candidate give exactly SPIN's loss.

The pairs come with their token ids (data/tokens.py), and the trainer takes them as they are: TRL 1.16's
DPOTrainer always re-tokenises from text in ``_prepare_dataset`` (cutting prompt and answer where the
tokenised prompt and prompt + answer diverge), so our trainer class passes pre-tokenised rows by it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from ..config import RunConfig
from ..run.run_dir import write_json
from .models import cuda_available


def dpo_args(cfg: RunConfig, out: Path, autocast: str | None = None):
    """TRL's DPOConfig for the epoch; ``autocast`` ("bfloat16"/"float16"): mixed precision over fp32 weights.
    With dpo.save_steps, a checkpoint every N steps in ``out``; the newest replaces the one before."""
    from trl import DPOConfig

    d = cfg.dpo
    configured = _cpu_process_group()
    return DPOConfig(
        accelerator_config={"use_configured_state": True} if configured else None,
        output_dir=str(out), loss_type=[d.loss], beta=d.beta, learning_rate=d.learning_rate,
        lr_scheduler_type=d.scheduler, warmup_steps=d.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        num_train_epochs=d.epochs,
        per_device_train_batch_size=d.per_device_batch_size, gradient_accumulation_steps=d.gradient_accumulation_steps,
        max_length=d.max_length, seed=d.seed, data_seed=d.seed, bf16=d.bf16 or autocast == "bfloat16",
        fp16=autocast == "float16",
        gradient_checkpointing=d.gradient_checkpointing, deepspeed=d.deepspeed,
        report_to="none" if d.report_to == ["none"] else d.report_to,
        precompute_ref_log_probs=d.precompute_ref_log_probs,
        save_strategy="steps" if d.save_steps else "no", save_steps=d.save_steps or 500,
        save_total_limit=1 if d.save_steps else None,  # removed only after the newer one is complete
        logging_steps=1, use_cpu=not cuda_available(), dataloader_num_workers=0,
    )


def _cpu_process_group() -> bool:
    """Several ranks without CUDA: accelerate finds no backend for them and its state says 1 process while
    DeepSpeed's gloo group has them all (DeepSpeed then fails its batch-size check); a gloo state set up
    first, which the Trainer then uses as configured, counts every rank."""
    if cuda_available() or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return False
    from accelerate import PartialState

    PartialState(backend="gloo")
    return True


def numel(param) -> int:
    """Elements of a parameter, also when ZeRO-3 has partitioned it (its local numel is then 0)."""
    return getattr(param, "ds_numel", None) or param.numel()


def distributed_setup(trainer, zero3_init: bool) -> dict:
    """What actually ran: accelerate's distributed type, processes, mixed precision, DeepSpeed's ZeRO stage."""
    state = trainer.accelerator.state
    plugin = getattr(state, "deepspeed_plugin", None)
    return {"distributed_type": str(getattr(state.distributed_type, "value", state.distributed_type)),
            "num_processes": state.num_processes, "mixed_precision": str(state.mixed_precision),
            "zero_stage": plugin.zero_stage if plugin is not None else None,
            "zero3_init": zero3_init, "device": str(trainer.args.device)}


def parameter_shares(model) -> list[int]:
    """Elements of the model's parameters each rank holds (ZeRO-3: its partitions), one entry per rank."""
    return _gathered(sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in model.parameters()))


def _gathered(value: int) -> list[int]:
    """``value`` from every rank, in rank order (one entry without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


PAIR_IDS = ["prompt_ids", "chosen_ids", "rejected_ids"]  # what a pair trains on (tokens.tokenize_pair)


def _trainer_class():
    """TRL's DPOTrainer on pre-tokenised pairs, counting the rows whose reference log-probs this rank computes."""
    from trl import DPOTrainer

    class CountingDPOTrainer(DPOTrainer):
        reference_rows = 0

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            missing = [c for c in PAIR_IDS if c not in dataset.column_names]
            if missing:
                raise ValueError(f"the {dataset_name} pairs have no {', '.join(missing)}: the DPO phase trains "
                                 "the ids tokens.tokenize_pair builds, never a re-tokenised text")
            return dataset.select_columns(PAIR_IDS)

        def compute_ref_log_probs(self, model, inputs):
            self.reference_rows += int(inputs["input_ids"].shape[0]) // 2  # chosen and rejected in one batch
            return super().compute_ref_log_probs(model, inputs)

    return CountingDPOTrainer


def step_callback(fn):
    from transformers import TrainerCallback

    class OnStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            fn(state.global_step, kwargs.get("model"))  # before the step's checkpoint is saved

    return OnStep()


def _step_clock(seconds: list[float]):
    """Wall time of each optimizer step (forward, backward, optimizer; the GPU synchronised at both ends) into
    ``seconds``: the DPO phase's throughput without its launch, loading, reference log-probs and save."""
    import time

    from transformers import TrainerCallback

    from .models import cuda_available

    def now() -> float:
        if cuda_available():
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    class Clock(TrainerCallback):
        start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = now()

        def on_step_end(self, args, state, control, **kwargs):
            seconds.append(now() - self.start)

    return Clock()


def _peak_memory_gib() -> float | None:
    """This rank's peak GPU memory allocated by torch (None on CPU)."""
    from .models import cuda_available

    if not cuda_available():
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**30


def last_complete_step(work: Path) -> Path | None:
    """The newest ``checkpoint-N`` of the Trainer in ``work`` that is complete: trainer_state.json is written
    last (a kill during a save leaves a newer, torn one, which the resumed run writes again)."""
    steps = [p for p in work.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
             and (p / "trainer_state.json").is_file()]
    return max(steps, key=lambda p: int(p.name.split("-")[-1]), default=None)


def train_epoch(cfg: RunConfig, start_checkpoint: str, pairs, out: Path, work: Path, unfrozen: list[str] | None,
                on_step=None, log=print, logging_dir: Path | None = None) -> dict:
    """Train on ``pairs`` (a datasets.Dataset) from ``start_checkpoint``; save the model to ``out``. ``work`` is
    the Trainer's output dir: with dpo.save_steps its checkpoints are there, and training resumes from the last.
    ``logging_dir``: where TensorBoard's event files go (dpo.report_to)."""
    import torch

    from ..serving.reload_check import trainer_logprobs, write as write_probe
    from .models import load_model, load_tokenizer
    from .spectrum import freeze

    torch.manual_seed(cfg.dpo.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    # 16-bit models train on fp32 master weights (at lr 2e-7, updates of 16-bit weights round to nothing):
    # DeepSpeed keeps them itself; otherwise the policy is loaded in float32 and the Trainer autocasts.
    under_deepspeed = bool(cfg.dpo.deepspeed) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    autocast = cfg.model.dtype if cfg.model.dtype != "float32" and not under_deepspeed else None
    # The Trainer's arguments first: under ZeRO-3 they announce DeepSpeed, so that from_pretrained partitions
    # the weights as it loads them (zero3_init) instead of every rank holding the whole model.
    args = dpo_args(cfg, work, autocast)
    if logging_dir is not None:  # transformers 5 reads it when the Trainer builds its TensorBoard callback
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(logging_dir)
    tok = load_tokenizer(start_checkpoint, cfg.model)
    model = load_model(start_checkpoint, dataclasses.replace(cfg.model, dtype="float32") if autocast else cfg.model)
    total = sum(numel(p) for p in model.parameters())
    trainable = freeze(model, unfrozen) if unfrozen else total  # before the optimizer is built
    partitioned = hasattr(next(model.parameters()), "ds_id")
    trained = next(p for p in model.parameters() if p.requires_grad)
    masters = "DeepSpeed optimizer" if under_deepspeed else str(trained.dtype)
    step_seconds: list[float] = []
    callbacks = [_step_clock(step_seconds)] + ([step_callback(on_step)] if on_step else [])
    trainer = _trainer_class()(model=model, args=args, train_dataset=pairs, processing_class=tok, callbacks=callbacks)
    resume = last_complete_step(work) if cfg.dpo.save_steps else None
    if resume is not None:
        log(f"resuming the DPO phase from {resume}")
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if autocast:  # the checkpoint keeps the model's dtype
        trainer.model.to(getattr(torch, autocast))
    trainer.save_model(str(out))  # under ZeRO-3 the 16-bit weights are gathered: loads without DeepSpeed
    # the saved weights' own log-probs of fixed tokens, which a server that loads this checkpoint must repeat
    # (serving/reload_check.py); under ZeRO-3 every rank takes part in the forward
    probe = trainer_logprobs(trainer.model_wrapped if under_deepspeed else trainer.model, tok)
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    distributed = {**distributed_setup(trainer, partitioned), "master_weights": masters,
                   "parameter_shares": parameter_shares(trainer.model_wrapped),
                   # pairs per rank whose reference log-probs it computed: summed, each pair once
                   # (a sampler may pad the last batch by a few)
                   "reference_rows": _gathered(trainer.reference_rows)}
    distributed["world_size"] = len(distributed["parameter_shares"])
    metrics = {"train_loss": result.training_loss, "steps": trainer.state.global_step,
               "trainable_parameters": trainable, "total_parameters": total, "log": logs,
               "resumed_from_step": int(resume.name.split("-")[-1]) if resume else None,
               "step_seconds": step_seconds, "peak_memory_gib": _gathered(_peak_memory_gib()),
               "distributed": distributed}
    if trainer.is_world_process_zero():
        tok.save_pretrained(str(out))
        write_probe(out, probe)
        shutil.rmtree(work, ignore_errors=True)
        write_json(out / "train_metrics.json", metrics)  # last and atomic: it marks the checkpoint complete
    return metrics
