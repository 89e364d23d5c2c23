"""The train phase: DPO in child processes (training/launch.py), which read the pairs and the Spectrum list from the
run dir; the checkpoint they complete becomes the epoch's."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ...model_card import write_run_card
from ..machines import call_machines, wait_for_call
from .context import Context


def train(ctx: Context, epoch: int) -> dict:
    start = ctx.start_checkpoint(epoch)
    n_pairs = ctx.run.state.epoch(epoch).counts["pairs"]
    if not n_pairs:  # every question filtered out: the next epoch starts from this one's start
        ctx.log(f"epoch {epoch}: no pairs after filtering; no DPO this epoch, the checkpoint stays {start}")
        return {"checkpoint": start, "skipped": "no pairs", "steps": 0}
    out, partial = ctx.run.checkpoint_path(epoch), ctx.run.partial_checkpoint_path(epoch)
    checked = None
    if (partial / "train_metrics.json").exists():  # written last: a kill came after the checkpoint was done
        ctx.log(f"epoch {epoch}: {partial} is complete (a run stopped before recording it); not trained again")
    else:
        shutil.rmtree(partial, ignore_errors=True)
        checked = check_pairs(ctx, epoch, start)
        if ctx.cfg.dpo.num_machines > 1:
            call_machines(ctx.run, ctx.cfg, ctx.machine, ctx.session, epoch, ctx.log)
        ctx.log(f"epoch {epoch}: DPO on {n_pairs} pairs from {start}")
        launch(ctx, epoch, start)
    metrics = json.loads((partial / "train_metrics.json").read_text(encoding="utf-8"))
    if metrics.get("resumed_from_step"):
        ctx.log(f"epoch {epoch}: the DPO phase resumed from its checkpoint at step {metrics['resumed_from_step']}")
    ctx.log(f"epoch {epoch}: {metrics['trainable_parameters']:,} of {metrics['total_parameters']:,} parameters "
            f"trained; {metrics['steps']} steps, loss {metrics['train_loss']:.4f}")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(partial, out)
    write_run_card(ctx, epoch)
    prune(ctx, epoch)
    return {"checkpoint": str(out), "train_loss": metrics["train_loss"], "steps": metrics["steps"],
            "resumed_from_step": metrics.get("resumed_from_step"), "distributed": metrics.get("distributed"),
            **({"token_check": checked} if checked else {})}


def share(ctx: Context, epoch: int) -> None:
    """A machine above 0: answer machine 0's call to the epoch's DPO launch and take part (no call: machine 0
    recorded the epoch without one)."""
    if wait_for_call(ctx.run, epoch, ctx.machine, ctx.log):
        ctx.log(f"epoch {epoch}: DPO as machine {ctx.machine.rank}")
        launch(ctx, epoch, ctx.start_checkpoint(epoch))


def launch(ctx: Context, epoch: int, start: str) -> None:
    """This machine's part of the DPO launch, after its server gave the GPU back."""
    from ...training.launch import run_dpo

    ctx.serving.release()
    run_dpo(ctx.cfg, ctx.run, epoch, start, ctx.machine, ctx.children, ctx.log)


def check_pairs(ctx: Context, epoch: int, start: str) -> dict:
    """Every pair's ids are the served prompt's followed by each answer's (tokens.check_rows), before any launch."""
    from argdown_lbl.dataset_folder import parquet_rows

    from ...data.tokens import check_rows
    from ...training.models import load_tokenizer

    path = ctx.run.pairs_path(epoch)
    checked = check_rows(load_tokenizer(start, ctx.cfg.model), parquet_rows(path), str(path))
    ctx.log(f"epoch {epoch}: the token ids of {checked['rows']} pairs ({checked['tokens']:,} tokens) are the served "
            "prompts' followed by their answers'")
    return checked


def prune(ctx: Context, epoch: int) -> None:
    limit = ctx.cfg.output.save_total_limit
    if limit is None:
        return
    # Still needed: what the last ``limit`` epochs left (an epoch without pairs points further back).
    in_use = {str(Path(ctx.start_checkpoint(e + 1))) for e in range(max(epoch - limit + 1, 1), epoch + 1)}
    for old in range(1, epoch - limit + 1):
        path = ctx.run.checkpoint_path(old)
        if str(path) not in in_use:
            shutil.rmtree(path, ignore_errors=True)
