"""A checkpoint's evaluation (``spin-train eval``, the evaluate phase): next-line match and the Argdown Bench on a
dataset's test split, answered by a local model or by an OpenAI-compatible server; and its table."""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Callable, Optional

from ..config import ConfigError, EvaluationConfig, GenerationConfig, ModelConfig
from .bench import BenchItem, bench, load_bench, stratified
from .next_line import LINE_BREAK, next_line, tenths


def evaluate(cfg: EvaluationConfig, model: Optional[str] = None, *, server: Optional[str] = None,
             model_cfg: Optional[ModelConfig] = None, device: str = "auto", tokenizer: Optional[str] = None,
             split: str = "test", log: Optional[Callable[[str], None]] = None, fast_next_line: bool = True) -> dict:
    """Both evaluations of ``cfg`` (its dataset, configs, sizes and seed) on the test split (``split``:
    validation, to tune), answered by a local checkpoint (``model``, loaded by ``model_cfg`` on ``device``) or
    by an OpenAI-compatible server (``server``: URL#MODEL).
    ``cfg.samples`` per bench item (default 2k, at least k) at temperature 0.7; greedy answers for next-line match
    and graph similarity. ``cfg.max_prompts`` bench items and ``cfg.next_line_prompts`` (default: max_prompts)
    next-line prompts, ``cfg.batch_size`` prompts at a time (a server: requests in flight).
    ``fast_next_line``: next lines stop at the line break, with the same hits, in prefix waves (``next_line``),
    and a server gets all of them at once, keeping ``batch_size`` requests in flight instead of waiting for each
    wave's slowest answer (a local model keeps ``batch_size``: its batch is one padded tensor); False: every
    answer whole, in waves of ``batch_size`` in the sample's order (as before 2026-12-06;
    benchmarks/next_line_eval.py compares the two). ``tokenizer``: the served model's folder, to tell (as a local
    model does) whether ``max_tokens`` can hold any Bench reference answer; when it cannot, the Bench is not run
    and says why (``bench.not_measured``), instead of scoring zeros."""
    k, seed, batch, max_tokens = cfg.k, cfg.seed, cfg.batch_size, cfg.max_tokens
    n = cfg.samples or 2 * k
    if n < k:
        raise ConfigError(f"evaluation.samples (--samples): {n} samples cannot estimate pass@{k}; use at least {k} "
                          f"(2k = {2 * k} or more keeps the estimate's variance low)")
    names = cfg.configs or _config_names(cfg.dataset)
    rows, items, dropped = load_bench(cfg.dataset, names, split)
    rng = random.Random(seed)
    line_rows = [r for r in rows if r.get("element") != "end"]
    rng.shuffle(line_rows)
    items = stratified(items, cfg.max_prompts, rng)
    backend = _answerer(model, server, model_cfg, device, max_tokens, batch)
    sampled = GenerationConfig(k=n, temperature=0.7, max_tokens=max_tokens)
    greedy = GenerationConfig(k=1, temperature=0.0, max_tokens=max_tokens)
    whole = GenerationConfig(k=1, temperature=0.0, max_tokens=cfg.next_line_max_tokens)
    short = dataclasses.replace(whole, stop=[LINE_BREAK]) if fast_next_line else whole
    started = time.perf_counter()
    line_rows = line_rows[:cfg.next_line_prompts or cfg.max_prompts]
    at_once = bool(server and fast_next_line)  # a server keeps `batch` in flight: no wave waits for its slowest
    extra = {"done": tenths(len(line_rows), log)} if at_once and log else {}
    try:
        lines = next_line(lambda ps: [_first(c) for c in backend.generate(ps, seed, short, **extra)], line_rows,
                          len(line_rows) if at_once else batch, log,
                          (lambda ps: [_first(c) for c in backend.generate(ps, seed, whole)]) if fast_next_line
                          else None, by_prefix=fast_next_line)
        lines["seconds"] = round(time.perf_counter() - started, 1)
        why = out_of_reach(items, max_tokens, model or tokenizer, model_cfg)
        scores = {"not_measured": why, "prompts": len(items), "k": k} if why else \
            bench(lambda ps: [[s.text for s in c] for c in backend.generate(ps, seed, sampled)],
                  lambda ps: [_first(c).text for c in backend.generate(ps, seed, greedy)], items, k, batch)
        return {"model": server or model, "dataset": cfg.dataset, "configs": names, "seed": seed, "split": split,
                "next_line": lines,
                "bench": {**scores, "dropped_items": dropped}}  # per config and reason (bench_items)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()


