"""Does SPIN improve a plateaued SFT model beyond more SFT on the same data? The SPIN paper's question at 135 M.

The protocol (2026-12-06; the run is the unit of replication):
1. Splits by source file: the study's own split of EVAL_CONFIGS, the two configs it trains on (TRAIN_CONFIGS)
   by file (``split_by: source``, FILE_SPLITS), so that a text's map and reconstruction and their prose never
   sit on both sides; the evaluation-only configs as their corpora split them. The files per split are checked.
2. The SFT base: `spin-train sft` of the base (SmolLM2-135M-Instruct, `make base`) on a fixed set of
   ``--sft-rows`` train rows of TRAIN_CONFIGS (Spectrum 30 %), epoch after epoch until the loss on the
   validation rows of TRAIN_CONFIGS stops falling (patience 1, the best epoch kept; the curve is reported).
   SPIN's prompts and the more-SFT arm's rows are drawn from that same set, as in the paper.
3. Learning rates chosen on validation rows only: for each arm, one iteration from the SFT base at each rate of
   its grid (tuning seed TUNE_SEED, not a study seed), scored by next-line Argdown-aware match on
   ``--tune-prompts`` validation prompts of TRAIN_CONFIGS (exact match breaks ties, then the smaller rate).
4. The arms, per seed (``--seeds``, 3 by default), ``--iterations`` iterations at the chosen rates:
   - spin: `spin-train run` on ``--examples`` prompts per iteration drawn from the SFT set, k=5 at T=0.7
     through the run's vLLM server, dynamic filtering, DPO (sigmoid, Spectrum 30 %);
   - sft: more SFT from the previous SFT iterate on the gold answers of the prompts SPIN trained on in the
     same iteration (its pairs' prompt and chosen): the same examples, batch and optimizer steps;
   - spin-earlier (``--arms``): SPIN with the paper's data rule, the previous iteration's pairs added.
5. Every model (the SFT base, each iterate) evaluated through a vLLM server of its own on the same prompts:
   next-line exact and Argdown-aware match on ``--eval-prompts`` test prompts of EVAL_CONFIGS, the Argdown
   Bench's solved@1 and pass@1, and next-line match on the real-world Argdown files of
   ../shared/upstream/argdown-realworld (text no training corpus holds).
6. Statistics from spin_train.evaluation.stats: per run, McNemar against the SFT base; between the arms, the per-seed
   differences tested across seeds (the run is the unit) with their interval; the primary endpoint (PRIMARY)
   named before the run with its power from a stated spread (PLANNED_SD), the rest exploratory, Holm-adjusted.

Writes OUT/results.json (hits per prompt: every test can be redone), OUT/results.md and OUT/study.png.
Resumes: what OUT holds is not done again (run it in several sittings).

    python benchmarks/spin_vs_sft.py --model runs/base/SmolLM2-135M-Instruct

`make base` and `make vllm` first. The time per part is in OUT/results.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import options
from options import ROOT


TRAIN_CONFIGS = ["classic-philosophical-arguments", "critical-thinking-ten-arguments"]
EVAL_CONFIGS = ["classic-philosophical-arguments", "critical-thinking-ten-arguments", "argument-analysis-textbook",
                "synthetic_corpus-001", "synthetic_logic-001"]
VLLM_ARGS = ["--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--no-enable-chunked-prefill",
             "--max-num-batched-tokens", "16384"]
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}  # as configs/smollm2-vllm.yaml
# By hash of the file name: classic 5/1/1 files, ten-arguments 6/3/1 (each split holds a file of each)
FILE_SPLITS = {"train": 0.6, "validation": 0.2, "test": 0.2}
SFT_MAX_EPOCHS = 6  # the SFT base stops earlier, once its validation loss stops falling
GRIDS = {"spin": [1e-5, 3e-5, 1e-4], "sft": [1e-5, 3e-5, 1e-4]}  # learning rates tried on the validation rows
TUNE_SEED = 100
VALIDATION_ROWS = 160  # for the SFT base's loss curve, of the validation files
ARMS = ["spin", "sft", "spin-earlier"]
PAIRS = [("spin", "sft"), ("spin-earlier", "spin"), ("spin-earlier", "sft")]  # arm A - arm B, per iteration
PER_FILE = 16  # real-world next-line rows per source file
# The named primary endpoint (the rest exploratory, Holm-adjusted): SPIN against more SFT after the last iteration,
# on next-line Argdown-aware match
PRIMARY = "spin - sft, the last iteration, next-line Argdown-aware"
# The spread of the per-seed difference assumed before the run: the 2026-12-05 pilot's two seeds differed by
# -26/432 and +1/432 on SPIN - SFT, iteration 1, Argdown-aware (SD 0.044)
PLANNED_SD = 0.044
METRICS = [("exact", "next-line exact", "hits"), ("argdown", "next-line Argdown-aware", "argdown_hits"),
           ("realworld", "real-world next-line exact", "realworld_hits"),
           ("realworld_argdown", "real-world next-line Argdown-aware", "realworld_argdown_hits")]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- data ------------------------------------------------------------------------------------------------------------

def study_dataset(out: Path) -> Path:
    """EVAL_CONFIGS split for the study (`argdown-lbl split`): TRAIN_CONFIGS by source file (FILE_SPLITS), the
    others as their corpora say. Checked: every split of TRAIN_CONFIGS has rows, and no file is in two."""
    target = out / "data"
    if not (target / "README.md").exists():
        import subprocess

        import yaml

        from argdown_lbl.yamlfile import load_yaml

        corpus = out / "corpus"
        for name in EVAL_CONFIGS:
            source, folder = ROOT / "corpora" / name, corpus / name
            folder.mkdir(parents=True, exist_ok=True)
            for f in source.iterdir():
                if f.name != "config.yaml" and not (folder / f.name).exists():
                    (folder / f.name).symlink_to(f.resolve())
            path = source / "config.yaml"
            spec = load_yaml(path.read_text(encoding="utf-8"), path) if path.exists() else {}
            if name in TRAIN_CONFIGS:
                spec.update(split_by="source", splits=FILE_SPLITS)
            (folder / "config.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        subprocess.run([str(Path(sys.executable).with_name("argdown-lbl")), "split", str(corpus), "--out",
                        str(target), "--quiet"], check=True)
    log("files per split: " + "; ".join(f"{c}: {n}" for c, n in files_per_split(target).items()))
    return target


def files_per_split(data: Path) -> dict[str, dict[str, int]]:
    """Per train config, the source files in each split; fails if a split is empty or a file is in two."""
    from spin_train.data.rows import split_rows

    out = {}
    for config in TRAIN_CONFIGS:
        files = {split: {r["source"] for r in split_rows(data, [config], split)} for split in FILE_SPLITS}
        shared = set().union(*(files[a] & files[b] for a in files for b in files if a < b))
        if shared or not all(files.values()):
            raise SystemExit(f"{data}: {config}'s split by file failed (files in two splits: {sorted(shared)}; "
                             f"per split: { {k: len(v) for k, v in files.items()} })")
        out[config] = {split: len(names) for split, names in files.items()}
    return out


def row_sets(data: Path, n: int, out: Path) -> tuple[Path, list[dict]]:
    """The fixed SFT set: ``n`` train rows of TRAIN_CONFIGS (seeded shuffle) as a parquet folder, the SFT base's
    rows and the pool SPIN draws its prompts from; and the validation rows of TRAIN_CONFIGS (its loss curve)."""
    from spin_train.data.rows import split_rows

    folder = out / "rows"
    if not (folder / "train.parquet").exists():
        from datasets import Dataset

        rows = split_rows(data, TRAIN_CONFIGS, "train")
        random.Random(0).shuffle(rows)
        folder.mkdir(parents=True, exist_ok=True)
        Dataset.from_list(rows[:n]).to_parquet(str(folder / "train.parquet"))
    held = split_rows(data, TRAIN_CONFIGS, "validation")
    random.Random(0).shuffle(held)
    return folder, held[:VALIDATION_ROWS]


def realworld_dataset(source: Path, out: Path) -> Path | None:
    """The real-world Argdown files as a line-by-line dataset, every row in its test split (`argdown-lbl split`),
    then at most PER_FILE rows of each file in a dataset of its own."""
    split, target = out / "realworld-lbl", out / "realworld-sample"
    if (target / "README.md").exists():
        return target
    if not (source / "files").is_dir():
        log(f"no real-world files at {source}: that evaluation is left out")
        return None
    import subprocess

    config = out / "realworld-corpus" / "argdown-realworld"
    config.mkdir(parents=True, exist_ok=True)
    for f in sorted((source / "files").glob("*.argdown")):
        if not (config / f.name).exists():
            (config / f.name).symlink_to(f.resolve())
    (config / "config.yaml").write_text(
        "description: Argdown files from public repositories (../shared/upstream/argdown-realworld), for evaluation "
        "only\nlicense: other\nlanguages: [argdown]\nsplits: {train: 0.0, test: 1.0}\nmax_snippet_lines: 40\n",
        encoding="utf-8")
    if not (split / "README.md").exists():
        subprocess.run([str(Path(sys.executable).with_name("argdown-lbl")), "split", str(config.parent), "--out",
                        str(split), "--quiet"], check=True)
    _per_file(split, target, PER_FILE)
    return target


def _per_file(dataset: Path, target: Path, most: int) -> None:
    """At most ``most`` rows of each source file (seeded) into ``target``: one 3 MB map gives 99 % of the rows
    otherwise. A new folder, not the split's rewritten in place (read back by content: dataset_folder.load)."""
    from datasets import Dataset

    from argdown_lbl.dataset_folder import load, parquet_name

    rows = load(str(dataset), name="argdown-realworld", split="test").to_list()
    random.Random(0).shuffle(rows)
    kept, seen = [], Counter()
    for row in rows:
        if seen[row["source"]] < most:
            seen[row["source"]] += 1
            kept.append(row)
    (target / "argdown-realworld").mkdir(parents=True, exist_ok=True)
    Dataset.from_list(kept).to_parquet(str(target / "argdown-realworld" / parquet_name("test")))
    _card_without_sizes(dataset / "README.md", target / "README.md")  # last: the folder is complete
    log(f"real-world next-line rows: {len(kept)} of {len(rows)}, at most {most} per file of {len(seen)}")


