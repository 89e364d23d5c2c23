"""Model cards for the checkpoints ``spin-train run`` and ``spin-train sft`` save, as the Hub reads them.

README.md in the checkpoint: YAML front matter (``base_model``, ``datasets`` at their pinned revisions,
``license`` from the base, ``tags``) and a body with the recipe's settings, the data the checkpoint was trained
on (counts, pairs_sha256, local folders' content fingerprints), its evaluation with n and exact intervals, and
the command that made it. A run's card is written when the epoch's checkpoint is saved and again when it is
evaluated; ``spin-train push`` uploads the folder with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import yaml

from argdown_lbl.dataset_folder import is_local

TAGS = ["argdown", "argumentation", "argunauts", "trl"]


def front_matter(folder: Path) -> dict:
    """The YAML front matter of a local model folder's README.md ({} when there is none)."""
    card = Path(folder) / "README.md"
    if not card.is_file():
        return {}
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    return meta if isinstance(meta, dict) else {}


def lineage(model: str) -> tuple[Optional[str], Optional[str]]:
    """(the Hub model ``model`` descends from, its license): a Hub id itself; a local folder's card's
    ``base_model`` (or the upstream model `spin-train base` converted) and ``license``."""
    if not is_local(model):
        return model, None
    meta = front_matter(Path(model))
    conversion = Path(model) / "conversion.json"
    upstream = json.loads(conversion.read_text(encoding="utf-8")).get("upstream") if conversion.is_file() else None
    return meta.get("base_model") or upstream, meta.get("license")


def card(meta: dict, title: str, sections: list[tuple[str, list[str]]]) -> str:
    """README.md: ``meta`` as YAML front matter (empty values left out), a title and sections of lines."""
    head = yaml.safe_dump({k: v for k, v in meta.items() if v}, sort_keys=False, allow_unicode=True)
    lines = ["---", head.rstrip(), "---", "", f"# {title}"]
    for name, body in sections:
        lines += ["", f"## {name}", "", *body]
    return "\n".join(lines) + "\n"


def _share(hits: list[int]) -> str:
    from .evaluation.stats import interval

    n = len(hits)
    if not n:
        return "-"
    low, high = interval(sum(hits) / n, n)
    return f"{sum(hits) / n:.3f} ({sum(hits)}/{n}; 95 % interval {low:.3f}-{high:.3f})"


def evaluation_lines(result: Optional[dict], before: Optional[dict] = None, what: str = "the start") -> list[str]:
    """The next-line measures with n and exact intervals, the paired change against ``before``, and the Bench."""
    if not result:
        return ["Not evaluated yet."]
    from .evaluation.stats import paired_change

    nl, b = result["next_line"], result["bench"]
    lines = [f"On {nl['prompts']} held-out next-line prompts of `{result['dataset']}` (configs "
             f"{', '.join(result['configs'])}; greedy):", "",
             f"- next-line exact match: {_share(nl['hits'])}",
             f"- Argdown-aware match: {_share(nl['argdown_hits'])}"]
    if "first_line_hits" in nl:
        lines.append(f"- first line alone (lenient): {_share(nl['first_line_hits'])}")
    for key, name in (("hits", "exact"), ("argdown_hits", "Argdown-aware")):
        change = paired_change(before["next_line"].get(key), nl.get(key) or []) if before else None
        if change:
            lines.append(f"- {name} against {what}: +{change['gained']}/-{change['lost']} prompts "
                         f"(McNemar's exact p = {change['p']:.2g})")
    lines.append(f"- Argdown Bench ({b['prompts']} items): " + (f"not measured, {b['not_measured']}"
                                                                 if b.get("not_measured") else
                                                                 f"solved@1 {b['solved@1']:.3f}, pass@1 {b['pass@1']:.3f}"))
    return lines