def out_of_reach(items: list[BenchItem], max_tokens: int, tokenizer: Optional[str], model_cfg=None) -> Optional[str]:
    """Why no Bench answer of ``max_tokens`` tokens could be whole (every reference answer is longer), or None
    (one could, or no tokenizer to tell)."""
    if not items or not tokenizer:
        return None
    from ..training.models import load_tokenizer
    from .floors import reference_answer

    tok = load_tokenizer(tokenizer, model_cfg or ModelConfig(path=tokenizer))
    shortest = min(len(tok.encode(reference_answer(it), add_special_tokens=False)) for it in items)
    if max_tokens >= shortest:
        return None
    return (f"max_tokens {max_tokens} is below the shortest reference answer of its {len(items)} items "
            f"({shortest} tokens): no answer could be whole")


def _first(candidates):
    """The first Sample; an empty answer for a prompt the server refused."""
    from ..serving.backends import Sample

    return candidates[0] if candidates else Sample("")


def _answerer(model_path, server, model_cfg, device, max_tokens, batch):
    """A local checkpoint (on the GPU when present) or an OpenAI-compatible server (URL#MODEL)."""
    import os

    from ..serving.backends import LocalBackend, OpenAIBackend

    if server:
        from argdown_lbl.chat_client import Endpoint

        try:
            endpoint = Endpoint.parse(server)
        except ValueError as exc:
            raise ConfigError(f"--server: {exc}") from None
        cfg = GenerationConfig(backend="openai", url=endpoint.url, max_tokens=max_tokens, concurrency=batch)
        return OpenAIBackend(endpoint.url, endpoint.model, cfg, os.environ.get("OPENAI_API_KEY"))
    model_cfg = model_cfg or ModelConfig(path=model_path)
    return LocalBackend(model_path, GenerationConfig(max_tokens=max_tokens, device=device), model_cfg)


def _config_names(dataset: str) -> list[str]:
    from pathlib import Path

    from argdown_lbl.dataset_folder import card_config_names

    from ..sources import load_failure

    if Path(dataset).exists():
        return card_config_names(Path(dataset))
    from datasets import get_dataset_config_names

    try:
        return get_dataset_config_names(dataset)
    except Exception as exc:  # offline, unknown id, no access
        raise load_failure(dataset, "dataset", exc) from None


def table(result: dict) -> str:
    nl, b = result["next_line"], result["bench"]

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    k = b["k"]
    lines = [f"model {result['model']}",
             f"  next line ({nl['prompts']} prompts): exact {f(nl['exact_match'])}, argdown-aware "
             f"{f(nl['argdown_match'])}" + (f", first line (lenient) {f(nl['first_line_match'])}"
                                            if "first_line_match" in nl else "")]
    if b.get("not_measured"):
        return "\n".join(lines + [f"  Argdown Bench ({b['prompts']} prompts): not measured, {b['not_measured']}"])
    lines.append(f"  Argdown Bench ({b['prompts']} prompts, {b['samples']} samples each, k={k}): solved@1 "
                 f"{f(b['solved@1'])}, solved@{k} {f(b[f'solved@{k}'])}, pass@1 {f(b['pass@1'])}, "
                 f"pass@{k} {f(b[f'pass@{k}'])}, graph similarity {f(b['graph_similarity'])}, structure similarity "
                 f"{f(b['structure_similarity'])}, GED similarity "
                 f"{f(b['ged_similarity'])} ({b['ged_prompts']} graphs), isomorphic {f(b['isomorphic'])}")
    for name, c in {**b.get("per_task", {}), **b.get("per_config", {})}.items():
        lines.append(f"    {name} (n={c['prompts']}): solved@1 {f(c['solved@1'])}, solved@{k} {f(c[f'solved@{k}'])}, "
                     f"pass@1 {f(c['pass@1'])}, pass@{k} {f(c[f'pass@{k}'])}, graph similarity "
                     f"{f(c['graph_similarity'])}, isomorphic {f(c['isomorphic'])}")
    return "\n".join(lines)
