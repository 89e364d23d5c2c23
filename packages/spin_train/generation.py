"""Generation backends behind one interface: k candidates per chat prompt.

- ``local``: transformers ``generate`` with ``num_return_sequences=k``, batched (CPU default).
- ``openai``: any OpenAI-compatible server: one request with ``n=k`` per prompt,
  more requests if fewer choices come back (``transformers serve`` ignores ``n``),
  with concurrency, timeouts and retries.
- ``vllm``: starts ``vllm serve CHECKPOINT`` as a subprocess, waits for /health,
  talks to it as ``openai``, and stops it before training.

Prompts are rendered with ``render_prompt_ids``, the same call TRL's DPOTrainer
makes for conversational prompts, so generation and training see the same tokens.
"""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional, Protocol

from argdown_lbl.errors import ServerError

from .config import GenerationConfig, ModelConfig


def render_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a chat prompt followed by the assistant turn's opening (as DPOTrainer tokenizes it)."""
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(out["input_ids"])


class Backend(Protocol):
    def generate(self, prompts: list[list[dict]], seed: int) -> list[list[str]]:
        """k candidate answers per prompt."""


class LocalBackend:
    def __init__(self, model_path: str, cfg: GenerationConfig, model_cfg: ModelConfig):
        from .models import load_model, load_tokenizer

        self.cfg = cfg
        self.tokenizer = load_tokenizer(model_path, model_cfg)
        self.model = load_model(model_path, model_cfg)
        self.model.eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None \
            else self.tokenizer.eos_token_id

    def generate(self, prompts: list[list[dict]], seed: int,
                 cfg: Optional[GenerationConfig] = None) -> list[list[str]]:
        """k answers per prompt; ``cfg`` overrides the sampling settings for this call."""
        import torch

        cfg = cfg or self.cfg
        torch.manual_seed(seed)
        ids = [render_prompt_ids(self.tokenizer, p) for p in prompts]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([[self.pad_id] * (width - len(x)) + x for x in ids])  # left padding
        attention = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=attention, do_sample=cfg.temperature > 0,
                temperature=cfg.temperature if cfg.temperature > 0 else None, top_p=cfg.top_p,
                max_new_tokens=cfg.max_tokens, num_return_sequences=cfg.k, pad_token_id=self.pad_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
        texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        k = cfg.k
        return [[t.rstrip() for t in texts[i * k:(i + 1) * k]] for i in range(len(prompts))]


class OpenAIBackend:
    """k answers per prompt from an OpenAI-compatible server, prompts in parallel.

    The HTTP side (``n=k`` per request, top-ups when fewer choices come back, retries with
    backoff on transport errors, 429 and 5xx) is argdown_lbl's ``ChatClient``, shared with
    the map-pairs pipeline.
    """

    def __init__(self, url: str, model: str, cfg: GenerationConfig, api_key: Optional[str] = None):
        from argdown_lbl.mapping.client import ChatClient, Endpoint

        self.cfg = cfg
        self.client = ChatClient(Endpoint(url.rstrip("/"), model), timeout_s=cfg.timeout_s, retries=cfg.retries,
                                 api_key=api_key)
        self.client.check()  # an unreachable server: one error naming the URL, before any batch

    def _candidates(self, messages: list[dict], seed: int) -> list[str]:
        choices = self.client.complete(messages, n=self.cfg.k, max_tokens=self.cfg.max_tokens,
                                       temperature=self.cfg.temperature, top_p=self.cfg.top_p, seed=seed)
        return [c.text.rstrip() for c in choices]

    def generate(self, prompts: list[list[dict]], seed: int) -> list[list[str]]:
        with concurrent.futures.ThreadPoolExecutor(self.cfg.concurrency) as pool:
            futures = [pool.submit(self._candidates, p, seed * 100_003 + i) for i, p in enumerate(prompts)]
            return [f.result() for f in futures]

    def close(self):
        self.client.close()


class VLLMServer:
    """``vllm serve CHECKPOINT`` for one generation phase; logs go to ``log_path``."""

    def __init__(self, checkpoint: str, cfg: GenerationConfig, log_path: Path, seed: int,
                 extra_args: Optional[list[str]] = None):
        self.checkpoint, self.cfg, self.log_path, self.seed = checkpoint, cfg, log_path, seed
        self.extra_args = extra_args or []  # e.g. --revision, --chat-template, --trust-remote-code
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.vllm_port}/v1"

    def __enter__(self) -> "VLLMServer":
        import httpx

        cmd = [self.cfg.vllm_executable, "serve", self.checkpoint, "--host", "127.0.0.1", "--port", str(self.cfg.vllm_port),
               "--seed", str(self.seed), *self.extra_args, *self.cfg.vllm_args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.with_suffix(".cmd").write_text(shlex.join(cmd) + "\n", encoding="utf-8")  # the exact command
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + self.cfg.vllm_startup_timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"vllm serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.cfg.vllm_port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(2)
        self.__exit__(None, None, None)
        raise ServerError(f"vllm serve not healthy after {self.cfg.vllm_startup_timeout_s} s; see {self.log_path}")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