def _card_without_sizes(card: Path, target: Path) -> None:
    """The split's dataset card less its recorded split sizes, which datasets checks on load and the sample
    no longer has."""
    import yaml

    from argdown_lbl.yamlfile import load_yaml

    _, front, body = card.read_text(encoding="utf-8").split("---\n", 2)
    meta = load_yaml(front, card, line_offset=1)
    meta.pop("dataset_info", None)
    target.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{body}", encoding="utf-8")


# -- the arms --------------------------------------------------------------------------------------------------------

def spin_config(base: Path, rows: Path, seed: int, iterations: int, examples: int, earlier: int, lr: float) -> dict:
    key = str(rows)
    return {
        "model": {"path": str(base), "dtype": "float32"},
        "train_mixture": [{"path": key, "type": "selfplay"}],
        "curriculum": {"examples_per_epoch": examples, "weights": [{key: 1}] * iterations, "earlier_epochs": earlier},
        "generation": {"backend": "vllm", "vllm_python": str(ROOT / ".venv-vllm" / "bin" / "python"),
                       "vllm_args": VLLM_ARGS, "vllm_env": VLLM_ENV, "vllm_during_dpo": "stop",
                       "k": 5, "temperature": 0.7, "max_tokens": 48, "seed": seed, "batch_size": 32,
                       "concurrency": 32},
        "filtering": {"rule": "exact", "truncated_as_rejected": True, "seed": seed},
        "dpo": {"learning_rate": lr, "beta": 0.1, "effective_batch_size": 8, "per_device_batch_size": 1,
                "gradient_accumulation_steps": 8, "max_length": 1024, "seed": seed, "report_to": ["none"]},
        "spectrum": {"top_percent": 30},
    }


