"""The run's vLLM server: one per machine for the whole run, each epoch's checkpoint loaded into it.

Starting vLLM costs minutes for an 8B model, once per epoch in the SPIN recipe. vLLM loads new weights
in place (the workers' ``reload_weights``, reached through ``/collective_rpc``, one of the endpoints that
``VLLM_SERVER_DEV_MODE=1`` opens). Those endpoints run any worker method for whoever can reach them, and
vLLM's ``--api-key`` does not guard them, so the server listens on a Unix socket in a folder only the run's
user can enter (``socket_path``), on no TCP port: another user of the node can neither swap the weights nor
reach the API, and two runs on one node cannot answer each other's requests. We reload where that is sound
and restart otherwise, and say which and why:

- every load of a checkpoint the DPO phase wrote is checked against the trainer's own log-probs of fixed
  tokens (reload_check.py); a reload that disagrees is undone by a restart;
- tied input and output embeddings: vllm 0.32's reload leaves what the tied LM head derived from its weight
  at start-up (CPU: a packed copy) stale; a method of ours in each worker derives it again
  (worker_extension.py), and the check above decides; a tied checkpoint without trainer log-probs restarts;
- GPUs: the DPO phase needs them, so the server sleeps through it (``--enable-sleep-mode``, level 2: weights
  and KV cache freed, the new weights loaded on waking); without sleep mode it is stopped, as before;
- CPU: vLLM's engine busy-polls a core even when idle, and sleep mode needs CUDA: its processes are paused
  (SIGSTOP) through the DPO phase and continued (SIGCONT) before the next load, with no restart. That frees
  the core, not the memory the server holds, which still slowed a DPO step 1.47x here
  (benchmarks/dpo_beside_server.py, docs/spin-train.md); ``generation.vllm_during_dpo: stop`` stops it
  instead (a restart at the next load), ``keep`` leaves it up;
- a reload that fails (an older vLLM, no dev endpoints) falls back to a restart.

Each load appends a line to ``serving-machine-R.jsonl`` in the run dir (and the epoch's state records the
last): which weights, how they got there, how long it took, and greedy answers to fixed probes, so that a
reloaded server can be compared with a freshly started one on the same checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from argdown_lbl.errors import ServerError

from ..config import RunConfig
from ..run.children import Children
from ..run.run_dir import RunDir
from ..training.models import cuda_available
from . import reload_check
from .server import CHAT_TEMPLATE, VLLMServer, vllm_model_args

# Whole max_tokens (ignore_eos), greedy and seeded: answers that differ when the weights differ, and that a
# rerun's fresh server must repeat (the seeded one: the candidates of a resumed phase).
PROBES = ["[Socrates is mortal]: Socrates is a man, and all men are mortal.",
          "<Modus ponens>\n\n(1) If it rains, the street is wet.\n(2) It rains.\n----",
          "Write the next line of this Argdown map:\n[Taxes]: Taxes should rise.\n  <+"]
PROBE_TOKENS = 8
PROBE_SAMPLING = [{"temperature": 0}] * len(PROBES) + [{"temperature": 0.7, "seed": 1}]


SOCKET_LIMIT = 107  # bytes of a Unix socket's path (Linux: sun_path holds 108 with the closing NUL)


def socket_path(run: RunDir, machine_rank: int) -> Path:
    """Where machine ``machine_rank``'s server listens: RUN_DIR/.vllm/HOST-machine-R/vllm.sock, or, where that
    is too long for a socket, vllm.sock in a folder of the temp dir named for the run dir and this user (the
    same folder privacy; the run's log says where)."""
    path = run.root.resolve() / ".vllm" / f"{socket.gethostname()}-machine-{machine_rank}" / "vllm.sock"
    if len(os.fsencode(path)) <= SOCKET_LIMIT:
        return path
    key = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"spin-vllm-{os.getuid()}-{key}" / "vllm.sock"


class Serving:
    """The vLLM server of one machine of a run, and which checkpoint it serves."""

    def __init__(self, cfg: RunConfig, run: RunDir, children: Children, machine_rank: int = 0,
                 log: Callable[[str], None] = print):
        self.cfg, self.run, self.children, self.rank, self.log = cfg, run, children, machine_rank, log
        self.server: Optional[VLLMServer] = None
        self.asleep = False
        self.paused = False  # CPU: its processes stopped through the DPO phase (release)
        self.stopped: Optional[str] = None  # why release() stopped the server (the next load restarts it)
        self.last: Optional[dict] = None  # the record of the last load

    @property
    def log_path(self) -> Path:
        return self.run.root / f"serving-machine-{self.rank}.jsonl"

    def load(self, checkpoint: str, epoch: int, purpose: str = "generate") -> VLLMServer:
        """The server, serving ``checkpoint``: as it is, reloaded, restarted or started."""
        self.resume()
        if self.server is not None and self.server.checkpoint == checkpoint and not self.asleep:
            return self.server
        t = time.time()
        how, why = self._swap(checkpoint, epoch)
        if self.server is None:
            self.server = self._start(checkpoint, epoch)
        check = self.check(checkpoint)
        if how == "reload" and check and not check["agrees"]:
            why = (f"the reloaded weights' log-probs differ from the trainer's by {check['max_difference']} "
                   f"(tolerance {check['tolerance']})")
            self.log(f"epoch {epoch}: restarting the vLLM server for {checkpoint}: {why}")
            self.close()
            self.server, how = self._start(checkpoint, epoch), "restart"
            check = self.check(checkpoint)
        if check and not check["agrees"]:  # a fresh server: the numerics of its kernels, not a stale weight
            self.log(f"epoch {epoch}: warning: a freshly started server's log-probs differ from the trainer's "
                     f"({check}); see generation.vllm_reload_tolerance")
        record = {"epoch": epoch, "for": purpose, "weights": checkpoint, "how": how,
                  "seconds": round(time.time() - t, 3), **({"why": why} if why else {}),
                  **({"check": check} if check else {}), "probe": self.probe()}
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.last = {k: v for k, v in record.items() if k != "probe"}
        if how == "reload":
            self.log(f"epoch {epoch}: the vLLM server now serves {checkpoint} (reloaded in {record['seconds']} s)")
        return self.server

    def _swap(self, checkpoint: str, epoch: int) -> tuple[str, Optional[str]]:
        """Get ``checkpoint`` into the running server, or stop it for a restart; -> (how, why not reloaded)."""
        if self.stopped:
            why, self.stopped = self.stopped, None
            return "restart", why
        if self.server is None:
            return "start", None
        why = self.reload_refusal(checkpoint)
        if why is None:
            try:
                self._reload(checkpoint)
                return "reload", None
            except ServerError as exc:
                why = f"the reload failed ({exc})"
        self.log(f"epoch {epoch}: restarting the vLLM server for {checkpoint}: {why}")
        self.close()
        return "restart", why

    def reload_refusal(self, checkpoint: str) -> Optional[str]:
        """Why ``checkpoint`` cannot be reloaded into the running server (None: it can)."""
        if not self.cfg.generation.vllm_reload:
            return "generation.vllm_reload is off"
        if _ties_embeddings(checkpoint) and reload_check.read(checkpoint) is None:
            return ("the model ties its input and output embeddings and the checkpoint has no trainer log-probs "
                    "to check a reload against")
        return None

    def check(self, checkpoint: str) -> Optional[dict]:
        """The served weights against the trainer's log-probs of ``checkpoint`` (None: it has none); an error
        in asking counts as a disagreement."""
        import httpx

        expected = reload_check.read(checkpoint)
        if expected is None:
            return None
        limit = reload_check.tolerance(expected, self.cfg.generation.vllm_reload_tolerance)
        try:
            difference = reload_check.compare(expected, reload_check.server_logprobs(self.server, expected["token_ids"]))
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            return {"agrees": False, "max_difference": None, "tolerance": limit,
                    "error": f"{type(exc).__name__}: {exc}"[:200]}
        return {"agrees": difference <= limit, "max_difference": None if difference == float("inf") else
                round(difference, 6), "tolerance": limit}

    def release(self) -> None:
        """Before the DPO phase (generation.vllm_during_dpo): free the GPUs the server holds (sleep, or stop
        without sleep mode); on CPU, the core its engine polls (pause); or stop it in any case."""
        policy = self.cfg.generation.vllm_during_dpo
        if self.server is None or self.asleep or self.paused or policy == "keep":
            return
        if policy == "stop":
            self.log("the vLLM server stops for the DPO phase (generation.vllm_during_dpo: stop)")
            self.close()
            self.stopped = "stopped for the DPO phase (generation.vllm_during_dpo: stop)"
            return
        if not cuda_available():
            n = self.children.pause(self.server.proc)
            self.paused = True
            self.log(f"the vLLM server is paused through the DPO phase ({n} processes stopped; its engine would "
                     "keep a core busy)")
            return
        why = "GPUs, no --enable-sleep-mode in generation.vllm_args"
        if "--enable-sleep-mode" in self.cfg.generation.vllm_args:
            try:
                self._post("/sleep", params={"level": "2"})
                self.asleep = True
                return
            except ServerError as exc:
                why = f"it could not sleep ({exc})"
        self.log(f"the vLLM server stops for the DPO phase: {why}")
        self.close()
        self.stopped = f"stopped for the DPO phase ({why})"

    def resume(self) -> None:
        """Continue a server that release() paused."""
        if self.paused and self.server is not None:
            self.children.pause(self.server.proc, resume=True)
        self.paused = False

    def close(self) -> None:
        if self.server is not None:
            self.resume()
            self.server.__exit__(None, None, None)
        self.server, self.asleep = None, False

    # -- the server's side ----------------------------------------------------------------------------------------
    def _start(self, checkpoint: str, epoch: int) -> VLLMServer:
        g, epoch_dir = self.cfg.generation, self.run.epoch_dir(epoch)
        if self.cfg.model.chat_template:
            epoch_dir.mkdir(parents=True, exist_ok=True)
            (epoch_dir / CHAT_TEMPLATE).write_text(self.cfg.model.chat_template, encoding="utf-8")
        env = {"VLLM_SERVER_DEV_MODE": "1"} if g.vllm_reload else {}
        path = socket_path(self.run, self.rank)
        if not path.is_relative_to(self.run.root.resolve()):
            self.log(f"the run dir's path is too long for a Unix socket: the vLLM server listens on {path}")
        server = VLLMServer(checkpoint, g, epoch_dir / "vllm.log", g.seed,
                            vllm_model_args(self.cfg.model, checkpoint, epoch_dir), self.children, env, socket=path)
        return server.__enter__()

    def _reload(self, checkpoint: str) -> None:
        if self.asleep:
            self._post("/wake_up", params={"tags": "weights"})
        self._post("/collective_rpc", json={"method": "reload_weights", "kwargs": {"weights_path": checkpoint}})
        self._post("/collective_rpc", json={"method": "refresh_tied_lm_head"})  # worker_extension.py: why
        if self.asleep:
            self._post("/wake_up", params={"tags": "kv_cache"})
            self.asleep = False
        self._post("/reset_prefix_cache")  # cached prefixes hold the old weights' keys and values
        self.server.checkpoint = checkpoint  # a restart after a crash starts on these weights

    def _post(self, path: str, **kwargs) -> None:
        import httpx

        try:
            # as long as a start may take: loading an 8B checkpoint from disk takes a while
            r = self.server.request("POST", path, timeout=self.cfg.generation.vllm_startup_timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(f"{path}: {type(exc).__name__}") from None
        if r.status_code != 200:
            raise ServerError(f"{path}: HTTP {r.status_code} {r.text[:200]}")

    def probe(self) -> list:
        """Greedy answers to PROBES and a seeded one (text and token log-probs); an error is recorded, not raised:
        the phase's own requests decide whether the server works."""
        import httpx

        out = []
        for prompt, sampling in zip(PROBES + PROBES[:1], PROBE_SAMPLING):
            body = {"model": self.server.name, "messages": [{"role": "user", "content": prompt}], **sampling,
                    "max_tokens": PROBE_TOKENS, "ignore_eos": True, "logprobs": True}
            try:
                choice = self.server.request("POST", "/v1/chat/completions", json=body, timeout=60).json()["choices"][0]
                out.append({"text": choice["message"]["content"],
                            "logprobs": [t["logprob"] for t in (choice.get("logprobs") or {}).get("content") or []]})
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                out.append({"error": f"{type(exc).__name__}: {exc}"[:200]})
        return out


def probes_equal(a: list, b: list, tolerance: float = 1e-3) -> bool:
    """Whether two loads' probe answers agree: the same texts, token log-probs within ``tolerance``, no error."""
    return len(a) == len(b) and all(
        x.get("text") == y.get("text") and "error" not in x
        and all(abs(p - q) < tolerance for p, q in zip(x["logprobs"], y["logprobs"])) for x, y in zip(a, b))


def _ties_embeddings(checkpoint: str) -> bool:
    """Whether the checkpoint's config ties embeddings (unknown counts as tied: restarting is always right)."""
    try:
        config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return bool(config.get("tie_word_embeddings", config.get("text_config", {}).get("tie_word_embeddings", True)))

