"""The epoch loop and its run directory, a state machine that survives kill -9.

    DIR/config.yaml           the resolved config (a changed config is refused)
    DIR/state.json            per epoch: phase, counts, pairs_sha256, checkpoint, timings
    DIR/epoch-NN/plan.json    the epoch's selfplay prompts and preference rows
    DIR/epoch-NN/candidates.jsonl   k candidates per prompt, appended per batch (resume point)
    DIR/epoch-NN/pairs.parquet      the epoch's training set
    DIR/epoch-NN/checkpoint/        the model after the epoch (next epoch's generator and reference)

Phases per epoch: planned -> generated -> mixed -> trained. Every file is
written to a temporary name and renamed, and state.json is updated after each
phase, so a rerun of the same command continues where it stopped; seeds are
fixed per epoch, batch and question, so it ends with the same pairs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import yaml

from argdown_lbl.errors import ServerError, UserError

from . import filtering
from .children import Children
from .config import ConfigError, RunConfig

PHASES = ("planned", "generated", "mixed", "trained")  # then "evaluated" when the config asks
# Fault injection for the resume tests: SPIN_TRAIN_STALL=generate|mix|train makes the run stop
# at a dangerous point (after a partial write), announce it with DIR/.stall-POINT, and wait to be killed.
STALL_ENV = "SPIN_TRAIN_STALL"


def stall(point: str, root: Path) -> None:
    if os.environ.get(STALL_ENV) == point:
        (Path(root) / f".stall-{point}").write_text(str(os.getpid()))
        time.sleep(600)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def pairs_sha256(pairs: list[dict]) -> str:
    canon = json.dumps(pairs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


class RunDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def epoch_dir(self, epoch: int) -> Path:
        return self.root / f"epoch-{epoch:02d}"

    def load_state(self) -> dict:
        if not self.state_path.exists():
            return {}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def save_state(self, state: dict) -> None:
        write_json(self.state_path, state)

    def start(self, cfg: RunConfig) -> dict:
        """Create or reopen the run; refuse a config that changed since the run started."""
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.load_state()
        sha = cfg.sha256()
        if state and state.get("config_sha256") != sha:
            raise ConfigError(
                f"{self.root}: the config changed since this run started (saved {self.root / 'config.yaml'}, "
                f"sha256 {state.get('config_sha256', '?')[:12]} != {sha[:12]}); start a new --run-dir or restore it")
        if not state:
            atomic_write(self.root / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
            state = {"config_sha256": sha, "epochs": {}, "created": time.time()}
            self.save_state(state)
        return state

    def phase(self, state: dict, epoch: int) -> Optional[str]:
        return state["epochs"].get(str(epoch), {}).get("phase")


def _record(run: RunDir, state: dict, epoch: int, phase: str, **info) -> None:
    entry = state["epochs"].setdefault(str(epoch), {})
    entry.update(info)
    entry["phase"] = phase
    run.save_state(state)


def _timed(entry_timings: dict, name: str, started: float) -> None:
    entry_timings[name] = round(time.time() - started, 3)


class Loop:
    """Runs the curriculum epochs of one config in one run dir."""

    def __init__(self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self.log = log
        self._mixture = None
        self.state: dict = {}

    @property
    def mixture(self):
        if self._mixture is None:
            from .data import Mixture

            self._mixture = Mixture(self.cfg, revisions=self.pin_datasets())
        return self._mixture

    def pin_datasets(self) -> dict:
        """Hub datasets' commits, resolved once when the run starts and kept in state.json for every resume."""
        from .data import resolve_revision

        pins = self.state.get("dataset_revisions")
        if pins is None:
            pins = {e.key: resolve_revision(e) for e in self.cfg.train_mixture}
            pins = {k: v for k, v in pins.items() if v}
            self.state["dataset_revisions"] = pins
            self.run.save_state(self.state)
            for key, sha in pins.items():
                self.log(f"dataset {key} pinned to revision {sha}")
        return pins

    def checkpoint_before(self, epoch: int) -> str:
        """The checkpoint epoch ``epoch`` starts from: the base model, else what the previous epoch left
        (its own checkpoint, or the one it started from when it had no pairs to train on)."""
        if epoch == 1:
            return self.cfg.model.path
        previous = self.state.get("epochs", {}).get(str(epoch - 1), {})
        return previous.get("checkpoint") or str(self.run.epoch_dir(epoch - 1) / "checkpoint")

    def run_all(self) -> dict:
        state = self.state = self.run.start(self.cfg)
        Children(self.run.root, self.log).reap()  # a server or launch an earlier, killed run left behind
        self.spectrum()
        if self.cfg.evaluation.enabled and self.cfg.evaluation.baseline:
            self.evaluate(state, 0)
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            if self.run.phase(state, epoch) not in ("trained", "evaluated"):
                self.epoch(state, epoch)
            if self.cfg.evaluation.enabled:
                self.evaluate(state, epoch)
        return state

    def evaluate(self, state: dict, epoch: int) -> None:
        """Evaluate the checkpoint after ``epoch`` (0: the base model) into epoch-NN/eval.json, once."""
        path = self.run.epoch_dir(epoch) / "eval.json"
        if path.exists():
            return
        from .evaluate import evaluate, table

        e = self.cfg.evaluation
        checkpoint = self.checkpoint_before(epoch + 1)
        t = time.time()
        result = evaluate(checkpoint, e.dataset, e.configs or None, e.k, e.max_prompts, e.max_tokens, e.seed,
                          self.cfg.model, self.cfg.generation.device)
        result["epoch"] = epoch
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result)
        if epoch > 0:
            info = state["epochs"][str(epoch)]
            info.setdefault("timings", {})["eval"] = round(time.time() - t, 3)
            _record(self.run, state, epoch, "evaluated", eval=str(path))
        self.log(f"eval after epoch {epoch}:\n{table(result)}")

    # -- phases ---------------------------------------------------------------
    def spectrum(self) -> None:
        """Scan the base model once when the config asks for the top percent (the DPO phase reads the list)."""
        sp = self.cfg.spectrum
        if sp.top_percent is None:
            return
        from . import spectrum

        path = self.run.root / spectrum.SCANNED
        if not path.exists():
            from .models import load_model, resolve_device

            model = load_model(self.cfg.model.path, self.cfg.model)
            snrs = spectrum.scan(model, sp.include_embeddings, resolve_device("auto"))  # SVDs on the GPU if any
            names = spectrum.top(snrs, sp.top_percent / 100)
            spectrum.write_yaml(names, path)
            spectrum.write_snr_json(snrs, self.run.root / "snr.json")
            self.log(f"spectrum: {len(names)} weight matrices trainable (top {sp.top_percent:g} % per type) -> {path}")

    def epoch(self, state: dict, epoch: int) -> None:
        started = time.time()
        edir = self.run.epoch_dir(epoch)
        edir.mkdir(parents=True, exist_ok=True)
        timings = state["epochs"].get(str(epoch), {}).get("timings", {})
        if self.run.phase(state, epoch) is None:
            t = time.time()
            selfplay, preference, drawn = self.mixture.draw(epoch)
            write_json(edir / "plan.json", {"selfplay": selfplay, "preference": preference, "plan": drawn})
            _timed(timings, "plan", t)
            _record(self.run, state, epoch, "planned", timings=timings, drawn=drawn,
                    counts={"prompts": len(selfplay), "preference": len(preference)})
            self.log(f"epoch {epoch}: planned {len(selfplay)} selfplay prompts, {len(preference)} preference pairs")
            for key, d in drawn.items():
                self.log(f"  {key}: weight {d['weight']:g}, requested {d['requested']}, drawn {d['drawn']} "
                         f"({d['unique']} rows of {d['rows']}, {d['repeats']} repeats)"
                         + (f", dropped {d['dropped']}" if d["dropped"] else ""))
        plan = json.loads((edir / "plan.json").read_text(encoding="utf-8"))
        if self.run.phase(state, epoch) == "planned":
            t = time.time()
            self.generate(epoch, plan["selfplay"])
            _timed(timings, "generate", t)
            _record(self.run, state, epoch, "generated", timings=timings)
        if self.run.phase(state, epoch) == "generated":
            t = time.time()
            counts = self.mix(epoch, plan)
            _timed(timings, "mix", t)
            entry = state["epochs"][str(epoch)]
            _record(self.run, state, epoch, "mixed", timings=timings, counts={**entry["counts"], **counts["counts"]},
                    pairs_sha256=counts["pairs_sha256"], filtering=counts["filtering"])
        if self.run.phase(state, epoch) == "mixed" and not state["epochs"][str(epoch)]["counts"]["pairs"]:
            # Nothing to train on (every question filtered out): the next epoch starts from this one's start.
            _record(self.run, state, epoch, "trained", timings=timings, checkpoint=self.checkpoint_before(epoch),
                    skipped="no pairs", steps=0)
            self.log(f"epoch {epoch}: no pairs after filtering; no DPO this epoch, the checkpoint stays "
                     f"{self.checkpoint_before(epoch)}")
        if self.run.phase(state, epoch) == "mixed":
            t = time.time()
            metrics = self.train(epoch)
            _timed(timings, "train", t)
            _timed(timings, "epoch", started)  # this process's part of the epoch (all of it unless resumed)
            _record(self.run, state, epoch, "trained", timings=timings, checkpoint=str(edir / "checkpoint"),
                    train_loss=metrics["train_loss"], steps=metrics["steps"], distributed=metrics.get("distributed"))
            self.log(f"epoch {epoch}: trained {metrics['steps']} steps, loss {metrics['train_loss']:.4f}")
            self.prune(epoch)

    def generate(self, epoch: int, items: list[dict]) -> None:
        """Append k candidates per prompt to candidates.jsonl, batch by batch; skip batches already there."""
        edir = self.run.epoch_dir(epoch)
        path = edir / "candidates.jsonl"
        done = _complete_batches(path)
        g = self.cfg.generation
        skipped = self.too_long(epoch, items)
        items = [it for it in items if it["id"] not in skipped]
        batches = [items[i:i + g.batch_size] for i in range(0, len(items), g.batch_size)]
        if done == len(batches):
            return
        self.log(f"epoch {epoch}: generating {g.k} candidates for {len(items)} prompts "
                 f"({len(batches) - done} of {len(batches)} batches left)")
        backend_cm = default_backend(self.cfg, self.checkpoint_before(epoch), edir)
        with backend_cm as backend, open(path, "a", encoding="utf-8") as fh:
            for b in range(done, len(batches)):
                batch = batches[b]
                seed = g.seed * 1_000_003 + epoch * 10_007 + b
                outs = self._generate_batch(backend_cm, backend, [it["prompt"] for it in batch], seed)
                record = {"batch": b, "candidates": {it["id"]: [s.text for s in c] for it, c in zip(batch, outs)},
                          "finish": {it["id"]: [s.finish_reason for s in c] for it, c in zip(batch, outs)}}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
                self.log(f"  batch {b + 1}/{len(batches)}")
                stall("generate", self.run.root)
            for why in getattr(backend, "rejected", []):
                self.log(f"  a prompt was refused by the server and gets no candidates: {why}")

    def too_long(self, epoch: int, items: list[dict]) -> set[str]:
        """Prompts that cannot fit the generator's context with max_tokens: counted, logged and not generated."""
        from .generation import context_length, too_long
        from .models import load_tokenizer

        checkpoint = self.checkpoint_before(epoch)
        limit = context_length(self.cfg.generation, checkpoint)
        if not limit:
            return set()
        skipped = too_long(items, load_tokenizer(checkpoint, self.cfg.model), limit, self.cfg.generation.max_tokens)
        if skipped:
            self.log(f"epoch {epoch}: {len(skipped)} of {len(items)} prompts do not fit the context of {limit} "
                     f"tokens with max_tokens {self.cfg.generation.max_tokens}; they are not generated")
        return skipped

    def _generate_batch(self, backend_cm, backend, prompts: list, seed: int) -> list:
        """One batch; a server we started that dies is restarted and the batch retried (finished batches stay)."""
        restarts = 0
        while True:
            try:
                return backend.generate(prompts, seed)
            except RuntimeError as exc:
                if not backend_cm.can_restart() or restarts >= self.cfg.generation.vllm_max_restarts:
                    raise
                restarts += 1
                self.log(f"  generation server failed ({exc}); restarting it ({restarts}/"
                         f"{self.cfg.generation.vllm_max_restarts})")
                backend_cm.restart()

    def mix(self, epoch: int, plan: dict) -> dict:
        from datasets import Dataset

        edir = self.run.epoch_dir(epoch)
        candidates, truncated = {}, {}
        for batch in _read_batches(edir / "candidates.jsonl"):
            candidates.update(batch["candidates"])
            truncated.update({i: [r == "length" for r in rs] for i, rs in batch.get("finish", {}).items()})
        f = self.cfg.filtering
        pairs, stats = filtering.build_pairs(plan["selfplay"], candidates, f.rule, f.seed, epoch, truncated,
                                             f.truncated_as_rejected)
        pairs = pairs + plan["preference"]
        random.Random(f"{f.seed}/{epoch}/shuffle").shuffle(pairs)
        tmp = edir / "pairs.parquet.tmp"
        Dataset.from_list(pairs).to_parquet(str(tmp))
        stall("mix", self.run.root)
        os.replace(tmp, edir / "pairs.parquet")
        per_source: dict[str, int] = {}
        for p in pairs:
            per_source[p["source"]] = per_source.get(p["source"], 0) + 1
        self.log(f"epoch {epoch}: {stats['kept']} of {stats['questions']} selfplay questions kept "
                 f"(l histogram {stats['l_histogram']}), {len(pairs)} pairs in all")
        return {"pairs_sha256": pairs_sha256(pairs), "filtering": stats,
                "counts": {"kept": stats["kept"], "pairs": len(pairs), "pairs_per_source": per_source}}

    def train(self, epoch: int) -> dict:
        """DPO in child processes (launch.py), which read the pairs and the Spectrum list from the run dir."""
        from .launch import run_dpo

        edir = self.run.epoch_dir(epoch)
        out, partial = edir / "checkpoint", edir / "checkpoint.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.log(f"epoch {epoch}: DPO on {self.state['epochs'][str(epoch)]['counts']['pairs']} pairs from "
                 f"{self.checkpoint_before(epoch)}")
        metrics = run_dpo(self.cfg, self.run.root, epoch, self.checkpoint_before(epoch), partial, self.log,
                          Children(self.run.root, self.log))
        self.log(f"epoch {epoch}: {metrics['trainable_parameters']:,} of {metrics['total_parameters']:,} parameters "
                 "trained")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(partial, out)
        return metrics

    def prune(self, epoch: int) -> None:
        limit = self.cfg.output.save_total_limit
        if limit is None:
            return
        in_use = {str(Path(self.checkpoint_before(e + 1))) for e in range(max(epoch - limit + 1, 1), epoch + 1)}
        for old in range(1, epoch - limit + 1):
            path = self.run.epoch_dir(old) / "checkpoint"
            if str(path) not in in_use:  # an epoch without pairs still points at an older checkpoint
                shutil.rmtree(path, ignore_errors=True)


