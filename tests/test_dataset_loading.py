"""What a run, an evaluation and init-tiny read from a local dataset folder is what is on disk.

``datasets`` keys its cache of a local folder on the folder's name, card, file paths and modification times;
a corpus fixed with a word of the same length and split again into the same folder, or another folder of the
same name, gave the earlier rows through plain ``load_dataset`` (the first test shows that it still does,
so the tests below would fail through it). The card records the parquet files' sizes, so the case needs a
fix that keeps them: one letter that appears nowhere else, swapped for another ("Xyzzy" -> "Qyzzy"). ``dataset_folder.load`` reads by content.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SNIPPET = """# {title}

Some prose before the map.

```argdown
[Main claim]: {word} holds.
  + <Reason {i}>: Because of {word} and its friends.
  - <Objection {i}>: Not {word} at all.
```
"""


def write_corpus(root: Path, word: str, snippets: int = 8, files: int = 4) -> Path:
    """A corpus of one config, its files split between train and test by their names, with ``word`` in every
    line: a word of the same length changes no split and no size."""
    config = root / "one-file"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.yaml").write_text("split_by: source\nsplits: {train: 0.5, test: 0.5}\n", encoding="utf-8")
    for f in range(files):
        text = "\n".join(SNIPPET.format(title=f"Text {i}", word=word, i=i) for i in range(snippets))
        (config / f"notes-{f}.md").write_text(text, encoding="utf-8")
    return root


def split(corpus: Path, out: Path) -> Path:
    cli = Path(sys.executable).with_name("argdown-lbl")
    subprocess.run([str(cli), "split", str(corpus), "--out", str(out), "--quiet"], check=True)
    return out


def words(rows) -> set[str]:
    return {w for r in rows for w in ("Xyzzy", "Qyzzy") if f"{w} holds" in str(r["completion"])}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A datasets cache of the test's own (read by load_dataset at call time)."""
    from datasets import config

    monkeypatch.setattr(config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def entry(folder: Path, split_name: str = "train"):
    from spin_train.config import MixtureEntry

    return MixtureEntry(path=str(folder), config_name="one-file", type="selfplay", split=split_name)


def test_plain_load_dataset_serves_the_old_rows_of_a_resplit_folder(tmp_path, cache):
    """The mechanism the loader exists for: if this ever fails, datasets fixed it and the loader may go."""
    from datasets import load_dataset

    out = split(write_corpus(tmp_path / "corpus", "Xyzzy"), tmp_path / "lbl")
    assert words(load_dataset(str(out), name="one-file", split="train")) == {"Xyzzy"}
    split(write_corpus(tmp_path / "corpus", "Qyzzy"), out)
    assert words(load_dataset(str(out), name="one-file", split="train")) == {"Xyzzy"}  # stale


def test_a_fixed_corpus_split_again_into_the_same_folder_is_read_as_fixed(tmp_path, cache):
    from spin_train.data.mixture import load_entry
    from spin_train.evaluation.bench import load_bench
    from spin_train.data.rows import load_rows

    out = split(write_corpus(tmp_path / "corpus", "Xyzzy"), tmp_path / "lbl")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert words(load_entry(entry(out))) == {"Xyzzy"}
    assert words(load_bench(str(out), ["one-file"])[0]) == {"Xyzzy"}
    assert words(load_rows(out)) == {"Xyzzy"}
    split(write_corpus(tmp_path / "corpus", "Qyzzy"), out)  # the same lengths, the same file names
    assert (out / "README.md").read_text(encoding="utf-8") == card  # the same card, sizes included
    assert words(load_entry(entry(out))) == {"Qyzzy"}  # the run's path
    rows, _, _ = load_bench(str(out), ["one-file"])  # the evaluation's path (test split)
    assert rows and words(rows) == {"Qyzzy"}
    assert words(load_rows(out)) == {"Qyzzy"}  # init-tiny's and spin-train sft's path


CARD = """---
configs:
- config_name: one-file
  data_files:
  - split: train
    path: one-file/train-*
  - split: test
    path: one-file/test-*
---
"""


def test_two_folders_of_the_same_name_and_card_each_give_their_own_rows(tmp_path, cache):
    """As the study's real-world sample: a folder of another's rows under a card without sizes."""
    from datasets import load_dataset

    from argdown_lbl.dataset_folder import parquet_rows
    from spin_train.data.mixture import load_entry
    from spin_train.evaluation.bench import load_bench

    a = split(write_corpus(tmp_path / "corpus-a", "Xyzzy", snippets=8), tmp_path / "a" / "lbl")
    b = split(write_corpus(tmp_path / "corpus-b", "Xyzzy", snippets=12), tmp_path / "b" / "lbl")
    for folder in (a, b):
        (folder / "README.md").write_text(CARD, encoding="utf-8")
    assert len(load_dataset(str(a), name="one-file", split="train")) == \
        len(load_dataset(str(b), name="one-file", split="train"))  # plain datasets: a's rows for b
    for folder in (a, b):
        on_disk = parquet_rows(next((folder / "one-file").glob("test-*.parquet")))
        assert len(load_bench(str(folder), ["one-file"])[0]) == len(on_disk)
        on_disk = parquet_rows(next((folder / "one-file").glob("train-*.parquet")))
        assert len(load_entry(entry(folder))) == len(on_disk)
    assert len(load_entry(entry(a))) != len(load_entry(entry(b)))


def test_the_fingerprint_follows_the_content_not_the_folder(tmp_path):
    from argdown_lbl.dataset_folder import content_fingerprint

    a = split(write_corpus(tmp_path / "corpus", "Xyzzy"), tmp_path / "a")
    shutil.copytree(a, tmp_path / "b")
    assert content_fingerprint(a, ["one-file"]) == content_fingerprint(tmp_path / "b", ["one-file"])
    split(write_corpus(tmp_path / "corpus", "Qyzzy"), a)
    assert content_fingerprint(a, ["one-file"]) != content_fingerprint(tmp_path / "b", ["one-file"])


def test_a_run_records_its_folders_content_and_a_resume_after_a_change_stops_naming_the_folder(
        tmp_path, cache, monkeypatch):
    """Through Loop.lead (the phase tables emptied: the record and the check come before any phase)."""
    from argdown_lbl.errors import UserError
    from spin_train import config as C
    from spin_train.run import phases
    from spin_train.run.loop import Loop
    from spin_train.run.run_dir import RunDir

    from spin_fixtures import tiny_config

    monkeypatch.setattr(phases, "run_table", lambda cfg: [])
    monkeypatch.setattr(phases, "epoch_table", lambda cfg: [])
    out = split(write_corpus(tmp_path / "corpus", "Xyzzy"), tmp_path / "lbl")
    raw = tiny_config("m", out, train_mixture=[{"path": str(out), "config_name": "one-file", "type": "selfplay"}],
                      curriculum={"examples_per_epoch": 4, "weights": [{"one-file": 1}]},
                      evaluation={"enabled": True, "dataset": str(out)})
    cfg = C.from_dict(raw)
    Loop(cfg, tmp_path / "run", log=lambda m: None).run_all()
    recorded = RunDir(tmp_path / "run").open().dataset_fingerprints
    assert set(recorded) == {"train_mixture[one-file]", "evaluation.dataset"}
    assert recorded["evaluation.dataset"]["configs"] == ["one-file"]
    Loop(cfg, tmp_path / "run", log=lambda m: None).run_all()  # unchanged: resumes
    split(write_corpus(tmp_path / "corpus", "Qyzzy"), out)
    with pytest.raises(UserError) as stopped:
        Loop(cfg, tmp_path / "run", log=lambda m: None).run_all()
    for name in ("evaluation.dataset", "train_mixture[one-file]"):
        assert f"{name}: the dataset folder {out} changed since this run started" in str(stopped.value)
    Loop(cfg, tmp_path / "new-run", log=lambda m: None).run_all()  # a new run dir starts on the new rows
