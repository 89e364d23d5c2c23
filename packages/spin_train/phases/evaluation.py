"""The evaluate phase: the Argdown Bench and next-line exact match on the checkpoint after an epoch (epoch 0:
the base model, a row of the run table), through the run's server when generation uses vLLM."""

from __future__ import annotations

from ..model_card import write_run_card
from ..run_dir import write_json
from .context import Context


def evaluate(ctx: Context, epoch: int) -> dict:
    """Evaluate the checkpoint after ``epoch`` into epoch-NN/eval.json; one found there (a kill after it was
    written) is kept."""
    path = ctx.run.eval_path(epoch)
    if not path.exists():
        from ..evaluate import table

        result = _evaluate(ctx, epoch)
        write_json(path, result)
        ctx.log(f"eval after epoch {epoch}:\n{table(result)}")
    if epoch:
        write_run_card(ctx, epoch)  # now with its evaluation
    return {"eval": str(path)}


def evaluate_base(ctx: Context) -> dict:
    return evaluate(ctx, 0)


def _evaluate(ctx: Context, epoch: int) -> dict:
    from ..evaluate import evaluate as run_bench

    e, g = ctx.cfg.evaluation, ctx.cfg.generation
    weights = ctx.start_checkpoint(epoch + 1)  # what the next epoch generates from
    checkpoint, server = weights, None
    if g.backend == "vllm":  # through the run's server: no model in this process
        served = ctx.serving.load(weights, epoch + 1, purpose="evaluate")
        checkpoint, server = None, f"{served.url}#{served.name}"
    result = run_bench(checkpoint, e.dataset, e.configs or None, e.k, e.max_prompts, e.max_tokens, e.seed,
                       ctx.cfg.model, g.device, server=server, samples=e.samples,
                       next_line_prompts=e.next_line_prompts, next_line_max_tokens=e.next_line_max_tokens,
                       batch=e.batch_size, log=ctx.log, tokenizer=weights)
    result["epoch"], result["weights"] = epoch, weights
    return result