def _read_batches(path: Path) -> list[dict]:
    """Complete lines only: a line cut by a kill has no newline and is dropped."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            out.append(json.loads(line))
    return out


def _complete_batches(path: Path) -> int:
    batches = _read_batches(path)
    # Drop a torn tail so appends continue on a clean line.
    if path.exists():
        good = "".join(json.dumps(b, ensure_ascii=False) + "\n" for b in batches)
        if path.read_text(encoding="utf-8") != good:
            atomic_write(path, good.encode())
    return len(batches)


class _Closing:
    def __init__(self, backend, server=None):
        self.backend, self.server = backend, server

    def __enter__(self):
        return self.backend

    def can_restart(self) -> bool:
        return self.server is not None

    def restart(self) -> None:
        self.server.__exit__(None, None, None)
        self.server.__enter__()

    def __exit__(self, *exc):
        close = getattr(self.backend, "close", None)
        if close:
            close()
        if self.server is not None:
            self.server.__exit__(*exc)


def reload_server(command: list[str], checkpoint: str, log_path: Path) -> None:
    """Run the user's reload command for ``checkpoint`` ({checkpoint} substituted); a failure stops the run."""
    import subprocess

    cmd = [part.replace("{checkpoint}", checkpoint) for part in command]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        status = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise ServerError(f"generation.reload_command exited with {status} for {checkpoint}; see {log_path}")


