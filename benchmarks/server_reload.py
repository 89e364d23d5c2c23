"""A new checkpoint into the run's vLLM server: reloaded in place against a restart, in one run.

Uses the run's own code (serving.Serving): a server is started on checkpoint A, then B is loaded into it
(reload), and the same again with ``generation.vllm_reload: false`` (restart: stop, start on B). Reports
the seconds of each (a restart includes stopping the old server and waiting for /health and /v1/models),
their ratio, and whether the reloaded server's probe answers (greedy and seeded, with token log-probs)
equal the restarted one's.

    python benchmarks/server_reload.py --data runs/demo/argdown_line-by-line [--tied]

builds two tiny 128-wide checkpoints (different seeds; untied embeddings unless --tied: vllm 0.32's own
reload leaves a tied LM head stale, which serving/run_server.py repairs with refresh_tied_lm_head) or takes
``--models A B``.
`make vllm` first.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import options

VLLM_ARGS = ["--dtype", "float32", "--max-model-len", "1024", "--enforce-eager", "--no-enable-chunked-prefill",
             "--max-num-batched-tokens", "16384"]


def build(out: Path, data: Path, seed: int, tied: bool) -> str:
    from spin_train.data.rows import load_rows
    from spin_train.training.tiny import init_tiny

    init_tiny(out, load_rows(data, limit=300), steps=30, vocab_size=600, hidden=128, layers=2, max_length=512,
              seed=seed, log=lambda m: None, tie_embeddings=tied)
    return str(out)


def loads(tmp: Path, name: str, a: str, b: str, reload: bool, python: str, force: bool) -> dict:
    """Start on ``a``, then load ``b``; -> the serving record of the second load."""
    from spin_train.run.children import Children
    from spin_train.config import from_dict
    from spin_train.run.run_dir import RunDir
    from spin_train.serving.run_server import Serving

    cfg = from_dict({"model": {"path": a}, "train_mixture": [{"path": "unused", "type": "selfplay"}],
                     "curriculum": {"examples_per_epoch": 1, "weights": [{"unused": 1}]},
                     "generation": {"backend": "vllm", "vllm_python": python,
                                    "vllm_args": VLLM_ARGS, "vllm_env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
                                    "vllm_reload": reload}})
    run = RunDir(tmp / name)
    run.root.mkdir(parents=True)
    serving = Serving(cfg, run, Children(run.children_dir(), log=lambda m: None), log=print)
    if force:  # --tied: reload anyway, to show what vLLM's in-place reload does with tied embeddings
        serving.reload_refusal = lambda checkpoint: None
    try:
        serving.load(a, 1)
        serving.load(b, 2)
    finally:
        serving.close()
    records = [json.loads(line) for line in serving.log_path.open()]
    return {"start": records[0], "second": records[1]}


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--data", type=Path, default=options.DATA)
    ap.add_argument("--models", nargs=2, metavar=("A", "B"))
    ap.add_argument("--tied", action="store_true", help="build tied-embedding checkpoints and reload them anyway")
    options.vllm_python(ap)
    args = ap.parse_args()
    from spin_train.serving.run_server import probes_equal

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        a, b = args.models or (build(tmp / "a", args.data, 0, args.tied), build(tmp / "b", args.data, 1, args.tied))
        reloaded = loads(tmp, "reload", a, b, True, args.vllm_python, args.tied)
        restarted = loads(tmp, "restart", a, b, False, args.vllm_python, False)
    r, s = reloaded["second"], restarted["second"]
    assert r["how"] == "reload" and s["how"] == "restart", (r["how"], s["how"])
    print(f"first start: {reloaded['start']['seconds']:.1f} s and {restarted['start']['seconds']:.1f} s")
    print(f"{'load of B':12} {'seconds':>8}")
    print(f"{'reload':12} {r['seconds']:8.2f}\n{'restart':12} {s['seconds']:8.2f}")
    print(f"restart / reload: {s['seconds'] / r['seconds']:.0f}x")
    print(f"probes after the reload equal a fresh server's on B: {probes_equal(r['probe'], s['probe'])}")
    print(f"probes changed from A to B: {not probes_equal(reloaded['start']['probe'], r['probe'])}")


if __name__ == "__main__":
    main()
