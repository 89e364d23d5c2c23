"""The Argdown Bench (see docs/evaluation.md for the definitions).

From every held-out Argdown snippet with prose before it (the closing row of a snippet in the test split
carries the whole snippet and its context), a task: reconstruct the text as the snippet's kind (map or
premise-conclusion structure); repairs and Z3 formalisations besides. n >= k samples per prompt (2k by
default); pass@1 and pass@k (unbiased estimator) of answers of the task's form about the item (``passes``:
validity and form), solved@1 and solved@k of answers that also come near the reference (``in_substance``:
graph similarity >= 0.5; a repair: the reference's model back; a formalisation: when it passes); on one
greedy answer, content-aware and content-blind graph similarity, edge F1, a normalised graph edit distance and
isomorphism. Overall, per task and per dataset config. checkpoint.py asks a model; next_line.py is the other
measure.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Callable, Optional

from argdown_lbl.argdown import parse
from argdown_lbl.synthetic import VALIDITY_FENCE
from argdown_lbl.graphs import content_similarity, edge_f1, ged_similarity, isomorphic, match_nodes, \
    structure_similarity

from ..config import ConfigError
from ..data.filtering import without_positions

# What each task asks for; the item's text follows.
BENCH_INSTRUCTIONS = {
    "map": "Reconstruct the argumentation of the text below as an Argdown argument map (statements and arguments "
           "with their support and attack relations), inside a fenced ```argdown block.",
    "reconstruction": "Reconstruct the argument of the text below as an Argdown premise-conclusion structure "
                      "(numbered premises, inference lines, the conclusion last), inside a fenced ```argdown block.",
    "z3": "Formalise the argument below for Z3 in SMT-LIB: one Boolean constant per atomic claim, named a, b, c in "
          "the order the claims first appear, the premises and the negation of the conclusion asserted, then "
          "(check-sat), so that Z3 answers unsat exactly when the argument is valid. Write the script inside a "
          "fenced ```smt2 block.",
    "repair": "The Argdown snippet below does not parse. Repair it: write the corrected snippet, changing as little "
              "as needed, inside a fenced ```argdown block.",
}
# Ways to break a valid snippet; a repair item uses one (seeded per snippet) that the parser rejects.
MUTATIONS = {
    "blank line before the premises removed": lambda c: re.sub(r"(^<[^>\n]+>[^\n]*)\n\n(\(1\))", r"\1\n\2", c,
                                                               count=1, flags=re.M),
    "a relation's indentation removed": lambda c: re.sub(r"^( +)(<?[+\-_]>?) ", r"\2 ", c, count=1, flags=re.M),
    "the conclusion removed": lambda c: re.sub(r"\n\(\d+\)[^\n]*\n?$", "\n", c.rstrip("\n") + "\n"),
    "a data block left open": lambda c: re.sub(r"\}", "", c, count=1),
    "an inference line shortened": lambda c: re.sub(r"^-{4,}\s*$", "--", c, count=1, flags=re.M),
}
# A sample that passes solves an Argdown item when its graph is at least this similar to the reference's.
SOLVED_SIMILARITY = 0.5
_FENCE = re.compile(r"```argdown[^\n]*\n(.*?)(?:```|\Z)", re.S)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k); 0 when no sample passed (or none was drawn)."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: expected 0 <= c <= n, got n={n}, c={c}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def task_kind(gold) -> str:
    """What an item asks for, read off its reference: a premise-conclusion reconstruction or a map."""
    return "reconstruction" if any(a.pcs for a in gold.arguments.values()) else "map"


def has_form(doc, kind: str) -> bool:
    """The answer parses and has the task's form: a map has at least 2 nodes and 1 relation; a
    reconstruction has an argument with a premise, an inference line and a conclusion below it."""
    if not doc.ok:
        return False
    if kind == "reconstruction":
        return any(a.pcs and a.pcs[-1].inference is not None and len(a.pcs) >= 2 for a in doc.arguments.values())
    return len(doc.statements) + len(doc.arguments) >= 2 and bool(doc.relations)


def passes(doc, gold) -> bool:
    """A pass: the task was done. The answer has the form the reference ``gold`` has (``has_form``) and is
    about the item: at least one of its nodes says what a reference node says (graphs.match_nodes).

    Any plain text is valid Argdown (a statement), so validity alone would count prose as a pass; form
    alone would count a fixed map, whatever the input."""
    return has_form(doc, task_kind(gold)) and bool(match_nodes(doc.to_networkx(), gold.to_networkx()))


def argdown_blocks(answer: str) -> list[str]:
    """The contents of ```argdown fences in a model's answer (an unclosed last fence runs to the end)."""
    return _FENCE.findall(answer)


def extract_argdown(answer: str) -> str:
    blocks = argdown_blocks(answer)
    return blocks[0] if blocks else answer


@dataclass
class BenchItem:
    id: str
    source: str
    context: str
    gold: str
    config: str = ""  # the dataset config it comes from (the per-config breakdown)
    task: str = "map"  # or "reconstruction": the reference's kind (task_kind)

    @property
    def prompt(self) -> list[dict]:
        if self.task == "repair":  # the context is the broken snippet
            return [{"role": "user", "content": f"{BENCH_INSTRUCTIONS['repair']}\n\n```argdown\n{self.context}```"}]
        return [{"role": "user", "content": f"{BENCH_INSTRUCTIONS[self.task]}\n\nText:\n{self.context}"}]


# What a formalisation may do: declare, define, assert and check. Anything else (options that name output files,
# includes) is not run.
Z3_COMMANDS = {"declare-const", "declare-fun", "define-fun", "assert", "check-sat", "push", "pop"}
_SMT_FENCE = re.compile(r"```smt2[^\n]*\n(.*?)(?:```|\Z)", re.S)


def _top_level(script: str) -> list[tuple[str, str]]:
    """(command word, whole s-expression) of every top-level s-expression (comments and strings skipped)."""
    out, depth, start, i = [], 0, 0, 0
    script = re.sub(r";[^\n]*", "", script)
    while i < len(script):
        ch = script[i]
        if ch == '"':
            i = script.find('"', i + 1)
            if i < 0:
                break
        elif ch == "(":
            start = i if depth == 0 else start
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                expr = script[start:i + 1]
                out.append((re.match(r"\(\s*([^\s()]*)", expr).group(1), expr))
        i += 1
    return out


def _assertions(commands: list[tuple[str, str]]) -> list[str]:
    return [expr[expr.index("assert") + len("assert"):-1].strip() for word, expr in commands if word == "assert"]


def _equivalent(x: list[str], y: list[str]) -> bool:
    """Whether the conjunctions of two lists of formulas over a, b, c agree on every assignment."""
    from argdown_lbl.z3check import run_smtlib

    atoms = "".join(f"(declare-const {a} Bool)" for a in "abc")
    same = run_smtlib(f"{atoms}(assert (not (= (and {' '.join(x)} true) (and {' '.join(y)} true))))(check-sat)")
    return not same.errors and same.verdicts == ["unsat"]


def z3_passes(answer: str, gold: str) -> bool:
    """The answer's script (its first ```smt2 fence, else all of it) only declares, asserts and checks, runs
    without errors, and formalises this argument: its premises (every assertion but the last) are equivalent
    to the reference's, and so is its last assertion (the negated conclusion). Comparing the whole conjunction
    would not do: for every valid argument it is simply false."""
    from argdown_lbl.z3check import run_smtlib

    blocks = _SMT_FENCE.findall(answer)
    script = blocks[0] if blocks else answer
    got, want = _top_level(script), _top_level(gold)
    if not got or not {word for word, _ in got} <= Z3_COMMANDS or "check-sat" not in {w for w, _ in got}:
        return False
    if run_smtlib(script).errors:
        return False
    mine, theirs = _assertions(got), _assertions(want)
    return bool(mine) and _equivalent(mine[:-1], theirs[:-1]) and _equivalent(mine[-1:], theirs[-1:])


def repair_item(item: BenchItem) -> Optional[BenchItem]:
    """The item's reference broken by one mutation (seeded by its id) that the parser rejects; None when
    none of them breaks it. The answer must give back a snippet of the reference's form, about it."""
    names = sorted(MUTATIONS)
    random.Random(f"repair/{item.id}").shuffle(names)
    for name in names:
        broken = MUTATIONS[name](item.gold)
        if broken != item.gold and not parse(broken).ok:
            return BenchItem(f"{item.id}#repair", item.source, broken, item.gold, item.config, "repair")
    return None