def run_card(cfg, state, epoch: int, start: str, checkpoint: Path, result: Optional[dict] = None,
             before: Optional[dict] = None) -> str:
    """The card of epoch ``epoch``'s ``checkpoint`` of a run (``state``: its RunState; the steps and loss from the
    checkpoint's train_metrics.json)."""
    base, license_ = lineage(cfg.model.path)
    entry = state.epoch(epoch)
    trained = json.loads((Path(checkpoint) / "train_metrics.json").read_text(encoding="utf-8"))
    revisions, prints = state.dataset_revisions or {}, state.dataset_fingerprints or {}
    hub = sorted({e.path for e in cfg.train_mixture if not is_local(e.path)})
    d, c = cfg.dpo, entry.counts
    data = [f"- {e.key} ({e.type}): `{e.path}`" + (f" config `{e.config_name}`" if e.config_name else "")
            + (f" at revision `{revisions[e.key]}`" if e.key in revisions else "")
            + (f", content sha256 `{prints[f'train_mixture[{e.key}]']['sha256'][:16]}`"
               if f"train_mixture[{e.key}]" in prints else "")
            + f", weight {cfg.curriculum.weights[epoch - 1].get(e.key, 0):g} this epoch" for e in cfg.train_mixture]
    training = [
        f"SPIN iteration {epoch} of {cfg.curriculum.epochs} (curriculum self-play fine-tuning) from `{start}`, which "
        "was also the DPO reference: the gold answer preferred to the model's own candidate.", "",
        f"- generation: k={cfg.generation.k} candidates per prompt at temperature {cfg.generation.temperature:g}, "
        f"at most {cfg.generation.max_tokens} tokens; dynamic filtering ({cfg.filtering.rule}): a prompt kept with "
        "probability 1 - l/k",
        f"- DPO: {d.loss} loss, beta {d.beta:g}, learning rate {d.learning_rate:g} ({d.scheduler}), effective batch "
        f"{d.effective_batch_size}, max length {d.max_length}"
        + (f", Spectrum: the top {cfg.spectrum.top_percent:g} % of weight matrices per type trained"
           if cfg.spectrum.top_percent else ""),
        f"- this epoch: {c.get('prompts', '-')} prompts, {c.get('kept', '-')} kept, {c.get('pairs', '-')} pairs "
        f"({c.get('pairs_per_source', {})}); {trained['steps']} steps, train loss {trained['train_loss']:.4f}"
        + (f"; pairs_sha256 `{entry.pairs_sha256}`" if entry.pairs_sha256 else ""),
        "", "Datasets:", "", *data]
    reproduce = ["```bash", "spin-train run CONFIG --run-dir RUN_DIR   # the run's config.yaml, sha256 "
                 f"{state.config_sha256[:16]}...", "```"]
    meta = {"base_model": base, "datasets": hub, "license": license_, "library_name": "transformers",
            "tags": TAGS + ["dpo", "spin"], "pipeline_tag": "text-generation"}
    return card(meta, f"{Path(cfg.model.path).name}, SPIN iteration {epoch}",
                [("Training", training),
                 ("Evaluation", evaluation_lines(result, before, "the previous iterate" if epoch > 1 else "the start")),
                 ("Reproduce", reproduce)])


def write_run_card(ctx, epoch: int) -> None:
    """(Re)write the card of epoch ``epoch``'s checkpoint, with its evaluation once there is one."""
    checkpoint = ctx.run.checkpoint_path(epoch)
    if not (checkpoint / "train_metrics.json").exists():  # no DPO this epoch, or pruned
        return
    result, before = (json.loads(p.read_text(encoding="utf-8")) if p.exists() else None
                      for p in (ctx.run.eval_path(epoch), ctx.run.eval_path(epoch - 1)))
    text = run_card(ctx.cfg, ctx.run.state, epoch, ctx.start_checkpoint(epoch), checkpoint, result, before)
    (checkpoint / "README.md").write_text(text, encoding="utf-8")


def sft_card(settings, metrics: dict) -> str:
    """The card of a `spin-train sft` model."""
    base, license_ = lineage(settings.model)
    hub = [] if is_local(settings.data) else [settings.data]
    s = settings
    training = [
        f"Supervised fine-tuning (`spin-train sft`, TRL's SFTTrainer) of `{s.model}` on line-by-line rows of "
        f"`{s.data}`" + (f" (configs {', '.join(s.configs)})" if s.configs else "") + ": the loss on the "
        "completion only, on the token ids the model is served and writes (the chat template's prompt, then the "
        "completion's own ids and the end of the turn).", "",
        f"- {metrics['rows']} rows ({metrics['rows_too_long']} longer than {s.max_length} tokens left out), "
        f"{s.epochs:g} epoch(s), learning rate {s.learning_rate:g} (linear), batch {s.batch_size} x "
        f"{s.accumulation}, seed {s.seed}"
        + (f", Spectrum: the top {s.top_percent:g} % of weight matrices per type" if s.top_percent else ""),
        f"- {metrics['steps']} steps, train loss {metrics['train_loss']:.4f}"]
    flags = [f"--model {s.model}", f"--data {s.data}", *(f"--config {c}" for c in s.configs),
             *([f"--rows {s.rows}"] if s.rows else []), *([f"--skip-rows {s.skip_rows}"] if s.skip_rows else []),
             f"--epochs {s.epochs:g}", f"--learning-rate {s.learning_rate:g}", f"--batch-size {s.batch_size}",
             f"--accumulation {s.accumulation}", f"--max-length {s.max_length}",
             *([f"--spectrum-top-percent {s.top_percent:g}"] if s.top_percent else []), f"--seed {s.seed}"]
    reproduce = ["```bash", "spin-train sft " + " ".join(flags) + " --out OUT", "```"]
    meta = {"base_model": base, "datasets": hub, "license": license_, "library_name": "transformers",
            "tags": TAGS + ["sft"], "pipeline_tag": "text-generation"}
    return card(meta, f"{Path(s.model).name}, SFT on Argdown next lines", [("Training", training),
                                                                         ("Reproduce", reproduce)])