def default_backend(cfg: RunConfig, checkpoint: str, edir: Path):
    from .generation import CHAT_TEMPLATE, LocalBackend, OpenAIBackend, VLLMServer, vllm_model_args

    g = cfg.generation
    if g.backend == "local":
        return _Closing(LocalBackend(checkpoint, g, cfg.model))
    if g.backend == "openai":
        if checkpoint != cfg.model.path:  # epochs after the first: the user's command loads the new policy
            reload_server(g.reload_command, checkpoint, edir / "reload.log")
        return _Closing(OpenAIBackend(g.url, checkpoint, g, os.environ.get("OPENAI_API_KEY")))
    extra = vllm_model_args(cfg.model, checkpoint, edir)
    if cfg.model.chat_template:
        (edir / CHAT_TEMPLATE).write_text(cfg.model.chat_template, encoding="utf-8")
    server = VLLMServer(checkpoint, g, edir / "vllm.log", g.seed, extra, Children(edir.parent)).__enter__()
    return _Closing(OpenAIBackend(server.url, checkpoint, g, vllm=True), server)


def status(run_dir: Path) -> dict:
    run = RunDir(run_dir)
    state = run.load_state()
    if not state:
        raise UserError(f"{run_dir}: no state.json; not a spin-train run dir (start one with "
                        "`spin-train run CONFIG --run-dir DIR`)")
    epochs = {e: {k: v for k, v in info.items()} for e, info in sorted(state["epochs"].items(), key=lambda x: int(x[0]))}
    done = sum(1 for info in epochs.values() if info.get("phase") in ("trained", "evaluated"))
    return {"run_dir": str(run_dir), "epochs_completed": done, "config_sha256": state["config_sha256"],
            "epochs": epochs}
