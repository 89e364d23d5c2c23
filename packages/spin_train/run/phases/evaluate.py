"""The evaluate phase: the Argdown Bench and next-line exact match on the checkpoint after an epoch (epoch 0:
the base model, a row of the run table), through the run's server when generation uses vLLM."""

from __future__ import annotations

from ...model_card import write_run_card
from ..run_dir import write_json
from .context import Context


def evaluate(ctx: Context, epoch: int) -> dict:
    """Evaluate the checkpoint after ``epoch`` into epoch-NN/eval.json; one found there (a kill after it was
    written) is kept."""
    path = ctx.run.eval_path(epoch)
    if not path.exists():
        from ...evaluation.checkpoint import table

        result = _evaluate(ctx, epoch)
        write_json(path, result)
        ctx.log(f"eval after epoch {epoch}:\n{table(result)}")
    if epoch:
        write_run_card(ctx, epoch)  # now with its evaluation
    return {"eval": str(path)}


def _evaluate(ctx: Context, epoch: int) -> dict:
    from ...evaluation.checkpoint import evaluate as evaluate_checkpoint

    weights = ctx.start_checkpoint(epoch + 1)  # what the next epoch generates from
    where = {"model": weights, "device": ctx.cfg.generation.device}
    if ctx.cfg.generation.backend == "vllm":  # through the run's server: no model in this process
        served = ctx.serving.load(weights, epoch + 1, purpose="evaluate")
        where = {"server": f"{served.url}#{served.name}"}
    result = evaluate_checkpoint(ctx.cfg.evaluation, **where, model_cfg=ctx.cfg.model, tokenizer=weights,
                                 log=ctx.log)
    result["epoch"], result["weights"] = epoch, weights
    return result
