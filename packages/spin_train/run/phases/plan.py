"""The plan phase: draw the epoch's selfplay prompts and preference pairs by its curriculum weights."""

from __future__ import annotations

from ..run_dir import write_json
from .context import Context


def plan(ctx: Context, epoch: int) -> dict:
    selfplay, preference, drawn = ctx.mixture.draw(epoch)
    write_json(ctx.run.plan_path(epoch), {"selfplay": selfplay, "preference": preference, "plan": drawn})
    ctx.log(f"epoch {epoch}: planned {len(selfplay)} selfplay prompts, {len(preference)} preference pairs")
    for key, d in drawn.items():
        ctx.log(f"  {key}: weight {d['weight']:g}, requested {d['requested']}, drawn {d['drawn']} "
                f"({d['unique']} rows of {d['rows']}, {d['repeats']} repeats)"
                + (f", dropped {d['dropped']}" if d["dropped"] else ""))
    return {"drawn": drawn, "counts": {"prompts": len(selfplay), "preference": len(preference)}}
