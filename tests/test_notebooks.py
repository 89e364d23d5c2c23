"""The notebooks run from top to bottom on a dataset and a run dir built here, and are stored without outputs."""

from pathlib import Path

import nbformat
import pytest

from spin_fixtures import tiny_config, write_config

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def evaluated_run(tiny_model, spin_dataset, tmp_path_factory):
    import subprocess
    import sys

    cfg = tiny_config(tiny_model, spin_dataset, evaluation={
        "enabled": True, "dataset": str(spin_dataset), "k": 2, "max_prompts": 4,
        "max_tokens": 128})  # the shortest Bench reference answer has 122 tokens here: the Bench is measured
    root = tmp_path_factory.mktemp("nb")
    config = write_config(root / "run.yaml", cfg)
    run_dir = root / "run"
    out = subprocess.run([sys.executable, "-m", "spin_train.cli", "run", str(config), "--run-dir", str(run_dir)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir


def test_notebooks_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01-line-by-line-datasets.ipynb", "02-curriculum.ipynb",
                                           "03-training-run.ipynb"]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, evaluated_run, spin_dataset, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("ARGUNAUTS_DATASET", str(spin_dataset))
    monkeypatch.setenv("ARGUNAUTS_RUN", str(evaluated_run))
    monkeypatch.setenv("ARGUNAUTS_CONFIG", str(evaluated_run / "config.yaml"))
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_run_with_evaluation_and_report(evaluated_run):
    import json

    from spin_train.evaluation.report import write_report
    from spin_train.run.run_dir import status

    info = status(evaluated_run)
    assert info["epochs_completed"] == 2 and all(e["phase"] == "evaluate" for e in info["epochs"].values())
    results = [json.loads((evaluated_run / f"epoch-{e:02d}" / "eval.json").read_text()) for e in (0, 1, 2)]
    for r in results:
        assert r["next_line"]["prompts"] == 4 and r["bench"]["k"] == 2
        assert 0 <= r["bench"]["pass@1"] <= r["bench"]["pass@2"] <= 1
        assert 0 <= r["bench"]["solved@1"] <= r["bench"]["solved@2"] <= 1 and r["bench"]["solved@1"] <= r["bench"]["pass@1"]
    report = write_report(evaluated_run)
    text = report.read_text()
    assert "| after epoch |" in text and "![Training (DPO) per epoch](training.png)" in text
    # each later checkpoint against the first on the same next-line prompts: change, +gained/-lost, McNemar's p
    from spin_train.evaluation.stats import paired_change

    last = paired_change(results[0]["next_line"]["hits"], results[2]["next_line"]["hits"])
    assert len(results[2]["next_line"]["hits"]) == 4
    assert f"| 2 | {results[2]['next_line']['exact_match']:.3f} | {last['change']:+.3f} (+{last['gained']}/" in text
    for key, what in (("per_task", "task"), ("per_config", "config")):  # base vs after SPIN, per task and config
        names = sorted(results[0]["bench"][key])
        assert f"Argdown Bench solved@1 / pass@1 per {what}:" in text and names
        assert f"| {names[0]} (n={results[0]['bench'][key][names[0]]['prompts']})" in text
    for png in ("curriculum.png", "training.png", "filtering.png", "evaluation.png"):
        assert (report.parent / png).stat().st_size > 1000


def test_the_evaluation_plot_has_whole_epochs_the_base_and_intervals():
    from scipy.stats import binomtest

    from spin_train.evaluation.report import _plt, eval_axes

    def result(epoch, hits):
        return {"epoch": epoch, "next_line": {"prompts": 40, "exact_match": hits / 40, "argdown_match": None},
                "bench": {"prompts": 12, "solved@1": 0.25, "pass@1": 0.5, "isomorphic": 0.0}}

    fig, ax = _plt().subplots()
    eval_axes(ax, [result(0, 4), result(1, 10), result(2, 20)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["base", "1", "2"]
    assert list(ax.get_xticks()) == [0, 1, 2]  # no 0.25 steps between the epochs
    exact = next(c for c in ax.containers if c.get_label().startswith("next-line exact match (n=40)"))
    (segments,) = exact.lines[2]  # the vertical error bars: one segment per epoch
    bars = [tuple(float(v) for v in s[:, 1]) for s in segments.get_segments()]
    ci = binomtest(10, 40).proportion_ci(0.95, method="exact")
    assert bars[1] == pytest.approx((ci.low, ci.high))
    assert not any(c.get_label().startswith("next-line Argdown-aware") for c in ax.containers)  # nothing to draw
    _plt().close(fig)


def test_the_eval_table_pairs_each_epoch_with_the_first_and_the_previous_and_leaves_out_an_unmeasured_bench():
    from spin_train.evaluation.report import eval_table

    def result(epoch, hits, bench):
        return {"epoch": epoch, "bench": bench,
                "next_line": {"prompts": 4, "exact_match": sum(hits) / 4, "argdown_match": sum(hits) / 4,
                              "hits": hits, "argdown_hits": hits, "first_line_match": 0.5}}

    why = "max_tokens 32 is below the shortest reference answer of its 12 items (41 tokens): no answer could be whole"
    unmeasured = {"not_measured": why, "prompts": 12, "k": 3}
    lines = eval_table([result(0, [0, 0, 0, 0], unmeasured), result(1, [1, 1, 0, 0], unmeasured),
                        result(2, [1, 0, 1, 1], unmeasured)])
    assert f"Argdown Bench not measured after epoch(s) 0, 1, 2: {why}." in lines
    assert not any("solved@1" in line or "0.000 (12)" in line for line in lines)  # no column of zeros
    row = next(line for line in lines if line.startswith("| 2 |"))
    # against the first: +3/-0; against epoch 1: +2/-1
    assert row.count("+0.750 (+3/-0") == 2 and row.count("+0.250 (+2/-1") == 2 and row.endswith("| 0.500 |")
    measured = {"prompts": 12, "k": 3, "solved@1": 0.25, "solved@3": 0.5, "pass@1": 0.5, "pass@3": 0.75,
                "graph_similarity": 0.4, "ged_similarity": 0.3, "isomorphic": 0.0}
    lines = eval_table([result(0, [0, 0, 0, 0], measured), result(1, [1, 1, 0, 0], unmeasured)])
    assert any("solved@1 (n)" in line for line in lines) and any(line.startswith("| 0 |") and "0.250 (12)" in line
                                                               for line in lines)
