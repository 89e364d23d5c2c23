"""The mapping stages, each a plain function over a ``ChatClient`` (Logikon's method, our prompts).

1. ``central_issue``: three drafts of the text's central issue as a question, each rated on three
   criteria (``ISSUE_CRITERIA``); the best mean rating wins.
2. ``pros_cons``: the decision options, one root claim per option and its pros and cons, mined as JSON
   (guided by a JSON schema where the server supports it, parsed forgivingly otherwise), then
   critiqued and revised (``revisions`` rounds; a revision that does not parse keeps the list).
3. ``relevance``: the relevance network. Reason -> root edges take their valence from the pros and
   cons list; reason -> reason edges (every target, at most ``max_sources`` sources each) take it from
   dialectical equivalence (``equivalent``). Weights come from a ``weights`` function: the model's
   multiple-choice probabilities (``llm_weight``) or an NLI classifier (``nli.NLIClient``).

Whatever a model writes, a stage returns a well-formed value (possibly empty) and never raises on content.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..chat_client import ChatClient, RequestRejected

ISSUE_PROMPT = (
    "Read the following text. State the central issue the text is about as one neutral question of at most "
    "20 words (the question its author wants to settle). Answer with the question only.\n\nText:\n{text}"
)
ISSUE_CRITERIA = {
    "faithful": "captures what the text as a whole argues about",
    "neutral": "is neutral: it does not presuppose or favour an answer",
    "clear": "is short, clear and answerable",
}
ISSUE_RATING_PROMPT = (
    "Text:\n{text}\n\nProposed central issue: {issue}\n\nThe formulation {criterion}. How far is that true? "
    "Rate from 1 (not at all) to 5 (fully). Answer with one digit."
)
PROS_CONS_PROMPT = (
    "Text:\n{text}\n\nCentral issue: {issue}\n\n"
    "List the answers (options) to the issue that the text considers. For each option, state the central claim "
    "that answers the issue that way, and under it every reason the text gives for it (pros) and against it "
    "(cons), each with a short label and as one self-contained sentence. Use at most {max_reasons} reasons in all "
    "and only reasons the text states. Answer in JSON: "
    '{{"options": ["..."], "roots": [{{"claim": "...", "pros": [{{"label": "...", "text": "..."}}], '
    '"cons": [{{"label": "...", "text": "..."}}]}}]}}'
)
CRITIQUE_PROMPT = (
    "Text:\n{text}\n\nCentral issue: {issue}\n\nPros and cons list:\n{listing}\n\n"
    "Check the list against the text: reasons the text does not give, reasons it gives that are missing, "
    "duplicates, reasons that state several reasons at once, and pros that speak against their claim or cons "
    "that speak for it. List the problems briefly."
)
REVISE_PROMPT = (
    "Text:\n{text}\n\nCentral issue: {issue}\n\nPros and cons list:\n{listing}\n\nCritique:\n{critique}\n\n"
    "Revise the list so that it meets the critique. Answer in the same JSON format."
)
VALENCE_PROMPT = (
    "Claim A: {source}\nClaim B: {target}\n\nIf A is true, how does that bear on B?\n"
    "(A) it speaks for B\n(B) it speaks against B\nAnswer with the letter only."
)
STRENGTH_PROMPT = (
    "Claim A: {source}\nClaim B: {target}\n\nDoes A directly {verb} B?\n(A) yes\n(B) no\n"
    "Answer with the letter only."
)
RATING_PROMPT = (
    "Claim A: {source}\nClaim B: {target}\n\n"
    "How strongly does A {verb} B? Rate from 0 (not at all) to 9 (decisively). Answer with one digit."
)
_REASON_SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}, "text": {"type": "string"}},
                  "required": ["label", "text"]}
PROS_CONS_SCHEMA = {
    "type": "object",
    "properties": {
        "options": {"type": "array", "items": {"type": "string"}},
        "roots": {"type": "array", "items": {
            "type": "object",
            "properties": {"claim": {"type": "string"}, "pros": {"type": "array", "items": _REASON_SCHEMA},
                           "cons": {"type": "array", "items": _REASON_SCHEMA}},
            "required": ["claim", "pros", "cons"]}},
    },
    "required": ["options", "roots"],
}
_LINE = re.compile(r"^\s*(CLAIM|PRO|CON)\s*[:\-]\s*(.+?)\s*$", re.I | re.M)
_DIGIT = re.compile(r"\d")
SUPPORT, ATTACK = "support", "attack"


@dataclass(frozen=True)
class Reason:
    label: str
    text: str
    valence: str  # "pro" | "con": towards its root, as the pros and cons list has it
    root: int = 0  # index of its root claim


@dataclass
class ProsCons:
    roots: list[str]  # the central claims, one per option
    reasons: list[Reason]
    options: list[str] = field(default_factory=list)

    def listing(self) -> str:
        return json.dumps(to_json(self), ensure_ascii=False)


@dataclass
class Edge:
    source: str  # reason label
    target: str  # reason label or root id (``root_id``)
    valence: str  # "support" | "attack"
    weight: float  # in [0, 1]
    method: str  # "logprobs" | "rating" | "nli" | "default"


def root_id(index: int) -> str:
    return f"__root{index}__"


# -- 1. central issue -----------------------------------------------------------------------------------------

def central_issue(client: ChatClient, text: str, drafts: int = 3, seed: int = 0) -> tuple[str, list[str], list[float]]:
    """(chosen issue, drafts, mean rating per draft in [0, 1]); the first draft wins ties."""
    choices = client.complete([{"role": "user", "content": ISSUE_PROMPT.format(text=text)}], n=drafts,
                              max_tokens=64, temperature=0.8, seed=seed)
    options = [c.text.strip().splitlines()[0].strip() if c.text.strip() else "" for c in choices]
    options = [o for o in dict.fromkeys(options) if o] or ["What does the text argue for?"]
    if len(options) == 1:
        return options[0], options, [1.0]
    scores = [sum(_digit_score(client, ISSUE_RATING_PROMPT.format(text=text, issue=o, criterion=c), 1, 5, seed)
                  for c in ISSUE_CRITERIA.values()) / len(ISSUE_CRITERIA) for o in options]
    best = max(range(len(options)), key=lambda i: (scores[i], -i))
    return options[best], options, scores


def _digit_score(client: ChatClient, prompt: str, low: int, high: int, seed: int) -> float:
    """A rating in [0, 1]: the expected digit under the logprobs, else the digit written, else the middle."""
    choice = client.complete([{"role": "user", "content": prompt}], max_tokens=2, temperature=0.0, logprobs=True,
                             seed=seed)[0]
    probs = _letter_probs(choice, [str(d) for d in range(low, high + 1)])
    if probs:
        expected = sum(int(d) * p for d, p in probs.items()) / sum(probs.values())
        return (expected - low) / (high - low)
    m = _DIGIT.search(choice.text)
    digit = int(m.group()) if m and low <= int(m.group()) <= high else None
    return (digit - low) / (high - low) if digit is not None else 0.5


def _letter_probs(choice, answers: list[str]) -> dict[str, float]:
    """Probability mass of each answer token at the first generated position ({} without logprobs)."""
    if not choice.top_logprobs:
        return {}
    mass = {a: 0.0 for a in answers}
    for token, logprob in choice.top_logprobs[0].items():
        t = token.strip().strip("()").upper()
        if t in mass:
            mass[t] += math.exp(logprob)
    return mass if sum(mass.values()) > 0 else {}


# -- 2. pros and cons ---------------------------------------------------------------------------------------------

def guided(mode: str) -> Optional[dict]:
    """Request fields that make a server's output follow ``PROS_CONS_SCHEMA``: the OpenAI ``response_format``
    (vLLM, TGI, llama.cpp), vLLM's older ``guided_json``, or nothing."""
    if mode == "response_format":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "pros_cons", "schema": PROS_CONS_SCHEMA}}}
    if mode == "guided_json":
        return {"guided_json": PROS_CONS_SCHEMA}
    return None


