"""Floors and ceilings of the Argdown Bench: answers that need no model.

- ``FLOOR_ANSWERS`` know nothing about the item (a fixed map, ``<A>``, the prompt echoed).
- ``HEURISTIC_ANSWERS`` use the item's own text the way a skeptical reviewer of the bench would try
  to game it: its sentences as a map or as a premise-conclusion structure, the task read off the
  prompt, the broken snippet of a repair item back with the lines the parser rejects dropped.
- ``reference_answer`` is the reference itself: 1.0 on every measure.

The bench must score the first two near 0 on solved@1 (tests/test_evaluation.py asserts <= 0.10,
overall and per task); ``benchmarks/bench_floors.py`` prints the table.
"""

from __future__ import annotations

import re

from argdown_lbl.argdown import parse

FLOOR_ANSWERS = {
    "fixed 3-node map": lambda item: "```argdown\n[Claim]: We should act now.\n    <+ <Reason>: Waiting costs "
                                     "more.\n    <- <Objection>: Acting now is risky.\n```",
    "fixed Z3 script (a modus ponens)": lambda item: "```smt2\n(declare-const a Bool)\n(declare-const b Bool)\n"
                                                     "(assert (=> a b))\n(assert a)\n(assert (not b))\n(check-sat)\n```",
    "<A>": lambda item: "```argdown\n<A>\n```",
    "empty fence": lambda item: "```argdown\n```",
    "prompt echoed": lambda item: item.prompt[-1]["content"],
}

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_ARGDOWN_SPECIAL = re.compile(r"[\[\]<>{}#*_`@+\-]")  # characters that would make a sentence Argdown syntax


def sentences(text: str) -> list[str]:
    """The item's prose as plain sentences (headings and Argdown syntax characters left out)."""
    prose = " ".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    out = [_ARGDOWN_SPECIAL.sub(" ", s).strip() for s in _SENTENCE.split(prose)]
    return [re.sub(r"\s+", " ", s) for s in out if len(s.split()) >= 3] or ["Nothing to say here."]


def _last_sentences(item, n: int = 6) -> list[str]:
    """The item's last ``n`` sentences, at least two (a lone sentence twice)."""
    ss = sentences(item.context)[-n:]
    return ss if len(ss) >= 2 else ss * 2


def _fenced(code: str) -> str:
    return f"```argdown\n{code}\n```"


def sentence_map(item) -> str:
    """The first sentence is the claim; every other sentence is an argument for it (maps mostly hold
    arguments, and nodes match only nodes of their kind)."""
    first, *rest = sentences(item.context)
    rest = rest or [first]
    return _fenced(f"[S1]: {first}\n" + "".join(f"    <+ <S{i + 2}>: {s}\n" for i, s in enumerate(rest[:8])))


def chain_map(item) -> str:
    """Every sentence an argument; each supports the one after it, the last is the main one."""
    ss = _last_sentences(item)
    lines = [f"<S{len(ss)}>: {ss[-1]}"] + [f"{'    ' * (len(ss) - i - 1)}<+ <S{i + 1}>: {s}"
                                          for i, s in reversed(list(enumerate(ss[:-1])))]
    return _fenced("\n".join(lines))


def sentence_reconstruction(item) -> str:
    """The sentences as premises, the last one as the conclusion."""
    ss = _last_sentences(item)
    premises = "".join(f"({i + 1}) {s}\n" for i, s in enumerate(ss[:-1]))
    return _fenced(f"<Argument>: {ss[0]}\n\n{premises}-----\n({len(ss)}) {ss[-1]}")


def broken_lines_dropped(snippet: str) -> str:
    """A broken snippet with every line the parser reports dropped (at most five rounds)."""
    for _ in range(5):
        doc = parse(snippet)
        if doc.ok:
            break
        bad = {e.line for e in doc.errors}
        snippet = "\n".join(line for i, line in enumerate(snippet.splitlines(), 1) if i not in bad) + "\n"
    return snippet


def task_matched(item) -> str:
    """What the prompt asks for, from the item's text: a map or a reconstruction of its sentences, the
    repaired snippet with its bad lines dropped, a modus ponens formalisation."""
    if item.task == "repair":
        return _fenced(broken_lines_dropped(item.context).rstrip("\n"))
    if item.task == "z3":
        return FLOOR_ANSWERS["fixed Z3 script (a modus ponens)"](item)
    return sentence_reconstruction(item) if item.task == "reconstruction" else sentence_map(item)


def repair_input_back(item) -> str:
    """The repair item's broken snippet unchanged (other tasks: the text as one statement)."""
    return _fenced(item.context.rstrip("\n") if item.task == "repair" else sentences(item.context)[0])


HEURISTIC_ANSWERS = {
    "sentences as a map (first is the claim)": sentence_map,
    "sentences as a support chain (last is the claim)": chain_map,
    "sentences as a reconstruction": sentence_reconstruction,
    "task read off the prompt (repair: bad lines dropped)": task_matched,
    "the input back": repair_input_back,
}


def reference_answer(item) -> str:
    """The reference, fenced as an answer would be: it must score 1.0 everywhere (the ceiling)."""
    return f"```{'smt2' if item.task == 'z3' else 'argdown'}\n{item.gold}```"
