"""The mapping pipeline, stage by stage as Logikon does it: recorded responses, known graphs, the gate, scale."""

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from argdown_lbl.argdown import parse
from argdown_lbl.cli import main
from argdown_lbl.mapping import stages
from argdown_lbl.chat_client import ChatClient, Endpoint, RequestRejected
from argdown_lbl.mapping.fuzzy import FuzzyMap, build, percentile, to_argdown
from argdown_lbl.mapping.pairs import MapResult, gate
from argdown_lbl.mapping.stages import ATTACK, SUPPORT, Edge, ProsCons, Reason, equivalent, root_id
from openai_replay import ReplayServer

ROOT0 = root_id(0)
LISTED = {"options": ["open on Sundays"], "roots": [{
    "claim": "The town should open the library on Sundays.",
    "pros": [{"label": "Parents", "text": "Working parents can only come at weekends."},
             {"label": "Crowding", "text": "On Saturdays there are no free seats."}],
    "cons": [{"label": "Cost", "text": "Sunday staff cost extra money."}]}]}
REVISED = {**LISTED, "roots": [{**LISTED["roots"][0], "pros": LISTED["roots"][0]["pros"] + [
    {"label": "Students", "text": "Students need a quiet place to learn on Sundays."}]}]}


def answer(body):
    """Recorded answers of a 'strong' model, chosen by the prompt's wording."""
    prompt = body["messages"][-1]["content"]
    n = body.get("n", 1)
    if prompt.startswith("Read the following text"):
        return [("Should the library open on Sundays?", None), ("Is Sunday opening worth it?", None)][:n] * n
    if "Proposed central issue" in prompt:  # the second draft is rated higher on every criterion
        high = "worth it" in prompt
        return [("4" if high else "2", [{"4": math.log(0.9), "5": math.log(0.1)} if high else
                                        {"2": math.log(0.5), "1": math.log(0.5)}])]
    if prompt.startswith("Text:") and "List the answers (options)" in prompt:
        return [(json.dumps(LISTED), None)]
    if "Check the list against the text" in prompt:
        return [("The students' reason is missing.", None)]
    if "Revise the list" in prompt:
        return [("Here it is: " + json.dumps(REVISED), None)]
    source = prompt.split("Claim B")[0]
    if "how does that bear on B" in prompt:
        against = "extra money" in source
        return [("B" if against else "A", [{"B": math.log(0.8), "A": math.log(0.2)} if against else
                                           {"A": math.log(0.9), " B": math.log(0.05), "maybe": math.log(0.05)}])]
    if "Does A directly" in prompt:
        to_root = "should open" in prompt.split("Claim B")[1]
        return [("A", [{"A": math.log(0.9 if to_root else 0.5), "B": math.log(0.1 if to_root else 0.5)}])]
    if "How strongly does A" in prompt:
        return [("7", None)]
    raise AssertionError(prompt)


def weak_answer(body):
    """A 'weak' model: one reason, no revision."""
    prompt = body["messages"][-1]["content"]
    if "List the answers (options)" in prompt or "Revise the list" in prompt:
        return [(json.dumps({"options": [], "roots": [{"claim": "Sundays.", "pros": [
            {"label": "Only", "text": "Parents."}], "cons": []}]}), None)]
    return answer(body)


def client(server, tmp_path=None, **kw):
    return ChatClient(Endpoint.parse(server.url), cache_dir=tmp_path, backoff_s=0.01, **kw)


def test_issue_drafts_are_rated_on_three_criteria_and_the_best_wins():
    with ReplayServer(answer) as server:
        issue, drafts, scores = stages.central_issue(client(server), "text", drafts=2)
        ratings = [r for r in server.requests if "Proposed central issue" in r["messages"][-1]["content"]]
    assert drafts == ["Should the library open on Sundays?", "Is Sunday opening worth it?"]
    assert issue == "Is Sunday opening worth it?" and len(ratings) == 2 * len(stages.ISSUE_CRITERIA)
    assert scores == [pytest.approx((1.5 - 1) / 4), pytest.approx((4.1 - 1) / 4)]  # expected digit, scaled


