"""The run config: one YAML file, validated into dataclasses before anything heavy starts.

Every error names the key path (``dpo.learning_rate``) and what was expected.
The resolved config is saved in the run dir; a run refuses to continue with
a config that changed since it started.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from argdown_lbl.errors import ConfigError, read_text
from argdown_lbl.yamlfile import YAMLFileError, load_yaml


@dataclass
class ModelConfig:
    path: str  # local folder or Hub id
    revision: Optional[str] = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    chat_template: Optional[str] = None  # a Jinja template overriding the tokenizer's
    trust_remote_code: bool = False  # only if the user asks
    # For the dry-run memory plan when the model's config.json is not on disk (a Hub id, offline):
    num_parameters: Optional[float] = None
    hidden_size: Optional[int] = None
    num_layers: Optional[int] = None


@dataclass
class MixtureEntry:
    """One dataset of the training mixture, in the recipe's shape."""

    path: str  # local dataset folder (argdown-lbl split --out) or Hub id
    type: Literal["selfplay", "preference"]
    config_name: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None  # a Hub branch, tag or commit; unset: main, pinned to its commit at the start

    @property
    def key(self) -> str:
        """The name curriculum weights use: the config name, else the path."""
        return self.config_name or self.path


@dataclass
class CurriculumConfig:
    examples_per_epoch: int  # selfplay prompts + preference pairs drawn per epoch
    weights: list[dict[str, float]]  # one mapping per epoch: dataset key -> relative weight (missing = 0)
    # The SPIN paper's data rule: the selfplay pairs of this many earlier epochs join each epoch's mix (the paper
    # adds the last iteration's, i.e. 1); 0: the current epoch's only, as the recipe (run/phases/mix.py)
    earlier_epochs: int = 0

    @property
    def epochs(self) -> int:
        return len(self.weights)


@dataclass
class GenerationConfig:
    backend: Literal["local", "openai", "vllm"] = "local"
    k: int = 5
    temperature: float = 0.7
    # Every sampling setting is pinned here and sent to every backend, so that none falls back to the
    # checkpoint's generation_config.json (vLLM) or to transformers' defaults (top_k=50) on its own.
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0  # 0: off
    repetition_penalty: float = 1.0  # 1: off
    max_tokens: int = 128
    stop: list[str] = field(default_factory=list)  # strings that end an answer (the evaluation's next lines: "\n")
    seed: int = 0
    batch_size: int = 8  # prompts per local generate() call / per request wave
    device: str = "auto"  # local backend: auto (CUDA when present), cpu, cuda, cuda:N
    url: Optional[str] = None  # openai backend: base URL of an OpenAI-compatible server (…/v1)
    # openai backend, epochs after the first: a command that makes the server serve {checkpoint} (the epoch's
    # start checkpoint, also the model name sent), e.g. ["bash", "reload.sh", "{checkpoint}"]
    reload_command: Optional[list[str]] = None
    concurrency: int = 8
    timeout_s: float = 120.0
    retries: int = 3
    vllm_args: list[str] = field(default_factory=list)  # extra arguments for `vllm serve`
    vllm_startup_timeout_s: float = 900.0
    vllm_executable: str = "vllm"
    # An interpreter with vLLM installed (`make vllm`: .venv-vllm/bin/python): the server then starts as
    # `PYTHON -m vllm.entrypoints.openai.api_server --model CHECKPOINT`, and vLLM keeps its own pins.
    vllm_python: Optional[str] = None
    vllm_env: dict[str, str] = field(default_factory=dict)  # for the server, e.g. VLLM_CPU_KVCACHE_SPACE: "1"
    vllm_max_restarts: int = 2  # a server that dies mid-phase is restarted and the batch retried
    # One server for the run: later epochs' checkpoints are loaded into it (serving/run_server.py says when it restarts)
    vllm_reload: bool = True
    # The run's server through each DPO phase: auto (GPUs: asleep with --enable-sleep-mode, else stopped; CPU:
    # paused), stop (stopped, restarted for the next load), keep (left up: a benchmark's baseline)
    vllm_during_dpo: Literal["auto", "stop", "keep"] = "auto"
    # Max |difference| between the served and the trainer's log-prob of a probe token after a load (None: 1e-3
    # for float32 checkpoints, 0.1 for 16-bit ones; serving/reload_check.py)
    vllm_reload_tolerance: Optional[float] = None
    # Prompts the server may refuse for their length (they get no candidates) before the phase fails
    max_refused_share: float = 0.05

    def vllm_option(self, flag: str) -> Optional[str]:
        """The value given to ``flag`` (``--max-model-len 8192`` or ``--max-model-len=8192``) in vllm_args."""
        for i, arg in enumerate(self.vllm_args):
            if arg == flag and i + 1 < len(self.vllm_args):
                return self.vllm_args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None


