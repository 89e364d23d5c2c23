"""The mix phase: pairs gold > own candidate by dynamic filtering, with the drawn preference pairs, that fit
dpo.max_length, shuffled by a fixed seed into the epoch's pairs.parquet."""

from __future__ import annotations

import hashlib
import json
import os
import random

from .. import filtering
from ..faults import stall
from ..run_dir import write_json
from .context import Context
from .draw import read_plan
from .generate import read_batches


def pairs_sha256(pairs: list[dict]) -> str:
    canon = json.dumps(pairs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def mix(ctx: Context, epoch: int) -> dict:
    plan = read_plan(ctx, epoch)
    candidates, truncated, refused = _candidates(ctx, epoch)
    f = ctx.cfg.filtering
    pairs, stats = filtering.build_pairs(plan["selfplay"], candidates, f.rule, f.seed, epoch, truncated,
                                         f.truncated_as_rejected)
    if ctx.cfg.curriculum.earlier_epochs:  # the later epochs' share of this one: its own selfplay pairs only
        write_json(ctx.run.selfplay_pairs_path(epoch), pairs)
    earlier = earlier_pairs(ctx, epoch)
    pairs, too_long = fitting(ctx, epoch, pairs + [p for e in sorted(earlier) for p in earlier[e]] + plan["preference"])
    random.Random(f"{f.seed}/{epoch}/shuffle").shuffle(pairs)
    _write(ctx, epoch, pairs)
    per_source: dict[str, int] = {}
    for p in pairs:
        per_source[p["source"]] = per_source.get(p["source"], 0) + 1
    ctx.log(f"epoch {epoch}: {stats['kept']} of {stats['questions']} selfplay questions kept "
            f"(l histogram {stats['l_histogram']}), {len(pairs)} pairs in all")
    counts = {**ctx.run.state.epoch(epoch).counts, "kept": stats["kept"], "pairs": len(pairs),
              "pairs_per_source": per_source, "too_long": too_long, "refused": refused}
    if ctx.cfg.curriculum.earlier_epochs:
        counts["earlier_pairs"] = {str(e): len(p) for e, p in earlier.items()}  # before the length rule
    return {"pairs_sha256": pairs_sha256(pairs), "filtering": stats, "counts": counts}


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


def _candidates(ctx: Context, epoch: int) -> tuple[dict, dict, int]:
    """Every machine's candidates per prompt id, which of them hit max_tokens, and prompts the server refused."""
    candidates, truncated, refused = {}, {}, 0
    shares = [read_batches(ctx.run.candidates_path(epoch, r)) for r in range(ctx.generators())]
    for batch in (b for share in shares for b in share):
        candidates.update(batch["candidates"])
        refused += len(batch.get("refused", []))
        truncated.update({i: [r == "length" for r in rs] for i, rs in batch.get("finish", {}).items()})
    return candidates, truncated, refused


def _write(ctx: Context, epoch: int, pairs: list[dict]) -> None:
    from datasets import Dataset

    target = ctx.run.pairs_path(epoch)
    tmp = target.with_name(target.name + ".tmp")
    Dataset.from_list(pairs).to_parquet(str(tmp))
    stall("mix", ctx.run.root)
    os.replace(tmp, target)


def fitting(ctx: Context, epoch: int, pairs: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """The pairs that fit dpo.max_length with the policy's chat template, and those dropped per source."""
    from ..lengths import fitting_pairs
    from ..models import load_tokenizer

    if not pairs:
        return [], {}
    max_length = ctx.cfg.dpo.max_length
    kept, dropped = fitting_pairs(pairs, load_tokenizer(ctx.start_checkpoint(epoch), ctx.cfg.model), max_length)
    for source, n in sorted(dropped.items()):
        ctx.log(f"epoch {epoch}: {n} pairs from {source} are longer than dpo.max_length {max_length}; dropped")
    return kept, dropped
