"""The epoch loop: a table of phases over the run dir (run_dir.py), a state machine that survives kill -9.

Each epoch runs plan -> generate -> mix -> train; state.json records each phase when it is done, so a
rerun of the same command continues where it stopped; seeds are fixed per epoch, batch and question,
so it ends with the same pairs. With several machines, machine 0 runs this loop and the others follow
it (machines.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Callable

from argdown_lbl.errors import ServerError

from . import filtering
from .children import Children
from .config import RunConfig
from .faults import stall
from .machines import Machine, call_machines, join, open_session, wait_for_call, wait_for_phase, wait_for_shares
from .run_dir import RunDir, RunState, atomic_write, write_json
from .serving import Serving

def pairs_sha256(pairs: list[dict]) -> str:
    canon = json.dumps(pairs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


class Loop:
    """Runs the curriculum epochs of one config in one run dir, as machine ``machine.rank``."""

    def __init__(self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None] = print,
                 machine: Machine = Machine()):
        self.cfg, self.log, self.machine = cfg, log, machine
        self.run = RunDir(run_dir)
        self.children = Children(self.run.children_dir(machine.rank), log)
        self.serving = Serving(cfg, self.run, self.children, machine.rank, log)  # backend vllm: the run's server
        self._mixture = None
        self.session = None  # machine 0 of several: the session its calls to the DPO launches name

    # The epoch, top to bottom: the phase each step records when it is done. A resumed epoch skips the
    # steps its state already records.
    def phases(self) -> list[tuple[str, Callable[[int], dict]]]:
        return [("planned", self.plan), ("generated", self.generate), ("mixed", self.mix), ("trained", self.train)]

    def run_all(self) -> RunState:
        self.machine.check(self.cfg)
        try:
            return self.follow() if not self.machine.is_main else self.lead()
        finally:
            self.serving.close()

    def lead(self) -> RunState:
        self.run.start(self.cfg)
        if self.cfg.dpo.num_machines > 1:
            self.session = open_session(self.run)
        self.children.reap()  # a server or launch an earlier, killed run left behind on this machine
        self.spectrum()
        if self.cfg.evaluation.enabled and self.cfg.evaluation.baseline:
            self.evaluate(0)
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            self.epoch(epoch)
            if self.cfg.evaluation.enabled:
                self.evaluate(epoch)
        return self.run.state

    def epoch(self, epoch: int) -> None:
        started = time.time()
        self.run.epoch_dir(epoch).mkdir(parents=True, exist_ok=True)
        for phase, step in self.phases():
            if self.run.state.epoch(epoch).reached(phase):
                continue
            t = time.time()
            info = step(epoch)
            timings = dict(self.run.state.epoch(epoch).timings)
            timings[step.__name__] = round(time.time() - t, 3)
            if phase == "trained":  # this process's part of the epoch (all of it unless resumed)
                timings["epoch"] = round(time.time() - started, 3)
            self.run.record(epoch, phase, timings=timings, **info)

    def follow(self) -> RunState:
        """A machine above 0: generate its share of each epoch's candidates, answer machine 0's call to the DPO
        launch, take part, wait until recorded."""
        join(self.run, self.cfg, self.machine, self.log)
        self.children.reap()
        for epoch in range(1, self.cfg.curriculum.epochs + 1):
            if self.generators() > 1 and not wait_for_phase(self.run, epoch, "planned", self.log).reached("generated"):
                self.generate_share(epoch, self.batches(epoch)[0])
            if wait_for_call(self.run, epoch, self.machine, self.log):
                from .launch import run_dpo

                self.log(f"epoch {epoch}: DPO as machine {self.machine.rank}")
                self.serving.release()
                run_dpo(self.cfg, self.run, epoch, self.start_checkpoint(epoch), self.machine, self.children,
                        self.log)
            wait_for_phase(self.run, epoch, "trained", self.log)
        self.log(f"machine {self.machine.rank}: all {self.cfg.curriculum.epochs} epochs trained")
        return self.run.state

    def start_checkpoint(self, epoch: int) -> str:
        return self.run.checkpoint_before(epoch, self.cfg.model.path)

    @property
    def mixture(self):
        if self._mixture is None:
            from .data import Mixture

            self._mixture = Mixture(self.cfg, revisions=self.pin_datasets())
        return self._mixture

    def pin_datasets(self) -> dict:
        """Hub datasets' commits, resolved once when the run starts and kept in state.json for every resume."""
        from .data import resolve_revision

        state = self.run.state
        if state.dataset_revisions is None:
            pins = {e.key: resolve_revision(e) for e in self.cfg.train_mixture}
            state.dataset_revisions = {k: v for k, v in pins.items() if v}
            self.run.save()
            for key, sha in state.dataset_revisions.items():
                self.log(f"dataset {key} pinned to revision {sha}")
        return state.dataset_revisions

    # -- once per run -----------------------------------------------------------------------------------------
    def spectrum(self) -> None:
        """Scan the base model once when the config asks for the top percent (the DPO phase reads the list)."""
        sp = self.cfg.spectrum
        if sp.top_percent is None or self.run.spectrum_path.exists():
            return
        from . import spectrum
        from .models import load_model, resolve_device

        model = load_model(self.cfg.model.path, self.cfg.model)
        device = resolve_device("auto")
        snrs = spectrum.scan(model, sp.include_embeddings, device)  # SVDs on the GPU if any
        del model
        if device.startswith("cuda"):  # vLLM wants ~92 % of the GPU free at start-up: give the cache back
            import torch

            torch.cuda.empty_cache()
        names = spectrum.top(snrs, sp.top_percent / 100)
        spectrum.write_snr_json(snrs, self.run.snr_path)
        spectrum.write_yaml(names, self.run.spectrum_path)  # last: its presence means the scan is done
        self.log(f"spectrum: {len(names)} weight matrices trainable (top {sp.top_percent:g} % per type) -> "
                 f"{self.run.spectrum_path}")

    def evaluate(self, epoch: int) -> None:
        """Evaluate the checkpoint after ``epoch`` (0: the base model) into epoch-NN/eval.json, once."""
        path = self.run.eval_path(epoch)
        if path.exists():
            return
        from .evaluate import evaluate, table

        e = self.cfg.evaluation
        t = time.time()
        weights = self.start_checkpoint(epoch + 1)  # what the next epoch generates from
        checkpoint, server = weights, None
        if self.cfg.generation.backend == "vllm":  # through the run's server: no model in this process
            served = self.serving.load(weights, epoch + 1, purpose="evaluate")
            checkpoint, server = None, f"{served.url}#{served.name}"
        result = evaluate(checkpoint, e.dataset, e.configs or None, e.k, e.max_prompts, e.max_tokens, e.seed,
                          self.cfg.model, self.cfg.generation.device, server=server, samples=e.samples,
                          next_line_prompts=e.next_line_prompts, next_line_max_tokens=e.next_line_max_tokens,
                          batch=e.batch_size, log=self.log)
        result["epoch"], result["weights"] = epoch, weights
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result)
        if epoch > 0:
            timings = {**self.run.state.epoch(epoch).timings, "eval": round(time.time() - t, 3)}
            self.run.record(epoch, "evaluated", timings=timings, eval=str(path))
        self.log(f"eval after epoch {epoch}:\n{table(result)}")

    # -- the phases (each returns what the state records) -------------------------------------------------------
    def plan(self, epoch: int) -> dict:
        selfplay, preference, drawn = self.mixture.draw(epoch)
        write_json(self.run.plan_path(epoch), {"selfplay": selfplay, "preference": preference, "plan": drawn})
        self.log(f"epoch {epoch}: planned {len(selfplay)} selfplay prompts, {len(preference)} preference pairs")
        for key, d in drawn.items():
            self.log(f"  {key}: weight {d['weight']:g}, requested {d['requested']}, drawn {d['drawn']} "
                     f"({d['unique']} rows of {d['rows']}, {d['repeats']} repeats)"
                     + (f", dropped {d['dropped']}" if d["dropped"] else ""))
        return {"drawn": drawn, "counts": {"prompts": len(selfplay), "preference": len(preference)}}

    def _plan(self, epoch: int) -> dict:
        return json.loads(self.run.plan_path(epoch).read_text(encoding="utf-8"))

    def generators(self) -> int:
        """Machines that generate, each its share of the batches on a server of its own; an external server
        (backend openai) is one for all, so machine 0 alone uses it."""
        return 1 if self.cfg.generation.backend == "openai" else self.cfg.dpo.num_machines

    def batches(self, epoch: int) -> tuple[list[list[dict]], int]:
        """(the epoch's batches of prompts to generate, prompts left out as too long); the same on every machine."""
        g = self.cfg.generation
        items = self._plan(epoch)["selfplay"]
        skipped = self.too_long(epoch, items)
        items = [it for it in items if it["id"] not in skipped]
        return [items[i:i + g.batch_size] for i in range(0, len(items), g.batch_size)], len(skipped)

    def generate(self, epoch: int) -> dict:
        """This machine's share of the candidates, then (machine 0) the other machines' shares."""
        batches, skipped = self.batches(epoch)
        self.generate_share(epoch, batches)
        if self.generators() > 1:
            share = {r: len(range(r, len(batches), self.generators())) for r in range(1, self.generators())}
            wait_for_shares(self.run, epoch, share, lambda r: len(_read_batches(self.run.candidates_path(epoch, r))),
                            self.log)
        serving = {"serving": self.serving.last} if self.serving.last else {}  # which weights, loaded how
        return {"counts": {**self.run.state.epoch(epoch).counts, "prompts_too_long": skipped}, **serving}

    def generate_share(self, epoch: int, batches: list[list[dict]]) -> None:
        """Append k candidates per prompt to this machine's candidates file, batch by batch (machine r of n takes
        batches r, r+n, ...); skip batches already there. Seeds are per batch: which machine generates a batch
        does not change its candidates."""
        rank = self.machine.rank
        path = self.run.candidates_path(epoch, rank)
        mine = list(range(rank, len(batches), self.generators()))
        done = _complete_batches(path)
        if done < len(mine):
            self.generate_batches(epoch, batches, mine, done, path)
        self.check_refused(epoch, path, sum(len(batches[b]) for b in mine))  # also when a rerun finds it all done

    def generate_batches(self, epoch: int, batches: list[list[dict]], mine: list[int], done: int, path: Path) -> None:
        """Batches ``mine[done:]`` through one generation session, appended to ``path`` as they finish."""
        from .generation import session

        g, rank = self.cfg.generation, self.machine.rank
        where = f" as machine {rank} of {self.generators()}" if self.generators() > 1 else ""
        self.log(f"epoch {epoch}: generating {g.k} candidates for {sum(len(batches[b]) for b in mine)} prompts{where} "
                 f"({len(mine) - done} of {len(mine)} batches left)")
        with session(self.cfg, self.start_checkpoint(epoch), self.run.epoch_dir(epoch), self.serving, self.log,
                     epoch) as generator, open(path, "a", encoding="utf-8") as fh:
            for b in mine[done:]:
                batch = batches[b]
                outs = generator.generate([it["prompt"] for it in batch], g.seed * 1_000_003 + epoch * 10_007 + b)
                record = {"batch": b, "candidates": {it["id"]: [s.text for s in c] for it, c in zip(batch, outs)},
                          "finish": {it["id"]: [s.finish_reason for s in c] for it, c in zip(batch, outs)},
                          "refused": [it["id"] for it, c in zip(batch, outs) if not c]}  # by the server
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
                self.log(f"  batch {b + 1}/{len(batches)}")
                stall("generate", self.run.root, epoch=epoch)
            for why in generator.rejected:
                self.log(f"  a prompt was refused by the server and gets no candidates: {why}")

    def check_refused(self, epoch: int, path: Path, prompts: int) -> None:
        """Fail the phase when the server refused more than generation.max_refused_share of the prompts."""
        refused = sum(len(b.get("refused", [])) for b in _read_batches(path))
        limit = self.cfg.generation.max_refused_share
        if prompts and refused / prompts > limit:
            raise ServerError(f"epoch {epoch}: the server refused {refused} of {prompts} prompts for their length, "
                              f"more than generation.max_refused_share ({limit:g}); lower max_tokens or raise the "
                              f"server's context (see {path})")

    def too_long(self, epoch: int, items: list[dict]) -> set[str]:
        """Prompts that leave no room for max_tokens within the generator's context and dpo.max_length:
        counted, logged and not generated."""
        from .lengths import generation_limit, too_long
        from .models import load_tokenizer

        checkpoint = self.start_checkpoint(epoch)
        limit, max_tokens = generation_limit(self.cfg, checkpoint), self.cfg.generation.max_tokens
        skipped = too_long(items, load_tokenizer(checkpoint, self.cfg.model), limit, max_tokens)
        if skipped:
            self.log(f"epoch {epoch}: {len(skipped)} of {len(items)} prompts do not fit {limit} tokens (the "
                     f"generator's context and dpo.max_length) with max_tokens {max_tokens}; they are not generated")
        return skipped

    def mix(self, epoch: int) -> dict:
        from datasets import Dataset

        plan = self._plan(epoch)
        candidates, truncated = {}, {}
        shares = [_read_batches(self.run.candidates_path(epoch, r)) for r in range(self.generators())]
        refused = 0
        for batch in (b for share in shares for b in share):
            candidates.update(batch["candidates"])
            refused += len(batch.get("refused", []))
            truncated.update({i: [r == "length" for r in rs] for i, rs in batch.get("finish", {}).items()})
        f = self.cfg.filtering
        pairs, stats = filtering.build_pairs(plan["selfplay"], candidates, f.rule, f.seed, epoch, truncated,
                                             f.truncated_as_rejected)
        pairs, too_long = self.fitting(epoch, pairs + plan["preference"])
        random.Random(f"{f.seed}/{epoch}/shuffle").shuffle(pairs)
        target = self.run.pairs_path(epoch)
        tmp = target.with_name(target.name + ".tmp")
        Dataset.from_list(pairs).to_parquet(str(tmp))
        stall("mix", self.run.root)
        os.replace(tmp, target)
        per_source: dict[str, int] = {}
        for p in pairs:
            per_source[p["source"]] = per_source.get(p["source"], 0) + 1
        self.log(f"epoch {epoch}: {stats['kept']} of {stats['questions']} selfplay questions kept "
                 f"(l histogram {stats['l_histogram']}), {len(pairs)} pairs in all")
        counts = {**self.run.state.epoch(epoch).counts, "kept": stats["kept"], "pairs": len(pairs),
                  "pairs_per_source": per_source, "too_long": too_long, "refused": refused}
        return {"pairs_sha256": pairs_sha256(pairs), "filtering": stats, "counts": counts}

    def fitting(self, epoch: int, pairs: list[dict]) -> tuple[list[dict], dict[str, int]]:
        """The pairs that fit dpo.max_length with the policy's chat template, and those dropped per source."""
        from .lengths import fitting_pairs
        from .models import load_tokenizer

        if not pairs:
            return [], {}
        max_length = self.cfg.dpo.max_length
        kept, dropped = fitting_pairs(pairs, load_tokenizer(self.start_checkpoint(epoch), self.cfg.model), max_length)
        for source, n in sorted(dropped.items()):
            self.log(f"epoch {epoch}: {n} pairs from {source} are longer than dpo.max_length {max_length}; dropped")
        return kept, dropped

    def train(self, epoch: int) -> dict:
        """DPO in child processes (launch.py), which read the pairs and the Spectrum list from the run dir."""
        start = self.start_checkpoint(epoch)
        n_pairs = self.run.state.epoch(epoch).counts["pairs"]
        if not n_pairs:  # every question filtered out: the next epoch starts from this one's start
            self.log(f"epoch {epoch}: no pairs after filtering; no DPO this epoch, the checkpoint stays {start}")
            return {"checkpoint": start, "skipped": "no pairs", "steps": 0}
        from .launch import run_dpo

        out, partial = self.run.checkpoint_path(epoch), self.run.partial_checkpoint_path(epoch)
        if (partial / "train_metrics.json").exists():  # written last: a kill came after the checkpoint was done
            self.log(f"epoch {epoch}: {partial} is complete (a run stopped before recording it); not trained again")
        else:
            shutil.rmtree(partial, ignore_errors=True)
            if self.cfg.dpo.num_machines > 1:
                call_machines(self.run, self.cfg, self.machine, self.session, epoch, self.log)
            self.log(f"epoch {epoch}: DPO on {n_pairs} pairs from {start}")
            self.serving.release()
            run_dpo(self.cfg, self.run, epoch, start, self.machine, self.children, self.log)
        metrics = json.loads((partial / "train_metrics.json").read_text(encoding="utf-8"))
        if metrics.get("resumed_from_step"):
            self.log(f"epoch {epoch}: the DPO phase resumed from its checkpoint at step {metrics['resumed_from_step']}")
        self.log(f"epoch {epoch}: {metrics['trainable_parameters']:,} of {metrics['total_parameters']:,} parameters "
                 f"trained; {metrics['steps']} steps, loss {metrics['train_loss']:.4f}")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(partial, out)
        self.prune(epoch)
        return {"checkpoint": str(out), "train_loss": metrics["train_loss"], "steps": metrics["steps"],
                "resumed_from_step": metrics.get("resumed_from_step"), "distributed": metrics.get("distributed")}

    def prune(self, epoch: int) -> None:
        limit = self.cfg.output.save_total_limit
        if limit is None:
            return
        # Still needed: what the last ``limit`` epochs left (an epoch without pairs points further back).
        in_use = {str(Path(self.start_checkpoint(e + 1))) for e in range(max(epoch - limit + 1, 1), epoch + 1)}
        for old in range(1, epoch - limit + 1):
            path = self.run.checkpoint_path(old)
            if str(path) not in in_use:
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


def status(run_dir: Path) -> dict:
    run = RunDir(run_dir)
    state = run.open().to_dict()
    epochs = dict(sorted(state["epochs"].items(), key=lambda x: int(x[0])))
    done = sum(1 for info in epochs.values() if info.get("phase") in ("trained", "evaluated"))
    return {"run_dir": str(run_dir), "epochs_completed": done, "config_sha256": state["config_sha256"],
            "epochs": epochs}
