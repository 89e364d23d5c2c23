"""The run directory: its layout, its atomic writes and its typed state, owned here and nowhere else.

    DIR/config.yaml                 the resolved config (a changed config is refused)
    DIR/state.json                  RunState: the run table's phases done, and per epoch an EpochState (the last
                                    phase done, counts, pairs_sha256, checkpoint, timings); phases/ names them
    DIR/unfrozen_parameters.yaml    the Spectrum scan's trainable weights (spectrum.top_percent), with snr.json
    DIR/.children/HOST/machine-M/NAME.json  pid files of machine M's children on HOST (the next run there reaps them);
                                    dpo-rank-R.json: DPO rank R (torchrun starts each rank in a session of its own)
    DIR/.machines/session.json      machine 0's current session (multi-node: the run dir is shared)
    DIR/.machines/dpo-call.json     machine 0 calls the others to an epoch's DPO launch (with a heartbeat)
    DIR/.machines/rank-R.json       machine R's answer to that call
    DIR/epoch-NN/plan.json          the epoch's selfplay prompts and preference rows
    DIR/epoch-NN/candidates.jsonl   k candidates per prompt, appended per batch (resume point)
    DIR/epoch-NN/pairs.parquet      the epoch's training set
    DIR/epoch-NN/selfplay-pairs.json  its own selfplay pairs, for later epochs (curriculum.earlier_epochs)
    DIR/epoch-NN/dpo-cache/         its Arrow files, tokenised and with reference log-probs, shared by all ranks
    DIR/epoch-NN/checkpoint/        the model after the epoch (next epoch's generator and reference)
    DIR/epoch-NN/eval.json          evaluation of the checkpoint after the epoch (epoch-00: the base model)
    DIR/epoch-NN/dpo-launch.log     the DPO launch's output
    DIR/tensorboard/epoch-NN/       TRL's training curves of the epoch's DPO phase (dpo.report_to: tensorboard)
    DIR/tensorboard/run/            the per-epoch figures against the epoch (tracking.py)
    DIR/epoch-NN/vllm.log, vllm.cmd the generation server's output and exact command (serving/backends.session)

Every file is written to a temporary name and renamed, and state.json after each phase, so a rerun of
the same command continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from argdown_lbl.errors import UserError

from ..config import ConfigError, RunConfig

# An epoch's phases in order (phases/: a module each of the same name); evaluate only when the config asks.
PHASES = ("plan", "generate", "mix", "train", "evaluate")
# What state.json called the phases (and timings) before they had one name each: read, never written.
OLD_NAMES = {"planned": "plan", "generated": "generate", "mixed": "mix", "trained": "train", "evaluated": "evaluate",
             "scanned": "scan", "base evaluated": "evaluate", "eval": "evaluate", "spectrum": "scan"}


def _renamed(names):
    """Names (a list, or a dict's keys) as they are now."""
    if isinstance(names, dict):
        return {OLD_NAMES.get(k, k): v for k, v in names.items()}
    return [OLD_NAMES.get(n, n) for n in names]


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # a process of its own: two writers never share one
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


@dataclass
class EpochState:
    phase: Optional[str] = None  # the last phase done
    timings: dict = field(default_factory=dict)  # seconds per phase
    counts: dict = field(default_factory=dict)  # prompts, preference, kept, pairs, pairs_per_source
    drawn: dict = field(default_factory=dict)  # per dataset: weight, requested, drawn, repeats...
    filtering: dict = field(default_factory=dict)
    pairs_sha256: Optional[str] = None
    checkpoint: Optional[str] = None  # what the next epoch starts from
    steps: Optional[int] = None
    resumed_from_step: Optional[int] = None  # the DPO phase resumed from its checkpoint at this step (save_steps)
    train_loss: Optional[float] = None
    distributed: Optional[dict] = None  # the DPO setup that actually ran
    token_check: Optional[dict] = None  # pairs whose ids were checked before the DPO launch (tokens.check_rows)
    skipped: Optional[str] = None  # why no DPO ran ("no pairs")
    eval: Optional[str] = None
    serving: Optional[dict] = None  # backend vllm: the weights generation used, and how the server got them

    def reached(self, phase: str) -> bool:
        return self.phase is not None and PHASES.index(self.phase) >= PHASES.index(phase)

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "EpochState":
        known = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        state.phase, state.timings = OLD_NAMES.get(state.phase, state.phase), _renamed(state.timings)
        return state


@dataclass
class RunState:
    config_sha256: str
    created: float = 0.0
    epochs: dict[int, EpochState] = field(default_factory=dict)
    dataset_revisions: Optional[dict] = None  # Hub datasets' commits, pinned when the run starts
    dataset_fingerprints: Optional[dict] = None  # local folders' content (sha256), recorded when the run starts
    done: list = field(default_factory=list)  # the run table's phases recorded (phases.run_table)
    timings: dict = field(default_factory=dict)  # seconds per run-table step

    def epoch(self, epoch: int) -> EpochState:
        return self.epochs.setdefault(epoch, EpochState())

    def to_dict(self) -> dict:
        out = {"config_sha256": self.config_sha256, "created": self.created,
               "epochs": {str(e): s.to_dict() for e, s in sorted(self.epochs.items())}}
        if self.dataset_revisions is not None:
            out["dataset_revisions"] = self.dataset_revisions
        if self.dataset_fingerprints is not None:
            out["dataset_fingerprints"] = self.dataset_fingerprints
        if self.done:
            out["done"], out["timings"] = self.done, self.timings
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "RunState":
        return cls(config_sha256=data["config_sha256"], created=data.get("created", 0.0),
                   epochs={int(e): EpochState.from_dict(s) for e, s in data.get("epochs", {}).items()},
                   dataset_revisions=data.get("dataset_revisions"),
                   dataset_fingerprints=data.get("dataset_fingerprints"), done=_renamed(data.get("done", [])),
                   timings=_renamed(data.get("timings", {})))


def read_batches(path: Path) -> list[dict]:
    """A candidates file's batches: complete lines only (a line cut by a kill has no newline and is dropped)."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            out.append(json.loads(line))
    return out


class RunDir:
    """Paths of one run, its state (loaded by start/join/refresh) and the checkpoint each epoch starts from."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.state: Optional[RunState] = None

    # -- layout -------------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def spectrum_path(self) -> Path:
        return self.root / "unfrozen_parameters.yaml"

    @property
    def snr_path(self) -> Path:
        return self.root / "snr.json"

    def children_dir(self, machine_rank: int = 0) -> Path:
        """Pid files of this machine's children: on a shared run dir each machine reaps only its own (by host,
        and by rank for several machines on one host)."""
        return self.root / ".children" / socket.gethostname() / f"machine-{machine_rank}"

    @property
    def machines_dir(self) -> Path:
        return self.root / ".machines"

    @property
    def session_path(self) -> Path:
        return self.machines_dir / "session.json"

    @property
    def dpo_call_path(self) -> Path:
        return self.machines_dir / "dpo-call.json"

    def machine_marker(self, rank: int) -> Path:
        return self.machines_dir / f"rank-{rank}.json"

    def epoch_dir(self, epoch: int) -> Path:
        return self.root / f"epoch-{epoch:02d}"

    def plan_path(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "plan.json"

    def candidates_path(self, epoch: int, machine_rank: int = 0) -> Path:
        """Machine ``machine_rank``'s share of the epoch's candidates (each machine generates its batches)."""
        name = "candidates.jsonl" if machine_rank == 0 else f"candidates-machine-{machine_rank}.jsonl"
        return self.epoch_dir(epoch) / name

    def pairs_path(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "pairs.parquet"

    def selfplay_pairs_path(self, epoch: int) -> Path:
        """The epoch's own selfplay pairs, which later epochs add to theirs (curriculum.earlier_epochs)."""
        return self.epoch_dir(epoch) / "selfplay-pairs.json"

    def dpo_cache_dir(self, epoch: int) -> Path:
        """The datasets cache of the epoch's DPO phase: TRL's reference log-probs are written by global rank 0
        and read back by every rank, so the cache must be one folder that all machines see."""
        return self.epoch_dir(epoch) / "dpo-cache"

    def dpo_steps_dir(self, epoch: int) -> Path:
        """The Trainer's output dir in the epoch's DPO phase: its checkpoints every dpo.save_steps steps."""
        return self.epoch_dir(epoch) / "dpo-steps"

    def checkpoint_path(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "checkpoint"

    def partial_checkpoint_path(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "checkpoint.partial"

    def eval_path(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "eval.json"

    def tensorboard_dir(self, name: str) -> Path:
        """TensorBoard event files: ``epoch-NN`` (TRL's curves of an epoch's DPO phase), ``run`` (per-epoch figures)."""
        return self.root / "tensorboard" / name

    def launch_log(self, epoch: int) -> Path:
        return self.epoch_dir(epoch) / "dpo-launch.log"

    # -- state --------------------------------------------------------------------------------------------------
    def read_config(self) -> RunConfig:
        from ..config import from_dict

        return from_dict(yaml.safe_load(self.config_path.read_text(encoding="utf-8")))

    def load(self) -> Optional[RunState]:
        if not self.state_path.exists():
            return None
        return RunState.from_dict(json.loads(self.state_path.read_text(encoding="utf-8")))

    def open(self) -> RunState:
        """The state of an existing run (status, report)."""
        self.state = self.load()
        if self.state is None:
            raise UserError(f"{self.root}: no state.json; not a spin-train run dir (start one with "
                            "`spin-train run CONFIG --run-dir DIR`)")
        return self.state

    def save(self) -> None:
        write_json(self.state_path, self.state.to_dict())

    def start(self, cfg: RunConfig) -> RunState:
        """Create or reopen the run; refuse a config that changed since the run started."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = self.load()
        if self.state is None:
            atomic_write(self.config_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
            self.state = RunState(config_sha256=cfg.sha256(), created=time.time())
            self.save()
        self.check_config(cfg)
        return self.state

    def check_config(self, cfg: RunConfig) -> None:
        sha = cfg.sha256()
        if self.state.config_sha256 != sha:
            raise ConfigError(
                f"{self.root}: the config changed since this run started (saved {self.config_path}, "
                f"sha256 {self.state.config_sha256[:12]} != {sha[:12]}); start a new --run-dir or restore it")

    def refresh(self) -> RunState:
        """Read the state again (another machine writes it)."""
        self.state = self.load() or self.state
        return self.state

    def record(self, epoch: int, phase: Optional[str] = None, **info) -> EpochState:
        entry = self.state.epoch(epoch)
        for key, value in info.items():
            setattr(entry, key, value)
        if phase:
            entry.phase = phase
        self.save()
        return entry

    def reached(self, epoch: int, phase: str) -> bool:
        """Whether ``phase`` (or a later one) is recorded for ``epoch`` (0: the run table, before the first)."""
        return phase in self.state.done if epoch == 0 else self.state.epoch(epoch).reached(phase)

    def record_phase(self, epoch: int, phase: str, seconds: float, epoch_seconds: float, info: dict) -> None:
        """``phase`` of ``epoch`` is done: its timing and what it returned (epoch 0, the run table: its timing)."""
        if epoch == 0:
            self.state.done.append(phase)
            self.state.timings[phase] = round(seconds, 3)
            self.save()
            return
        timings = {**self.state.epoch(epoch).timings, phase: round(seconds, 3), "epoch": round(epoch_seconds, 3)}
        self.record(epoch, phase, timings=timings, **info)

    # -- the phases' outputs, as the phases after them read them ------------------------------------------------
    def read_plan(self, epoch: int) -> dict:
        """The plan phase's selfplay prompts, preference rows and draws."""
        return json.loads(self.plan_path(epoch).read_text(encoding="utf-8"))

    def candidate_batches(self, epoch: int, machine_rank: int = 0) -> list[dict]:
        """The batches machine ``machine_rank`` has generated (read_batches)."""
        return read_batches(self.candidates_path(epoch, machine_rank))

    def checkpoint_before(self, epoch: int, base: str) -> str:
        """The checkpoint epoch ``epoch`` starts from: ``base`` for the first, else what the previous epoch
        left (its own checkpoint, or the one it started from when it had no pairs to train on)."""
        if epoch == 1:
            return base
        previous = self.state.epochs.get(epoch - 1) if self.state else None
        return (previous and previous.checkpoint) or str(self.checkpoint_path(epoch - 1))


def status(root: Path) -> dict:
    """A run's state for people (``spin-train status``, the report): its epochs in order, how many trained."""
    run = RunDir(root)
    state = run.open()
    done = sum(1 for entry in state.epochs.values() if entry.reached("train"))
    return {"run_dir": str(root), "epochs_completed": done, "config_sha256": state.config_sha256,
            "epochs": {str(e): entry.to_dict() for e, entry in sorted(state.epochs.items())}}