def spin_arm(name: str, base: Path, rows: Path, run_dir: Path, seed: int, iterations: int, examples: int,
             lr: float) -> list[Path]:
    """The SPIN run's checkpoints after each iteration (an iteration without pairs keeps its start)."""
    from spin_train.config import from_dict
    from spin_train.run.loop import Loop

    cfg = from_dict(spin_config(base, rows, seed, iterations, examples, 1 if name == "spin-earlier" else 0, lr))
    Loop(cfg, run_dir, log=log).run_all()
    return [Path(Loop(cfg, run_dir).run.checkpoint_before(e + 1, str(base))) for e in range(1, iterations + 1)]


def sft_arm(base: Path, spin_run: Path, folder: Path, seed: int, iterations: int, lr: float) -> list[Path]:
    """More SFT, iteration by iteration, on the prompts and gold answers SPIN's same iteration trained on."""
    from argdown_lbl.dataset_folder import parquet_rows

    from spin_train.training.sft import SFTSettings, sft

    current, models = base, []
    for e in range(1, iterations + 1):
        pairs = spin_run / f"epoch-{e:02d}" / "pairs.parquet"
        target = folder / f"iteration-{e}"
        if not pairs.exists():  # SPIN had nothing to train on: neither does this arm
            models.append(current)
            continue
        rows = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in parquet_rows(pairs)]
        settings = SFTSettings(model=str(current), data=str(pairs), learning_rate=lr, batch_size=1,
                               accumulation=8, max_length=1024, seed=seed,
                               unfrozen_file=str(spin_run / "unfrozen_parameters.yaml"))
        sft(settings, target, log=log, rows=rows)
        current = target
        models.append(current)
    return models