def test_pros_and_cons_are_mined_as_guided_json_then_critiqued_and_revised():
    with ReplayServer(answer) as server:
        guidance = {"mode": "response_format"}
        found = stages.pros_cons(client(server), "text", "issue?", guidance=guidance)
        mining = server.requests[0]
    assert mining["response_format"]["json_schema"]["schema"] == stages.PROS_CONS_SCHEMA
    assert found.roots == ["The town should open the library on Sundays."]
    assert [(r.label, r.valence, r.root) for r in found.reasons] == [
        ("Parents", "pro", 0), ("Crowding", "pro", 0), ("Students", "pro", 0), ("Cost", "con", 0)]  # revised
    assert len(server.requests) == 3  # mine, critique, revise


def test_a_server_that_refuses_guided_decoding_is_asked_without_it():
    def refusing(body):
        return 400 if "response_format" in body else answer(body)

    with ReplayServer(refusing) as server:
        guidance = {"mode": "response_format"}
        found = stages.pros_cons(client(server), "text", "issue?", guidance=guidance)
    assert guidance == {"mode": "off"} and len(found.reasons) == 4
    assert [("response_format" in r) for r in server.requests] == [True, False, False, False]
    with ReplayServer(lambda body: 400) as server:  # the request itself is refused (too long, say)
        guidance = {"mode": "response_format"}
        with pytest.raises(RequestRejected):
            stages.pros_cons(client(server), "text", "issue?", guidance=guidance)
    assert guidance == {"mode": "response_format"}  # not the guidance's fault: kept for the next text


def test_the_line_format_is_the_fallback_and_each_claim_opens_a_root():
    found = stages.parse_pros_cons("CLAIM: Open it.\nPRO: A | Parents come.\nnoise\nCON: B | Costs.\n"
                                   "CLAIM: Keep it closed.\nPRO: C | Staff rest.\nPRO: A | Parents come.\n", 8)
    assert found.roots == ["Open it.", "Keep it closed."]
    assert [(r.label, r.valence, r.root) for r in found.reasons] == [("A", "pro", 0), ("B", "con", 0), ("C", "pro", 1)]
    assert stages.parse_pros_cons("no list at all", 8).reasons == []
    assert stages.parse_pros_cons('{"roots": [{"claim": 3, "pros": "x"}]}', 8).roots == []  # never raises


def test_valences_come_from_the_list_and_from_dialectical_equivalence():
    found = ProsCons(["Open.", "Close."], [Reason("P", "p", "pro", 0), Reason("Q", "q", "pro", 0),
                                           Reason("C", "c", "con", 0), Reason("R", "r", "pro", 1)])
    edges = stages.relevance(found, lambda s, t, v: (0.5, "t"))
    valence = {(e.source, e.target): e.valence for e in edges}
    assert valence[("P", ROOT0)] == SUPPORT and valence[("C", ROOT0)] == ATTACK  # as listed
    assert valence[("R", root_id(1))] == SUPPORT
    assert valence[("P", "Q")] == SUPPORT and valence[("C", "P")] == ATTACK  # one root: same valence, same side
    assert valence[("R", "P")] == ATTACK and valence[("R", "C")] == SUPPORT  # other root: the sides swap
    assert equivalent(found.reasons[2], found.reasons[3]) and not equivalent(found.reasons[0], found.reasons[3])


def test_every_target_gets_at_most_20_sources():
    found = ProsCons(["Claim."], [Reason(f"R{i}", f"reason {i}", "pro") for i in range(25)])
    edges = stages.relevance(found, lambda s, t, v: (0.5, "t"), max_sources=20, seed=3)
    into = {}
    for e in edges:
        into[e.target] = into.get(e.target, 0) + 1
    assert into[ROOT0] == 25 and all(into[f"R{i}"] == 20 for i in range(25))
    assert edges == stages.relevance(found, lambda s, t, v: (0.5, "t"), max_sources=20, seed=3)  # seeded


