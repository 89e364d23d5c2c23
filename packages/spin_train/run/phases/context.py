"""What every phase of a run reads: the config, the run dir, this machine, its children and its server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from argdown_lbl.errors import UserError

from ...config import RunConfig
from ...serving.run_server import Serving
from ..children import Children
from ..machines import Machine
from ..run_dir import RunDir


@dataclass
class Context:
    cfg: RunConfig
    run: RunDir
    log: Callable[[str], None]
    machine: Machine
    children: Children
    serving: Serving  # backend vllm: the run's server
    session: Optional[dict] = None  # machine 0 of several: the session its calls to the DPO launches name
    _mixture: object = field(default=None, repr=False)

    def start_checkpoint(self, epoch: int) -> str:
        return self.run.checkpoint_before(epoch, self.cfg.model.path)

    def generators(self) -> int:
        """Machines that generate, each its share of the batches on a server of its own; an external server
        (backend openai) is one for all, so machine 0 alone uses it."""
        return 1 if self.cfg.generation.backend == "openai" else self.cfg.dpo.num_machines

    @property
    def mixture(self):
        if self._mixture is None:
            from ...data.mixture import Mixture

            self._mixture = Mixture(self.cfg, revisions=self.pin_datasets())
        return self._mixture

    def check_datasets(self) -> None:
        """The content of the local dataset folders the run reads (train_mixture, evaluation.dataset): recorded
        in state.json when the run starts, and the same on every resume, or the run stops naming the folder."""
        from ...data.mixture import local_fingerprints

        state, now = self.run.state, local_fingerprints(self.cfg)
        if state.dataset_fingerprints is None:
            state.dataset_fingerprints = now
            self.run.save()
            return
        changed = [f"{key}: the dataset folder {was['path']} changed since this run started (content sha256 "
                   f"{was['sha256'][:12]}... then, {now[key]['sha256'][:12]}... now)"
                   for key, was in sorted(state.dataset_fingerprints.items())
                   if key in now and now[key]["sha256"] != was["sha256"]]
        if changed:
            raise UserError("; ".join(changed) + "; the run so far drew and evaluated the old rows: restore the "
                            "folder, or start a new run with another --run-dir")

    def pin_datasets(self) -> dict:
        """Hub datasets' commits, resolved once when the run starts and kept in state.json for every resume."""
        from ...data.mixture import resolve_revision

        state = self.run.state
        if state.dataset_revisions is None:
            pins = {e.key: resolve_revision(e) for e in self.cfg.train_mixture}
            state.dataset_revisions = {k: v for k, v in pins.items() if v}
            self.run.save()
            for key, sha in state.dataset_revisions.items():
                self.log(f"dataset {key} pinned to revision {sha}")
        return state.dataset_revisions
