"""``spin-train run --dry-run``: the per-epoch plan, the commands that would run and the memory plan.

No model is loaded: its size comes from its config.json when it is local, else
from the config's size hints. Datasets that are on disk or in the local Hugging
Face cache are opened (nothing is downloaded, the Hub is not asked) and each epoch
is drawn for real (requested vs drawn, repeats, dropped rows); otherwise the table
shows the requested counts with the sizes that are known.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path

from ..config import RunConfig
from ..training.launch import launch_command, zero_stage
from .machines import Machine
from .run_dir import RunDir

GIB = 1024 ** 3


@contextlib.contextmanager
def hub_offline():
    """No request to the Hub inside: datasets and huggingface_hub answer from their caches. They read
    HF_HUB_OFFLINE when imported, so the flag is set on both modules (a login node without Hub access
    otherwise spends minutes in retries)."""
    import datasets.config
    import huggingface_hub.constants

    saved = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved


def _open_datasets(cfg: RunConfig) -> dict:
    """key -> datasets.Dataset for every dataset on disk or in the local cache (others are left out); a plan
    never downloads."""
    from ..data.mixture import DataError, load_entry

    opened = {}
    with hub_offline():
        for entry in cfg.train_mixture:
            try:
                opened[entry.key] = load_entry(entry)
            except DataError:
                continue
    return opened


def _draws(cfg: RunConfig, opened: dict) -> list[dict] | None:
    """Each epoch's draw report (``Mixture.draw``) when every dataset could be opened, else None."""
    if len(opened) != len(cfg.train_mixture):
        return None
    from ..data.mixture import Mixture

    mixture = Mixture(cfg, loader=lambda entry, _revision: opened[entry.key])
    return [mixture.draw(epoch)[2] for epoch in range(1, cfg.curriculum.epochs + 1)]


def curriculum_table(cfg: RunConfig, opened: dict) -> list[str]:
    """Weight / requested / drawn per dataset and epoch, then the per-dataset repeats and drops."""
    from ..data.mixture import epoch_counts

    keys = [m.key for m in cfg.train_mixture]
    types = {m.key: m.type for m in cfg.train_mixture}
    epochs = cfg.curriculum.epochs
    draws = _draws(cfg, opened)
    width = max(len(k) for k in keys)
    requested = [epoch_counts(w, cfg.curriculum.examples_per_epoch) for w in cfg.curriculum.weights]
    head = f"{'dataset':<{width}} {'type':<10} {'rows':>7} " + " ".join(f"{e:>14}" for e in range(1, epochs + 1))
    lines = ["curriculum per epoch: weight/requested/drawn (drawn = prompts before filtering, or pairs); a dataset "
             "smaller than its share is repeated", head]
    for k in keys:
        cells = []
        for e in range(epochs):
            w = cfg.curriculum.weights[e].get(k, 0)
            drawn = draws[e][k]["drawn"] if draws and k in draws[e] else "?"
            cells.append(f"{w:g}/{requested[e][k]}/{drawn}" if w else "-")
        rows = len(opened[k]) if k in opened else "?"
        lines.append(f"{k:<{width}} {types[k]:<10} {rows:>7} " + " ".join(f"{c:>14}" for c in cells))
    totals = [f"{cfg.curriculum.examples_per_epoch}/" + (str(sum(d["drawn"] for d in draws[e].values())) if draws
                                                         else "?") for e in range(epochs)]
    lines.append(f"{'all':<{width}} {'':<10} {'':>7} " + " ".join(f"{t:>14}" for t in totals))
    if draws is None:
        missing = [k for k in keys if k not in opened]
        lines.append(f"(not on disk and not in the local Hugging Face cache: {', '.join(missing)}; drawn counts need every dataset)")
        return lines
    for k in keys:
        repeats = [draw[k]["repeats"] for draw in draws if k in draw]
        dropped = sum((sum(draw[k]["dropped"].values()) for draw in draws if k in draw))
        if any(repeats) or dropped:
            lines.append(f"  {k}: repeats per epoch {repeats}" + (f", rows dropped {dropped}" if dropped else ""))
    return lines


