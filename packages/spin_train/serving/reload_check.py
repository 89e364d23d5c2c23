"""Whether the vLLM server computes with the weights the trainer saved.

A server that reloads a checkpoint in place (run_server.py) is trusted by no one but this check. When the DPO
phase saves a checkpoint, its training processes also write ``probe_logprobs.json`` there: the saved weights'
log-probabilities of every token of a few fixed chat sequences, teacher-forced (under ZeRO-3 every rank takes
part in the forward, rank 0 writes). After a load, the server's log-probabilities of the same tokens
(``/v1/completions`` with ``prompt_logprobs``) must agree within a tolerance; a reload that left any weight
stale moves them by orders of magnitude more (docs/spin-train.md, *The vLLM server*).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

FILE = "probe_logprobs.json"
# Chat turns whose tokens the check scores: Argdown, plain English, a formula (none depends on the data)
SEQUENCES = [
    [{"role": "user", "content": "Reconstruct the argument."},
     {"role": "assistant", "content": "(1) Socrates is a man.\n(2) All men are mortal.\n----\n(3) Socrates is mortal."}],
    [{"role": "user", "content": "Write the next line of this Argdown map:\n[Taxes]: Taxes should rise."},
     {"role": "assistant", "content": "  <+ <Schools>: Schools need the money."}],
    [{"role": "user", "content": "Is (p -> q) & p -> q valid?"}, {"role": "assistant", "content": "Yes: modus ponens."}],
]
TOLERANCE = {"float32": 1e-3}  # max |difference| of a token's log-prob; 16-bit weights: 0.1 (kernels round)
TOLERANCE_16_BIT = 0.1


def token_ids(tokenizer) -> list[list[int]]:
    return [list(tokenizer.apply_chat_template(turns, tokenize=True, return_dict=True)["input_ids"])
            for turns in SEQUENCES]


def trainer_logprobs(model, tokenizer) -> dict:
    """The model's log-prob of every token after the first, per sequence (teacher-forced, no grad)."""
    import torch

    out = {"token_ids": token_ids(tokenizer), "logprobs": [],
           "dtype": str(next(model.parameters()).dtype).removeprefix("torch.")}
    device = next(model.parameters()).device
    with torch.no_grad():
        for ids in out["token_ids"]:
            x = torch.tensor([ids], device=device)
            logits = model(input_ids=x).logits[0, :-1].float()
            scores = logits.log_softmax(-1).gather(1, x[0, 1:, None])[:, 0]
            out["logprobs"].append([round(v, 6) for v in scores.tolist()])
    return out


def write(path: Path, data: dict) -> None:
    (path / FILE).write_text(json.dumps(data) + "\n", encoding="utf-8")


def read(checkpoint: str) -> Optional[dict]:
    """The trainer's probe log-probs of a checkpoint the DPO phase wrote (None for any other)."""
    try:
        return json.loads((Path(checkpoint) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def tolerance(expected: dict, override: Optional[float] = None) -> float:
    return override if override is not None else TOLERANCE.get(expected.get("dtype", ""), TOLERANCE_16_BIT)


def server_logprobs(server, token_ids: list[list[int]]) -> list[list[float]]:
    """The served model's log-prob of every token after the first, per sequence (vLLM's prompt_logprobs)."""
    out = []
    for ids in token_ids:
        body = {"model": server.name, "prompt": ids, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0}
        reply = server.request("POST", "/v1/completions", json=body, timeout=120)
        reply.raise_for_status()
        positions = reply.json()["choices"][0]["prompt_logprobs"][1:]  # the first token has none
        out.append([position[str(token)]["logprob"] for position, token in zip(positions, ids[1:])])
    return out


def compare(expected: dict, served: list[list[float]]) -> float:
    """The largest |difference| between the trainer's and the server's log-probs (inf if shapes differ)."""
    if [len(s) for s in served] != [len(e) for e in expected["logprobs"]]:
        return float("inf")
    return max((abs(a - b) for s, e in zip(served, expected["logprobs"]) for a, b in zip(s, e)), default=0.0)