def test_weights_are_logikons_multiple_choice_probabilities():
    with ReplayServer(answer) as server:
        weigh = stages.llm_weight(client(server))
        assert weigh("Sunday staff cost extra money.", "The town should open the library.", ATTACK) == \
            (pytest.approx(0.8 * 0.9), "logprobs")
        assert weigh("Parents.", "Students.", SUPPORT) == (pytest.approx(0.9 / 0.95 * 0.5), "logprobs")

    def plain(body):
        return [(text, None) for text, _ in answer(body)]

    with ReplayServer(plain) as server:
        assert stages.llm_weight(client(server))("a", "b", SUPPORT) == (pytest.approx(7 / 9), "rating")


class _Classifier:
    """A stand-in NLI classifier on 127.0.0.1 shaped like text-embeddings-inference's /predict."""

    def __init__(self):
        import threading
        from http.server import ThreadingHTTPServer

        from json_handler import JSONHandler

        outer = self
        self.seen = []

        class Handler(JSONHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.seen.append(body)
                if body["inputs"][0] == "broken":
                    return self._reply([{"label": "neutral", "score": 1.0}])
                self._reply([{"label": "ENTAILMENT", "score": 0.7}, {"label": "neutral", "score": 0.2},
                             {"label": "CONTRADICTION", "score": 0.1}])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/predict"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def test_weights_from_an_nli_classifier_endpoint(tmp_path):
    with _Classifier() as classifier:
        nli = ChatClient(Endpoint.parse(classifier.url), cache_dir=tmp_path, retries=0, backoff_s=0.01)
        weigh = stages.nli_weight(nli)
        assert weigh("a", "b", SUPPORT) == (0.7, "nli") and weigh("a", "b", ATTACK) == (0.1, "nli")
        assert classifier.seen == [{"inputs": ["a", "b"]}]  # the second answer came from the cache
        with pytest.raises(Exception, match="no contradiction or entailment score"):
            weigh("broken", "b", SUPPORT)
        with ReplayServer(answer, "strong") as strong, ReplayServer(weak_answer, "weak") as weak:
            result = CliRunner().invoke(main, ["pairs", str(_texts(tmp_path, 1)), "--strong", strong.url, "--weak",
                                               weak.url, "--nli", classifier.url, "--out", str(tmp_path / "out"),
                                               "--quiet"])
            asked = [r["messages"][-1]["content"] for r in strong.requests]
    assert result.exit_code == 0, result.output
    [row] = [r for p in (tmp_path / "out" / "default").glob("*.parquet") for r in _read(p)]
    assert {e["method"] for e in json.loads(row["chosen_map"])["edges"]} == {"nli"}
    assert not any("Claim A:" in prompt for prompt in asked)  # no weight was asked of the model


def _fmap(roots, reasons, edges, **kw):
    return build(ProsCons(roots, reasons), edges, **kw)


def test_branching_reverse_edges_and_degree_cap_on_a_known_graph():
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([], 80) == 0.0
    reasons = [Reason(x, f"text {x}", "pro") for x in "ABCDE"]
    edges = [
        Edge("A", ROOT0, SUPPORT, 0.9, "t"), Edge("B", ROOT0, SUPPORT, 0.3, "t"), Edge("C", ROOT0, SUPPORT, 0.9, "t"),
        Edge("B", "A", SUPPORT, 0.8, "t"),  # B's best parent is A
        Edge("A", "B", SUPPORT, 0.95, "t"),  # strong, but B -> A is in the tree: never its reverse
        Edge("D", "A", SUPPORT, 0.97, "t"),  # D's parent
        Edge("D", "B", SUPPORT, 0.96, "t"), Edge("D", "C", SUPPORT, 0.95, "t"),  # extra: D has 3 edges out then
        Edge("D", ROOT0, SUPPORT, 0.94, "t"),  # above the threshold too, but over D's cap of 3
    ]
    fmap = _fmap(["Claim"], reasons, edges, extra_percentile=50, max_out=3)
    assert {(e.source, e.target) for e in fmap.tree} == {("A", ROOT0), ("B", "A"), ("C", ROOT0), ("D", "A"),
                                                        ("E", ROOT0)}  # E had no edge: under its root
    # the tree's weights 0.9, 0.8, 0.9, 0.97 (E's default edge does not count): median 0.9
    assert [(e.source, e.target) for e in fmap.extra] == [("D", "B"), ("D", "C")]
    doc = parse(to_argdown(fmap))
    assert doc.ok, doc.errors
    assert to_argdown(fmap).splitlines()[:4] == ["[Central claim]: Claim", "    <+ <A>: text A",
                                                  "        <+ <D>: text D", "        <+ <B>: text B"]
    assert len(doc.relations) == 5 + 2  # the tree (E hangs under the root) and the extra edges; not D -> root


def test_extra_edges_lie_strictly_above_the_percentile_of_their_own_valence():
    reasons = [Reason(x, x.lower(), "pro") for x in "SPQRT"] + [Reason("C", "c", "con"), Reason("D", "d", "con")]
    edges = [Edge("S", ROOT0, SUPPORT, 1.0, "t")] + [Edge(x, ROOT0, SUPPORT, 0.5, "t") for x in "PQRT"] + [
        Edge("C", ROOT0, ATTACK, 0.5, "t"), Edge("D", ROOT0, ATTACK, 0.1, "t"),
        Edge("S", "P", SUPPORT, 0.6, "t"),  # the support tree's 80th percentile is 0.6: not above it
        Edge("S", "Q", SUPPORT, 0.61, "t"),  # above it
        Edge("C", "P", ATTACK, 0.45, "t"),  # above the attack tree's 80th percentile (0.42); a pooled one is 0.9
    ]
    fmap = _fmap(["Claim"], reasons, edges)
    assert sorted((e.source, e.target) for e in fmap.extra) == [("C", "P"), ("S", "Q")]


def test_several_roots_hang_under_a_pseudo_super_root_that_is_not_in_the_map():
    reasons = [Reason("P", "p", "pro", 0), Reason("Q", "q", "con", 1)]
    edges = [Edge("P", ROOT0, SUPPORT, 0.8, "t"), Edge("Q", root_id(1), ATTACK, 0.7, "t"),
             Edge("P", "Q", ATTACK, 0.2, "t")]
    fmap = _fmap(["Open.", "Close."], reasons, edges)
    assert {(e.source, e.target) for e in fmap.tree} == {("P", ROOT0), ("Q", root_id(1))}
    text = to_argdown(fmap)
    doc = parse(text)
    assert doc.ok and {s.title for s in doc.statements.values()} >= {"Central claim", "Central claim 2"}
    assert len(doc.relations) == 2


def _result(fmap, text=None):
    text = text or to_argdown(fmap)
    doc = parse(text)
    return MapResult(text, fmap, "issue", doc.ok, str(doc.errors[0]) if doc.errors else "")


def test_the_quality_gate():
    two = [Reason("P", "p", "pro"), Reason("Q", "q", "pro")]
    rich = _result(_fmap(["Claim."], two, [Edge("P", ROOT0, SUPPORT, 0.8, "t"), Edge("Q", ROOT0, SUPPORT, 0.7, "t")]))
    poor = _result(_fmap(["Claim."], two[:1], [Edge("P", ROOT0, SUPPORT, 0.8, "t")]))
    bare = _result(_fmap(["Claim."], [], []))
    question = _result(_fmap(["Should we?"], two, [Edge("P", ROOT0, SUPPORT, 0.8, "t")]))
    unlinked = _result(FuzzyMap(["Claim."], {"P": two[0]}, []))
    assert gate(rich, poor) is None
    assert gate(poor, rich) == "the weak map is richer than the strong one"
    assert gate(bare, poor) == "the strong map has no reasons"
    assert gate(unlinked, bare) == "the strong map has no relations"
    assert gate(question, poor) == "a root of the strong map is a question"
    assert gate(rich, rich) == "both models drew the same map"
    assert gate(_result(rich.fmap, "[A]: *unclosed"), poor).startswith("the strong map does not parse")


def test_pairs_cli_on_recorded_servers(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(3):
        (texts / f"t{i}.md").write_text(f"---\ntitle: T{i}\ngenre: forum post\n---\n\nText number {i}.\n")

    with ReplayServer(answer, "strong-model") as strong, ReplayServer(weak_answer, "weak-model") as weak_server:
        args = ["pairs", str(texts), "--strong", strong.url, "--weak", weak_server.url + "#weak-model",
                "--out", str(tmp_path / "out"), "--quiet"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        sent = len(strong.requests) + len(weak_server.requests)
        rerun = CliRunner().invoke(main, args)  # every text is in the journal: nothing is asked
        assert rerun.exit_code == 0 and len(strong.requests) + len(weak_server.requests) == sent
    from datasets import load_dataset

    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf-cache"))  # no stale cache hits
    rows = [r for split in ds.values() for r in split]
    assert len(rows) == 3 and {r["genre"] for r in rows} == {"forum post"}
    row = rows[0]
    assert row["strong_model"].endswith("#strong-model") and row["weak_model"].endswith("#weak-model")
    assert row["chosen_parse_ok"] and row["chosen_nodes"] == 5 and row["rejected_nodes"] == 2
    assert row["chosen"][0]["content"].startswith("```argdown\n[Central claim]: The town should open")
    assert row["prompt"][0]["content"].startswith("Reconstruct the argumentation")
    assert row["prompt"][0]["content"].endswith(f"Text number {row['text_id'][1]}.")
    chosen = json.loads(row["chosen_map"])
    assert [n["kind"] for n in chosen["nodes"]] == ["root"] + ["reason"] * 4
    assert {(e["source"], e["target"], e["valence"]) for e in chosen["edges"] if e["in_tree"]} == {
        ("Parents", ROOT0, SUPPORT), ("Crowding", ROOT0, SUPPORT), ("Students", ROOT0, SUPPORT),
        ("Cost", ROOT0, ATTACK)}
    assert row["margin"] == pytest.approx((8 - 2) / 8)  # (4 reasons + 4 edges) vs (1 + 1)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Quality gate" in card and "| (none: pairs written) | 3 |" in card


def test_pairs_end_to_end_against_transformers_serve(tiny_model, spin_dataset, tmp_path):
    """Two tiny local checkpoints behind a real `transformers serve`: the 'strong' one trained longer."""
    import re

    from spin_train.data.rows import load_rows

    from spin_train.training.tiny import init_tiny
    from transformers_serve import TransformersServe

    strong = tmp_path / "strong"
    init_tiny(strong, load_rows(spin_dataset, limit=300), steps=40, vocab_size=600, hidden=32, layers=2,
              max_length=512, log=lambda m: None)
    texts = tmp_path / "texts"
    texts.mkdir()
    for name in ("forum-03-sourdough.md", "memo-02-speed-limit.md"):
        (texts / name).write_text((CORPORA / "argumentative-texts" / name).read_text())
    with TransformersServe(tmp_path / "serve.log") as server:
        args = ["pairs", str(texts), "--strong", f"{server.url}#{strong}", "--weak", f"{server.url}#{tiny_model}",
                "--out", str(tmp_path / "out"), "--quiet", "--max-reasons", "3", "--max-sources", "2"]
        first = CliRunner().invoke(main, args)
        # 1: the gate kept no pair. Tiny models find no reasons; the written pairs of a good strong model
        # are test_pairs_cli_on_recorded_servers'
        assert first.exit_code == 1, first.output
        for journal in (tmp_path / "out" / ".cache").glob("journal-*"):
            journal.unlink()  # map again: every request must come from the cache
        second = CliRunner().invoke(main, args)
    assert second.exit_code == first.exit_code
    sent = [int(n) for n in re.findall(r"'requests': (\d+)", first.output)]
    again = [int(n) for n in re.findall(r"'requests': (\d+)", second.output)]
    assert all(n > 0 for n in sent) and again == [0, 0]
    skipped = int(re.search(r"\((\d+) skipped", first.output).group(1))
    assert skipped == 2 and "the strong map has no reasons" in first.output
    assert not list((tmp_path / "out").glob("default/*.parquet"))


def _read(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


CORPORA = __import__("pathlib").Path(__file__).resolve().parents[1] / "corpora"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=30))
def test_any_model_text_renders_to_a_map_that_parses(central, reason, label):
    """Whatever a model writes, the rendered map parses and keeps the reason's words."""
    fmap = build(ProsCons([central], [Reason(label, reason, "pro")]), [Edge(label, ROOT0, SUPPORT, 0.5, "t")])
    doc = parse(to_argdown(fmap))
    assert doc.ok, (to_argdown(fmap), doc.errors[:1])
    assert len(doc.relations) == 1 and doc.relations[0].type == "support"
    words = [w for w in reason.split() if w.isalnum()]
    text = next(iter(doc.arguments.values())).members[0].text
    assert all(w in text for w in words)


# -- servers that misbehave the way real ones do ------------------------------------------------------------------

MISBEHAVIOURS = {
    "choices are strings": {"id": "x", "choices": ["a", "b"]},
    "a JSON list": [{"message": {"content": "a"}}],
    "only an error": {"error": {"message": "model overloaded", "type": "server_error"}},
    "empty choices": {"id": "x", "choices": []},
    "choice without text": {"choices": [{"index": 0, "message": {"role": "assistant"}}]},
}


class _Misbehaving:
    """A server that answers every chat request about ``Text number 1`` with a bad 200 reply."""

    def __init__(self, bad):
        import json
        import threading
        from http.server import ThreadingHTTPServer

        from json_handler import JSONHandler

        outer = self

        class Handler(JSONHandler):
            def do_GET(self):
                self._reply({"data": [{"id": "m"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.requests += 1
                if outer.bad is not None and "Text number 1" in body["messages"][-1]["content"]:
                    return self._reply(outer.bad)
                choices = [{"index": i, "message": {"role": "assistant", "content": t},
                            **({"logprobs": {"content": [{"token": max(tp, key=tp.get), "logprob": max(tp.values()),
                                                           "top_logprobs": [{"token": k, "logprob": v}
                                                                            for k, v in tp.items()]}
                                                          for tp in p]}} if p and body.get("logprobs") else {})}
                           for i, (t, p) in enumerate(answer(body))]
                self._reply({"choices": choices})

        self.bad, self.requests = bad, 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


def _texts(tmp_path, n=3):
    texts = tmp_path / "texts"
    texts.mkdir(exist_ok=True)
    for i in range(n):
        (texts / f"t{i}.md").write_text(f"---\ntitle: T{i}\n---\n\nText number {i}.\n")
    return texts


@pytest.mark.parametrize("kind", list(MISBEHAVIOURS))
def test_pairs_skips_a_text_whose_replies_are_malformed_and_caches_none_of_them(kind, tmp_path):
    texts = _texts(tmp_path)
    server = _Misbehaving(MISBEHAVIOURS[kind])

    try:
        with ReplayServer(weak_answer, "weak-model") as weak_server:
            args = ["pairs", str(texts), "--strong", server.url, "--weak", weak_server.url, "--retries", "1",
                    "--out", str(tmp_path / "out"), "--quiet", "--concurrency", "1"]
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
            assert isinstance(result.exception, SystemExit) or result.exception is None
            assert "skipped t1:" in result.output and "(1 skipped" in result.output
            card = (tmp_path / "out" / "README.md").read_text()
            assert "`t1`:" in card and "pairs: " in card and "| a server failed | 1 |" in card
            server.bad = None  # healthy now: the bad replies were not cached, so t1 is mapped this time
            again = CliRunner().invoke(main, args)
            assert again.exit_code == 0 and "(0 skipped" in again.output, again.output
    finally:
        server.server.shutdown()


def test_pairs_with_no_pair_exits_1_and_writes_no_card(tmp_path):
    texts = _texts(tmp_path, n=1)
    with ReplayServer(answer, "same") as strong:
        args = ["pairs", str(texts), "--strong", strong.url, "--weak", strong.url, "--out", str(tmp_path / "out"),
                "--quiet"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "no pair from 1 texts" in result.output and "both models drew" in result.output
    assert not (tmp_path / "out" / "README.md").exists()


def test_an_empty_model_list_is_one_clear_error(tmp_path):
    import threading
    from http.server import ThreadingHTTPServer

    from json_handler import JSONHandler

    class Empty(JSONHandler):
        def do_GET(self):
            self._reply({"object": "list", "data": []})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        result = CliRunner().invoke(main, ["pairs", str(_texts(tmp_path, 1)), "--strong", url, "--weak", url,
                                           "--out", str(tmp_path / "out")])
    finally:
        server.shutdown()
    assert result.exit_code == 1 and f"{url}/models: the server lists no model" in result.output


def test_200_texts_from_a_dataset_resume_after_kill_9_asking_nothing_twice(tmp_path):
    """A dataset of 200 texts; the strong server kills the run (SIGKILL) in the middle of a request; the rerun
    maps only the texts not in the journal, re-sends no answered request, and writes each pair once."""
    import collections
    import os
    import signal
    import subprocess
    import sys
    import threading

    data = tmp_path / "texts"
    data.mkdir()
    with open(data / "train.jsonl", "w") as f:
        for i in range(200):
            f.write(json.dumps({"doc": f"d{i:03d}", "body": f"Text number {i}: should the library open on Sundays?"})
                    + "\n")
    log, lock, run = [], threading.Lock(), {"proc": None, "kill_at": 1500}

    def logged(name, reply):
        def handle(body):
            with lock:
                log.append((name, json.dumps(body, sort_keys=True)))
                if len(log) == run["kill_at"]:
                    run["proc"].send_signal(signal.SIGKILL)
            return reply(body)
        return handle

    with ReplayServer(logged("strong", answer), "strong") as strong, \
            ReplayServer(logged("weak", weak_answer), "weak") as weak:
        args = [sys.executable, "-m", "argdown_lbl.cli", "pairs", "--dataset", str(data), "--text-column", "body",
                "--id-column", "doc", "--strong", strong.url, "--weak", weak.url, "--out", str(tmp_path / "out"),
                "--concurrency", "1"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        run["proc"] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = run["proc"].communicate(timeout=600)
        assert run["proc"].returncode == -signal.SIGKILL, err
        killed = log[-1]
        first = len(log)
        run["kill_at"] = None
        again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        resumed = len(log)
        clean = args[:args.index("--out") + 1] + [str(tmp_path / "clean")] + args[args.index("--out") + 2:]
        assert subprocess.run(clean, env=env, capture_output=True, timeout=600).returncode == 0  # uninterrupted
    assert again.returncode == 0, again.stderr
    assert "resuming: " in again.stderr and "pairs: 200/200 texts mapped" in again.stderr  # a log line per 100
    assert "pairs: 100/200 texts mapped" in err or "pairs: 100/200 texts mapped" in again.stderr
    interrupted = collections.Counter(log[:resumed])
    repeated = [body for body, n in interrupted.items() if n > 1]
    assert repeated in ([], [killed])  # only the request the run died in may be asked again
    assert first == 1500 and sorted(interrupted) == sorted(log[resumed:])  # the same requests as one clean run
    rows = [r for p in (tmp_path / "out" / "default").glob("*.parquet") for r in _read(p)]
    assert sorted(r["text_id"] for r in rows) == [f"d{i:03d}" for i in range(200)]  # each text once
    assert all(r["source"].startswith(f"{data}:train:") for r in rows)


def test_texts_come_from_a_folder_or_a_dataset_and_a_bad_column_is_named(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"body": "A text."}) + "\n")
    both = CliRunner().invoke(main, ["pairs", str(_texts(tmp_path, 1)), "--dataset", str(data), "--strong",
                                     "http://127.0.0.1:9/v1", "--weak", "http://127.0.0.1:9/v1", "--out", "x"])
    assert both.exit_code == 2 and "either TEXTS_DIR or --dataset" in both.output
    column = CliRunner().invoke(main, ["pairs", "--dataset", str(data), "--strong", "http://127.0.0.1:9/v1",
                                       "--weak", "http://127.0.0.1:9/v1", "--out", "x"])
    assert column.exit_code == 1 and f"--dataset {data}: no column 'text' (it has ['body'])" in column.output