def _ask_json(client: ChatClient, prompt: str, guidance: dict, seed: int) -> str:
    """One answer meant to be JSON. When the server rejects the guided request (a 4xx) but answers the same
    request without guidance, guidance is dropped for this server from then on."""
    messages = [{"role": "user", "content": prompt}]
    mode = guidance.get("mode", "off")
    if mode != "off":
        try:
            return client.complete(messages, max_tokens=1024, temperature=0.2, seed=seed, extra=guided(mode))[0].text
        except RequestRejected:
            plain = client.complete(messages, max_tokens=1024, temperature=0.2, seed=seed)[0].text  # may raise too
            guidance["mode"] = "off"  # the guidance was what the server refused
            return plain
    return client.complete(messages, max_tokens=1024, temperature=0.2, seed=seed)[0].text


def pros_cons(client: ChatClient, text: str, issue: str, max_reasons: int = 8, revisions: int = 1, seed: int = 0,
              guidance: Optional[dict] = None) -> ProsCons:
    """Mine the pros and cons list, then ``revisions`` rounds of critique and revision."""
    guidance = guidance if guidance is not None else {"mode": "off"}
    found = parse_pros_cons(_ask_json(client, PROS_CONS_PROMPT.format(text=text, issue=issue, max_reasons=max_reasons),
                                      guidance, seed), max_reasons)
    for round_ in range(revisions):
        if not found.reasons:
            break
        critique = client.complete([{"role": "user", "content": CRITIQUE_PROMPT.format(
            text=text, issue=issue, listing=found.listing())}], max_tokens=512, temperature=0.2, seed=seed + round_)[0]
        revised = parse_pros_cons(_ask_json(client, REVISE_PROMPT.format(
            text=text, issue=issue, listing=found.listing(), critique=critique.text.strip()), guidance,
            seed + round_), max_reasons)
        if revised.reasons:  # a revision that lost every reason (or does not parse) keeps the list
            found = revised
    return found


