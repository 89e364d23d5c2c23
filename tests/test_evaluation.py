"""Evaluation measures: pass@k, answer extraction, passes, graph similarity, the chat's Argdown check, and
`spin-train eval` against an OpenAI-compatible server."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from argdown_lbl.argdown import parse
from argdown_lbl.graphs import content_similarity, edge_f1, edge_triples, ged_similarity, isomorphic, match_nodes, \
    structure_similarity
from argdown_lbl.synthetic import generate_sources
from spin_train.evaluation.chat import argdown_report
from json_handler import JSONHandler
from spin_train.evaluation.bench import BENCH_INSTRUCTIONS, bench, bench_items, bench_of, extract_argdown, \
    pass_at_k, passes, seen_texts, z3_passes
from spin_train.evaluation.next_line import next_line
from spin_train.evaluation.floors import FLOOR_ANSWERS, HEURISTIC_ANSWERS, reference_answer

REF = "[A]: Cats purr.\n    <+ <B>: Happy.\n    <- <C>: Not.\n"


def g(text):
    return parse(text).to_networkx()


@pytest.mark.parametrize("answer, content, structure, f1, ged, iso", [
    (REF, 1.0, 1.0, 1.0, 1.0, True),
    ("[A]: Cats purr.\n    <+ <B>: Happy.\n", 0.75, 0.75, 2 / 3, 0.75, False),
    ("[X]: Dogs bark.\n    <+ <Y>: Loud.\n    <- <Z>: Quiet.\n", 0.0, 1.0, 0.0, 0.7, True),  # the shape only
    ("[Other title]: Cats purr.\n    <+ <B>: Happy.\n    <- <C>: Not.\n", 1.0, 1.0, 1.0, 1.0, True),  # by text
    ("Cats purr.\n    <+ Happy.\n    <- Not.\n", 0.2, 0.2, 0.0, 0.8, False),  # statements are not arguments
])
def test_graph_measures_on_the_documented_examples(answer, content, structure, f1, ged, iso):
    assert content_similarity(g(answer), g(REF)) == pytest.approx(content)
    assert structure_similarity(g(answer), g(REF)) == pytest.approx(structure)
    assert edge_f1(g(answer), g(REF)) == pytest.approx(f1)
    assert ged_similarity(g(answer), g(REF)) == pytest.approx(ged)
    assert isomorphic(g(answer), g(REF)) is iso


def test_automatic_titles_never_match_by_name():
    """"Untitled 1" in both graphs says nothing: untitled statements match by their texts only."""
    reference = g("Cats purr.\n    + Cats are happy.\n")
    assert content_similarity(g("Dogs bark.\n    + Dogs are loud.\n"), reference) == 0.0
    assert content_similarity(g("Cats purr.\n    + Cats are happy.\n"), reference) == 1.0
    assert match_nodes(g("[Untitled 1]\n    + x.\n"), reference) == {}  # a title that says nothing


_MAPS = st.lists(st.tuples(st.sampled_from(["Cats purr", "Dogs bark", "Cats are happy", "Birds sing loudly",
                                             "Dogs are loud"]),
                           st.sampled_from(["+", "-"]),
                           st.sampled_from(["Cats purr", "Happy cats", "Loud dogs bark", "Birds sing"])),
                 min_size=1, max_size=4)


def _map(triples) -> str:
    return "".join(f"[{a}]: {a}.\n    {t} [{b}]: {b}.\n\n" for a, t, b in triples)


def _symmetric(measure, x, y) -> bool:
    return measure(g(_map(x)), g(_map(y))) == pytest.approx(measure(g(_map(y)), g(_map(x))))


@settings(max_examples=60, deadline=None)
@given(_MAPS, _MAPS)
def test_every_similarity_is_symmetric(x, y):
    for measure in (content_similarity, structure_similarity, edge_f1):
        assert _symmetric(measure, x, y), measure.__name__


def test_the_symmetry_property_catches_an_asymmetric_measure():
    """The property above, run on a planted asymmetric measure (edge precision), finds a counterexample."""
    from hypothesis import find

    def precision(a, b):
        keys = {n: r for n, (r, _) in match_nodes(a, b).items()}
        got = edge_triples(a, keys)
        return len(got & edge_triples(b)) / len(got) if got else 1.0

    x, y = find(st.tuples(_MAPS, _MAPS), lambda xy: not _symmetric(precision, *xy))
    assert not _symmetric(precision, x, y)


def test_pass_at_k_estimator():
    assert pass_at_k(5, 0, 1) == 0 and pass_at_k(5, 5, 1) == 1
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2) and pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(5, 1, 5) == 1.0
    assert pass_at_k(0, 0, 1) == 0.0 and pass_at_k(0, 0, 5) == 0.0  # no sample drawn: nothing passed
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)


def test_ged_similarity_is_unknown_when_the_timeout_expires_before_a_path(monkeypatch):
    import networkx as nx

    monkeypatch.setattr(nx, "graph_edit_distance", lambda *a, **k: None)  # what networkx returns then
    assert ged_similarity(g("[A]: a.\n  + [B]: b.\n"), g(REF)) is None


def test_a_pass_is_the_task_done_in_the_references_form_and_about_the_item():
    gold = parse(REF)
    assert passes(gold, gold) and not passes(parse("Just some prose."), gold)
    assert not passes(parse("[A]: *unclosed"), gold) and not passes(parse("<A>"), gold)
    assert not passes(parse("[X]: Dogs bark.\n    <+ <Y>: Loud.\n"), gold)  # a map, but of something else
    pcs = parse("<Arg>\n\n(1) Cats purr.\n(2) Purring cats are happy.\n----\n(3) Cats are happy.\n")
    assert passes(pcs, pcs) and not passes(gold, pcs)  # a map where a reconstruction is asked for
    assert not passes(parse("<Arg>\n\n(1) Cats purr.\n(2) Cats are happy.\n"), pcs)  # no inference line
    assert extract_argdown("Here:\n```argdown\n[A]: a.\n```\nDone") == "[A]: a.\n"
    assert extract_argdown("[A]: a.") == "[A]: a."


def test_bench_items_from_closing_rows_and_scores():
    rows = [{"language": "argdown", "element": "end", "valid": True, "snippet_id": "s1", "source": "x.md",
             "prompt": [{"role": "user", "content": "Instr.\n\nContext:\nH\n\nProse.\n\n```argdown\n" + REF}]},
            {"language": "argdown", "element": "statement", "snippet_id": "s1", "source": "x.md",
             "prompt": [{"role": "user", "content": "x"}], "completion": [{"role": "assistant", "content": "[A]: a."}]}]
    no_input = dict(rows[0], prompt=[{"role": "user", "content": "Instr.\n\n```argdown\n" + REF}])
    dropped = {}
    [item, repair] = bench_items([*rows, no_input], dropped)
    assert dropped == {"": {"no input": 1}}  # nothing to reconstruct from: no item
    assert seen_texts(rows) == {"H\n\nProse.", REF}
    assert bench_items(rows, dropped, seen_texts(rows)) == []  # asked in the train split: no item either
    assert dropped == {"": {"no input": 1, "input or snippet also in the train split": 1}}
    assert repair.task == "repair" and repair.gold == REF and not parse(repair.context).ok
    assert repair.prompt[0]["content"].endswith("```argdown\n" + repair.context + "```")
    assert item.gold == REF and item.context == "H\n\nProse." and item.task == "map"
    assert item.prompt[0]["content"] == BENCH_INSTRUCTIONS["map"] + "\n\nText:\nH\n\nProse."
    perfect = bench(lambda prompts: [["```argdown\n" + REF + "```", "prose"] for _ in prompts],
                    lambda prompts: ["```argdown\n" + REF + "```" for _ in prompts], [item], k=2)
    assert perfect["pass@1"] == 0.5 and perfect["pass@2"] == 1.0 and perfect["samples"] == 2
    assert perfect["solved@1"] == 0.5 and perfect["solved@2"] == 1.0
    assert perfect["graph_similarity"] == 1.0 and perfect["isomorphic"] == 1.0  # of the greedy answer
    prose = bench(lambda prompts: [["```argdown\n" + REF + "```"] * 2 for _ in prompts],
                  lambda prompts: ["prose" for _ in prompts], [item], k=2)
    assert prose["pass@1"] == 1.0 and prose["graph_similarity"] == 0.0 and prose["isomorphic"] == 0.0
    # a sample of the form, about the item, far from the reference: it passes but does not solve
    [_, second] = [line for line in REF.splitlines() if line.strip()][:2]
    near_miss = "```argdown\n[Other]: Something else entirely.\n" + second + "\n```"
    far = bench(lambda prompts: [[near_miss] * 2 for _ in prompts], lambda prompts: [near_miss for _ in prompts],
                [item], k=2)
    assert far["pass@1"] == 1.0 and far["solved@1"] == 0.0 and far["graph_similarity"] < 0.5
    fixed = bench(lambda prompts: [["```argdown\n" + REF + "```"] * 2 for _ in prompts],
                  lambda prompts: ["" for _ in prompts], [repair], k=2)
    assert fixed["solved@1"] == 1.0 and fixed["per_task"]["repair"]["solved@2"] == 1.0
    from spin_train.serving.backends import Sample

    scores = next_line(lambda prompts: [Sample("[A]:   a.")] * len(prompts), rows[1:])
    assert scores["hits"] == [0] and scores["argdown_hits"] == [1]  # inner spacing: same parse
    assert (scores["exact_match"], scores["argdown_match"], scores["prompts"]) == (0.0, 1.0, 1)


WHOLE = {  # gold "  + <B>: b." -> what a model answers, whole (with the end of its turn, or cut)
    "ends after the line": ("  + <B>: b.", "stop"),
    "ends after a blank line": ("  + <B>: b.\n\n", "stop"),
    "writes on": ("  + <B>: b.\n  - <C>: c.", "stop"),
    "wrong line, ends": ("  + <B>: x.", "stop"),
    "wrong line, writes on": ("[A]: a.\n  + <B>: b.", "stop"),
    "spaced like the gold, parses alike": ("  +  <B>:  b.", "stop"),
    "cut by max_tokens": ("  + <B>: b", "length"),
    "nothing": ("", "stop"),
}


def _stopped(text: str, finish: str):
    """The answer a server gives with stop ["\n"] for a model that would write ``text`` whole."""
    from spin_train.serving.backends import Sample

    if "\n" in text:
        return Sample(text.split("\n", 1)[0].rstrip(), "stop", stopped_at="\n")
    return Sample(text.rstrip(), finish)


def test_next_lines_stopped_at_the_line_break_score_as_whole_answers():
    """Every planted answer scores the same stopped (with the whole answer fetched where its first line is a
    hit) as whole; only first-line hits are fetched again, and the lenient first-line measure is its own."""
    from spin_train.evaluation.next_line import next_line
    from spin_train.serving.backends import Sample

    snippet = "```argdown\n[A]: a.\n"
    rows = [{"prompt": [{"role": "user", "content": f"{name}\n{snippet}"}], "language": "argdown",
             "completion": [{"role": "assistant", "content": "  + <B>: b."}]} for name in WHOLE]
    answers = {r["prompt"][0]["content"]: WHOLE[name] for r, name in zip(rows, WHOLE)}
    fetched = []

    def whole(prompts):
        fetched.extend(p[0]["content"].split("\n")[0] for p in prompts)
        return [Sample(*answers[p[0]["content"]]) for p in prompts]

    full = next_line(whole, rows, batch=3)
    fetched.clear()
    asked = []

    def stopping(prompts):
        asked.extend(p[0]["content"].split("\n")[0] for p in prompts)
        return [_stopped(*answers[p[0]["content"]]) for p in prompts]

    stopped = next_line(stopping, rows, batch=3, finish=whole, by_prefix=True)
    assert asked == sorted(WHOLE) != list(WHOLE)  # answered in the prompts' order, reported in the rows'
    for key in ("hits", "argdown_hits", "first_line_hits"):
        assert stopped[key] == full[key], key
    assert full["hits"] == [1, 1, 0, 0, 0, 0, 0, 0] and full["argdown_hits"] == [1, 1, 0, 0, 0, 1, 0, 0]
    assert full["first_line_hits"] == [1, 1, 1, 0, 0, 0, 0, 0] and stopped["wrote_on"] == [0, 1, 1, 0, 1, 0, 0, 0]
    assert sorted(fetched) == ["ends after a blank line", "ends after the line", "spaced like the gold, parses alike",
                               "writes on"]


def test_prefix_waves_put_a_snippets_prompts_in_successive_waves():
    """A snippet's prompts extend each other: each goes one wave after the one it extends, never beside it, so a
    server's prefix cache holds the shared part when it arrives; unrelated prompts share wave 0."""
    from spin_train.evaluation.next_line import prefix_waves

    intro = "Next line?\n\n"
    a = [intro + "Context: Taxes fund the roads we all drive on.\n[T]: Taxes.\n" + "  + <R>: r.\n" * i
         for i in range(3)]
    b = [intro + "Context: Trains are late when it snows.\n[S]: Trains.\n" + "  - <O>: o.\n" * i for i in range(2)]
    texts = [a[2], b[1], a[0], "x", b[0], a[1]]
    order = [texts[i] for i in prefix_waves(texts)]
    assert order == [a[0], b[0], "x", a[1], b[1], a[2]]
    assert prefix_waves([]) == [] and prefix_waves(["only"]) == [0]


