"""Generation backends behind one interface: k candidates per chat prompt.

- ``local``: transformers ``generate`` with ``num_return_sequences=k``, batched (CPU default).
- ``openai``: any OpenAI-compatible server: one request with ``n=k`` per prompt,
  more requests if fewer choices come back (``transformers serve`` ignores ``n``),
  with concurrency, timeouts and retries.
- ``vllm``: the run's vLLM server (server.py, given each epoch's checkpoint by run_server.py), talked to as
  ``openai``.

Prompts are rendered with ``data.lengths.render_prompt_ids``, the ids the training rows start with
(data/tokens.py). Every backend samples with the config's settings (temperature, top_p, top_k, min_p,
repetition_penalty), sent explicitly, and reports per candidate whether max_tokens cut it and,
where it can (local, vLLM), the token ids it sampled, which the DPO phase trains as rejected answers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

from argdown_lbl.errors import ServerError

from ..config import GenerationConfig, ModelConfig
from ..data.lengths import render_prompt_ids
from .server import VLLMServer


@dataclass(frozen=True)
class Sample:
    text: str
    finish_reason: str = "stop"  # "length": cut by max_tokens
    token_ids: Optional[list[int]] = None  # as sampled, the end-of-turn token included where written
    prompt_ids: Optional[list[int]] = None  # the ids the server rendered the prompt to (vLLM)
    stopped_at: Optional[str] = None  # the stop string (GenerationConfig.stop) that ended it, where known

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def request_seed(batch_seed: int, index: int, k: int) -> int:
    """The seed of prompt ``index`` of a batch: a multiple of k from a hash, below 2**31.

    vLLM seeds choice j of a request with seed + j; consecutive seeds per prompt would give
    neighbouring prompts (often consecutive lines of one snippet) the same random streams shifted
    by one. Multiples of k drawn from a hash never share a stream unless two hashes collide.
    """
    digest = hashlib.sha256(f"{batch_seed}/{index}".encode()).digest()
    return k * (int.from_bytes(digest[:8], "big") % (2**31 // k))


class Backend(Protocol):
    def generate(self, prompts: list[list[dict]], seed: int) -> list[list[Sample]]:
        """k candidate answers per prompt."""


class LocalBackend:
    def __init__(self, model_path: str, cfg: GenerationConfig, model_cfg: ModelConfig):
        from ..training.models import load_model, load_tokenizer

        self.cfg = cfg
        self.tokenizer = load_tokenizer(model_path, model_cfg)
        self.model = load_model(model_path, model_cfg, device=cfg.device)
        self.model.eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None \
            else self.tokenizer.eos_token_id

    def generate(self, prompts: list[list[dict]], seed: int,
                 cfg: Optional[GenerationConfig] = None) -> list[list[Sample]]:
        """k answers per prompt; ``cfg`` overrides the sampling settings for this call."""
        import torch

        cfg = cfg or self.cfg
        torch.manual_seed(seed)
        ids = [render_prompt_ids(self.tokenizer, p) for p in prompts]
        width = max(len(x) for x in ids)
        device = self.model.device
        input_ids = torch.tensor([[self.pad_id] * (width - len(x)) + x for x in ids], device=device)  # left padding
        attention = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
        sampling = {"temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k, "min_p": cfg.min_p or None}
        stop = {"stop_strings": cfg.stop, "tokenizer": self.tokenizer} if cfg.stop else {}
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=attention, do_sample=cfg.temperature > 0,
                **(sampling if cfg.temperature > 0 else {}), repetition_penalty=cfg.repetition_penalty,
                max_new_tokens=cfg.max_tokens, num_return_sequences=cfg.k, pad_token_id=self.pad_id,
                eos_token_id=self.tokenizer.eos_token_id, **stop,
            )
        new = out[:, width:].cpu()
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        # No end-of-sequence token among the new ones: generation stopped at max_new_tokens.
        ended = (new == self.tokenizer.eos_token_id).any(dim=1).tolist()
        samples = [_local_sample(t, e, row.tolist(), self.tokenizer.eos_token_id, cfg.stop)
                   for t, e, row in zip(texts, ended, new)]
        k = cfg.k
        return [samples[i * k:(i + 1) * k] for i in range(len(prompts))]


def _local_sample(text: str, ended: bool, ids: list[int], eos: int, stop: list[str]) -> Sample:
    """A local answer as a server reports it: cut before the first stop string it wrote (transformers keeps it),
    which is then its ``stopped_at``; else ended by the end of sequence or by max_tokens."""
    hits = [(text.index(s), s) for s in stop if s in text]
    if hits:
        at, string = min(hits)
        return Sample(text[:at].rstrip(), "stop", None, stopped_at=string)  # the ids run past the cut
    from ..data.tokens import through

    return Sample(text.rstrip(), "stop" if ended else "length", through(ids, eos))  # padding follows the eos


class OpenAIBackend:
    """k answers per prompt from an OpenAI-compatible server, prompts in parallel.

    The HTTP side (``n=k`` per request, top-ups when fewer choices come back, retries with
    backoff on transport errors, 429 and 5xx) is argdown_lbl's ``ChatClient``, shared with
    the map-pairs pipeline.
    """

    def __init__(self, url: str, model: str, cfg: GenerationConfig, api_key: Optional[str] = None,
                 vllm: bool = False):
        from argdown_lbl.chat_client import ChatClient, Endpoint

        self.cfg, self.vllm = cfg, vllm
        self.rejected: list[str] = []  # why the server refused prompts (they get no candidates)
        self.client = ChatClient(Endpoint(url.rstrip("/"), model), timeout_s=cfg.timeout_s, retries=cfg.retries,
                                 api_key=api_key)
        # An unreachable server, or one serving another model (a stale policy is not SPIN): one error, before any batch
        self.client.check(require_listed=True)

    def _candidates(self, messages: list[dict], seed: int, g: GenerationConfig) -> list[Sample]:
        """k samples; none when the server refuses the prompt for its length (a failure of that prompt). Any
        other refusal (401, 403, 404, a bad parameter) would refuse every prompt: it stops the phase."""
        from argdown_lbl.chat_client import RequestRejected

        try:
            # vLLM: the sampled ids and the rendered prompt's ids come back (return_token_ids)
            choices = self.client.complete(messages, n=g.k, max_tokens=g.max_tokens, temperature=g.temperature,
                                           top_p=g.top_p, seed=seed, extra={**sampling_extras(g, self.vllm),
                                                                            **({"return_token_ids": True}
                                                                               if self.vllm else {}),
                                                                            **({"stop": g.stop} if g.stop else {})})
        except RequestRejected as exc:
            if not about_length(exc):
                raise ServerError(f"the generation server refused a request, not for the prompt's length "
                                  f"({exc}); every prompt would fail, so the phase stops") from None
            self.rejected.append(str(exc))
            return []
        return [_served_sample(c, g.stop) for c in choices]

    def generate(self, prompts: list[list[dict]], seed: int, cfg: Optional[GenerationConfig] = None,
                 done: Optional[Callable[[int], None]] = None) -> list[list[Sample]]:
        """k answers per prompt, ``concurrency`` requests in flight, sent in the prompts' order; ``cfg``
        overrides the sampling settings for this call; ``done`` hears the count of prompts answered so far."""
        cfg = cfg or self.cfg
        with concurrent.futures.ThreadPoolExecutor(self.cfg.concurrency) as pool:
            futures = [pool.submit(self._candidates, p, request_seed(seed, i, cfg.k), cfg)
                       for i, p in enumerate(prompts)]
            if done:
                for count, _ in enumerate(concurrent.futures.as_completed(futures), 1):
                    done(count)
            return [f.result() for f in futures]

    def close(self):
        self.client.close()


def _served_sample(choice, stop: list[str]) -> Sample:
    """A server's choice as a Sample. One a stop string ended keeps no token ids: the server's ids run into the
    token that held the string, past the text it returns."""
    stopped = choice.stop_reason if choice.stop_reason in stop else None
    return Sample(choice.text.rstrip(), choice.finish_reason, None if stopped else choice.token_ids,
                  choice.prompt_token_ids, stopped)


_LENGTH = re.compile(r"context length|model length|max_model_len|too long|too many tokens|longer than", re.I)


def about_length(exc) -> bool:
    """A 400, 413 or 422 whose message is about the prompt's length (what servers answer for a prompt that
    leaves no room for max_tokens)."""
    return exc.status in (400, 413, 422) and bool(_LENGTH.search(exc.message))


def sampling_extras(cfg: GenerationConfig, vllm: bool) -> dict:
    """Sampling fields beyond the OpenAI API, which vLLM reads from the request body.

    Our vLLM server gets all of them. Another server (``backend: openai``) gets only those that are
    switched on: strict OpenAI-compatible servers (transformers serve) reject unknown fields, and a
    vLLM started by the user should run with ``--generation-config vllm`` so that unsent means off.
    """
    extras = {"top_k": cfg.top_k, "min_p": cfg.min_p, "repetition_penalty": cfg.repetition_penalty}
    off = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}
    return extras if vllm else {k: v for k, v in extras.items() if v != off[k]}


def reload_server(command: list[str], checkpoint: str, log_path: Path) -> None:
    """Run the user's reload command for ``checkpoint`` ({checkpoint} substituted); a failure stops the run."""
    cmd = [part.replace("{checkpoint}", checkpoint) for part in command]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        status = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise ServerError(f"generation.reload_command exited with {status} for {checkpoint}; see {log_path}")