def parse_pros_cons(raw: str, max_reasons: int) -> ProsCons:
    """The JSON answer (the first object in it), else ``CLAIM:``/``PRO:``/``CON:`` lines (each CLAIM opens a
    root). Reasons without text, repeated labels or texts (also across roots) are dropped."""
    data = _first_json_object(raw)
    if isinstance(data, dict) and isinstance(data.get("roots"), list):
        entries = []
        for root in data["roots"]:
            if isinstance(root, dict):
                entries.append((_string(root.get("claim")),
                                [("pro", r) for r in _list(root.get("pros"))] + [("con", r) for r in _list(root.get("cons"))]))
        options = [o for o in (_string(o) for o in _list(data.get("options"))) if o]
    else:
        entries, options = [], []
        for kind, body in _LINE.findall(raw):
            if kind.upper() == "CLAIM" or not entries:
                entries.append((body.strip() if kind.upper() == "CLAIM" else "", []))
            if kind.upper() != "CLAIM":
                label, sep, sentence = body.partition("|")
                entries[-1][1].append((kind.lower(), {"label": label if sep else "", "text": sentence if sep else label}))
    return _collect(entries, options, max_reasons)


def _collect(entries, options, max_reasons) -> ProsCons:
    roots, reasons, seen = [], [], set()
    for claim, items in entries:
        if not claim:
            continue
        roots.append(claim)
        for valence, item in items:
            sentence = _string(item.get("text")) if isinstance(item, dict) else ""
            label = (_string(item.get("label")) if isinstance(item, dict) else "")[:60] or sentence[:40]
            if not sentence or label.lower() in seen or sentence.lower() in seen:
                continue
            seen.update({label.lower(), sentence.lower()})
            reasons.append(Reason(label, sentence, valence, len(roots) - 1))
    return ProsCons(roots, reasons[:max_reasons], options)


def to_json(found: ProsCons) -> dict:
    return {"options": found.options, "roots": [
        {"claim": claim, "pros": [{"label": r.label, "text": r.text} for r in found.reasons if r.root == i
                                  and r.valence == "pro"],
         "cons": [{"label": r.label, "text": r.text} for r in found.reasons if r.root == i and r.valence == "con"]}
        for i, claim in enumerate(found.roots)]}


def _first_json_object(raw: str):
    start = raw.find("{")
    while start >= 0:
        try:
            return json.JSONDecoder().raw_decode(raw[start:])[0]
        except ValueError:
            start = raw.find("{", start + 1)
    return None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _string(value) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


