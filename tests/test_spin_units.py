"""spin_train units: config validation, curriculum counts, filtering, pairs and mixing, conversions, spectrum."""

import json

import pytest
import yaml
from hypothesis import given, strategies as st

from spin_fixtures import tiny_config
from spin_train import config as C
from spin_train.data.mixture import epoch_counts, preference_row, sample_indices, selfplay_item
from spin_train.data.filtering import build_pairs, decide, keep_probability, same_argdown, same_exact
from spin_train.run.phases.generate import complete_batches
from spin_train.run.phases.mix import empty_candidates, pairs_sha256
from spin_train.run.run_dir import RunDir


def base(**over):
    return tiny_config("m", "d", **over)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["dpo"].update(learning_rate="fast"), "dpo.learning_rate: expected float"),
    (lambda c: c["dpo"].update(lr=1e-7), "dpo.lr: unknown key"),
    (lambda c: c["generation"].update(backend="tgi"), "generation.backend: expected one of 'local', 'openai', 'vllm'"),
    (lambda c: c["train_mixture"][0].update(type="sft"), "train_mixture[0].type: expected one of"),
    (lambda c: c["train_mixture"][1].pop("type"), "train_mixture[1].type: missing"),
    (lambda c: c["curriculum"]["weights"][0].update(nope=1), "curriculum.weights[0].nope: not a train_mixture key"),
    (lambda c: c["curriculum"]["weights"].__setitem__(1, {"critical-thinking-ten-arguments": 0}), "every weight is 0"),
    (lambda c: c["dpo"].update(effective_batch_size=64), "dpo.effective_batch_size: 64 != per_device_batch_size"),
    (lambda c: c["generation"].update(backend="openai"), "generation.url: required"),
    (lambda c: c["generation"].update(backend="openai", url="http://h/v1"), "generation.reload_command: required"),
    (lambda c: c.update(modle={}), "modle: unknown key"),
    (lambda c: c["spectrum"].update(top_percent=150), "spectrum.top_percent"),
    (lambda c: c["spectrum"].update(unfrozen_parameters_file="u.yaml"), "not both"),
    (lambda c: c.setdefault("evaluation", {}).update(batch_size=0), "evaluation.batch_size: expected a positive int"),
    (lambda c: c.setdefault("evaluation", {}).update(next_line_max_tokens=0), "evaluation.next_line_max_tokens"),
])
def test_config_errors_name_the_key_path(mutate, message):
    cfg = base()
    mutate(cfg)
    with pytest.raises(C.ConfigError) as err:
        C.from_dict(cfg)
    assert message in str(err.value)


def test_shipped_configs_validate_and_yaml_floats_parse(tmp_path):
    from spin_fixtures import ROOT

    tiny = C.load(ROOT / "configs" / "tiny-cpu.yaml")
    big = C.load(ROOT / "configs" / "argunaut-1-8b-spin.yaml")
    assert big.curriculum.epochs == 12 and big.generation.k == 5 and big.generation.temperature == 0.7
    assert big.dpo.learning_rate == 2e-7 and big.dpo.loss == "sigmoid" and big.dpo.scheduler == "linear"
    assert big.dpo.effective_batch_size == 64 and big.spectrum.top_percent == 30
    assert tiny.generation.backend == "local" and tiny.curriculum.epochs >= 2
    path = tmp_path / "c.yaml"
    path.write_text("model: {path: m}\ntrain_mixture: [\n")
    with pytest.raises(C.ConfigError, match=r"c\.yaml:\d+:\d+: not valid YAML"):
        C.load(path)


@given(st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 10), min_size=1), st.integers(1, 5000))
def test_epoch_counts_keep_the_epoch_size_and_the_weights_proportions(weights, total):
    if not any(w > 0 for w in weights.values()):
        return
    counts = epoch_counts(weights, total)
    assert set(counts) == {k for k, w in weights.items() if w > 0}
    assert sum(counts.values()) == total
    norm = sum(w for w in weights.values() if w > 0)
    assert all(abs(n - total * weights[k] / norm) < 1 for k, n in counts.items())


def test_sampling_is_deterministic_per_epoch_and_dataset_and_repeats_only_after_a_full_pass():
    a = sample_indices(100, 10, seed=0, epoch=1, key="x")
    assert a == sample_indices(100, 10, seed=0, epoch=1, key="x") and len({i for i, _ in a}) == 10
    assert a != sample_indices(100, 10, seed=0, epoch=2, key="x")
    many = sample_indices(7, 30, seed=0, epoch=1, key="x")
    assert all(sorted(i for i, r in many if r == p) == list(range(7)) for p in range(4))
    assert len([i for i, r in many if r == 4]) == 2  # 30 = 4 passes of 7 + 2


