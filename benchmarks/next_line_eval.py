"""Next-line evaluation stopped at the line break against whole answers: the same hits, and how much faster.

For each model (default: the plain base and the one-epoch demo's checkpoint), a vLLM server as the run starts it
(configs/smollm2-vllm.yaml's arguments), the demo's 600 next-line prompts answered greedily two ways
(evaluate's ``fast_next_line``), each on its own server:
- ``whole``: as before, every answer whole (up to 48 tokens), in waves of ``--batch`` in the sample's order, on
  a server as it was before: the KV cache it had (``--before-kv`` GiB), vLLM's default CPU binding (a core
  kept for its scheduler);
- ``fast``: answers stop at the line break (the few whose first line is a hit are fetched whole), prompts in
  prefix waves (a snippet's shorter prompt computed and cached before its longer ones arrive), all handed over at
  once with the config's evaluation.batch_size in flight, on the config's server (vllm_env: no core kept).
The order alternates per round. Reports the seconds of each (the next-line part alone), their ratio, and
whether the per-prompt hits (exact, Argdown-aware, first line) are identical.

    python benchmarks/next_line_eval.py [--models runs/base/SmolLM2-135M-Instruct runs/demo/spin/epoch-01/checkpoint]
        [--batch 64] [--rounds 1] [--out runs/next-line-eval.json]
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import options
from options import ROOT



def measure(model: Path, args) -> dict:
    import dataclasses

    from spin_train.run.children import Children
    from spin_train.config import load
    from spin_train.evaluation.checkpoint import evaluate
    from spin_train.serving.server import VLLMServer

    cfg = load(ROOT / "configs" / "smollm2-vllm.yaml")
    e = cfg.evaluation
    g = dataclasses.replace(cfg.generation, vllm_python=str(ROOT / cfg.generation.vllm_python))
    # the way before on its own server as it was: the KV cache it had (GiB; 4 GiB measured no faster for either
    # way) and vLLM's default binding (a core kept for the scheduler)
    settings = {"whole": dataclasses.replace(g, vllm_env={"VLLM_CPU_KVCACHE_SPACE": args.before_kv}), "fast": g}
    work = args.work / model.name
    runs: dict[str, list[dict]] = {"whole": [], "fast": []}
    for r in range(args.rounds):
        for how in (["whole", "fast"] if r % 2 == 0 else ["fast", "whole"]):
            # one server at a time (an idle one still holds threads), started as a run starts it
            with VLLMServer(str(model), settings[how], work / how / "vllm.log", 0, [], Children(work / how / "pids"),
                            socket=work / how / "private" / "vllm.sock") as server:
                only = dataclasses.replace(e, dataset=args.data, k=1, max_prompts=1, max_tokens=8, samples=1, seed=0,
                                           next_line_prompts=args.prompts,
                                           batch_size=args.batch if how == "whole" else e.batch_size)
                result = evaluate(only, server=f"{server.url}#{server.name}", fast_next_line=how == "fast")["next_line"]
                runs[how].append(result)
                print(f"{model}: {how} {result['seconds']} s", flush=True)
    whole, stopped = runs["whole"][0], runs["fast"][0]
    same = {key: all(r[key] == whole[key] for rs in runs.values() for r in rs)
            for key in ("hits", "argdown_hits", "first_line_hits")}
    seconds = {how: statistics.median(r["seconds"] for r in rs) for how, rs in runs.items()}
    return {"model": str(model), "prompts": whole["prompts"], "seconds": seconds,
            "speedup": seconds["whole"] / seconds["fast"], "identical": same,
            "exact": sum(whole["hits"]), "argdown": sum(whole["argdown_hits"]), "argdown_n": len(whole["argdown_hits"]),
            "first_line": sum(whole["first_line_hits"]), "wrote_on": sum(stopped["wrote_on"])}


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--models", type=Path, nargs="+", default=[ROOT / "runs/base/SmolLM2-135M-Instruct",
                                                               ROOT / "runs/demo-spin-one-epoch/epoch-01/checkpoint"])
    ap.add_argument("--data", default=str(options.DATA))
    ap.add_argument("--prompts", type=int, default=600)
    ap.add_argument("--batch", type=int, default=64, help="requests in flight the way before (the fast way: the "
                    "config's evaluation.batch_size)")
    ap.add_argument("--before-kv", default="1", help="the way before: its server's VLLM_CPU_KVCACHE_SPACE (GiB)")
    options.rounds(ap, 1)
    ap.add_argument("--work", type=Path, default=ROOT / "runs/next-line-eval")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/next-line-eval.json")
    args = ap.parse_args()
    results = [measure(m, args) for m in args.models]
    args.out.write_text(json.dumps(results, indent=1))
    print("| model | prompts | whole | fast | speed-up | identical hits (exact, Argdown-aware, first line) | "
          "exact | Argdown-aware | first line (lenient) | stopped at a line break |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s, same = r["seconds"], r["identical"]
        print(f"| {r['model']} | {r['prompts']} | {s['whole']:.0f} s | {s['fast']:.0f} s | {r['speedup']:.2f}x | "
              f"{same['hits']}, {same['argdown_hits']}, {same['first_line_hits']} | {r['exact']} | "
              f"{r['argdown']}/{r['argdown_n']} | {r['first_line']} | {r['wrote_on']} |")


if __name__ == "__main__":
    main()