# -- 3. relevance network -----------------------------------------------------------------------------------------

Weights = Callable[[str, str, str], tuple[float, str]]  # (source text, target text, valence) -> (weight, method)


def equivalent(a: Reason, b: Reason) -> bool:
    """Dialectical equivalence relative to the root claims (taken to exclude each other): under one root, the
    same valence; under different roots, opposite valences."""
    return (a.valence == b.valence) == (a.root == b.root)


def relevance(found: ProsCons, weights: Weights, max_sources: int = 20, seed: int = 0) -> list[Edge]:
    """Every reason -> its root (valence from the list) and, for every target reason, at most ``max_sources``
    other reasons -> it (a seeded sample when there are more; valence by ``equivalent``), each weighed."""
    edges = []
    for r in found.reasons:
        valence = SUPPORT if r.valence == "pro" else ATTACK
        edges.append(Edge(r.label, root_id(r.root), valence, *weights(r.text, found.roots[r.root], valence)))
    for target in found.reasons:
        sources = [s for s in found.reasons if s is not target]
        if len(sources) > max_sources:
            sources = random.Random(f"{seed}/{target.label}").sample(sources, max_sources)
        for source in sources:
            valence = SUPPORT if equivalent(source, target) else ATTACK
            edges.append(Edge(source.label, target.label, valence, *weights(source.text, target.text, valence)))
    return edges


def llm_weight(client: ChatClient, seed: int = 0) -> Weights:
    """Logikon's multiple-choice weight: P(the given valence | A or B) x P(yes | does A directly support/attack
    B?), from the logprobs; without logprobs, the model's 0-9 rating of that relation (0.5 when unreadable)."""
    def weigh(source: str, target: str, valence: str) -> tuple[float, str]:
        verb = "support" if valence == SUPPORT else "attack"
        first = client.complete([{"role": "user", "content": VALENCE_PROMPT.format(source=source, target=target)}],
                                max_tokens=2, temperature=0.0, logprobs=True, seed=seed)[0]
        p1 = _letter_probs(first, ["A", "B"])
        if p1:
            second = client.complete([{"role": "user", "content": STRENGTH_PROMPT.format(
                source=source, target=target, verb=verb)}], max_tokens=2, temperature=0.0, logprobs=True, seed=seed)[0]
            p2 = _letter_probs(second, ["A", "B"])
            if p2:
                share = p1["A" if valence == SUPPORT else "B"] / sum(p1.values())
                return share * p2["A"] / sum(p2.values()), "logprobs"
        rated = client.complete([{"role": "user", "content": RATING_PROMPT.format(
            source=source, target=target, verb=verb)}], max_tokens=2, temperature=0.0, seed=seed)[0]
        m = _DIGIT.search(rated.text)
        return (int(m.group()) / 9, "rating") if m else (0.5, "default")
    return weigh


def nli_weight(client: ChatClient) -> Weights:
    """An NLI classifier's weight (Logikon's classifier option): P(entailment) of "A, so B" for support,
    P(contradiction) for attack. ``client`` points at a text-embeddings-inference ``/predict`` URL (or any
    endpoint that takes ``{"inputs": [A, B]}`` and answers a score per label)."""
    def weigh(source: str, target: str, valence: str) -> tuple[float, str]:
        scores = nli_scores(client.post({"inputs": [source, target]}, path="", check=nli_unusable))
        return scores["entailment" if valence == SUPPORT else "contradiction"], "nli"
    return weigh


def nli_scores(data) -> dict[str, float]:
    """{"entailment": p, "contradiction": p, ...} from ``[{"label", "score"}, ...]`` (or that list in a list)."""
    items = data[0] if isinstance(data, list) and data and isinstance(data[0], list) else data
    out = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("label"), str) and isinstance(item.get("score"), (int, float)):
            label = item["label"].lower()
            name = "entailment" if label.startswith("entail") else "contradiction" if label.startswith("contra") \
                else label
            out[name] = float(item["score"])
    return out


def nli_unusable(data) -> Optional[str]:
    scores = nli_scores(data)
    missing = {"entailment", "contradiction"} - set(scores)
    return f"the classifier's reply has no {' or '.join(sorted(missing))} score" if missing else None
