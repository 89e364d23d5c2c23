"""The mix phase: pairs gold > own candidate by dynamic filtering, with the drawn preference pairs, each with
the token ids it trains on (data/tokens.py: the served prompt's, the sampled rejected answer's, a written answer's
own), that fit dpo.max_length, shuffled by a fixed seed into the epoch's pairs.parquet."""

from __future__ import annotations

import hashlib
import json
import os
import random

from ...data import filtering
from ..faults import stall
from ..run_dir import write_json
from .context import Context


def pairs_sha256(pairs: list[dict]) -> str:
    canon = json.dumps(pairs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def mix(ctx: Context, epoch: int) -> dict:
    from ...data.tokens import check_served_prompts, with_ids
    from ...training.models import load_tokenizer

    plan = ctx.run.read_plan(epoch)
    got = _candidates(ctx, epoch)
    tok = load_tokenizer(ctx.start_checkpoint(epoch), ctx.cfg.model)
    served = check_served_prompts(tok, plan["selfplay"], got["prompt_ids"])
    f = ctx.cfg.filtering
    pairs, stats = filtering.build_pairs(plan["selfplay"], got["candidates"], f.rule, f.seed, epoch,
                                         got["truncated"], f.truncated_as_rejected, got["token_ids"])
    sampled = sum(p["rejected_ids"] is not None for p in pairs)
    pairs = [with_ids(tok, p) for p in pairs]
    if ctx.cfg.curriculum.earlier_epochs:  # the later epochs' share of this one: its own selfplay pairs only
        write_json(ctx.run.selfplay_pairs_path(epoch), pairs)
    earlier = earlier_pairs(ctx, epoch)
    preference = [with_ids(tok, p) for p in plan["preference"]]
    pairs, too_long = fitting(ctx, epoch, pairs + [p for e in sorted(earlier) for p in earlier[e]] + preference)
    random.Random(f"{f.seed}/{epoch}/shuffle").shuffle(pairs)
    _write(ctx, epoch, pairs)
    per_source: dict[str, int] = {}
    for p in pairs:
        per_source[p["source"]] = per_source.get(p["source"], 0) + 1
    ctx.log(f"epoch {epoch}: {stats['kept']} of {stats['questions']} selfplay questions kept "
            f"(l histogram {stats['l_histogram']}), {len(pairs)} pairs in all")
    empty, warning = empty_candidates(got["candidates"])
    if warning:
        ctx.log(f"epoch {epoch}: {warning}")
    counts = {**ctx.run.state.epoch(epoch).counts, "kept": stats["kept"], "pairs": len(pairs),
              "pairs_per_source": per_source, "too_long": too_long, "refused": got["refused"],
              # rejected answers trained as the ids sampled, or (a server that returns none) as their text's
              "rejected_ids_sampled": sampled, "rejected_ids_from_text": stats["kept"] - sampled,
              "served_prompts_checked": served, "empty_candidates": empty}
    if ctx.cfg.curriculum.earlier_epochs:
        counts["earlier_pairs"] = {str(e): len(p) for e, p in earlier.items()}  # before the length rule
    return {"pairs_sha256": pairs_sha256(pairs), "filtering": stats, "counts": counts}


def empty_candidates(candidates: dict[str, list[str]]) -> tuple[int, str | None]:
    """How many candidates are empty, and a warning when most are: a checkpoint that ends its turn at once has
    collapsed (a DPO step too large lowers its own answers' likelihood fastest that way), and its pairs only
    teach gold > nothing."""
    texts = [c for cs in candidates.values() for c in cs]
    empty = sum(1 for c in texts if not c.strip())
    if texts and empty * 2 > len(texts):
        return empty, (f"WARNING: {empty} of {len(texts)} candidates are empty: the checkpoint that generated "
                       "them ends its turn at once (collapsed); a smaller dpo.learning_rate may be needed")
    return empty, None


def earlier_pairs(ctx: Context, epoch: int) -> dict[int, list[dict]]:
    """The selfplay pairs (gold > that epoch's own candidate) of the curriculum.earlier_epochs epochs before
    ``epoch``, by epoch: each epoch's own, not those it took from earlier ones (preference rows are drawn afresh)."""
    out = {}
    for e in range(max(1, epoch - ctx.cfg.curriculum.earlier_epochs), epoch):
        out[e] = json.loads(ctx.run.selfplay_pairs_path(e).read_text(encoding="utf-8"))
    if any(out.values()):
        ctx.log(f"epoch {epoch}: {sum(map(len, out.values()))} selfplay pairs of epochs "
                f"{', '.join(map(str, out))} join the mix (curriculum.earlier_epochs)")
    return out


def _candidates(ctx: Context, epoch: int) -> dict:
    """Every machine's candidates per prompt id, which of them hit max_tokens, their sampled ids, the server's
    prompt ids, and the count of prompts the server refused."""
    got = {"candidates": {}, "truncated": {}, "token_ids": {}, "prompt_ids": {}, "refused": 0}
    shares = [ctx.run.candidate_batches(epoch, r) for r in range(ctx.generators())]
    for batch in (b for share in shares for b in share):
        got["candidates"].update(batch["candidates"])
        got["refused"] += len(batch.get("refused", []))
        got["truncated"].update({i: [r == "length" for r in rs] for i, rs in batch.get("finish", {}).items()})
        got["token_ids"].update(batch.get("token_ids", {}))
        got["prompt_ids"].update(batch.get("prompt_ids", {}))
    return got


def _write(ctx: Context, epoch: int, pairs: list[dict]) -> None:
    from datasets import Dataset

    target = ctx.run.pairs_path(epoch)
    tmp = target.with_name(target.name + ".tmp")
    Dataset.from_list(pairs).to_parquet(str(tmp))
    stall("mix", ctx.run.root)
    os.replace(tmp, target)


def fitting(ctx: Context, epoch: int, pairs: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """The pairs (with their ids) that fit dpo.max_length, and those dropped per source."""
    from ...data.lengths import fitting_pairs

    if not pairs:
        return [], {}
    max_length = ctx.cfg.dpo.max_length
    kept, dropped = fitting_pairs(pairs, max_length)
    for source, n in sorted(dropped.items()):
        ctx.log(f"epoch {epoch}: {n} pairs from {source} are longer than dpo.max_length {max_length}; dropped")
    return kept, dropped