def bench_items(rows: list[dict], dropped: Optional[dict] = None, seen: frozenset = frozenset()) -> list[BenchItem]:
    """From the closing row of every valid Argdown snippet: its context (headings and the prose before it) is
    the input, the snippet the reference, its kind (map or reconstruction) the task; and a repair item of
    the same snippet (``repair_item``).

    A snippet without prose before it gives no item (nothing to reconstruct from), nor does one that fails
    its own checks (a map without a relation, say), nor one whose input or snippet is in ``seen`` (the
    train split's, ``seen_texts``: two arguments with the same prose, two snippets under one heading);
    ``dropped`` counts them per config and reason."""
    items = []
    for row in rows:
        parts = _closing(row)
        if parts is None:
            continue
        language, context, code = parts
        if language == "smt2":
            if context and context not in seen:
                items.append(BenchItem(row["snippet_id"], row["source"], context, code, row.get("config", ""), "z3"))
            continue
        gold = parse(code)
        why = "no input" if not context else "input or snippet also in the train split" \
            if context in seen or code in seen else None if passes(gold, gold) else "fails its own checks"
        if why:
            if dropped is not None:
                counts = dropped.setdefault(row.get("config", ""), {})
                counts[why] = counts.get(why, 0) + 1
            continue
        item = BenchItem(row["snippet_id"], row["source"], context, code, row.get("config", ""), task_kind(gold))
        items += [item] + [r for r in [repair_item(item)] if r]
    return items