def test_chat_reports_whether_argdown_parses():
    assert argdown_report("No argdown here.") == []
    assert argdown_report("```argdown\n[A]: a.\n    + <B>: b.\n```") == \
        ["Argdown: parses (1 statements, 1 arguments, 1 relations)"]
    [line] = argdown_report("<A>\n\n(1) P\n")
    assert line.startswith("Argdown: does not parse: 3:")


def test_chat_session_through_stdin(tiny_model):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "spin_train.cli", "chat", str(tiny_model), "--max-new-tokens", "8"],
                         input="Map: cats purr.\n/reset\nAgain?\n/exit\n", capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("assistant> ") == 2 and "(conversation reset)" in out.stdout

MAPS = [text for _, text in generate_sources(seed=3, count=40)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MAPS), st.sampled_from(MAPS))
def test_graph_measures_are_bounded_and_exact_on_identity(a, b):
    ga, gb = g(a), g(b)
    assert edge_f1(ga, ga) == 1.0 and isomorphic(ga, ga) and ged_similarity(ga, ga) == 1.0
    for value in (edge_f1(ga, gb), ged_similarity(ga, gb)):
        assert 0.0 <= value <= 1.0
    assert isomorphic(ga, gb) == isomorphic(gb, ga)


class _BenchServer(JSONHandler):
    """An OpenAI-compatible stand-in: the reference map for bench prompts, a fixed line otherwise; it records
    each request's n and temperature."""

    def do_GET(self):
        self._reply({"data": [{"id": "stub-model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        bench_prompt = body["messages"][-1]["content"].startswith(tuple(BENCH_INSTRUCTIONS.values()))
        self.server.requests.append((bench_prompt, body["n"], body["temperature"], body["model"]))
        text = "```argdown\n" + REF + "```" if bench_prompt else "[A]: a."
        self._reply({"choices": [{"index": i, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"} for i in range(body["n"])]})


def test_eval_against_an_openai_compatible_server(spin_dataset, tmp_path):
    import subprocess
    import sys
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _BenchServer)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = f"http://127.0.0.1:{server.server_port}/v1#stub-model"
    out = tmp_path / "eval.json"
    try:
        done = subprocess.run([sys.executable, "-m", "spin_train.cli", "eval", "--server", spec, "--dataset",
                               str(spin_dataset), "--k", "2", "--max-prompts", "6", "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    b = result["bench"]
    assert result["model"] == spec and b["prompts"] == 6 and b["samples"] == 4  # n = 2k samples per item
    assert {"solved@1", "solved@2", "pass@1", "pass@2", "graph_similarity", "isomorphic"} <= set(b)
    assert all("solved@1" in c for c in [*b["per_task"].values(), *b["per_config"].values()])
    assert sum(c["prompts"] for c in b["per_config"].values()) == 6 and "per_config" not in b["per_config"]
    bench_requests = [(n, t) for is_bench, n, t, _ in server.requests if is_bench]
    assert sorted(set(bench_requests)) == [(1, 0.0), (4, 0.7)]  # greedy for similarity, sampled for pass@k
    assert {m for *_, m in server.requests} == {"stub-model"}
    assert result["next_line"]["prompts"] == 6 and "Argdown Bench (6 prompts, 4 samples each" in done.stdout


def test_eval_needs_one_answerer_and_enough_samples(spin_dataset):
    import subprocess
    import sys

    both = subprocess.run([sys.executable, "-m", "spin_train.cli", "eval", "--dataset", str(spin_dataset)],
                          capture_output=True, text=True)
    assert both.returncode == 2 and "exactly one of --model" in both.stderr
    few = subprocess.run([sys.executable, "-m", "spin_train.cli", "eval", "--server", "http://127.0.0.1:9/v1#m",
                          "--dataset", str(spin_dataset), "--k", "5", "--samples", "3"], capture_output=True, text=True)
    assert few.returncode == 1 and "(--samples): 3 samples cannot estimate pass@5" in few.stderr


BENCH_CONFIGS = ["classic-philosophical-arguments", "critical-thinking-ten-arguments", "argument-analysis-textbook",
                 "synthetic_corpus-001", "synthetic_logic-001"]


@pytest.fixture(scope="module")
def bench_dataset(tmp_path_factory):
    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.dataset_folder import write_dataset
    from argdown_lbl.split import split_config
    from spin_fixtures import ROOT

    out = tmp_path_factory.mktemp("bench") / "lbl"
    write_dataset([split_config(s) for s in load_corpus(ROOT / "corpora", BENCH_CONFIGS)], out)
    return out


@pytest.fixture(scope="module")
def all_items(bench_dataset):
    from datasets import load_dataset

    def rows(split):
        return [dict(r, config=n) for n in BENCH_CONFIGS for r in load_dataset(str(bench_dataset), name=n, split=split)]

    dropped = {}
    return bench_items(rows("test"), dropped, seen_texts(rows("train"))), dropped


def test_the_tiny_base_learns_the_bench_tasks_on_train_texts_only(bench_dataset, all_items):
    """init-tiny's bench rows: the same tasks, built from the train split, answered by the reference; no
    prompt of the bench (the test split) among them."""
    from spin_train.training.tiny import bench_rows

    rows = bench_rows(bench_dataset)
    items, _ = all_items
    assert len(rows) > len(items)
    asked = {json.dumps(it.prompt) for it in items}
    assert not asked & {json.dumps(r["prompt"]) for r in rows}
    instructions = {r["prompt"][0]["content"].split("\n\n", 1)[0] for r in rows}
    assert instructions == set(BENCH_INSTRUCTIONS.values())
    for row in rows[:50]:
        answer = row["completion"][0]["content"]
        if answer.startswith("```argdown\n"):
            gold = parse(extract_argdown(answer))
            assert gold.ok and passes(gold, gold)


def test_init_tiny_leaves_out_rows_longer_than_max_length_and_counts_them(spin_dataset, tmp_path):
    from spin_train.data.rows import load_rows
    from spin_train.training.tiny import init_tiny

    rows = load_rows(spin_dataset, limit=20)
    long = {"prompt": [{"role": "user", "content": "word " * 1500}], "completion": [{"role": "assistant",
                                                                                      "content": "[A]: a."}]}
    said = []
    info = init_tiny(tmp_path / "m", rows + [long], steps=1, vocab_size=600, hidden=16, layers=1, max_length=256,
                     log=said.append)
    assert info["rows_too_long"] >= 1 and info["rows"] == len(rows) + 1 - info["rows_too_long"]
    assert any(f"{info['rows_too_long']} of {len(rows) + 1} rows are longer than 256 tokens" in m for m in said)


def test_constant_answers_score_at_the_floor_and_references_at_the_ceiling(all_items):
    items, dropped = all_items
    assert len(items) > 100
    ceiling = bench_of(items, reference_answer)
    for key in ("pass@1", "solved@1", "graph_similarity", "structure_similarity", "edge_f1", "isomorphic"):
        assert ceiling[key] == 1.0 and all(t[key] in (1.0, None) for t in ceiling["per_task"].values()), key
    assert len(FLOOR_ANSWERS) == 5
    for name, answer in FLOOR_ANSWERS.items():
        floor = bench_of(items, answer)
        assert floor["pass@1"] <= 0.10 and all(t["pass@1"] <= 0.10 for t in floor["per_task"].values()), name
        assert floor["solved@1"] <= floor["pass@1"], name
        assert floor["graph_similarity"] <= 0.05 and floor["isomorphic"] <= 0.05, name
    assert {it.task for it in items} == {"map", "reconstruction", "repair", "z3"}
    repairs = [it for it in items if it.task == "repair"]
    assert not any(parse(it.context).ok for it in repairs)
    assert {"synthetic_corpus-001"} <= {it.config for it in items}  # its arguments come with their prose now
    assert all(reason in ("no input", "fails its own checks", "input or snippet also in the train split") and n > 0
               for counts in dropped.values() for reason, n in counts.items())  # what is no item is counted


def test_answers_built_from_the_items_text_do_not_solve_it(all_items):
    """A skeptical reviewer's answerers (floors.HEURISTIC_ANSWERS): they use the item's own text, no model.
    They may pass (valid, of the form, about the item), but solved@1 stays at the floor, overall and per task."""
    items, _ = all_items
    passed = {}
    for name, answer in HEURISTIC_ANSWERS.items():
        floor = bench_of(items, answer)
        assert floor["solved@1"] <= 0.10 and all(t["solved@1"] <= 0.10 for t in floor["per_task"].values()), \
            (name, {t: v["solved@1"] for t, v in floor["per_task"].items()})
        passed[name] = floor["per_task"]["reconstruction"]["pass@1"]
    assert max(passed.values()) >= 0.5, passed  # pass@1 alone is fooled (reconstructions): why solved@1 exists


def test_a_formalisation_passes_when_it_asserts_what_the_reference_does_and_only_then():
    from argdown_lbl.synthetic import logic_argument
    import random

    rng = random.Random(5)
    forms = {}
    while len(forms) < 10:
        name, valid, prose, script = logic_argument(0, rng)
        forms.setdefault(name, (valid, script))
    tollens = forms["modus tollens"][1]
    assert z3_passes("```smt2\n" + tollens + "```", tollens)
    reordered = tollens.replace("(assert (=> a b))\n(assert (not b))", "(assert (not b))\n(assert (=> a b))")
    assert reordered != tollens and z3_passes(reordered, tollens)  # the same premises in another order
    equivalent = tollens.replace("(assert (=> a b))", "(assert (or (not a) b))")
    assert z3_passes(equivalent, tollens)
    assert not z3_passes(forms["modus ponens"][1], tollens)  # another argument
    assert not z3_passes(forms["denying the antecedent"][1], forms["modus tollens"][1])
    assert not z3_passes('(set-option :regular-output-channel "x.txt")\n' + tollens, tollens)  # not run
    assert not z3_passes(tollens.replace("(check-sat)", "(check-sat"), tollens)  # does not run
    assert {valid for valid, _ in forms.values()} == {True, False}


def test_the_bench_sample_takes_the_configs_in_turn():
    import random

    from spin_train.evaluation.bench import BenchItem, stratified

    items = [BenchItem(f"s{i}", "x", "c", "g", "synthetic") for i in range(10)] + \
        [BenchItem(f"h{i}", "x", "c", "g", "hand-written") for i in range(2)]
    sample = stratified(list(items), 6, random.Random(0))
    assert [it.config for it in sample].count("hand-written") == 2 and len(sample) == 6
    assert sample == stratified(list(items), 6, random.Random(0))  # seeded
    assert sorted(it.id for it in stratified(list(items), 50, random.Random(1))) == sorted(it.id for it in items)


def test_a_paired_change_in_next_line_exact_match_with_mcnemars_exact_p():
    from spin_train.evaluation.stats import paired_change

    before = [0] * 10 + [1] * 90
    after = [1] * 10 + [1] * 90  # 10 prompts turned right, none wrong
    change = paired_change(before, after)
    assert change["gained"] == 10 and change["lost"] == 0 and change["change"] == 0.1
    assert abs(change["p"] - 2 * 0.5 ** 10) < 1e-12  # two-sided exact binomial on the 10 discordant prompts
    even = paired_change([1, 0] * 50, [0, 1] * 50)  # 50 gained, 50 lost: no change, nothing to see
    assert even["change"] == 0 and even["p"] == 1.0
    assert paired_change([1, 0], [1, 0, 1]) is None and paired_change([], []) is None  # not paired
    assert paired_change([1, 1], [1, 1]) == {"change": 0.0, "gained": 0, "lost": 0, "p": 1.0, "prompts": 2}


def test_the_tiny_model_scores_the_same_next_lines_stopped_at_the_line_break_as_whole(tiny_model, spin_dataset):
    """The local backend's stop (transformers' stop_strings) against whole answers of the same greedy model."""
    from spin_train.config import EvaluationConfig
    from spin_train.evaluation.checkpoint import evaluate

    cfg = EvaluationConfig(dataset=str(spin_dataset), k=1, max_prompts=1, max_tokens=8, samples=1,
                           next_line_prompts=16, next_line_max_tokens=24, batch_size=8)
    runs = [evaluate(cfg, str(tiny_model), fast_next_line=stop)["next_line"] for stop in (False, True)]
    for key in ("hits", "argdown_hits", "first_line_hits", "indented"):
        assert runs[0][key] == runs[1][key], key
    assert sum(runs[1]["wrote_on"]) > 0  # the tiny model writes past the line break: the stop had work


def test_a_bench_whose_max_tokens_hold_no_reference_answer_is_not_run_and_says_why(tiny_model, spin_dataset):
    from spin_train.evaluation.bench import load_bench
    from spin_train.evaluation.checkpoint import evaluate, out_of_reach
    from spin_train.evaluation.floors import reference_answer
    from spin_train.training.models import load_tokenizer
    from spin_train.config import EvaluationConfig, ModelConfig

    _, items, _ = load_bench(str(spin_dataset), ["critical-thinking-ten-arguments"])
    tok = load_tokenizer(str(tiny_model), ModelConfig(path=str(tiny_model)))
    shortest = min(len(tok.encode(reference_answer(it), add_special_tokens=False)) for it in items)
    assert out_of_reach(items, shortest, str(tiny_model)) is None
    assert f"({shortest} tokens)" in out_of_reach(items, shortest - 1, str(tiny_model))
    assert out_of_reach(items, 1, None) is None  # no tokenizer: cannot tell, the Bench runs
    cfg = EvaluationConfig(dataset=str(spin_dataset), configs=["critical-thinking-ten-arguments"], k=1, max_prompts=2,
                           max_tokens=4, samples=1, next_line_prompts=2, next_line_max_tokens=4)
    result = evaluate(cfg, str(tiny_model))
    assert "no answer could be whole" in result["bench"]["not_measured"] and "solved@1" not in result["bench"]