def model_size(cfg: RunConfig) -> tuple[float | None, int | None, int | None]:
    """(parameters, hidden size, layers) from a local config.json, else from the config's hints."""
    m = cfg.model
    path = Path(m.path) / "config.json"
    if path.exists():
        import json

        c = json.loads(path.read_text())
        hidden, layers, vocab = c.get("hidden_size"), c.get("num_hidden_layers"), c.get("vocab_size", 0)
        inter = c.get("intermediate_size", 4 * hidden)
        heads, kv = c.get("num_attention_heads", 1), c.get("num_key_value_heads", c.get("num_attention_heads", 1))
        head_dim = hidden // heads
        per_layer = hidden * (hidden + 2 * kv * head_dim) + hidden * hidden + 3 * hidden * inter + 2 * hidden
        embeddings = vocab * hidden * (1 if c.get("tie_word_embeddings") else 2)
        return float(layers * per_layer + embeddings + hidden), hidden, layers
    return m.num_parameters, m.hidden_size, m.num_layers


def _bytes(cfg: RunConfig) -> tuple[int, int, int, str]:
    """(bytes per weight, per gradient, per trainable parameter of optimizer state, how the weights are held).
    Under DeepSpeed a 16-bit model keeps 16-bit weights and gradients, and fp32 master weights plus Adam's m and
    v in its optimizer; without it the policy loads in fp32 and the Trainer autocasts (training/dpo.py)."""
    sixteen = cfg.model.dtype in ("bfloat16", "float16")
    if cfg.dpo.deepspeed and sixteen:
        return 2, 2, 12, f"{cfg.model.dtype} weights, fp32 masters in DeepSpeed's optimizer"
    held = f"fp32 weights, autocast to {cfg.model.dtype}" if sixteen else "fp32 weights"
    return 4, 4, 8, held


def memory_plan(cfg: RunConfig) -> list[str]:
    """Per-GPU memory of the DPO phase: ZeRO-1 shards optimizer states, ZeRO-2 also gradients, ZeRO-3 weights too."""
    params, hidden, layers = model_size(cfg)
    if params is None:
        return ["memory plan: unknown model size (set model.num_parameters, hidden_size, num_layers)"]
    d = cfg.dpo
    world = d.num_processes * d.num_machines
    stage = zero_stage(cfg) or 0
    shard = {k: world if stage >= n else 1 for k, n in (("optimizer", 1), ("gradients", 2), ("weights", 3))}
    wbytes, gbytes, obytes, held = _bytes(cfg)
    trainable = params * (cfg.spectrum.top_percent / 100 if cfg.spectrum.top_percent else 1.0)
    policy = params * wbytes / shard["weights"]
    reference = 0.0 if d.precompute_ref_log_probs else params * wbytes / shard["weights"]
    rows = [("policy weights", policy), ("reference weights", reference),
            ("gradients", trainable * gbytes / shard["gradients"]),
            ("optimizer states", trainable * obytes / shard["optimizer"])]
    if hidden and layers:
        abytes = 2 if cfg.model.dtype in ("bfloat16", "float16") else 4  # autocast or 16-bit weights
        tokens = d.per_device_batch_size * 2 * d.max_length  # chosen and rejected
        per_token_layer = 2 * hidden * abytes if d.gradient_checkpointing else 17 * hidden * abytes
        rows.append(("activations (estimate)", tokens * layers * per_token_layer))
    total = sum(v for _, v in rows)
    sharding = f"ZeRO-{stage} sharding x{world}" if stage else "no ZeRO sharding"
    lines = [f"memory plan per GPU ({params / 1e9:.2f} B parameters, {trainable / params:.0%} trainable, "
             f"{world} process(es), {sharding}; {held}):"]
    lines += [f"  {name:<24} {v / GIB:8.1f} GiB" for name, v in rows]
    lines.append(f"  {'total':<24} {total / GIB:8.1f} GiB"
                 + ("" if d.precompute_ref_log_probs else "  (precompute_ref_log_probs would drop the reference)"))
    return lines