def seen_texts(rows: list[dict]) -> frozenset:
    """The inputs and snippets of ``rows`` (a train split) that a bench item must not repeat."""
    return frozenset(text for row in rows for text in (_closing(row) or ("", "", ""))[1:] if text)


def _closing(row: dict) -> Optional[tuple[str, str, str]]:
    """(language, context, snippet) of a valid snippet's closing row with a fence the bench uses, else None."""
    if row.get("element") != "end" or not row.get("valid", True):
        return None
    if row.get("language") == "smt2" and row.get("fence_info") == VALIDITY_FENCE:
        opener = "```smt2\n"
    elif row.get("language") == "argdown":
        opener = "```argdown\n"
    else:
        return None
    head, sep, code = row["prompt"][-1]["content"].rpartition(opener)
    if not sep:
        return None
    context = head.split("Context:\n", 1)[1].strip() if "Context:\n" in head else ""
    return row["language"], context, code


def bench(sample: Callable[[list[list[dict]]], list[list[str]]], greedy: Callable[[list[list[dict]]], list[str]],
          items: list[BenchItem], k: int, batch: int = 4) -> dict:
    """Argdown Bench over ``items``: pass@1 and pass@k from the samples ``sample`` draws per item (n of them,
    n >= 2k for an unbiased pass@k), graph similarity and isomorphism of the greedy answer; overall and per
    dataset config, each with its n."""
    scores = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        prompts = [it.prompt for it in chunk]
        for item, answers, best in zip(chunk, sample(prompts), greedy(prompts)):
            scores.append((item, _item_scores(answers, best, item.gold, k, item.task)))
    out = _summary(scores, k)
    out["per_task"] = {name: _summary([s for s in scores if s[0].task == name], k)
                       for name in sorted({it.task for it, _ in scores})}
    out["per_config"] = {name: _summary([s for s in scores if s[0].config == name], k)
                         for name in sorted({it.config for it, _ in scores})}
    return out


def bench_of(items: list[BenchItem], answer: Callable[[BenchItem], str], k: int = 1) -> dict:
    """The bench with ``answer(item)`` as every sample and as the greedy answer (floors and ceilings)."""
    cursor = {"sample": 0, "greedy": 0}

    def take(which, prompts):  # bench asks for a chunk's samples, then for its greedy answers, in item order
        start = cursor[which]
        cursor[which] += len(prompts)
        return items[start:start + len(prompts)]

    return bench(lambda ps: [[answer(it)] * max(2, k) for it in take("sample", ps)],
                 lambda ps: [answer(it) for it in take("greedy", ps)], items, k)


def _at(n: int, passed: int, solved: int, k: int) -> dict:
    """pass@1, pass@k, solved@1 and solved@k of n samples (the same unbiased estimator for both)."""
    return {"samples": n, "pass@1": pass_at_k(n, passed, 1), "pass@k": pass_at_k(n, passed, min(k, n)),
            "solved@1": pass_at_k(n, solved, 1), "solved@k": pass_at_k(n, solved, min(k, n))}


