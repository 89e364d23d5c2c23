"""spin-train sft on the tiny model: completion-only loss, Spectrum, the length rule, a base for a run, and a
kill inside a step followed by a rerun that resumes and ends with the uninterrupted run's weights."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from spin_fixtures import tiny_config

SPIN = [sys.executable, "-m", "spin_train.cli"]
CONFIG = "classic-philosophical-arguments"


def sft_args(model, data, out, *extra):
    # 16 rows of 76 to 299 tokens: max-length 200 leaves 8 out; 8 rows of batch 2 are 4 steps
    return SPIN + ["sft", "--model", str(model), "--data", str(data), "--config", CONFIG, "--out", str(out),
                   "--rows", "16", "--batch-size", "2", "--max-length", "200", "--learning-rate", "1e-3",
                   "--spectrum-top-percent", "50", "--save-steps", "1", *extra]


def sft(*args, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def straight(tiny_model, spin_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "model"
    r = sft(*sft_args(tiny_model, spin_dataset, out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r.stderr


def test_sft_trains_the_spectrum_set_on_rows_that_fit_into_a_base_for_a_run(straight, tiny_model, spin_dataset):
    from safetensors.torch import load_file

    from spin_train import config as C
    from spin_train.training.models import load_tokenizer

    out, log = straight
    metrics = json.loads((out / "sft_metrics.json").read_text())
    assert metrics["rows"] + metrics["rows_too_long"] == 16 and metrics["rows_too_long"] >= 1
    assert f"{metrics['rows_too_long']} of 16 rows are longer than 200 tokens; left out" in log
    assert metrics["steps"] == -(-metrics["rows"] // 2) and metrics["resumed_from_step"] is None
    assert 0 < metrics["trainable_parameters"] < metrics["total_parameters"]
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = {n for n in before if not (before[n] == after[n]).all()}
    assert changed and all("layers" in n and n.endswith(".weight") for n in changed)  # only Spectrum's matrices
    assert sum(after[n].numel() for n in changed) == metrics["trainable_parameters"]
    cfg = C.from_dict(tiny_config(out, spin_dataset))  # a run config names it as its base
    assert load_tokenizer(cfg.model.path, cfg.model).chat_template == load_tokenizer(str(tiny_model), cfg.model).chat_template
    assert not out.with_name("model.sft-work").exists()
    assert metrics["token_check"]["rows"] == metrics["rows"]  # every row's ids checked before training
    import yaml

    card = (out / "README.md").read_text(encoding="utf-8")  # a model card the Hub reads
    assert {"sft", "trl", "argdown"} <= set(yaml.safe_load(card.split("---\n")[1])["tags"])
    assert f"{metrics['rows']} rows ({metrics['rows_too_long']} longer than 200 tokens left out)" in card
    assert "spin-train sft --model" in card and "--max-length 200" in card
    again = sft(*sft_args(tiny_model, spin_dataset, out))  # complete: nothing to do
    assert again.returncode == 0 and "is complete; nothing to do" in again.stderr


def test_the_loss_is_on_the_completion_only(tiny_model, spin_dataset, tmp_path):
    from spin_train.config import ModelConfig
    from spin_train.training.models import load_tokenizer
    from spin_train.training.sft import SFTSettings, build_trainer
    from spin_train.data.rows import load_rows
    from spin_train.data.tokens import sft_row

    tok = load_tokenizer(str(tiny_model), ModelConfig(path=str(tiny_model)))
    rows = [{**r, **sft_row(tok, r["prompt"], r["completion"])} for r in load_rows(spin_dataset, [CONFIG])[:2]]
    trainer, _, _ = build_trainer(SFTSettings(model=str(tiny_model), data=str(spin_dataset), batch_size=2),
                                  rows, tok, tmp_path / "work", log=lambda m: None)
    batch = next(iter(trainer.get_train_dataloader()))
    for i, row in enumerate(rows):
        learned = [t for t in batch["labels"][i].tolist() if t != -100]
        assert tok.decode(learned).startswith(row["completion"][-1]["content"])  # the answer, and its end token
        prompt = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)
        assert (batch["labels"][i][:len(prompt["input_ids"])] == -100).all()


def test_sft_killed_inside_a_step_resumes_and_ends_with_the_same_weights(straight, tiny_model, spin_dataset, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "model"
    work = tmp_path / "model.sft-work"
    proc = subprocess.Popen(sft_args(tiny_model, spin_dataset, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "SPIN_TRAIN_STALL": "train", "SPIN_TRAIN_STALL_STEP": "3"})
    deadline = time.time() + 300
    while not (work / ".stall-train").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert (work / ".stall-train").exists(), "sft never reached step 3"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-2"]
    other = sft(*sft_args(tiny_model, spin_dataset, out, "--learning-rate", "1e-4"))
    assert other.returncode == 1 and "holds a run with other settings (learning_rate)" in other.stderr
    r = sft(*sft_args(tiny_model, spin_dataset, out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from" in r.stderr and json.loads((out / "sft_metrics.json").read_text())["resumed_from_step"] == 2
    x, y = load_file(str(straight[0] / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all((x[n] == y[n]).all() for n in x)  # deterministic CPU training: as if never killed


def test_sft_with_no_row_that_fits_says_so(tiny_model, spin_dataset, tmp_path):
    r = sft(*sft_args(tiny_model, spin_dataset, tmp_path / "m", "--max-length", "8"))
    assert r.returncode == 1 and "no row of" in r.stderr and "fits --max-length 8" in r.stderr
    assert not (tmp_path / "m").exists()


def test_sft_to_its_plateau_stops_on_the_validation_loss_and_keeps_the_best_epoch(tiny_model, spin_dataset, tmp_path):
    """8 rows at a high rate overfit: the validation loss rises, training stops after --patience epochs without a
    lower one, and the weights kept are those of the lowest validation loss (not the last epoch's)."""
    from spin_train.config import ModelConfig
    from spin_train.training.models import load_tokenizer
    from spin_train.training.sft import SFTSettings, build_trainer
    from spin_train.data.rows import load_rows
    from spin_train.data.tokens import sft_row

    out = tmp_path / "model"
    r = sft(*SPIN, "sft", "--model", str(tiny_model), "--data", str(spin_dataset), "--config", CONFIG, "--out",
            str(out), "--rows", "8", "--batch-size", "2", "--max-length", "400", "--learning-rate", "3e-2",
            "--epochs", "8", "--validation-rows", "8", "--patience", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((out / "sft_metrics.json").read_text())
    curve = [c["loss"] for c in metrics["validation"]]
    best = min(range(len(curve)), key=curve.__getitem__)
    assert metrics["stopped_early"] and len(curve) == best + 2 < 8  # one epoch without a lower loss, then stop
    assert metrics["kept_epoch"] == metrics["validation"][best]["epoch"] and curve[-1] > curve[best]
    assert "validation loss by epoch" in r.stderr
    tok = load_tokenizer(str(out), ModelConfig(path=str(out)))
    held = [{**x, **sft_row(tok, x["prompt"], x["completion"])}
            for x in load_rows(spin_dataset, [CONFIG], split="validation", limit=8)]
    held = [x for x in held if len(x["input_ids"]) <= 400]
    trainer, _, _ = build_trainer(SFTSettings(model=str(out), data=str(spin_dataset), batch_size=2), held, tok,
                                  tmp_path / "check", log=lambda m: None, held=held)
    assert abs(trainer.evaluate()["eval_loss"] - curve[best]) < 1e-4  # the kept weights are the best epoch's


def test_validation_rows_of_a_config_without_that_split_are_refused_naming_it(tiny_model, spin_dataset, tmp_path):
    r = sft(*SPIN, "sft", "--model", str(tiny_model), "--data", str(spin_dataset), "--config",
            "critical-thinking-ten-arguments", "--out", str(tmp_path / "m"), "--validation-rows", "4", "--patience", "1")
    assert r.returncode == 1 and "config critical-thinking-ten-arguments" in r.stderr
    assert 'Unknown split "validation"' in r.stderr and not (tmp_path / "m").exists()
    r = sft(*sft_args(tiny_model, spin_dataset, tmp_path / "m", "--patience", "1"))
    assert r.returncode == 1 and "--patience needs a positive count and --validation-rows" in r.stderr
