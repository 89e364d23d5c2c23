"""The dataset folder: loads with datasets as the Hub would; push sends real requests to a local Hub."""

import base64
import json

import pytest
import yaml
from click.testing import CliRunner

from argdown_lbl.cli import main
from hub_server import LocalHub


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    corpus = root / "corpus"
    (corpus / "maps").mkdir(parents=True)
    for i in range(12):
        (corpus / "maps" / f"m{i}.md").write_text(
            f"# Map {i}\n\nWhy {i}?\n\n```argdown\n[T{i}]: Thesis {i}.\n    + <A{i}>: Reason {i}.\n```\n")
    (corpus / "logic").mkdir()
    (corpus / "logic" / "config.yaml").write_text("license: mit\nsplits: {train: 0.5, test: 0.5}\n")
    (corpus / "logic" / "p.md").write_text("```z3\n(declare-const p Bool)\n(assert p)\n(check-sat)\n```\n"
                                           "\n```z3\n(check-sat)\n```\n")
    out = root / "out"
    result = CliRunner().invoke(main, ["split", str(corpus), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_card_lists_every_config_and_split_and_datasets_loads_them(dataset_dir):
    from datasets import load_dataset

    card = (dataset_dir / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    configs = {c["config_name"]: [f["split"] for f in c["data_files"]] for c in meta["configs"]}
    assert set(configs) == {"maps", "logic"} and sorted(meta["license"]) == ["cc-by-4.0", "mit"]
    for name, splits in configs.items():
        ds = load_dataset(str(dataset_dir), name=name, cache_dir=str(dataset_dir.parent / "hf-cache"))
        assert sorted(ds) == sorted(splits)
        for split in splits:
            files = list((dataset_dir / name).glob(f"{split}-*.parquet"))
            assert len(files) == 1 and len(ds[split]) > 0
    maps = load_dataset(str(dataset_dir), name="maps", cache_dir=str(dataset_dir.parent / "hf-cache"))
    rows = [r for split in maps.values() for r in split]
    assert len(rows) == 12 * 3 and {r["language"] for r in rows} == {"argdown"}
    assert rows[0]["prompt"][0]["role"] == "user" and rows[0]["completion"][0]["role"] == "assistant"
    logic = load_dataset(str(dataset_dir), name="logic", cache_dir=str(dataset_dir.parent / "hf-cache"))
    checks = {r["check"] for split in logic.values() for r in split}
    assert checks == {"sat"}  # both scripts were run by z3


def test_push_dry_run_lists_files_and_paths(dataset_dir, tmp_path):
    (dataset_dir / ".git").mkdir(exist_ok=True)
    (dataset_dir / ".git" / "config").write_text("x")
    result = CliRunner().invoke(main, ["push", str(dataset_dir), "--repo-id", "org/lbl", "--dry-run"])
    assert result.exit_code == 0
    assert "datasets/org/lbl (public)" in result.output and "-> README.md" in result.output
    assert "-> maps/" in result.output and ".git" not in result.output
    bad = CliRunner().invoke(main, ["push", str(dataset_dir), "--repo-id", "no-slash", "--dry-run"])
    assert bad.exit_code == 2 and "ORG/NAME" in bad.output


def test_push_sends_the_folder_to_a_local_hub_with_the_token_only_in_the_header(dataset_dir, monkeypatch):
    from huggingface_hub import HfApi

    from argdown_lbl.hub import push

    secret = "hf_test_SECRET_token_123"
    monkeypatch.setenv("HF_TOKEN", secret)
    with LocalHub() as hub:
        info = push(dataset_dir, "org/lbl", private=True, api=HfApi(endpoint=hub.endpoint))
        requests = hub.requests
    paths = [(m, p) for m, p, _, _ in requests]
    assert ("POST", "/api/repos/create") in paths and ("POST", "/api/datasets/org/lbl/commit/main") in paths
    create = json.loads(next(b for m, p, _, b in requests if p == "/api/repos/create"))
    assert create == {"name": "lbl", "organization": "org", "visibility": "private", "type": "dataset"}
    assert all(h.get("authorization") == f"Bearer {secret}" for _, _, h, _ in requests)
    commit = next(b for m, p, _, b in requests if p.endswith("/commit/main")).decode()
    ops = [json.loads(line) for line in commit.splitlines()]
    uploaded = {op["value"]["path"]: base64.b64decode(op["value"]["content"]) for op in ops if op["key"] == "file"}
    assert set(uploaded) == {p.relative_to(dataset_dir).as_posix() for p in dataset_dir.rglob("*")
                             if p.is_file() and ".git" not in p.parts}
    assert uploaded["README.md"] == (dataset_dir / "README.md").read_bytes()
    assert secret not in commit and info.oid == "a" * 40


def test_push_cli_never_prints_the_token(dataset_dir, monkeypatch):
    from huggingface_hub import constants

    secret = "hf_test_SECRET_token_456"
    monkeypatch.setenv("HF_TOKEN", secret)
    with LocalHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)  # what HF_ENDPOINT sets at import time
        result = CliRunner().invoke(main, ["push", str(dataset_dir), "--repo-id", "org/lbl"])
    assert result.exit_code == 0, result.output
    assert "uploaded" in result.output and secret not in result.output


def test_strict_turns_problems_into_exit_status_1(tmp_path):
    cfg = tmp_path / "corpus" / "c"
    cfg.mkdir(parents=True)
    (cfg / "ok.md").write_text("```argdown\n[A]: a.\n```\n")
    (cfg / "bad.md").write_text("```argdown\n[A]: *unclosed\n```\n")
    args = ["split", str(tmp_path / "corpus"), "--out", str(tmp_path / "out")]
    relaxed = CliRunner().invoke(main, args)
    assert relaxed.exit_code == 0 and "c/bad.md:2:" in relaxed.output
    assert CliRunner().invoke(main, args + ["--strict"]).exit_code == 1