def tune(base: Path, rows: Path, data: Path, out: Path, args) -> dict:
    """Each arm's learning rate from its grid (GRIDS), chosen on the validation rows alone: one iteration from the
    SFT base at each rate (seed TUNE_SEED), scored by next-line Argdown-aware match on ``--tune-prompts``
    validation prompts, then exact match, then the smaller rate. The SFT trials train on the first SPIN trial's
    pairs (the plan and the candidates come from the SFT base, whatever the rate). Kept in OUT/tuning/choice.json."""
    folder = out / "tuning"
    path = folder / "choice.json"
    if path.exists():
        return json.loads(path.read_text())

    def score(model: Path, name: str) -> dict:
        return validation_score(model, data, folder / "eval" / f"{name}.json", args.tune_prompts)

    trials = [{"arm": "sft-base", "learning_rate": None, **_scores(score(base, "sft-base"))}]
    for lr in GRIDS["spin"]:
        model = spin_arm("spin", base, rows, folder / f"spin-lr{lr:g}", TUNE_SEED, 1, args.examples, lr)[0]
        trials.append({"arm": "spin", "learning_rate": lr, **_scores(score(model, f"spin-lr{lr:g}"))})
    for lr in GRIDS["sft"]:
        model = sft_arm(base, folder / f"spin-lr{GRIDS['spin'][0]:g}", folder / f"sft-lr{lr:g}", TUNE_SEED, 1, lr)[0]
        trials.append({"arm": "sft", "learning_rate": lr, **_scores(score(model, f"sft-lr{lr:g}"))})
    chosen = {arm: max((t for t in trials if t["arm"] == arm),
                       key=lambda t: (t["argdown"], t["exact"], -t["learning_rate"]))["learning_rate"] for arm in GRIDS}
    chosen["spin-earlier"] = chosen["spin"]
    choice = {"chosen": chosen, "trials": trials, "seed": TUNE_SEED, "prompts": args.tune_prompts}
    _write(path, choice)
    log(f"learning rates chosen on the validation rows: {chosen}")
    return choice


def _scores(r: dict) -> dict:
    return {"exact": sum(r["hits"]), "argdown": sum(r["argdown_hits"]), "n": len(r["hits"]),
            "argdown_n": len(r["argdown_hits"])}


# -- evaluation ------------------------------------------------------------------------------------------------------

def evaluate_model(model: Path, data: Path, realworld: Path | None, args, cache: Path) -> dict:
    """Next-line and Bench on EVAL_CONFIGS' test split (``cache``) and next-line on the real-world rows (its
    ``-realworld`` twin), through a vLLM server of the model's own; each part kept once done."""
    world_cache = cache.with_name(cache.stem + "-realworld.json")
    parts = {"main": cache, "realworld": world_cache if realworld else None}
    _reuse_twin(model, parts)
    todo = [name for name, path in parts.items() if path and not path.exists()]
    if todo:
        _evaluate_parts(model, data, realworld, args, todo, parts)
    result = json.loads(cache.read_text())
    world = json.loads(world_cache.read_text()) if realworld else {
        "realworld": None, "realworld_hits": [], "realworld_argdown": None, "realworld_argdown_hits": []}
    return {**result, **world}


def _reuse_twin(model: Path, parts: dict) -> None:
    """Take the evaluation of a model whose weights are bit-identical to ``model``'s (SPIN with earlier pairs
    trains its first iteration exactly as SPIN does), and record ``model``'s weights for later twins. The index
    maps each evaluation's name (its cache's stem) to the sha256 of its weights."""
    folder, name = parts["main"].parent, parts["main"].stem
    index_path = folder / "weights.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[name] = digest = _weights_sha256(model)
    _write(index_path, index)
    for twin in (other for other, d in index.items() if d == digest and other != name):
        for part, path in parts.items():
            source = path and path.with_name(path.name.replace(name, twin, 1))
            if path and not path.exists() and source.exists():
                _write(path, {**json.loads(source.read_text()), "same_weights_as": twin})
                log(f"{name}: weights identical to {twin}'s, bit for bit; its {part} evaluation is reused")


def _weights_sha256(model: Path) -> str:
    from spin_train.training.base_model import sha256_of

    return "+".join(sha256_of(f) for f in sorted(model.glob("*.safetensors")))