def test_filtering_keeps_with_probability_one_minus_l_over_k():
    """Statistical check with fixed seeds: 4,000 questions per l, 99.9 % binomial bounds."""
    k = 5
    for l in range(k + 1):
        kept = sum(decide(f"q{i}", l, k, seed=7, epoch=1) for i in range(4000))
        p = keep_probability(l, k)
        sd = (4000 * p * (1 - p)) ** 0.5
        assert abs(kept - 4000 * p) <= 3.3 * sd + 1e-9, (l, kept)
    assert decide("q", 2, 5, 0, 1) == decide("q", 2, 5, 0, 1)


def test_pairs_use_gold_as_chosen_and_a_differing_candidate_as_rejected():
    items = [{"id": f"q{i}", "source": "s", "prompt": [{"role": "user", "content": f"p{i}"}], "gold": "(1) A."}
             for i in range(200)]
    candidates = {f"q{i}": ["(1)  A.", "(2) B.", "x", "(1) A.", "y"] if i % 2 else ["(1) A."] * 5
                  for i in range(200)}
    pairs, stats = build_pairs(items, candidates, "exact", seed=0, epoch=1)
    assert stats["l_histogram"] == {"1": 100, "5": 100}  # "(1)  A." differs: only trailing whitespace is ignored
    assert all(p["chosen"][0]["content"] == "(1) A." and p["rejected"][0]["content"] in {"(1)  A.", "(2) B.", "x", "y"}
               for p in pairs)
    assert 60 <= len(pairs) <= 100  # only the l=1 questions can be kept, with probability 0.8


def test_argdown_rule_compares_parses():
    assert same_exact("[A]: Cats purr.  ", "[A]: Cats purr.") and not same_exact("  [A]: Cats purr.", "[A]: Cats purr.")
    assert same_argdown("[A]: Cats purr.", "[A]:   Cats purr.")
    assert not same_argdown("[A]: Cats purr.", "[B]: Cats purr.")


def test_preference_conversions():
    tulu = {"prompt": "Q", "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
            "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}]}
    row = preference_row(tulu, "tulu")
    assert row["prompt"] == [{"role": "user", "content": "Q"}]
    assert row["chosen"] == [{"role": "assistant", "content": "good"}] and row["rejected"][0]["content"] == "bad"
    trl = preference_row({"prompt": "Q", "chosen": "good", "rejected": "bad"}, "trl")
    assert trl["prompt"] == [{"role": "user", "content": "Q"}] and trl["chosen"][0]["role"] == "assistant"
    item = selfplay_item({"prompt": [{"role": "user", "content": "P"}],
                          "completion": [{"role": "assistant", "content": "L"}],
                          "snippet_id": "c/x.md:3", "line_index": 2}, "c", 0)
    assert item["gold"] == "L" and item["id"] == "c/x.md:3#2"


def test_run_dir_refuses_a_changed_config_and_cleans_a_torn_tail(tmp_path):
    cfg = C.from_dict(base())
    run = RunDir(tmp_path / "run")
    state = run.start(cfg)
    assert state.config_sha256 == cfg.sha256() and yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    changed = C.from_dict(base(dpo={"beta": 0.2}))
    with pytest.raises(C.ConfigError, match="the config changed since this run started"):
        run.start(changed)
    path = tmp_path / "c.jsonl"
    path.write_text('{"batch": 0, "candidates": {}}\n{"batch": 1, "cand')
    assert complete_batches(path) == 1 and path.read_text() == '{"batch": 0, "candidates": {}}\n'


def test_a_state_written_with_the_old_phase_names_resumes_under_the_new_ones(tmp_path):
    """state.json from before each phase had one name ("planned", "base evaluated", timing "eval"): read with
    today's names, so a rerun skips what was done and continues with the next phase."""
    from spin_train.run import phases

    cfg = C.from_dict(base())
    run = RunDir(tmp_path / "run")
    run.start(cfg)
    old = {**run.state.to_dict(), "done": ["scanned", "base evaluated"], "timings": {"spectrum": 1.0, "eval": 2.0},
           "epochs": {"1": {"phase": "mixed", "timings": {"plan": 1, "generate": 2, "mix": 3, "epoch": 6}},
                      "2": {"phase": "evaluated", "timings": {"train": 4, "eval": 5}}}}
    run.state_path.write_text(json.dumps(old))
    state = run.refresh()
    assert state.done == ["scan", "evaluate"] and state.timings == {"scan": 1.0, "evaluate": 2.0}
    assert state.epoch(1).phase == "mix" and state.epoch(2).timings == {"train": 4, "evaluate": 5}
    todo = [p.name for p in phases.epoch_table(cfg) if not state.epoch(1).reached(p.name)]
    assert todo == ["train", "evaluate"] if cfg.evaluation.enabled else todo == ["train"]
    assert [p.name for p in phases.run_table(cfg) if p.name not in state.done] == []


def test_pairs_hash_depends_on_content_only():
    pairs = [{"prompt": [{"role": "user", "content": "p"}], "chosen": [], "rejected": [], "source": "s"}]
    shuffled = [dict(reversed(list(p.items()))) for p in pairs]
    assert pairs_sha256(pairs) == pairs_sha256(shuffled) != pairs_sha256(pairs * 2)


def test_spectrum_snr_ranks_and_writes_upstream_yaml(tmp_path):
    import torch

    from spin_train.training import spectrum

    torch.manual_seed(0)
    noise = torch.randn(64, 64)
    signal = noise * 0.01 + torch.outer(torch.randn(64), torch.randn(64)) * 10  # one strong direction
    assert spectrum.snr(signal) > spectrum.snr(noise)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Module() for _ in range(4)])
            for i, layer in enumerate(self.layers):
                layer.q_proj = torch.nn.Linear(64, 64, bias=False)
                with torch.no_grad():
                    layer.q_proj.weight.copy_(signal if i == 2 else torch.randn(64, 64))

    model = Tiny()
    chosen = spectrum.select(model, 0.25)
    assert chosen == ["layers.2.q_proj.weight"]
    spectrum.write_yaml(chosen, tmp_path / "u.yaml")
    patterns = spectrum.read_yaml(tmp_path / "u.yaml")
    assert spectrum.freeze(model, patterns) == 64 * 64
    assert [n for n, p in model.named_parameters() if p.requires_grad] == chosen