@dataclass
class FilteringConfig:
    rule: Literal["exact", "argdown"] = "exact"  # exact up to trailing whitespace; argdown: same parse in context
    seed: int = 0
    truncated_as_rejected: bool = False  # may a candidate cut by max_tokens be the rejected answer?


@dataclass
class DPOSection:
    loss: Literal["sigmoid"] = "sigmoid"
    beta: float = 0.1
    learning_rate: float = 2e-7
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = 0.0
    effective_batch_size: int = 64
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 8
    num_processes: int = 1
    epochs: float = 1.0  # passes over the epoch's pairs
    max_length: int = 1024
    seed: int = 0
    gradient_checkpointing: bool = False
    bf16: bool = False
    precompute_ref_log_probs: bool = True  # reference log-probs once, before training: no second model copy
    # A Trainer checkpoint (weights, optimizer, scheduler, RNG) every N optimizer steps in epoch-NN/dpo-steps;
    # a rerun after a crash resumes from the last complete one. None: a crash mid-DPO trains the epoch again.
    save_steps: Optional[int] = None
    deepspeed: Optional[str] = None  # a DeepSpeed JSON config (configs/deepspeed-zero3.json): the Trainer's, and
    # accelerate's launch flags come from it (launch.deepspeed_arguments); one file, never two to keep in step
    # The DPO phase always runs in child processes: "python" (`python -m spin_train.training.launch`, one process),
    # "accelerate" (`accelerate launch`), "auto": accelerate for more than one process, else python.
    launcher: Literal["auto", "python", "accelerate"] = "auto"
    accelerate_config: Optional[str] = None  # an accelerate config file of the user's (without DeepSpeed settings)
    cpu: bool = False  # accelerate's --cpu for the launched phase (it turns DeepSpeed off); never added unasked
    num_machines: int = 1  # the machines' ranks and rendezvous address are `spin-train run` arguments (run/machines.py)
    # Trackers for TRL's training curves (the Trainer's report_to): tensorboard writes RUN_DIR/tensorboard/epoch-NN,
    # and the run's per-epoch figures into RUN_DIR/tensorboard/run (run/tracking.py); ["none"]: nothing
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])


@dataclass
class SpectrumConfig:
    """Train only some weight matrices: the top percent by SNR per type, or those listed in a file."""

    top_percent: Optional[float] = None  # e.g. 30: scan the base model, keep the top 30 % per weight type
    unfrozen_parameters_file: Optional[str] = None  # a YAML file with `unfrozen_parameters:` regexes (upstream)
    include_embeddings: bool = False  # let the scan rank embed_tokens and lm_head too

    @property
    def enabled(self) -> bool:
        return self.top_percent is not None or self.unfrozen_parameters_file is not None


@dataclass
class EvaluationConfig:
    """Evaluate every new checkpoint (next-line match and Argdown Bench) into epoch-NN/eval.json."""

    enabled: bool = False
    dataset: Optional[str] = None  # a line-by-line dataset (folder or Hub id); its test split is used
    configs: list[str] = field(default_factory=list)  # empty: every config of the dataset
    k: int = 5
    samples: Optional[int] = None  # per Argdown Bench item for pass@1 and pass@k; None: 2k
    max_prompts: int = 64  # Argdown Bench items (and next-line prompts unless next_line_prompts is set)
    next_line_prompts: Optional[int] = None  # next-line prompts; None: max_prompts (docs/evaluation.md: sample size)
    max_tokens: int = 256  # Argdown Bench answers
    next_line_max_tokens: int = 64  # greedy next lines (the shipped dataset's golds have at most 40 tokens)
    batch_size: int = 8  # prompts answered at once (a server: requests in flight)
    seed: int = 0
    baseline: bool = True  # also evaluate the base model (epoch 0)