@contextlib.contextmanager
def served(model: Path, work: Path):
    """A vLLM server of ``model``'s own, as the run starts one (VLLM_ARGS, VLLM_ENV): -> its URL#MODEL."""
    from spin_train.run.children import Children
    from spin_train.config import GenerationConfig
    from spin_train.serving.server import VLLMServer

    g = GenerationConfig(backend="vllm", vllm_python=str(ROOT / ".venv-vllm" / "bin" / "python"), vllm_args=VLLM_ARGS,
                         vllm_env=VLLM_ENV)
    with VLLMServer(str(model), g, work / "vllm.log", 0, [], Children(work / "pids"),
                    socket=work / "private" / "vllm.sock") as server:
        yield f"{server.url}#{server.name}"
    shutil.rmtree(work, ignore_errors=True)


def _next_lines(data: Path, configs: list[str], prompts: int):
    """Next-line match alone on ``prompts`` prompts of ``configs`` (the Bench: one item, answers too short to run)."""
    from spin_train.config import EvaluationConfig

    return EvaluationConfig(dataset=str(data), configs=configs, k=1, samples=1, max_prompts=1, max_tokens=16,
                            next_line_prompts=prompts, next_line_max_tokens=48, batch_size=64)


def validation_score(model: Path, data: Path, cache: Path, prompts: int) -> dict:
    """Next-line match on ``prompts`` validation prompts of TRAIN_CONFIGS, the tuning's measure (it reads nothing
    of the test split); kept in ``cache``."""
    if not cache.exists():
        from spin_train.evaluation.checkpoint import evaluate

        t = time.time()
        with served(model, cache.with_suffix("")) as where:
            nl = evaluate(_next_lines(data, TRAIN_CONFIGS, prompts), server=where, split="validation",
                          tokenizer=str(model))["next_line"]
        _write(cache, {"model": str(model), "exact": nl["exact_match"], "hits": nl["hits"],
                       "argdown": nl["argdown_match"], "argdown_hits": nl["argdown_hits"],
                       "seconds": round(time.time() - t, 1)})
    return json.loads(cache.read_text())


def _evaluate_parts(model: Path, data: Path, realworld: Path | None, args, todo: list[str], parts: dict) -> None:
    from spin_train.evaluation.checkpoint import evaluate

    t = time.time()
    with served(model, parts["main"].with_suffix("")) as where:
        if "main" in todo:
            # the Bench at k=1 with 2 samples an item (its few items cannot show a change at this scale); with
            # --bench-items 0, answers of 16 tokens, which no Bench reference fits: evaluate runs no Bench
            bench = dataclasses.replace(_next_lines(data, EVAL_CONFIGS, args.eval_prompts), samples=2,
                                        max_prompts=args.bench_items or 1, max_tokens=256 if args.bench_items else 16)
            r = evaluate(bench, server=where, tokenizer=str(model))
            nl, bench = r["next_line"], r["bench"]
            _write(parts["main"], {"model": str(model), "dataset": str(data), "configs": EVAL_CONFIGS, "seed": 0,
                                   "next_line": nl,  # with ``indented`` (benchmarks/indent_split.py)
                                   "exact": nl["exact_match"], "hits": nl["hits"],
                                   "argdown": nl["argdown_match"], "argdown_hits": nl["argdown_hits"],
                                   "solved@1": bench.get("solved@1"), "pass@1": bench.get("pass@1"),
                                   "bench_items": bench["prompts"] if args.bench_items else 0,
                                   "seconds": round(time.time() - t, 1)})
        if "realworld" in todo:
            t_world = time.time()
            r = evaluate(_next_lines(realworld, [], args.realworld_prompts), server=where, tokenizer=str(model))
            nl = r["next_line"]
            _write(parts["realworld"], {"realworld_seconds": round(time.time() - t_world, 1),
                                        "realworld": nl["exact_match"], "realworld_hits": nl["hits"],
                                        "realworld_argdown": nl["argdown_match"],
                                        "realworld_argdown_hits": nl["argdown_hits"]})
    log(f"evaluated {model} ({', '.join(todo)}) in {time.time() - t:.0f} s")


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


# -- the report ------------------------------------------------------------------------------------------------------

def interval(hits: list[int]) -> str:
    from spin_train.evaluation.stats import interval as exact

    if not hits:
        return "-"
    low, high = exact(sum(hits) / len(hits), len(hits))
    return f"{sum(hits) / len(hits):.3f} [{low:.3f}, {high:.3f}] ({sum(hits)}/{len(hits)})"


def detectable(before: list[int], after: list[int]) -> float | None:
    """The smallest change in a share McNemar's test detects with 80 % power at 5 %, given the share of prompts
    whose answer changed here (stats.mde_paired; at least stats.min_discordant changed prompts)."""
    from spin_train.evaluation.stats import mde_paired, min_discordant

    if not before or len(before) != len(after):
        return None
    changed = max(sum(a != b for a, b in zip(before, after)), min_discordant())
    return mde_paired(len(after), changed / len(after))


