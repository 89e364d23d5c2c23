"""Synthetic corpus: valid arguments from classic schemes, rendered as Argdown, deterministic from a seed.

Each argument becomes one small .argdown text: the argument with its gist and
its premise-conclusion structure (inference lines name the rule and the
premises used), then a small map that places it among an objection. The
schemes are logically valid by construction; the content is drawn from a
lexicon of everyday and technical claims, so only the form carries the
inference.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# (subject, [(affirmed predicate, denied predicate), ...]) -> atomic claims and their negations.
LEXICON = [
    ("the reactor", [("overheats", "does not overheat"), ("is shut down", "is not shut down")]),
    ("the alarm", [("sounds", "does not sound"), ("is armed", "is not armed")]),
    ("the bridge", [("is closed", "is not closed"), ("carries heavy trucks", "does not carry heavy trucks")]),
    ("the harvest", [("fails", "does not fail"), ("is stored in time", "is not stored in time")]),
    ("the council", [("raises taxes", "does not raise taxes"), ("approves the budget", "does not approve the budget")]),
    ("the patient", [("has a fever", "does not have a fever"), ("takes the medicine", "does not take the medicine")]),
    ("the river", [("floods the valley", "does not flood the valley"), ("freezes over", "does not freeze over")]),
    ("the museum", [("opens on Sunday", "does not open on Sunday"), ("gets new funding", "does not get new funding")]),
    ("the experiment", [("is replicated", "is not replicated"), ("supports the hypothesis", "does not support the hypothesis")]),
    ("the train", [("arrives late", "does not arrive late"), ("is cancelled", "is not cancelled")]),
    ("the company", [("hires new staff", "does not hire new staff"), ("reports a profit", "does not report a profit")]),
    ("the witness", [("tells the truth", "does not tell the truth"), ("was at the scene", "was not at the scene")]),
    ("the satellite", [("loses power", "does not lose power"), ("sends data", "does not send data")]),
    ("the school", [("extends its hours", "does not extend its hours"), ("hires a nurse", "does not hire a nurse")]),
    ("the vaccine", [("is approved", "is not approved"), ("reduces infections", "does not reduce infections")]),
    ("the market", [("crashes", "does not crash"), ("recovers by spring", "does not recover by spring")]),
    ("the dam", [("holds", "does not hold"), ("is inspected", "is not inspected")]),
    ("the election", [("is postponed", "is not postponed"), ("has a high turnout", "does not have a high turnout")]),
    ("the garden", [("gets enough rain", "does not get enough rain"), ("produces tomatoes", "does not produce tomatoes")]),
    ("the software", [("passes its tests", "does not pass its tests"), ("is released", "is not released")]),
    ("the treaty", [("is ratified", "is not ratified"), ("limits emissions", "does not limit emissions")]),
    ("the festival", [("sells out", "does not sell out"), ("moves indoors", "does not move indoors")]),
    ("the lake", [("is polluted", "is not polluted"), ("is safe for swimming", "is not safe for swimming")]),
    ("the ferry", [("runs tonight", "does not run tonight"), ("is fully booked", "is not fully booked")]),
]
# (plural kind, singular kind, property, individual) for quantified schemes.
KINDS = [
    ("whales", "whale", "mammals", "Moby"), ("metals", "metal", "conductors of electricity", "this copper wire"),
    ("primes above two", "prime above two", "odd numbers", "seven"), ("squares", "square", "rectangles", "this tile"),
    ("judges", "judge", "bound by the constitution", "Judge Okafor"), ("birds", "bird", "vertebrates", "Tweety"),
    ("citizens", "citizen", "entitled to vote at eighteen", "Ana"), ("bachelors", "bachelor", "unmarried", "Rupert"),
    ("roses", "rose", "flowering plants", "the rose by the gate"), ("violins", "violin", "string instruments", "the Stradivarius"),
    ("planets", "planet", "in orbit around a star", "Mars"), ("oaks", "oak", "deciduous trees", "the old oak"),
]


@dataclass
class Claim:
    text: str
    negation: str


def _claims(rng: random.Random, n: int) -> list[Claim]:
    subjects = rng.sample(LEXICON, n)
    out = []
    for subject, predicates in subjects:
        pos, neg = rng.choice(predicates)
        out.append(Claim(f"{subject} {pos}", f"{subject} {neg}"))
    return out


def _s(text: str) -> str:
    """Sentence case with a final full stop."""
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _if(a: str, b: str) -> str:
    return _s(f"if {a}, then {b}")


# Each scheme: rng -> (name, premises, [(rule, uses, conclusion), ...]); the last conclusion is the main one.
def modus_ponens(rng):
    a, b = _claims(rng, 2)
    return "modus ponens", [_if(a.text, b.text), _s(a.text)], [("modus ponens", [1, 2], _s(b.text))]


def modus_tollens(rng):
    a, b = _claims(rng, 2)
    return "modus tollens", [_if(a.text, b.text), _s(b.negation)], [("modus tollens", [1, 2], _s(a.negation))]


def hypothetical_syllogism(rng):
    a, b, c = _claims(rng, 3)
    return ("hypothetical syllogism", [_if(a.text, b.text), _if(b.text, c.text)],
            [("hypothetical syllogism", [1, 2], _if(a.text, c.text))])


def disjunctive_syllogism(rng):
    a, b = _claims(rng, 2)
    return ("disjunctive syllogism", [_s(f"either {a.text} or {b.text}"), _s(a.negation)],
            [("disjunctive syllogism", [1, 2], _s(b.text))])


def contraposition(rng):
    a, b = _claims(rng, 2)
    return "contraposition", [_if(a.text, b.text)], [("contraposition", [1], _if(b.negation, a.negation))]


def constructive_dilemma(rng):
    a, b, c = _claims(rng, 3)
    return ("constructive dilemma", [_s(f"either {a.text} or {b.text}"), _if(a.text, c.text), _if(b.text, c.text)],
            [("constructive dilemma", [1, 2, 3], _s(c.text))])


def destructive_dilemma(rng):
    a, b, c, d = _claims(rng, 4)
    return ("destructive dilemma",
            [_if(a.text, c.text), _if(b.text, d.text), _s(f"either {c.negation} or {d.negation}")],
            [("destructive dilemma", [1, 2, 3], _s(f"either {a.negation} or {b.negation}"))])


def chain(rng):
    """A multi-step argument with intermediate conclusions (modus ponens, repeated)."""
    steps = rng.randint(2, 3)
    claims = _claims(rng, steps + 1)
    premises = [_s(claims[0].text)]
    inferences = []
    number = 1
    for k in range(steps):
        premises_so_far = number + 1  # the conditional about to be stated
        inferences.append(("modus ponens", [number, premises_so_far], _s(claims[k + 1].text),
                           _if(claims[k].text, claims[k + 1].text)))
        number = premises_so_far + 1
    return "chained modus ponens", premises, inferences


def universal_instantiation(rng):
    plural, singular, prop, name = rng.choice(KINDS)
    return ("universal instantiation", [_s(f"all {plural} are {prop}"), _s(f"{name} is a {singular}")],
            [("universal instantiation", [1, 2], _s(f"{name} is {prop}"))])


def universal_modus_tollens(rng):
    plural, singular, prop, name = rng.choice(KINDS)
    return ("universal modus tollens", [_s(f"all {plural} are {prop}"), _s(f"{name} is not {prop}")],
            [("universal modus tollens", [1, 2], _s(f"{name} is not a {singular}"))])


def categorical_syllogism(rng):
    (p1, s1, prop1, _), (p2, s2, prop2, name) = rng.sample(KINDS, 2)
    return ("universal instantiation, twice",
            [_s(f"all {p1} are {prop1}"), _s(f"all {p2} are {prop2}"), _s(f"{name} is a {s1} and a {s2}")],
            [("universal instantiation", [1, 3], _s(f"{name} is {prop1}")),
             ("universal instantiation", [2, 3], _s(f"{name} is {prop2}"))])


SCHEMES = [modus_ponens, modus_tollens, hypothetical_syllogism, disjunctive_syllogism, contraposition,
           constructive_dilemma, destructive_dilemma, chain, universal_instantiation, universal_modus_tollens,
           categorical_syllogism]


def _title(rng: random.Random, scheme: str, index: int) -> str:
    word = rng.choice(["Argument", "Case", "Reasoning", "Inference", "Proof"])
    return f"{scheme.capitalize()} {word} {index}"


@dataclass
class Drawn:
    """One generated argument: what both renderings (Argdown and prose) are made of."""

    title: str
    scheme: str
    premises: list[str]
    inferences: list[tuple]  # (rule, uses, conclusion[, the conditional a chain step states first])
    objection: str


def draw(index: int, rng: random.Random) -> Drawn:
    scheme = rng.choice(SCHEMES)
    name, premises, inferences = scheme(rng)
    title = _title(rng, name, index)
    objection = rng.choice(premises[:2])
    if objection.split()[0] in ("The", "If", "Either", "All"):
        objection = objection[0].lower() + objection[1:]
    return Drawn(title, name, premises, inferences, objection)


def render(index: int, rng: random.Random) -> str:
    """One argument: gist, pcs with rule/uses data, and a small map with an objection."""
    return render_argdown(draw(index, rng))


def render_argdown(arg: Drawn) -> str:
    title, main = arg.title, arg.inferences[-1][2]
    lines = [f"<{title}>: {main[:-1]}, by {arg.scheme}.", ""]
    number = 0
    for p in arg.premises:
        number += 1
        lines.append(f"({number}) {p}")
    for k, step in enumerate(arg.inferences):
        rule, uses, conclusion = step[:3]
        if k == len(arg.inferences) - 1:  # the main conclusion gets a title: the map below refers to it
            conclusion = f"[{title} conclusion]: {conclusion}"
        if len(step) == 4:  # a chain step states its conditional first
            number += 1
            lines.append(f"({number}) {step[3]}")
        uses_text = ", ".join(str(u) for u in uses)
        lines.append(f"-- {rule} {{uses: [{uses_text}]}} --")
        number += 1
        lines.append(f"({number}) {conclusion}")
    lines += [
        "", f"[{title} conclusion]", f"    <+ <{title}>",
        f"    <- <Objection to {title}>: It is doubtful that {arg.objection}",
    ]
    return "\n".join(lines) + "\n"


_OPENINGS = ["Consider the following reasoning.", "Here is an argument worth spelling out.",
             "Someone reasons as follows.", "The case goes like this."]
_ALSO = ["", "Moreover, ", "Also, ", "Furthermore, "]
_SO = ["So ", "Hence ", "It follows that ", "Therefore "]


_COMMON_STARTS = ("The ", "If ", "Either ", "All ", "This ", "Seven ")  # names (Moby, Judge Okafor) keep capitals


def _lower(sentence: str) -> str:
    """A sentence continued after a connective: its first word lower-cased unless it is a name."""
    return sentence[0].lower() + sentence[1:] if sentence.startswith(_COMMON_STARTS) else sentence


def render_prose(arg: Drawn, rng: random.Random) -> tuple[str, str]:
    """The argument as a prose paragraph (its premises, steps and conclusion, the scheme unnamed), and a
    sentence that voices the objection of the map."""
    sentences = [rng.choice(_OPENINGS)]
    for i, p in enumerate(arg.premises):
        also = rng.choice(_ALSO) if i else ""
        sentences.append(also + (_lower(p) if also else p))
    for step in arg.inferences:
        if len(step) == 4:
            sentences.append(rng.choice(_ALSO[1:]) + _lower(step[3]))
        sentences.append(rng.choice(_SO) + _lower(step[2]))
    return " ".join(sentences), f"Not everyone is convinced. It is doubtful that {arg.objection}"


def generate_sources(seed: int, count: int) -> list[tuple[str, str]]:
    """``count`` (label, Argdown text) pairs; the same seed always gives the same texts."""
    rng = random.Random(seed)
    return [(f"synthetic/seed-{seed}/{i:05d}.argdown", render(i, rng)) for i in range(1, count + 1)]


def generate_documents(seed: int, count: int) -> list[tuple[str, str]]:
    """``count`` (label, Markdown text) pairs: each argument as prose, then its reconstruction in a fence, then
    the objection in prose and the map in a fence. The fenced code is exactly ``generate_sources``'s units, and
    each fence's prose context is the input an evaluation item needs (text -> reconstruction, text -> map)."""
    from .argdown.lines import source_lines, top_level_units

    rng = random.Random(seed)
    out = []
    for i in range(1, count + 1):
        arg = draw(i, rng)
        text = render_argdown(arg)
        lines = source_lines(text)
        units, _ = top_level_units(text)
        reconstruction, argument_map = ("\n".join(lines[u.first - 1:u.last]) + "\n" for u in units)
        paragraph, objection = render_prose(arg, random.Random(f"{seed}/{i}/prose"))
        out.append((f"synthetic/seed-{seed}/{i:05d}.md",
                    f"{paragraph}\n\n```argdown\n{reconstruction}```\n\n{objection}\n\n```argdown\n{argument_map}```\n"))
    return out