def topology(cfg: RunConfig) -> list[str]:
    """Which GPUs each phase uses on each machine, and those a phase leaves idle."""
    g, d = cfg.generation, cfg.dpo
    lines = [f"topology: {d.num_machines} machine(s); DPO: {d.num_processes} rank(s) per machine, "
             f"{d.num_processes * d.num_machines} in all"]
    if g.backend != "vllm":
        shared = d.num_machines > 1 and g.backend != "openai"
        lines.append(f"  generation: {g.backend} backend on " + ("every machine, sharing the batches" if shared
                                                                 else "machine 0"))
        return lines
    dp, tp = int(g.vllm_option("--data-parallel-size") or 1), int(g.vllm_option("--tensor-parallel-size") or 1)
    lines.append(f"  generation: one vLLM server per machine, data parallel {dp} x tensor parallel {tp} = {dp * tp} "
                 f"GPU(s)" + (f"; the {d.num_machines} servers share each epoch's batches" if d.num_machines > 1
                              else ""))
    if dp * tp != d.num_processes:
        lines.append(f"  note: per machine, generation uses {dp * tp} GPU(s) and DPO {d.num_processes}: GPUs idle in "
                     f"one phase (set --data-parallel-size x --tensor-parallel-size = dpo.num_processes = the GPUs "
                     f"of a machine)")
    return lines


def vllm_command(cfg: RunConfig, checkpoint: str, run: RunDir, epoch: int, machine_rank: int = 0) -> str:
    """Exactly the command the run starts its server with (serving/server.vllm_command with the model's arguments
    and machine ``machine_rank``'s socket)."""
    from ..serving.run_server import socket_path
    from ..serving.server import vllm_command as command, vllm_model_args

    extra = vllm_model_args(cfg.model, checkpoint, run.epoch_dir(epoch))
    return shlex.join(command(cfg.generation, checkpoint, cfg.generation.seed, extra, socket_path(run, machine_rank)))


def _through_dpo(g) -> str:
    """What generation.vllm_during_dpo does with the run's server through each DPO phase."""
    if g.vllm_during_dpo == "stop":
        return "stopped through DPO and restarted for the next load"
    if g.vllm_during_dpo == "keep":
        return "left up through DPO"
    return ("asleep" if "--enable-sleep-mode" in g.vllm_args else "stopped") + " through DPO on GPUs, paused on CPU"


def plan_text(cfg: RunConfig, run_dir: Path, machine: Machine = Machine()) -> str:
    g, d = cfg.generation, cfg.dpo
    run = RunDir(run_dir)
    lines = [f"model: {cfg.model.path}", f"run dir: {run_dir}", ""] + curriculum_table(cfg, _open_datasets(cfg)) + [""]
    for epoch in range(1, cfg.curriculum.epochs + 1):
        checkpoint = run.checkpoint_before(epoch, cfg.model.path)
        lines.append(f"epoch {epoch}:")
        if g.backend == "vllm":
            command = vllm_command(cfg, checkpoint, run, epoch, machine.rank)
            lines.append(f"  generate: {command}  (k={g.k}, T={g.temperature}; one server for the run, each "
                         f"checkpoint reloaded into it; {_through_dpo(g)})")
        else:
            lines.append(f"  generate: {g.backend} backend on {checkpoint} (k={g.k}, T={g.temperature})")
        lines.append(f"  filter ({cfg.filtering.rule}), pair gold > own candidate, mix with preference data")
        lines.append("  train: " + " ".join(launch_command(cfg, run_dir, epoch, checkpoint, machine)))
    lines.append(f"DPO: loss {d.loss}, beta {d.beta}, lr {d.learning_rate:g}, {d.scheduler} schedule, effective batch "
                 f"{d.effective_batch_size} = {d.per_device_batch_size} x {d.gradient_accumulation_steps} x "
                 f"{d.num_processes} x {d.num_machines}; reference = the epoch-start checkpoint"
                 + (f"; Spectrum top {cfg.spectrum.top_percent:g} %" if cfg.spectrum.top_percent else ""))
    if d.num_machines > 1:
        lines.append(f"multi-node: run the same command on every machine with --machine-rank 0..{d.num_machines - 1} "
                     f"--main-process-ip {machine.main_process_ip} (this plan: machine {machine.rank}); every machine "
                     f"generates its share of the batches, machine 0 mixes; DIR must be shared by all machines")
    lines += [""] + topology(cfg) + [""] + memory_plan(cfg)
    return "\n".join(lines)


__all__ = ["curriculum_table", "memory_plan", "model_size", "plan_text", "topology", "vllm_command"]
