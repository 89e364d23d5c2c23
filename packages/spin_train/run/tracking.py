"""The run's per-epoch figures in TensorBoard, against the epoch number (dpo.report_to: tensorboard).

TRL writes each DPO phase's own curves (loss, rewards, margins, learning rate per step) into
RUN_DIR/tensorboard/epoch-NN; this module writes what the report's tables hold, one point per epoch, into
RUN_DIR/tensorboard/run: generation, filtering, the mix, the DPO phase's summary and the evaluation
(epoch 0: the base model). An epoch logged again after a resume replaces its earlier points (purge_step).
"""

from __future__ import annotations

import json

from .run_dir import EpochState, RunDir


def epoch_scalars(entry: EpochState, result: dict | None, k: int) -> dict[str, float]:
    """The figures of one epoch (its state and its eval.json) by TensorBoard tag."""
    c, t = entry.counts, entry.timings
    out: dict[str, float] = {}
    for key in ("prompts", "prompts_too_long", "refused"):
        if key in c:
            out[f"generation/{key}"] = c[key]
    if "generate" in t:
        out["generation/seconds"] = t["generate"]
        if c.get("prompts") and t["generate"] > 0:
            out["generation/candidates_per_second"] = (c["prompts"] - c.get("prompts_too_long", 0)) * k / t["generate"]
    if "kept" in c:
        out["filtering/kept"] = c["kept"]
        if c.get("prompts"):
            out["filtering/kept_share"] = c["kept"] / c["prompts"]
    if "pairs" in c:
        out["mix/pairs"] = c["pairs"]
        out["mix/pairs_too_long"] = sum((c.get("too_long") or {}).values())
        for source, n in (c.get("pairs_per_source") or {}).items():
            out[f"mix/pairs/{source}"] = n
    if entry.train_loss is not None:
        out["dpo/train_loss"] = entry.train_loss
    if entry.steps is not None:
        out["dpo/steps"] = entry.steps
    if "train" in t:
        out["dpo/seconds"] = t["train"]
    return {**out, **eval_scalars(result)}


def eval_scalars(result: dict | None) -> dict[str, float]:
    if not result:
        return {}
    nl, bench = result.get("next_line", {}), result.get("bench", {})
    out = {"eval/next_line_exact": nl.get("exact_match"), "eval/next_line_argdown_aware": nl.get("argdown_match"),
           "eval/solved@1": bench.get("solved@1"), "eval/pass@1": bench.get("pass@1")}
    return {tag: float(v) for tag, v in out.items() if v is not None}


def log_epoch(run: RunDir, epoch: int, k: int) -> dict[str, float]:
    """Write epoch ``epoch``'s figures (epoch 0: the base model's evaluation) at step ``epoch``."""
    from torch.utils.tensorboard import SummaryWriter

    path = run.eval_path(epoch)
    result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    entry = run.state.epochs.get(epoch, EpochState()) if epoch else EpochState()
    scalars = epoch_scalars(entry, result, k)
    if scalars:
        writer = SummaryWriter(log_dir=str(run.tensorboard_dir("run")), purge_step=epoch)
        for tag, value in sorted(scalars.items()):
            writer.add_scalar(tag, value, global_step=epoch)
        writer.close()
    return scalars

