"""The mapping pipeline: stages on recorded responses, the branching step on known graphs, pairs and caching."""

import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from argdown_lbl.argdown import parse
from argdown_lbl.cli import main
from argdown_lbl.mapping import stages
from argdown_lbl.chat_client import ChatClient, Endpoint
from argdown_lbl.mapping.fuzzy import CENTRAL, build, percentile, to_argdown
from argdown_lbl.mapping.stages import Edge, Reason
from openai_replay import ReplayServer

REASONS = """CLAIM: The town should open the library on Sundays.
PRO: Parents | Working parents can only come at weekends.
PRO: Crowding | On Saturdays there are no free seats.
CON: Cost | Sunday staff cost extra money.
this line is noise
"""


def answer(body):
    """Recorded answers, chosen by the prompt's wording."""
    prompt = body["messages"][-1]["content"]
    n = body.get("n", 1)
    if prompt.startswith("Read the following text"):
        return [("Should the library open on Sundays?", None), ("Is Sunday opening worth it?", None)][:n] * n
    if "Which formulation" in prompt:
        return [("2", None)]
    if "CLAIM:" in prompt:
        return [(REASONS, None)]
    if "support or attack" in prompt:
        against = "Cost" in prompt.split("Claim B")[0] or "extra money" in prompt.split("Claim B")[0]
        top = {"attack": math.log(0.8), "support": math.log(0.2)} if against else \
            {"support": math.log(0.9), " attack": math.log(0.05), "maybe": math.log(0.05)}
        return [("attack" if against else "support", [top])]
    if "Rate from 0" in prompt:
        return [("7", [{"7": math.log(0.5), "9": math.log(0.5)}])]
    raise AssertionError(prompt)


def client(server, tmp_path=None, **kw):
    return ChatClient(Endpoint.parse(server.url), cache_dir=tmp_path, backoff_s=0.01, **kw)


def test_stages_on_recorded_responses():
    with ReplayServer(answer) as server:
        c = client(server)
        issue, drafts = stages.central_issue(c, "text", drafts=2)
        assert drafts == ["Should the library open on Sundays?", "Is Sunday opening worth it?"]
        assert issue == "Is Sunday opening worth it?"  # the model picked option 2
        claim, reasons = stages.reasons(c, "text", issue)
        assert claim == "The town should open the library on Sundays."
        assert [(r.label, r.valence) for r in reasons] == [("Parents", "pro"), ("Crowding", "pro"), ("Cost", "con")]
        edges = stages.relevance(c, claim, reasons, max_pairs=2)
        assert len(edges) == 3 + 2 and all(e.method == "logprobs" for e in edges)
        cost = next(e for e in edges if e.source == "Cost" and e.target == CENTRAL)
        assert cost.valence == "attack" and cost.weight == pytest.approx((7 * 0.5 + 9 * 0.5) / 9 * 0.8)
        parents = next(e for e in edges if e.source == "Parents" and e.target == CENTRAL)
        assert parents.valence == "support" and parents.weight == pytest.approx(8 / 9 * 0.9 / 0.95)


def test_without_logprobs_the_rating_prompt_gives_the_weight():
    def plain(body):
        return [(text, None) for text, _ in answer(body)]

    with ReplayServer(plain) as server:
        edges = stages.relevance(client(server), "C", [Reason("A", "Cost rises: extra money.", "con")], max_pairs=0)
    assert edges == [Edge("A", CENTRAL, "attack", pytest.approx(7 / 9), "rating")]


def test_client_retries_tops_up_missing_choices_and_caches(tmp_path):
    with ReplayServer(answer, max_choices=1, fail_next=2) as server:
        c = client(server, tmp_path / "cache")
        drafts = c.complete([{"role": "user", "content": "Read the following text: x"}], n=3)
        assert len(drafts) == 3  # one choice per response: asked three times
        assert c.stats["retries"] == 2 and len(server.requests) == 2 + 3
        again = client(server, tmp_path / "cache")
        assert [d.text for d in again.complete([{"role": "user", "content": "Read the following text: x"}], n=3)] \
            == [d.text for d in drafts]
        assert again.stats["requests"] == 0 and again.stats["cached"] == 3 and len(server.requests) == 5


def test_client_gives_up_with_a_clear_error():
    with ReplayServer(answer, fail_next=100) as server:
        with pytest.raises(RuntimeError, match="request failed"):
            client(server, retries=1).complete([{"role": "user", "content": "Read the following text"}])


def test_percentile_and_branching_on_a_known_graph():
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([], 80) == 0.0
    reasons = [Reason(x, f"text {x}", "pro") for x in "ABCD"]
    edges = [
        Edge("A", CENTRAL, "support", 0.9, "t"), Edge("B", CENTRAL, "support", 0.3, "t"),
        Edge("B", "A", "support", 0.8, "t"),  # B's best parent is A
        Edge("C", CENTRAL, "attack", 0.5, "t"), Edge("C", "B", "attack", 0.4, "t"),
        Edge("A", "B", "support", 0.7, "t"),  # would close a cycle with B -> A
    ]
    fmap = build("Claim", reasons, edges, extra_percentile=50, max_extra_out=1)
    tree = {(e.source, e.target) for e in fmap.tree}
    assert tree == {("A", CENTRAL), ("B", "A"), ("C", CENTRAL), ("D", CENTRAL)}  # D had no edge: under the root
    assert {(e.source, e.target) for e in fmap.extra} == {("A", "B")}  # 0.7 >= median 0.6, one per source
    text = to_argdown(fmap)
    doc = parse(text)
    assert doc.ok, doc.errors
    assert text.splitlines()[:3] == ["[Central claim]: Claim", "    <+ <A>: text A", "        <+ <B>: text B"]


