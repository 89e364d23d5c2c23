"""Loading the policy and its tokenizer the same way in every phase.

The config's revision applies to the base model only (later epochs load local
checkpoints); a chat template given in the config replaces the tokenizer's,
and is saved with every checkpoint so all epochs render prompts alike.
Remote code runs only if the config asks (``model.trust_remote_code``).
"""

from __future__ import annotations

from argdown_lbl.errors import UserError

from ..config import ModelConfig
from ..sources import MODEL_HINT, load_failure, require


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str = "auto") -> str:
    """``auto``: CUDA when present, else CPU; an explicit device must exist (``cuda`` without a GPU is an error)."""
    import torch

    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UserError(f"device {device!r}: {exc} (expected auto, cpu, cuda or cuda:N)") from None
    if parsed.type == "cuda" and not cuda_available():
        raise UserError(f"device {device!r}: CUDA is not available on this machine (use auto or cpu)")
    return device


def _kwargs(path: str, cfg: ModelConfig) -> dict:
    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.revision and path == cfg.path:
        kwargs["revision"] = cfg.revision
    return kwargs


def load_tokenizer(path: str, cfg: ModelConfig):
    from transformers import AutoTokenizer

    require(path, "model", MODEL_HINT)
    try:
        tok = AutoTokenizer.from_pretrained(path, **_kwargs(path, cfg))
    except OSError as exc:  # transformers' "not a local folder and not on the Hub", missing files, offline
        raise load_failure(path, "model", exc) from None
    if cfg.chat_template:
        tok.chat_template = cfg.chat_template
    if tok.chat_template is None:
        raise UserError(f"{path}: the tokenizer has no chat template; set model.chat_template in the config")
    return tok


def load_model(path: str, cfg: ModelConfig, device: str | None = None):
    """The causal LM at ``path``; on ``device`` when given (training leaves placement to the Trainer)."""
    import torch
    from transformers import AutoModelForCausalLM

    require(path, "model", MODEL_HINT)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, cfg.dtype), **_kwargs(path, cfg))
    except OSError as exc:
        raise load_failure(path, "model", exc) from None
    return model.to(resolve_device(device)) if device else model