# -- propositional arguments for Z3: valid and invalid forms, in prose and formalised ---------------------------------
# Each form: (name, valid, premises, conclusion) over atoms a, b, c; a formula is (SMT-LIB, English) built from
# the atoms' claims.
def _forms(a: Claim, b: Claim, c: Claim) -> list[tuple[str, bool, list[tuple[str, str]], tuple[str, str]]]:
    A, B, C = ("a", a.text), ("b", b.text), ("c", c.text)

    def if_(x, y):
        return f"(=> {x[0]} {y[0]})", f"if {x[1]}, then {y[1]}"

    def not_(x, claim):
        return f"(not {x[0]})", claim.negation

    def or_(x, y):
        return f"(or {x[0]} {y[0]})", f"either {x[1]} or {y[1]}"

    return [
        ("modus ponens", True, [if_(A, B), A], B),
        ("modus tollens", True, [if_(A, B), not_(B, b)], not_(A, a)),
        ("hypothetical syllogism", True, [if_(A, B), if_(B, C)], if_(A, C)),
        ("disjunctive syllogism", True, [or_(A, B), not_(A, a)], B),
        ("constructive dilemma", True, [or_(A, B), if_(A, C), if_(B, C)], C),
        ("affirming the consequent", False, [if_(A, B), B], A),
        ("denying the antecedent", False, [if_(A, B), not_(A, a)], not_(B, b)),
        ("affirming a disjunct", False, [or_(A, B), A], not_(B, b)),
        ("converse", False, [if_(A, B)], if_(B, A)),
        ("fallacious chain", False, [if_(A, B), if_(A, C)], if_(B, C)),
    ]