def test_model_config_chat_template_overrides_the_tokenizers(tiny_model):
    from spin_train.config import ModelConfig
    from spin_train.data.lengths import render_prompt_ids
    from spin_train.training.models import load_tokenizer

    template = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}[assistant]"
    tok = load_tokenizer(str(tiny_model), ModelConfig(path=str(tiny_model), chat_template=template))
    assert tok.chat_template == template
    ids = render_prompt_ids(tok, [{"role": "user", "content": "hi"}])
    assert tok.decode(ids) == "[user]hi[assistant]"


def test_devices_resolve_to_cuda_when_present_and_a_missing_gpu_is_a_clear_error(monkeypatch):
    import torch

    from argdown_lbl.errors import UserError
    from spin_train.training.models import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu") and resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(UserError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    with pytest.raises(C.ConfigError, match="generation.device: expected auto, cpu, cuda or cuda:N"):
        C.from_dict(base(generation={"device": "gpu"}))


def test_the_local_backend_and_the_scan_run_where_they_are_told(tiny_model):
    from spin_train.training import spectrum
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.serving.backends import LocalBackend
    from spin_train.training.models import load_model

    backend = LocalBackend(str(tiny_model), GenerationConfig(k=2, max_tokens=3, device="cpu"),
                           ModelConfig(path=str(tiny_model)))
    assert backend.model.device.type == "cpu" and len(backend.generate([[{"role": "user", "content": "x"}]], 0)[0]) == 2
    model = load_model(str(tiny_model), ModelConfig(path=str(tiny_model)))
    assert spectrum.scan(model, device="cpu") == spectrum.scan(model)


def test_a_spectrum_yaml_cut_by_a_kill_is_never_left_behind(tmp_path, monkeypatch):
    """The run takes an existing unfrozen_parameters.yaml as the finished scan: it appears whole or not at all."""
    import os

    from spin_train.training import spectrum

    target = tmp_path / "unfrozen_parameters.yaml"

    def killed(*_args):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        spectrum.write_yaml(["model.layers.0.mlp.down_proj.weight"], target)
    assert not target.exists()


@pytest.mark.parametrize("report_to,error", [
    (["tensorboard", "wandb"], None), (["none"], None),
    (["tensorbored"], "dpo.report_to: unknown tracker 'tensorbored' .*tensorboard"),
    (["none", "tensorboard"], r"dpo.report_to: expected \[none\] or a list"), ([], "dpo.report_to")])
def test_report_to_names_trackers_transformers_knows(report_to, error):
    def load(raw):  # as `spin-train run` does: the config, then the run's sources (check_trackers among them)
        cfg = C.from_dict(raw)
        C.check_trackers(cfg.dpo.report_to)
        return cfg

    if error is None:
        assert load(base(dpo={"report_to": report_to})).dpo.report_to == report_to
    else:
        with pytest.raises(C.ConfigError, match=error):
            load(base(dpo={"report_to": report_to}))


def test_a_checkpoint_that_answers_nothing_is_called_collapsed():
    """make demo's first SPIN epoch (lr 1e-4) left a model whose every candidate was "": the mix phase says so."""
    collapsed = {"a": ["", "", " "], "b": ["", "x"]}
    empty, warning = empty_candidates(collapsed)
    assert empty == 4 and "4 of 5 candidates are empty" in warning and "dpo.learning_rate" in warning
    assert empty_candidates({"a": ["", "x", "y"], "b": ["z"]}) == (1, None)  # a few empty answers are answers
    assert empty_candidates({}) == (0, None)
