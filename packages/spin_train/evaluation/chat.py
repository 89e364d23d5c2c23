"""``spin-train chat CKPT``: a terminal chat with a checkpoint; Argdown in answers is parsed on the spot.

Tokens are streamed as they are generated (transformers' TextIteratorStreamer),
the checkpoint's chat template renders the whole conversation every turn, and
after each answer with Argdown in it the chat says whether it parses and, if
not, where the first error is. ``/reset`` starts over, ``/exit`` (or end of
input) quits.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import TextIO

from argdown_lbl.argdown import parse

from .bench import argdown_blocks

_MARKERS = re.compile(r"^\s*(\[[^\]]+\]:|<[^>]+>:|\(\d+\)\s|[-+]>|<[-+_]|-{2,})", re.M)


def argdown_report(answer: str) -> list[str]:
    """One line per Argdown block in the answer (fenced blocks, else the answer if it looks like Argdown)."""
    blocks = argdown_blocks(answer)
    if not blocks and _MARKERS.search(answer):
        blocks = [answer]
    lines = []
    for i, block in enumerate(blocks, 1):
        doc = parse(block)
        label = f"Argdown block {i}" if len(blocks) > 1 else "Argdown"
        if doc.ok:
            lines.append(f"{label}: parses ({len(doc.statements)} statements, {len(doc.arguments)} arguments, "
                         f"{len(doc.relations)} relations)")
        else:
            e = doc.errors[0]
            lines.append(f"{label}: does not parse: {e.line}:{e.column}: {e.message}")
    return lines


def chat(model_path: str, model_cfg, max_new_tokens: int = 256, temperature: float = 0.7,
         stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, device: str = "auto") -> None:
    import torch
    from transformers import TextIteratorStreamer

    from ..data.lengths import render_prompt_ids
    from ..training.models import load_model, load_tokenizer

    tok, model = load_tokenizer(model_path, model_cfg), load_model(model_path, model_cfg, device=device)
    model.eval()
    messages: list[dict] = []
    stdout.write(f"Chatting with {model_path}. /reset starts over, /exit quits.\n")
    while True:
        stdout.write("you> ")
        stdout.flush()
        line = stdin.readline()
        if not line or line.strip() == "/exit":
            stdout.write("\n")
            return
        if line.strip() == "/reset":
            messages = []
            stdout.write("(conversation reset)\n")
            continue
        messages.append({"role": "user", "content": line.rstrip("\n")})
        ids = torch.tensor([render_prompt_ids(tok, messages)], device=model.device)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                      max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                      temperature=temperature if temperature > 0 else None, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        worker = threading.Thread(target=model.generate, kwargs=kwargs)
        worker.start()
        stdout.write("assistant> ")
        parts = []
        for piece in streamer:
            parts.append(piece)
            stdout.write(piece)
            stdout.flush()
        worker.join()
        answer = "".join(parts).strip()
        stdout.write("\n")
        for report in argdown_report(answer):
            stdout.write(f"  [{report}]\n")
        messages.append({"role": "assistant", "content": answer})