def compare(before: dict, after: dict, key: str) -> str:
    from spin_train.evaluation.stats import paired_change

    c = paired_change(before[key], after[key])
    if c is None:
        return "-"
    mde = detectable(before[key], after[key])
    return f"{c['change']:+.3f} (+{c['gained']}/-{c['lost']}, p={c['p']:.2g}; MDE {mde:.3f})"


def arm_runs(results: dict, arm: str, it: int) -> dict[int, dict]:
    """The seed -> evaluation of one arm's iterate ``it`` (only the seeds that have it)."""
    models = results["models"]
    return {s: models[f"{arm}-seed{s}-{it}"] for s in results["settings"]["seeds"] if f"{arm}-seed{s}-{it}" in models}


def between_arms(results: dict) -> list[dict]:
    """Per arm pair, iteration and metric: the per-seed differences (arm A's share minus arm B's on the same
    prompts) tested across seeds (the run is the unit: stats.across_runs): p, and p adjusted by Holm over every
    row; the primary endpoint (PRIMARY) is read on its unadjusted p, the rest on Holm's."""
    from spin_train.evaluation.stats import across_runs, bootstrap_difference, holm, run_differences

    rows = []
    for after, before in PAIRS:
        for it in range(1, results["settings"]["iterations"] + 1):
            a, b = arm_runs(results, after, it), arm_runs(results, before, it)
            seeds = sorted(set(a) & set(b))
            for key, label, hits in METRICS:
                runs_a, runs_b = [a[s][hits] for s in seeds], [b[s][hits] for s in seeds]
                if not seeds or not all(runs_a + runs_b):
                    continue
                diffs = run_differences(runs_b, runs_a)
                rows.append({"comparison": f"{after} - {before}", "iteration": it, "metric": label, "key": key,
                             "seeds": seeds, "differences": diffs, **across_runs(diffs),
                             "bootstrap": bootstrap_difference(runs_b, runs_a)["interval"]})
    adjusted = holm({i: r["p"] for i, r in enumerate(rows) if r["p"] is not None})
    for i, r in enumerate(rows):
        r["holm_p"] = adjusted.get(i)
    return rows


def report(results: dict, out: Path) -> Path:
    from spin_train.evaluation.stats import mde_runs

    base = results["models"]["sft-base"]
    seeds = len(results["settings"]["seeds"])
    lines = ["# SPIN vs more SFT on SmolLM2-135M-Instruct", "", f"Settings: {json.dumps(results['settings'])}", "",
             *protocol(results),
             "Each cell: share [exact 95 % interval] (hits/n). Changes against the SFT base: one run's prompts, "
             "+prompts turned right/-turned wrong, McNemar's exact p, and MDE = the smallest change that test "
             "detects with 80 % power at 5 % given this pair's discordance.", ""]
    for key, label, hits in METRICS:
        lines += [f"## {label}", "", "| model | share | vs. SFT base |", "|---|---|---|",
                  f"| SFT base | {interval(base[hits])} | - |"]
        for name, r in results["models"].items():
            if name != "sft-base":
                lines.append(f"| {name} | {interval(r[hits])} | {compare(base, r, hits)} |")
        lines.append("")
    lines += ["## Between the arms, across seeds (the run is the unit)", "",
              "Per seed, arm A's share minus arm B's on the same prompts; across the seeds, their mean, the t-test "
              "of mean 0 and its 95 % interval, and a percentile interval resampling seeds and, within each, prompts "
              "(stats.bootstrap_difference); p (the t-test's) adjusted by Holm over every row. Primary endpoint "
              f"(read on its p; the rest exploratory, on Holm's): {PRIMARY}. "
              f"Designed before the run: with {seeds} seeds and a per-seed spread (SD) of {PLANNED_SD} (the "
              f"2026-12-05 pilot's two seeds), the smallest mean difference the t-test detects with 80 % power at "
              f"5 % is {_fmt(mde_runs(seeds, PLANNED_SD))}.", "",
              "| comparison | iteration | metric | per seed | mean | 95 % interval (t) | 95 % interval (bootstrap of "
              "runs and prompts) | p | Holm p |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in between_arms(results):
        per_seed = ", ".join(f"{d:+.3f}" for d in r["differences"])
        ci = "-" if r["interval"] is None else f"[{r['interval'][0]:+.3f}, {r['interval'][1]:+.3f}]"
        boot = f"[{r['bootstrap'][0]:+.3f}, {r['bootstrap'][1]:+.3f}]"
        lines.append(f"| {r['comparison']} | {r['iteration']} | {r['metric']} | {per_seed} | {r['mean']:+.3f} | "
                     f"{ci} | {boot} | {_fmt(r['p'])} | {_fmt(r['holm_p'])} |")
    if any(r["bench_items"] for r in results["models"].values()):
        lines += ["", "## Argdown Bench", "", "| model | solved@1 | pass@1 | items |", "|---|---|---|---|"]
        for name, r in results["models"].items():
            lines.append(f"| {name} | {r['solved@1']:.3f} | {r['pass@1']:.3f} | {r['bench_items']} |")
    else:
        lines += ["", "The Argdown Bench was not run (--bench-items 0): its few items cannot show a change at this "
                  "scale."]
    lines += ["", "## Time (seconds, as recorded; - where a part ran before it was recorded)", "",
              "| part | seconds |", "|---|---|"]
    lines += [f"| {part} | {seconds if seconds is not None else '-'} |" for part, seconds in results["times"]]
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(results, out / "study.png")
    return path


def protocol(results: dict) -> list[str]:
    """The split by file, the SFT base's validation curve and the learning rates tried on the validation rows."""
    lines = ["## The protocol", "", "Source files per split of the configs trained on (split by file):", "",
             "| config | train | validation | test |", "|---|---|---|---|"]
    lines += [f"| {c} | {n['train']} | {n['validation']} | {n['test']} |"
              for c, n in results["files_per_split"].items()]
    curve = results["sft_base"]
    lines += ["", f"The SFT base: {curve['rows']} rows, validation loss on {curve['validation_rows']} rows of the "
              f"validation files after each epoch: " + ", ".join(f"{c['epoch']:g}: {c['loss']:.4f}"
                                                                 for c in curve["validation"] or [])
              + f"; stopped early: {curve['stopped_early']}; the weights of epoch {curve['kept_epoch']:g} kept.", "",
              f"Learning rates tried on {results['tuning']['prompts']} validation prompts (one iteration from the SFT "
              f"base, seed {results['tuning']['seed']}); chosen: {results['tuning']['chosen']}", "",
              "| arm | learning rate | exact | Argdown-aware |", "|---|---|---|---|"]
    lines += [f"| {t['arm']} | {t['learning_rate'] if t['learning_rate'] is not None else '-'} | "
              f"{t['exact']}/{t['n']} | {t['argdown']}/{t['argdown_n']} |" for t in results["tuning"]["trials"]]
    return lines + [""]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2g}"