@dataclass
class OutputConfig:
    save_total_limit: Optional[int] = None  # keep at most this many epoch checkpoints (None: all)


@dataclass
class RunConfig:
    model: ModelConfig
    train_mixture: list[MixtureEntry]
    curriculum: CurriculumConfig
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    filtering: FilteringConfig = field(default_factory=FilteringConfig)
    dpo: DPOSection = field(default_factory=DPOSection)
    spectrum: SpectrumConfig = field(default_factory=SpectrumConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None)) + " (or null)"
    if origin in (list, dict):
        return f"a {origin.__name__}"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union:
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, inner[0], path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{path}: expected {_describe(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        kt, vt = typing.get_args(tp)
        return {_convert(k, kt, f"{path}.{k}"): _convert(v, vt, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 2e-7 as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{path}: expected {_describe(tp)}, got {type(value).__name__} {value!r}")


# Per machine, so outside the config and its hash.
LAUNCH_ARGUMENTS = {"machine_rank": "--machine-rank R", "main_process_ip": "--main-process-ip IP",
                    "main_process_port": "--main-process-port PORT"}


REMOVED = {"vllm_port": "the run's vLLM server listens on a Unix socket in the run dir, on no TCP port "
                        "(docs/spin-train.md, The vLLM server); delete the line"}


def _build(cls, raw: Any, path: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping for {cls.__name__}, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            if key in LAUNCH_ARGUMENTS:
                raise ConfigError(f"{where}: not a config key (the config is the same on every machine): pass "
                                  f"`spin-train run ... {LAUNCH_ARGUMENTS[key]}` on each machine")
            if key in REMOVED:
                raise ConfigError(f"{where}: no longer a config key: {REMOVED[key]}")
            raise ConfigError(f"{where}: unknown key (expected one of: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        where = f"{path}.{name}" if path else name
        if name in raw:
            kwargs[name] = _convert(raw[name], hints[name], where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing (expected {_describe(hints[name])})")
    return cls(**kwargs)


def _check(cfg: RunConfig) -> None:
    keys = [m.key for m in cfg.train_mixture]
    if not keys:
        raise ConfigError("train_mixture: expected at least one dataset")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"train_mixture: two entries share the key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}"
                          " (config_name, else path); curriculum weights could not tell them apart")
    if cfg.curriculum.epochs < 1:
        raise ConfigError("curriculum.weights: expected one mapping per epoch (at least one)")
    for e, weights in enumerate(cfg.curriculum.weights):
        for key, w in weights.items():
            if key not in keys:
                raise ConfigError(f"curriculum.weights[{e}].{key}: not a train_mixture key (known: {', '.join(keys)})")
            if w < 0:
                raise ConfigError(f"curriculum.weights[{e}].{key}: weights must be >= 0, got {w}")
        if not any(w > 0 for w in weights.values()):
            raise ConfigError(f"curriculum.weights[{e}]: every weight is 0; the epoch would train on nothing")
    if cfg.curriculum.earlier_epochs < 0:
        raise ConfigError(f"curriculum.earlier_epochs: expected an int >= 0, got {cfg.curriculum.earlier_epochs}")
    if cfg.curriculum.examples_per_epoch < 1:
        raise ConfigError("curriculum.examples_per_epoch: expected a positive int")
    g = cfg.generation
    if g.k < 1 or g.temperature < 0 or g.max_tokens < 1 or g.batch_size < 1:
        raise ConfigError("generation: k, max_tokens, batch_size must be >= 1 and temperature >= 0")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", g.device):
        raise ConfigError(f"generation.device: expected auto, cpu, cuda or cuda:N, got {g.device!r}")
    if g.top_k < 0 or not 0 <= g.min_p < 1 or not 0 < g.top_p <= 1 or g.repetition_penalty <= 0:
        raise ConfigError("generation: expected top_k >= 0 (0: off), 0 <= min_p < 1, 0 < top_p <= 1, "
                          "repetition_penalty > 0")
    if not 0 <= g.max_refused_share <= 1:
        raise ConfigError(f"generation.max_refused_share: expected a share in [0, 1], got {g.max_refused_share}")
    if g.backend == "openai" and not g.url:
        raise ConfigError("generation.url: required for backend 'openai' (e.g. http://127.0.0.1:8000/v1)")
    if g.backend == "openai" and cfg.curriculum.epochs > 1 and not g.reload_command:
        raise ConfigError("generation.reload_command: required for backend 'openai' with more than one epoch: each "
                          "epoch must generate from its start checkpoint, which the external server has to load "
                          "(or use backend 'vllm', which starts a server per epoch)")
    d = cfg.dpo
    product = d.per_device_batch_size * d.gradient_accumulation_steps * d.num_processes * d.num_machines
    if product != d.effective_batch_size:
        raise ConfigError(
            f"dpo.effective_batch_size: {d.effective_batch_size} != per_device_batch_size ({d.per_device_batch_size})"
            f" x gradient_accumulation_steps ({d.gradient_accumulation_steps}) x num_processes ({d.num_processes})"
            f" x num_machines ({d.num_machines})"
            f" = {product}")
    if d.save_steps is not None and d.save_steps < 1:
        raise ConfigError(f"dpo.save_steps: expected a positive int or null, got {d.save_steps}")
    _check_trackers(d.report_to)
    if d.learning_rate <= 0 or d.beta <= 0:
        raise ConfigError("dpo.learning_rate and dpo.beta: expected positive numbers")
    if cfg.evaluation.enabled and not cfg.evaluation.dataset:
        raise ConfigError("evaluation.dataset: required when evaluation.enabled is true")
    e = cfg.evaluation
    for key in ("k", "max_prompts", "max_tokens", "next_line_max_tokens", "batch_size"):
        if getattr(e, key) < 1:
            raise ConfigError(f"evaluation.{key}: expected a positive int, got {getattr(e, key)}")
    if cfg.evaluation.next_line_prompts is not None and cfg.evaluation.next_line_prompts < 1:
        raise ConfigError(f"evaluation.next_line_prompts: expected a positive int or null, got "
                          f"{cfg.evaluation.next_line_prompts}")
    if cfg.evaluation.samples is not None and cfg.evaluation.samples < cfg.evaluation.k:
        raise ConfigError(f"evaluation.samples: {cfg.evaluation.samples} samples cannot estimate pass@"
                          f"{cfg.evaluation.k}; use at least k (2k or more keeps the variance low)")
    sp = cfg.spectrum
    if sp.top_percent is not None and sp.unfrozen_parameters_file is not None:
        raise ConfigError("spectrum: give top_percent or unfrozen_parameters_file, not both")
    if sp.top_percent is not None and not 0 < sp.top_percent <= 100:
        raise ConfigError(f"spectrum.top_percent: expected a percentage in (0, 100], got {sp.top_percent}")


def _check_trackers(names: list[str]) -> None:
    """dpo.report_to: "none" alone, or a list of trackers (their names: check_trackers)."""
    if not names or ("none" in names and len(names) > 1):
        raise ConfigError(f"dpo.report_to: expected [none] or a list of trackers, got {names}")


def check_trackers(names: list[str]) -> None:
    """dpo.report_to names trackers transformers knows. Before a run (paths.check_run_sources), not in every
    config load: transformers' integrations import torch (seconds), which a dry-run or a config error need not."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    unknown = [n for n in names if n not in INTEGRATION_TO_CALLBACK and n not in ("none", "all")]
    if unknown:
        raise ConfigError(f"dpo.report_to: unknown tracker {unknown[0]!r} (expected none, all or one of: "
                          f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))})")


def from_dict(raw: Any) -> RunConfig:
    cfg = _build(RunConfig, raw, "")
    _check(cfg)
    return cfg


def load(path: Union[str, Path]) -> RunConfig:
    path = Path(path)
    try:
        raw = load_yaml(read_text(path), path)
    except YAMLFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