def in_substance(doc, gold, task: str, reference) -> bool:
    """Whether a sample that passes (``passes``) also solves its Argdown item, the task done in substance
    and not only in form: its graph is at least SOLVED_SIMILARITY like the ``reference`` graph (content-aware
    similarity); a repair gives back the reference's model (positions aside), since its input already holds
    the reference's text (rebuilding a structure from the input's sentences reaches the similarity without
    repairing)."""
    if task == "repair":
        return without_positions(doc.to_json()) == without_positions(gold.to_json())
    return content_similarity(doc.to_networkx(), reference) >= SOLVED_SIMILARITY


def _item_scores(answers: list[str], best: str, gold_text: str, k: int, task: str = "map") -> dict:
    if task == "z3":  # checked by running; no graph to compare: a formalisation that passes solves the item
        c = sum(z3_passes(a, gold_text) for a in answers)
        return {**_at(len(answers), c, c, k), "graph_similarity": None,
                "structure_similarity": None, "edge_f1": None, "isomorphic": None, "ged_similarity": None}
    gold = parse(gold_text)
    reference = gold.to_networkx()
    docs = [parse(extract_argdown(a)) for a in answers]
    passing = [d for d in docs if passes(d, gold)]
    solved = sum(in_substance(d, gold, task, reference) for d in passing)
    first = parse(extract_argdown(best))
    scores = {**_at(len(docs), len(passing), solved, k), "graph_similarity": 0.0,
              "structure_similarity": 0.0, "edge_f1": 0.0, "isomorphic": 0.0, "ged_similarity": 0.0}
    if passes(first, gold):  # a greedy answer that did not do the task scores 0 on every measure
        graph = first.to_networkx()
        scores.update(graph_similarity=content_similarity(graph, reference),
                      structure_similarity=structure_similarity(graph, reference),
                      edge_f1=edge_f1(graph, reference), isomorphic=float(isomorphic(graph, reference)),
                      ged_similarity=ged_similarity(graph, reference))
    return scores


def _summary(scores: list[tuple[BenchItem, dict]], k: int) -> dict:
    n = len(scores)

    def mean(key):  # over the items the measure applies to (no graph for a formalisation)
        values = [s[key] for _, s in scores if s[key] is not None]
        return sum(values) / len(values) if values else None

    known = [s["ged_similarity"] for _, s in scores if s["ged_similarity"] is not None]
    return {"prompts": n, "k": k, "samples": min((s["samples"] for _, s in scores), default=0),
            "pass@1": mean("pass@1"), f"pass@{k}": mean("pass@k"),
            "solved@1": mean("solved@1"), f"solved@{k}": mean("solved@k"), "graph_similarity": mean("graph_similarity"),
            "structure_similarity": mean("structure_similarity"), "edge_f1": mean("edge_f1"),
            "ged_similarity": sum(known) / len(known) if known else None, "ged_prompts": len(known),
            "isomorphic": mean("isomorphic")}


def stratified(items: list[BenchItem], n: int, rng: random.Random) -> list[BenchItem]:
    """A seeded sample of ``n`` items taking the configs in turn, so that a config with many items (the
    synthetic ones) does not crowd out the hand-written ones."""
    groups = {}
    for item in items:
        groups.setdefault(item.config, []).append(item)
    queues = [groups[name] for name in sorted(groups)]
    for queue in queues:
        rng.shuffle(queue)
    out = []
    while len(out) < n and any(queues):
        for queue in queues:
            if queue and len(out) < n:
                out.append(queue.pop())
    return out


def load_bench(dataset: str, names: list[str], split: str = "test") -> tuple[list[dict], list[BenchItem], dict]:
    """(rows, bench items, dropped counts) of some configs of a dataset's ``split`` (test; validation for
    choices made while tuning): the items come from that split and repeat nothing of the train split
    (``seen_texts``)."""
    from argdown_lbl.dataset_folder import load

    from ..sources import load_failure

    rows, train = [], []
    for name in names:
        try:
            splits = load(dataset, name=name)
        except Exception as exc:  # datasets raises many types; one line naming the dataset is what helps
            raise load_failure(dataset, "dataset", exc) from None
        if split not in splits:
            raise ConfigError(f"{dataset}: config {name} has no {split} split (it has {sorted(splits)})")
        rows += [dict(r, config=name) for r in splits[split]]
        train += splits["train"] if "train" in splits else []
    dropped: dict = {}
    return rows, bench_items(rows, dropped, seen_texts(train)), dropped