def logic_argument(index: int, rng: random.Random) -> tuple[str, bool, str, str]:
    """One propositional argument: (form, valid, prose, SMT-LIB script). The script declares one Boolean per
    atomic claim used, asserts the premises and the negated conclusion: unsat exactly when the form is valid."""
    a, b, c = _claims(rng, 3)
    name, valid, premises, conclusion = rng.choice(_forms(a, b, c))
    used = [(atom, claim) for atom, claim in (("a", a), ("b", b), ("c", c))
            if any(re.search(rf"\b{atom}\b", f) for f, _ in [*premises, conclusion])]
    opening = rng.choice(["Consider this argument.", "Someone argues as follows.", "Here is a piece of reasoning."])
    prose = " ".join([opening] + [_s(text) for _, text in premises]
                     + [f"{rng.choice(['Therefore', 'So', 'Hence'])}, {conclusion[1]}."])
    lines = [f"; {atom}: {claim.text}" for atom, claim in used]
    lines += [f"(declare-const {atom} Bool)" for atom, _ in used]
    lines += [f"(assert {f})" for f, _ in premises] + [f"(assert (not {conclusion[0]}))", "(check-sat)"]
    return name, valid, prose, "\n".join(lines) + "\n"


VALIDITY_FENCE = "smt2 validity"  # the fence info that marks a formalisation task (evaluate.bench_items)


def logic_documents(seed: int, count: int) -> list[tuple[str, str]]:
    """``count`` (label, Markdown) pairs: an argument in prose, then its formalisation for Z3 in a fence."""
    rng = random.Random(seed)
    out = []
    for i in range(1, count + 1):
        _, _, prose, script = logic_argument(i, rng)
        out.append((f"synthetic-logic/seed-{seed}/{i:05d}.md", f"{prose}\n\n```{VALIDITY_FENCE}\n{script}```\n"))
    return out