def test_rendering_neutralises_argdown_syntax_in_model_text():
    reasons = [Reason("A [x] <y>: #z", "Costs {a: 1} rise // a lot *really* @[T] + more", "con")]
    fmap = build("C [1] _under_", reasons, [Edge(reasons[0].label, CENTRAL, "attack", 1.0, "t")])
    doc = parse(to_argdown(fmap))
    assert doc.ok, (to_argdown(fmap), doc.errors)
    [arg] = doc.arguments.values()
    assert "Costs (a: 1) rise" in arg.members[0].text and doc.relations[0].type == "attack"


def test_pairs_cli_on_recorded_servers(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(3):
        (texts / f"t{i}.md").write_text(f"---\ntitle: T{i}\ngenre: forum post\n---\n\nText number {i}.\n")

    def weak(body):
        prompt = body["messages"][-1]["content"]
        if "CLAIM:" in prompt:
            return [("CLAIM: Sundays. \nPRO: Only | Parents.", None)]
        return answer(body)

    with ReplayServer(answer, "strong-model") as strong, ReplayServer(weak, "weak-model") as weak_server:
        args = ["pairs", str(texts), "--strong", strong.url, "--weak", weak_server.url + "#weak-model",
                "--out", str(tmp_path / "out"), "--quiet"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        sent = len(strong.requests) + len(weak_server.requests)
        rerun = CliRunner().invoke(main, args)  # everything comes from the cache
        assert rerun.exit_code == 0 and len(strong.requests) + len(weak_server.requests) == sent
    from datasets import load_dataset

    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf-cache"))  # no stale cache hits
    rows = [r for split in ds.values() for r in split]
    assert len(rows) == 3 and {r["genre"] for r in rows} == {"forum post"}
    row = rows[0]
    assert row["strong_model"].endswith("#strong-model") and row["weak_model"].endswith("#weak-model")
    assert row["chosen_parse_ok"] and row["chosen_nodes"] == 4 and row["rejected_nodes"] == 2
    assert row["chosen"][0]["content"].startswith("```argdown\n[Central claim]:")
    assert row["prompt"][0]["content"].startswith("Reconstruct the argumentation")
    assert row["prompt"][0]["content"].endswith(f"Text number {row['text_id'][1]}.")


def test_pairs_end_to_end_against_transformers_serve(tiny_model, spin_dataset, tmp_path):
    """Two tiny local checkpoints behind a real `transformers serve`: the 'strong' one trained longer."""
    import re

    from spin_train.tiny import init_tiny, load_rows
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
                "--out", str(tmp_path / "out"), "--quiet", "--max-reasons", "3", "--max-pairs", "2"]
        first = CliRunner().invoke(main, args)
        assert first.exit_code == 0, first.output
        second = CliRunner().invoke(main, args)  # every request is answered from the cache
    assert second.exit_code == 0
    sent = [int(n) for n in re.findall(r"'requests': (\d+)", first.output)]
    again = [int(n) for n in re.findall(r"'requests': (\d+)", second.output)]
    assert all(n > 0 for n in sent) and again == [0, 0]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "strong model" in card and str(strong) in card
    rows = [r for p in (tmp_path / "out" / "default").glob("*.parquet") for r in _read(p)]
    skipped = re.search(r"\((\d+) skipped\)", first.output)
    assert len(rows) + int(skipped.group(1)) == 2
    for row in rows:
        assert row["chosen_parse_ok"] and parse(row["chosen"][0]["content"].strip("`\n").removeprefix("argdown\n")).ok


def _read(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


CORPORA = __import__("pathlib").Path(__file__).resolve().parents[1] / "corpora"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=30))
def test_any_model_text_renders_to_a_map_that_parses(central, reason, label):
    """Whatever a model writes, the rendered map parses and keeps the reason's words."""
    fmap = build(central, [Reason(label, reason, "pro")], [Edge(label, CENTRAL, "support", 0.5, "t")])
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

    def weak(body):
        prompt = body["messages"][-1]["content"]
        return [("CLAIM: Sundays. \nPRO: Only | Parents.", None)] if "CLAIM:" in prompt else answer(body)

    try:
        with ReplayServer(weak, "weak-model") as weak_server:
            args = ["pairs", str(texts), "--strong", server.url, "--weak", weak_server.url, "--retries", "1",
                    "--out", str(tmp_path / "out"), "--quiet", "--concurrency", "1"]
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
            assert isinstance(result.exception, SystemExit) or result.exception is None
            assert "skipped t1:" in result.output and "(1 skipped)" in result.output
            card = (tmp_path / "out" / "README.md").read_text()
            assert "`t1`:" in card and "pairs: " in card
            server.bad = None  # healthy now: the bad replies were not cached, so t1 is mapped this time
            again = CliRunner().invoke(main, args)
            assert again.exit_code == 0 and "(0 skipped)" in again.output, again.output
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
