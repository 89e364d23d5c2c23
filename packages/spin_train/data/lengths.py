"""One length limit for the epoch: what generation can answer and what the DPO phase can train on.

The generator has a context (vLLM's ``--max-model-len``, else the checkpoint's) and the DPO phase has
``dpo.max_length``. TRL truncates a pair longer than that and silently drops one whose prompt alone
reaches it, so the pair count would overstate what trained. Instead, a prompt is generated only when
it leaves room for ``max_tokens`` within both limits, and at mix time each pair, with the ids it trains on
(tokens.py), is dropped, counted per source, when it does not fit.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

from ..config import GenerationConfig, RunConfig


def context_length(cfg: GenerationConfig, checkpoint: str) -> Optional[int]:
    """The context the generator has: vLLM's --max-model-len, else the checkpoint's max_position_embeddings
    (local folder); None when unknown (an external server: it answers 4xx to what does not fit)."""
    if cfg.backend == "vllm" and cfg.vllm_option("--max-model-len"):
        return int(cfg.vllm_option("--max-model-len"))
    config = Path(checkpoint) / "config.json"
    if cfg.backend != "openai" and config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    return None


def generation_limit(cfg: RunConfig, checkpoint: str) -> int:
    """Tokens a prompt and its answer may take: the generator's context and the DPO phase's max_length."""
    context = context_length(cfg.generation, checkpoint)
    return min(context, cfg.dpo.max_length) if context else cfg.dpo.max_length


def render_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a chat prompt followed by the assistant turn's opening (as DPOTrainer tokenizes it)."""
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def too_long(items: list[dict], tokenizer, limit: int, max_tokens: int) -> set[str]:
    """Ids of the prompts whose tokens plus max_tokens exceed ``limit``."""
    return {it["id"] for it in items if len(render_prompt_ids(tokenizer, it["prompt"])) + max_tokens > limit}


def pair_length(pair: dict) -> int:
    """Tokens of the longer of prompt + chosen and prompt + rejected, as trained (a pair with its ids)."""
    return len(pair["prompt_ids"]) + max(len(pair["chosen_ids"]), len(pair["rejected_ids"]))


def fitting_pairs(pairs: list[dict], max_length: int) -> tuple[list[dict], dict[str, int]]:
    """(the pairs, with their ids, that fit ``max_length``; pairs dropped per source)."""
    kept, dropped = [], Counter()
    for pair in pairs:
        if pair_length(pair) <= max_length:
            kept.append(pair)
        else:
            dropped[pair["source"]] += 1
    return kept, dict(dropped)
