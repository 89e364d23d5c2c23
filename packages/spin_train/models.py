"""Loading the policy and its tokenizer the same way in every phase.

The config's revision applies to the base model only (later epochs load local
checkpoints); a chat template given in the config replaces the tokenizer's,
and is saved with every checkpoint so all epochs render prompts alike.
Remote code runs only if the config asks (``model.trust_remote_code``).
"""

from __future__ import annotations

from .config import ModelConfig


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _kwargs(path: str, cfg: ModelConfig) -> dict:
    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.revision and path == cfg.path:
        kwargs["revision"] = cfg.revision
    return kwargs


def load_tokenizer(path: str, cfg: ModelConfig):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, **_kwargs(path, cfg))
    if cfg.chat_template:
        tok.chat_template = cfg.chat_template
    if tok.chat_template is None:
        raise ValueError(f"{path}: the tokenizer has no chat template; set model.chat_template in the config")
    return tok


def load_model(path: str, cfg: ModelConfig):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, cfg.dtype), **_kwargs(path, cfg))