class Session:
    """One epoch's generator: the backend, and the vLLM server we started for it, restarted when it dies
    (its /health fails; the failed batch is retried; finished batches stay)."""

    def __init__(self, backend: Backend, server: Optional[VLLMServer], max_restarts: int, log=print):
        self.backend, self.server, self.max_restarts, self.log = backend, server, max_restarts, log
        self.restarts = 0

    @property
    def rejected(self) -> list[str]:
        return getattr(self.backend, "rejected", [])

    def generate(self, prompts: list[list[dict]], seed: int) -> list[list[Sample]]:
        while True:
            try:
                return self.backend.generate(prompts, seed)
            except RuntimeError as exc:
                # Restart only a server that is down: one timed-out request must not restart a healthy 8B server.
                if self.server is None or self.restarts >= self.max_restarts or self.server.healthy():
                    raise
                self.restarts += 1
                self.log(f"  generation server failed ({exc}); restarting it ({self.restarts}/{self.max_restarts})")
                self.server.__exit__(None, None, None)
                self.server.__enter__()


@contextlib.contextmanager
def session(cfg, checkpoint: str, epoch_dir: Path, serving=None, log=print, epoch: int = 0):
    """Generate from ``checkpoint`` (a RunConfig's backend) in this block. Backend vllm: ``serving``
    (serving.Serving) loads it into the run's server, which outlives the block."""
    g = cfg.generation
    server = None
    backend = None
    try:
        if g.backend == "local":
            backend = LocalBackend(checkpoint, g, cfg.model)
        elif g.backend == "openai":
            if checkpoint != cfg.model.path:  # epochs after the first: the user's command loads the new policy
                reload_server(g.reload_command, checkpoint, epoch_dir / "reload.log")
            backend = OpenAIBackend(g.url, checkpoint, g, os.environ.get("OPENAI_API_KEY"))
        else:
            server = serving.load(checkpoint, epoch)
            backend = OpenAIBackend(server.url, server.name, g, vllm=True)
        yield Session(backend, server, g.vllm_max_restarts, log)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
