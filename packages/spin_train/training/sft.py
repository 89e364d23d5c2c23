"""``spin-train sft``: supervised fine-tuning of any base on line-by-line configs, the step before SPIN.

TRL's SFTTrainer on the configs' prompt/completion rows, pre-tokenised as the DPO phase's (data/tokens.py: the
served prompt's ids, then the completion's own and the end of the turn; ``input_ids`` + ``completion_mask``,
TRL's path for processed rows), with the loss on the completion only and the ids checked before training
(``token_check`` in sft_metrics.json); the same rules as the DPO phase: Spectrum (the top percent of weight matrices
per type by SNR, or a file of patterns) and one length limit (a row longer than ``max_length`` with the
chat template is left out and counted, never truncated). A Trainer checkpoint every ``save_steps`` steps in
``OUT.sft-work``; a rerun of the same command resumes from the last complete one, and refuses other
settings. The finished model, its tokenizer and ``sft_metrics.json`` (written last: the folder is complete)
land in OUT, which a run config names as ``model.path``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from argdown_lbl.errors import UserError

from ..run.run_dir import write_json


@dataclass
class SFTSettings:
    model: str
    data: str
    configs: list[str] = field(default_factory=list)  # empty: every config of the dataset
    rows: Optional[int] = None  # train rows drawn (seeded); None: all
    skip_rows: int = 0  # rows of the shuffled split left for others first (a study's SFT and SPIN parts)
    epochs: float = 1.0
    learning_rate: float = 1e-5
    batch_size: int = 8
    accumulation: int = 1
    max_length: int = 1024
    top_percent: Optional[float] = None  # Spectrum: train the top percent per weight type
    unfrozen_file: Optional[str] = None  # or the patterns in this file
    save_steps: Optional[int] = None
    # the loss on rows of the validation split (seeded) after each epoch; with ``patience``, training stops after
    # that many epochs without a lower one and keeps the best epoch's weights (a base trained to its plateau)
    validation_rows: Optional[int] = None
    patience: Optional[int] = None
    seed: int = 0
    report_to: list[str] = field(default_factory=lambda: ["none"])

    def check(self) -> None:
        for name in ("epochs", "learning_rate", "batch_size", "accumulation", "max_length"):
            if getattr(self, name) <= 0:
                raise UserError(f"sft: --{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.top_percent is not None and self.unfrozen_file is not None:
            raise UserError("sft: give --spectrum-top-percent or --unfrozen-parameters-file, not both")
        if self.patience is not None and (self.patience <= 0 or not self.validation_rows):
            raise UserError("sft: --patience needs a positive count and --validation-rows")
        if self.top_percent is not None and not 0 < self.top_percent <= 100:
            raise UserError(f"sft: --spectrum-top-percent must lie in (0, 100], got {self.top_percent}")


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".sft-work")


def sft(settings: SFTSettings, out: Path, log: Callable[[str], None] = print,
        rows: Optional[list[dict]] = None, validation: Optional[list[dict]] = None) -> dict:
    """Fine-tune ``settings.model`` into ``out``; -> the metrics written to ``out/sft_metrics.json``. ``rows``
    (prompt/completion messages) replace the dataset's train rows, ``validation`` its validation rows (a study's
    own selection)."""
    settings.check()
    out = Path(out)
    if (out / "sft_metrics.json").exists():
        log(f"sft: {out} is complete; nothing to do")
        return json.loads((out / "sft_metrics.json").read_text(encoding="utf-8"))
    from ..config import ModelConfig
    from .models import load_tokenizer

    tok = load_tokenizer(settings.model, ModelConfig(path=settings.model))
    given = rows
    rows, too_long = _rows(settings, tok, log, given)
    if not rows:
        raise UserError(f"sft: no row of {settings.data} fits --max-length {settings.max_length}")
    held = _rows(settings, tok, log, validation, "validation")[0] \
        if validation is not None or settings.validation_rows else []
    from ..data.tokens import check_rows

    checked = check_rows(tok, rows + held, f"sft {settings.data}")
    work = work_dir(out)
    _claim(work, {**asdict(settings), "rows_sha256": _sha256(_texts(rows)) if given is not None else None,
                  "validation_sha256": _sha256(_texts(held)) if validation is not None else None})
    metrics = _train(settings, rows, held, tok, work, log)
    metrics.update(rows=len(rows), rows_too_long=too_long, validation_rows=len(held), settings=asdict(settings),
                   token_check=checked)
    final = work / "final"
    tok.save_pretrained(str(final))
    from ..model_card import sft_card

    (final / "README.md").write_text(sft_card(settings, metrics), encoding="utf-8")
    write_json(final / "sft_metrics.json", metrics)  # last: the folder is complete
    if out.exists():
        shutil.rmtree(out)
    os.replace(final, out)
    shutil.rmtree(work, ignore_errors=True)
    log(f"sft: {metrics['steps']} steps on {len(rows)} rows, loss {metrics['train_loss']:.4f}; saved to {out}")
    return metrics


def _texts(rows: list[dict]) -> list[dict]:
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]


def _sha256(rows: list[dict]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _claim(work: Path, mine: dict) -> None:
    """Record the settings in the work dir, or refuse a rerun with other settings (its checkpoints are theirs)."""
    path = work / "settings.json"
    if path.exists():
        theirs = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if changed:
            raise UserError(f"sft: {work} holds a run with other settings ({', '.join(changed)}); rerun it with "
                            "the same ones to resume, or remove the folder")
    else:
        write_json(path, mine)


def _rows(s: SFTSettings, tok, log, given: Optional[list[dict]] = None,
          split: str = "train") -> tuple[list[dict], int]:
    """The rows (``given``, else the dataset's ``split``) with their ids (tokens.sft_row) that fit max_length, and
    the count left out."""
    from ..data.rows import load_rows
    from ..data.tokens import sft_row

    if given is not None:
        rows = _texts(given)
    elif split == "validation":
        rows = load_rows(Path(s.data), s.configs or None, split=split, limit=s.validation_rows, seed=s.seed)
    else:
        rows = load_rows(Path(s.data), s.configs or None, seed=s.seed)[s.skip_rows:]
        rows = rows[:s.rows] if s.rows else rows
    if not rows:
        raise UserError(f"sft: {s.data} has no {split} rows in the configs asked for ({s.configs or 'all'})")

    rows = [{**r, **sft_row(tok, r["prompt"], r["completion"])} for r in rows]
    fitting = [r for r in rows if len(r["input_ids"]) <= s.max_length]
    if len(fitting) < len(rows):
        what = "rows" if split == "train" else f"{split} rows"
        log(f"sft: {len(rows) - len(fitting)} of {len(rows)} {what} are longer than {s.max_length} tokens; left out")
    return fitting, len(rows) - len(fitting)


def _train(s: SFTSettings, rows: list[dict], held: list[dict], tok, work: Path, log) -> dict:
    from .dpo import last_complete_step

    trainer, trainable, total = build_trainer(s, rows, tok, work, log, held)
    resume = last_complete_step(work) if s.save_steps or held else None
    if resume is not None:
        log(f"sft: resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer.save_model(str(work / "final"))
    logs = [e for e in trainer.state.log_history if "loss" in e]
    curve = [{"epoch": round(e["epoch"], 3), "step": e["step"], "loss": e["eval_loss"]}
             for e in trainer.state.log_history if "eval_loss" in e]
    validation = {}
    if curve:  # the weights kept: the best epoch's with patience (loaded at the end), else the last's
        kept = min(curve, key=lambda c: c["loss"]) if s.patience else curve[-1]
        validation = {"validation": curve, "kept_epoch": kept["epoch"], "stopped_early": trainer.state.epoch < s.epochs}
        log("sft: validation loss by epoch " + ", ".join(f"{c['epoch']:g}: {c['loss']:.4f}" for c in curve)
            + f"; the weights of epoch {kept['epoch']:g} kept")
    return {"train_loss": result.training_loss, "steps": trainer.state.global_step, "log": logs, **validation,
            "trainable_parameters": trainable, "total_parameters": total,
            "seconds": round(result.metrics["train_runtime"], 1),  # this process's share after a resume
            "resumed_from_step": int(resume.name.split("-")[-1]) if resume else None}


def build_trainer(s: SFTSettings, rows: list[dict], tok, work: Path, log=print, held: Optional[list[dict]] = None):
    """TRL's SFTTrainer on ``rows`` with the Spectrum set frozen as asked, the loss on ``held`` after each epoch
    (with s.patience: transformers' early stopping on it, the best epoch's weights loaded at the end); ->
    (trainer, trainable, total)."""
    import torch
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    from ..config import ModelConfig
    from ..run.faults import stall, stalls
    from . import spectrum
    from .dpo import step_callback
    from .models import cuda_available, load_model

    torch.manual_seed(s.seed)
    model = load_model(s.model, ModelConfig(path=s.model))
    total = sum(p.numel() for p in model.parameters())
    patterns = (spectrum.read_yaml(Path(s.unfrozen_file)) if s.unfrozen_file else
                spectrum.to_regexes(spectrum.select(model, s.top_percent / 100)) if s.top_percent else None)
    trainable = spectrum.freeze(model, patterns) if patterns else total
    log(f"sft: {trainable:,} of {total:,} parameters trainable")
    args = SFTConfig(
        output_dir=str(work), num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.accumulation, learning_rate=s.learning_rate, lr_scheduler_type="linear",
        max_length=s.max_length, completion_only_loss=True, seed=s.seed, data_seed=s.seed,
        save_strategy="epoch" if held else "steps" if s.save_steps else "no", save_steps=s.save_steps or 500,
        save_total_limit=1 if s.save_steps or held else None, logging_steps=1, use_cpu=not cuda_available(),
        eval_strategy="epoch" if held else "no", per_device_eval_batch_size=s.batch_size,
        load_best_model_at_end=bool(s.patience), metric_for_best_model="eval_loss" if s.patience else None,
        greater_is_better=False if s.patience else None,
        report_to="none" if s.report_to == ["none"] else s.report_to, dataloader_num_workers=0,
    )
    if "tensorboard" in s.report_to or "all" in s.report_to:  # beside the model (OUT.tensorboard), not in the
        # work dir removed at the end; set per call, as dpo.py does (setdefault kept the first call's folder)
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(work.with_name(work.name.replace(".sft-work", ".tensorboard")))
    callbacks = [step_callback(lambda step, _m: stall("train", work, step))] if stalls("train") else []
    if s.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=s.patience))

    def ids(rs):
        return Dataset.from_list([{"input_ids": r["input_ids"], "completion_mask": r["completion_mask"]} for r in rs])

    trainer = SFTTrainer(model=model, args=args, train_dataset=ids(rows), eval_dataset=ids(held) if held else None,
                         processing_class=tok, callbacks=callbacks)
    return trainer, trainable, total
