"""The generate phase: k candidates per selfplay prompt from the epoch-start checkpoint, batch by batch.

Each finished batch is appended to the machine's candidates file (the resume point); a line torn by a kill
is dropped. Seeds are per batch, so which machine generates a batch does not change its candidates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from argdown_lbl.errors import ServerError

from ..faults import stall
from ..machines import wait_for_shares
from ..run_dir import atomic_write, read_batches
from .context import Context


def generate(ctx: Context, epoch: int) -> dict:
    """Machine 0's share of the candidates, then it waits for the other machines' shares."""
    all_batches, skipped = batches(ctx, epoch)
    generate_mine(ctx, epoch, all_batches)
    n = ctx.generators()
    if n > 1:
        shares = {r: len(range(r, len(all_batches), n)) for r in range(1, n)}
        wait_for_shares(ctx.run, epoch, shares, lambda r: len(ctx.run.candidate_batches(epoch, r)), ctx.log)
    serving = {"serving": ctx.serving.last} if ctx.serving.last else {}  # which weights, loaded how
    return {"counts": {**ctx.run.state.epoch(epoch).counts, "prompts_too_long": skipped}, **serving}


def share(ctx: Context, epoch: int) -> None:
    """A machine above 0: its share of the batches on its own server (none with one external server)."""
    if ctx.machine.rank < ctx.generators():
        generate_mine(ctx, epoch, batches(ctx, epoch)[0])


def batches(ctx: Context, epoch: int) -> tuple[list[list[dict]], int]:
    """(the epoch's batches of prompts to generate, prompts left out as too long); the same on every machine."""
    size = ctx.cfg.generation.batch_size
    items = ctx.run.read_plan(epoch)["selfplay"]
    skipped = too_long(ctx, epoch, items)
    items = [it for it in items if it["id"] not in skipped]
    return [items[i:i + size] for i in range(0, len(items), size)], len(skipped)


def generate_mine(ctx: Context, epoch: int, all_batches: list[list[dict]]) -> None:
    """Append k candidates per prompt to this machine's candidates file (machine r of n takes batches r, r+n,
    ...); skip batches already there."""
    rank = ctx.machine.rank
    path = ctx.run.candidates_path(epoch, rank)
    mine = list(range(rank, len(all_batches), ctx.generators()))
    done = complete_batches(path)
    if done < len(mine):
        _generate_batches(ctx, epoch, all_batches, mine, done, path)
    check_refused(ctx, epoch, sum(len(all_batches[b]) for b in mine))  # also when a rerun finds it all done


def _generate_batches(ctx: Context, epoch: int, all_batches: list[list[dict]], mine: list[int], done: int,
                      path: Path) -> None:
    """Batches ``mine[done:]`` through one generation session, appended to ``path`` as they finish."""
    from ...serving.backends import session

    g = ctx.cfg.generation
    where = f" as machine {ctx.machine.rank} of {ctx.generators()}" if ctx.generators() > 1 else ""
    ctx.log(f"epoch {epoch}: generating {g.k} candidates for {sum(len(all_batches[b]) for b in mine)} prompts"
            f"{where} ({len(mine) - done} of {len(mine)} batches left)")
    with session(ctx.cfg, ctx.start_checkpoint(epoch), ctx.run.epoch_dir(epoch), ctx.serving, ctx.log,
                 epoch) as generator, open(path, "a", encoding="utf-8") as fh:
        for b in mine[done:]:
            batch = all_batches[b]
            outs = generator.generate([it["prompt"] for it in batch], g.seed * 1_000_003 + epoch * 10_007 + b)
            record = {"batch": b, "candidates": {it["id"]: [s.text for s in c] for it, c in zip(batch, outs)},
                      "finish": {it["id"]: [s.finish_reason for s in c] for it, c in zip(batch, outs)},
                      # the ids sampled (the rejected answers' training ids) and the server's prompt ids
                      "token_ids": {it["id"]: [s.token_ids for s in c] for it, c in zip(batch, outs)},
                      "prompt_ids": {it["id"]: c[0].prompt_ids for it, c in zip(batch, outs)
                                     if c and c[0].prompt_ids is not None},
                      "refused": [it["id"] for it, c in zip(batch, outs) if not c]}  # by the server
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            ctx.log(f"  batch {b + 1}/{len(all_batches)}")
            stall("generate", ctx.run.root, epoch=epoch)
        for why in generator.rejected:
            ctx.log(f"  a prompt was refused by the server and gets no candidates: {why}")


def check_refused(ctx: Context, epoch: int, prompts: int) -> None:
    """Fail the phase when the server refused more than generation.max_refused_share of the prompts."""
    refused = sum(len(b.get("refused", [])) for b in ctx.run.candidate_batches(epoch, ctx.machine.rank))
    limit = ctx.cfg.generation.max_refused_share
    if prompts and refused / prompts > limit:
        raise ServerError(f"epoch {epoch}: the server refused {refused} of {prompts} prompts for their length, "
                          f"more than generation.max_refused_share ({limit:g}); lower max_tokens or raise the "
                          f"server's context (see {ctx.run.candidates_path(epoch, ctx.machine.rank)})")


def too_long(ctx: Context, epoch: int, items: list[dict]) -> set[str]:
    """Prompts that leave no room for max_tokens within the generator's context and dpo.max_length: counted,
    logged and not generated."""
    from ...data.lengths import generation_limit, too_long as over
    from ...training.models import load_tokenizer

    checkpoint = ctx.start_checkpoint(epoch)
    limit, max_tokens = generation_limit(ctx.cfg, checkpoint), ctx.cfg.generation.max_tokens
    skipped = over(items, load_tokenizer(checkpoint, ctx.cfg.model), limit, max_tokens)
    if skipped:
        ctx.log(f"epoch {epoch}: {len(skipped)} of {len(items)} prompts do not fit {limit} tokens (the "
                f"generator's context and dpo.max_length) with max_tokens {max_tokens}; they are not generated")
    return skipped


def complete_batches(path: Path) -> int:
    """How many batches a candidates file holds; a torn tail is dropped so appends continue on a clean line."""
    found = read_batches(path)
    if path.exists():
        good = "".join(json.dumps(b, ensure_ascii=False) + "\n" for b in found)
        if path.read_text(encoding="utf-8") != good:
            atomic_write(path, good.encode())
    return len(found)
