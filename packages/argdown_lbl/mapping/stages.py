"""The mapping stages, each a plain function over a ``ChatClient``.

1. ``central_issue``: draft several formulations of the text's central issue, let the model pick one.
2. ``reasons``: the central claim and the pros and cons as short labelled claims.
3. ``relevance``: for reason -> central claim and a bounded sample of reason -> reason pairs,
   a support/attack valence and a weight in [0, 1], from token log-probabilities when the
   server gives them, else from a numeric rating prompt.

Parsing is forgiving: whatever a model writes, a stage returns a well-formed
value (possibly empty), never raises on content.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from ..chat_client import ChatClient

ISSUE_PROMPT = (
    "Read the following text. In one short question, state the central issue the text is about "
    "(the question its author wants to settle). Answer with the question only.\n\nText:\n{text}"
)
PICK_PROMPT = (
    "Text:\n{text}\n\nWhich formulation captures the central issue of the text best?\n{options}\n\n"
    "Answer with the number of the best formulation only."
)
REASONS_PROMPT = (
    "Text:\n{text}\n\nCentral issue: {issue}\n\n"
    "Write the central claim the text defends on this issue, then every reason the text gives for or against "
    "it, one per line, in exactly this format:\n"
    "CLAIM: <the central claim in one sentence>\n"
    "PRO: <short label> | <the reason as one sentence>\n"
    "CON: <short label> | <the reason as one sentence>\n"
    "Use at most {max_reasons} reasons."
)
VALENCE_PROMPT = (
    "Claim A: {source}\nClaim B: {target}\n\n"
    "If A is true, does that speak for B or against B? Answer with one word: support or attack."
)
RATING_PROMPT = (
    "Claim A: {source}\nClaim B: {target}\n\n"
    "How strongly does A bear on B, for or against it? Rate from 0 (irrelevant) to 9 (decisive). "
    "Answer with one digit."
)
_LINE = re.compile(r"^\s*(CLAIM|PRO|CON)\s*[:\-]\s*(.+?)\s*$", re.I | re.M)
_NUMBER = re.compile(r"\d+")


@dataclass
class Reason:
    label: str
    text: str
    valence: str  # "pro" | "con" (as the model listed it)


@dataclass
class Edge:
    source: str  # reason label
    target: str  # reason label or "__central__"
    valence: str  # "support" | "attack"
    weight: float  # in [0, 1]
    method: str  # "logprobs" | "rating" | "default"


def central_issue(client: ChatClient, text: str, drafts: int = 3, seed: int = 0) -> tuple[str, list[str]]:
    """(chosen issue, drafts). Falls back to the first non-empty draft when the pick is unreadable."""
    choices = client.complete([{"role": "user", "content": ISSUE_PROMPT.format(text=text)}], n=drafts,
                              max_tokens=64, temperature=0.8, seed=seed)
    options = [c.text.strip().splitlines()[0].strip() if c.text.strip() else "" for c in choices]
    options = [o for o in dict.fromkeys(options) if o] or ["What does the text argue for?"]
    if len(options) == 1:
        return options[0], options
    listing = "\n".join(f"{i}. {o}" for i, o in enumerate(options, 1))
    pick = client.complete([{"role": "user", "content": PICK_PROMPT.format(text=text, options=listing)}],
                           max_tokens=4, temperature=0.0, seed=seed)[0].text
    m = _NUMBER.search(pick)
    index = int(m.group()) - 1 if m else 0
    return options[index if 0 <= index < len(options) else 0], options


def parse_reasons(raw: str, max_reasons: int) -> tuple[str | None, list[Reason]]:
    claim, reasons, seen = None, [], set()
    for kind, body in _LINE.findall(raw):
        kind = kind.upper()
        if kind == "CLAIM":
            claim = claim or body.strip()
            continue
        label, sep, text = body.partition("|")
        label, text = label.strip(), text.strip() if sep else label.strip()
        if not text:
            continue
        label = label[:60] or text[:40]
        if label.lower() in seen:
            continue
        seen.add(label.lower())
        reasons.append(Reason(label, text, "pro" if kind == "PRO" else "con"))
    return claim, reasons[:max_reasons]


def reasons(client: ChatClient, text: str, issue: str, max_reasons: int = 8, seed: int = 0):
    raw = client.complete([{"role": "user", "content": REASONS_PROMPT.format(text=text, issue=issue,
                                                                                max_reasons=max_reasons)}],
                          max_tokens=512, temperature=0.2, seed=seed)[0].text
    return parse_reasons(raw, max_reasons)


def _masses(top: dict[str, float], words: dict[str, tuple[str, ...]]) -> dict[str, float]:
    mass = {k: 0.0 for k in words}
    for token, logprob in top.items():
        t = token.strip().lower()
        for key, prefixes in words.items():
            if t and any(t.startswith(p) or p.startswith(t) and len(t) >= 2 for p in prefixes):
                mass[key] += math.exp(logprob)
    return mass


def valence(client: ChatClient, source: str, target: str, seed: int = 0) -> tuple[str, float | None]:
    """("support"|"attack", confidence from logprobs or None)."""
    choice = client.complete([{"role": "user", "content": VALENCE_PROMPT.format(source=source, target=target)}],
                             max_tokens=2, temperature=0.0, logprobs=True, seed=seed)[0]
    if choice.top_logprobs:
        mass = _masses(choice.top_logprobs[0], {"support": ("support",), "attack": ("attack",)})
        total = mass["support"] + mass["attack"]
        if total > 0:
            winner = max(mass, key=mass.get)
            return winner, mass[winner] / total
    word = choice.text.strip().lower()
    return ("attack" if word.startswith(("att", "against", "con")) else "support"), None


def rating(client: ChatClient, source: str, target: str, seed: int = 0) -> tuple[float, str]:
    """Relevance in [0, 1]: the expected digit under the logprobs, else the digit written, else 0.5."""
    choice = client.complete([{"role": "user", "content": RATING_PROMPT.format(source=source, target=target)}],
                             max_tokens=2, temperature=0.0, logprobs=True, seed=seed)[0]
    if choice.top_logprobs:
        probs = {d: 0.0 for d in range(10)}
        for token, logprob in choice.top_logprobs[0].items():
            t = token.strip()
            if len(t) == 1 and t.isdigit():
                probs[int(t)] += math.exp(logprob)
        total = sum(probs.values())
        if total > 0:
            return sum(d * p for d, p in probs.items()) / total / 9, "logprobs"
    m = re.search(r"\d", choice.text)
    return (int(m.group()) / 9, "rating") if m else (0.5, "default")


def relevance(client: ChatClient, central: str, items: list[Reason], max_pairs: int = 12,
              seed: int = 0) -> list[Edge]:
    """Edges reason -> central claim (all) and reason -> reason (a seeded sample of at most ``max_pairs``)."""
    pairs = [(r, None) for r in items]
    others = [(a, b) for a in items for b in items if a is not b]
    random.Random(seed).shuffle(others)
    pairs += others[:max_pairs]
    edges = []
    for i, (source, target) in enumerate(pairs):
        target_text = central if target is None else target.text
        kind, confidence = valence(client, source.text, target_text, seed + i)
        weight, method = rating(client, source.text, target_text, seed + i)
        if confidence is not None:
            weight, method = weight * confidence, "logprobs"
        edges.append(Edge(source.label, "__central__" if target is None else target.label, kind, weight, method))
    return edges