def plot(results: dict, path: Path) -> None:
    """One panel per metric: the SFT base at iteration 0, each arm's iterates beside each other (seeds side by
    side), each share with its exact 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 6.6))
    for ax, (key, label, hits) in zip(axes.flat, METRICS):
        base = results["models"]["sft-base"][hits]
        _point(ax, 0, base, "grey", "SFT base")
        if base:
            ax.axhline(sum(base) / len(base), color="grey", linestyle="--", linewidth=0.8)
        for arm, colour in zip(ARMS, ("C0", "C1", "C2")):
            labelled = False
            for name in sorted(n for n in results["models"] if n.startswith(f"{arm}-seed")):
                seed, iteration = (int(part) for part in name.split("-seed")[1].split("-"))
                x = iteration + {"spin": -0.2, "sft": 0.2, "spin-earlier": 0.0}[arm] + 0.06 * seed
                labelled |= _point(ax, x, results["models"][name][hits], colour, None if labelled else arm)
        ax.set_xlabel("iteration")
        ax.set_xticks(range(results["settings"]["iterations"] + 1))
        ax.set_title(f"{label} (n={len(base)})", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _point(ax, x: float, hits: list[int], colour: str, label: str | None) -> bool:
    from spin_train.evaluation.stats import interval as exact

    if not hits:
        return False
    share = sum(hits) / len(hits)
    low, high = exact(share, len(hits))
    ax.errorbar([x], [share], yerr=[[share - low], [high - share]], color=colour, marker="o", capsize=3,
                label=label)
    return True


def recorded_times(models: dict, evaluated: dict, out: Path) -> list[tuple[str, float | None]]:
    """What each part took, from the files the parts wrote: SFT runs, SPIN epochs, evaluations."""
    times = []
    for name, model in models.items():
        metrics = model / "sft_metrics.json"
        if metrics.exists():
            times.append((f"{name}: SFT", json.loads(metrics.read_text()).get("seconds")))
    for state in sorted(out.glob("*-seed*/state.json")):
        for epoch, record in sorted(json.loads(state.read_text()).get("epochs", {}).items()):
            times.append((f"{state.parent.name} epoch {epoch}: generation + DPO", record["timings"].get("epoch")))
    for state in sorted(out.glob("tuning/*/state.json")):
        times.append((f"tuning {state.parent.name}: generation + DPO",
                      json.loads(state.read_text())["epochs"]["1"]["timings"].get("epoch")))
    for metrics in sorted(out.glob("tuning/sft-*/iteration-1/sft_metrics.json")):
        times.append((f"tuning {metrics.parent.parent.name}: SFT", json.loads(metrics.read_text()).get("seconds")))
    for cache in sorted(out.glob("tuning/eval/*.json")):
        times.append((f"tuning {cache.stem}: validation evaluation", json.loads(cache.read_text()).get("seconds")))
    for name, r in evaluated.items():
        if "same_weights_as" not in r:
            times += [(f"{name}: evaluation", r.get("seconds")),
                      (f"{name}: real-world evaluation", r.get("realworld_seconds"))]
    return times


# -- the study -------------------------------------------------------------------------------------------------------

def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--model", type=Path, default=options.SMOLLM2)
    ap.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "upstream" / "argdown-realworld")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "study-files")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="none: the SFT base and tuning alone")
    ap.add_argument("--arms", nargs="+", default=["spin", "sft"], choices=ARMS)
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--examples", type=int, default=64, help="selfplay prompts per iteration")
    ap.add_argument("--sft-rows", type=int, default=160, help="the fixed SFT set: the SFT base's rows, SPIN's pool")
    ap.add_argument("--tune-prompts", type=int, default=300, help="validation prompts per tuning trial")
    ap.add_argument("--eval-prompts", type=int, default=600)
    ap.add_argument("--realworld-prompts", type=int, default=1000, help="at most (all: 326 rows of 33 files)")
    ap.add_argument("--bench-items", type=int, default=0, help="Argdown Bench items per model (0: no Bench; "
                    "6 items at k=1 gave 0-2 solved in the 2026-12-05 study, no change it could show)")
    args = ap.parse_args()

    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as hf_logging

    from argdown_lbl.dataset_folder import parquet_rows
    from spin_train.training.sft import SFTSettings, sft

    disable_progress_bar()
    hf_logging.set_verbosity_error()
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    data = study_dataset(args.out)
    rows, held = row_sets(data, args.sft_rows, args.out)
    base = args.out / "sft-base"
    sft(SFTSettings(model=str(args.model), data=str(data), configs=TRAIN_CONFIGS, rows=args.sft_rows,
                    epochs=SFT_MAX_EPOCHS, learning_rate=1e-4, batch_size=1, accumulation=8, max_length=1024,
                    top_percent=30, validation_rows=len(held), patience=1), base, log=log,
        rows=parquet_rows(rows / "train.parquet"), validation=held)
    tuning = tune(base, rows, data, args.out, args)
    lrs = tuning["chosen"]
    realworld = realworld_dataset(args.realworld, args.out)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results = {"settings": {**settings, "learning_rates": lrs, "file_splits": FILE_SPLITS},
               "files_per_split": files_per_split(data), "sft_base": _sft_curve(base), "tuning": tuning,
               "models": {}}
    models = {}

    def evaluated(name: str, model: Path) -> None:  # as the models come: a sitting cut short keeps what it did
        models[name] = model
        results["models"][name] = r = evaluate_model(model, data, realworld, args, args.out / "eval" / f"{name}.json")
        log(f"{name}: exact {r['exact']:.3f}, Argdown-aware {r['argdown']:.3f}, real-world {r['realworld']}")

    evaluated("sft-base", base)
    for seed in args.seeds:
        for arm in [a for a in args.arms if a.startswith("spin")]:
            run = spin_arm(arm, base, rows, args.out / f"{arm}-seed{seed}", seed, args.iterations, args.examples,
                           lrs[arm])
            for i, m in enumerate(run):
                evaluated(f"{arm}-seed{seed}-{i + 1}", m)
        if "sft" in args.arms:
            more = sft_arm(base, args.out / f"spin-seed{seed}", args.out / f"sft-seed{seed}", seed, args.iterations,
                           lrs["sft"])
            for i, m in enumerate(more):
                evaluated(f"sft-seed{seed}-{i + 1}", m)
    results["times"] = recorded_times(models, results["models"], args.out)
    results["seconds"] = round(time.time() - started)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    log(f"report: {report(results, args.out)} ({results['seconds']} s in this process)")


def _sft_curve(base: Path) -> dict:
    m = json.loads((base / "sft_metrics.json").read_text())
    return {k: m.get(k) for k in ("validation", "kept_epoch", "stopped_early", "steps", "rows", "validation_rows")}


if __name__ == "__main__":
    main()
