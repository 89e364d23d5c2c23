"""The OpenAI-compatible chat client of the mapping pipeline and spin-train: cache, retries, top-ups.

Every request is cached on disk under the hash of (endpoint, model, request
body), so a rerun after a crash sends no request twice. A server that returns
fewer choices than asked (``transformers serve`` ignores ``n``) is asked again
with a different seed until the count is reached; missing logprobs are
returned as None and callers fall back to rating prompts.

A reply is input: its shape is checked (an object with a list of choices that carry text) before it
is used or cached. A malformed reply, a transport error, 429 or 5xx is retried with backoff; what
still fails, or any other 4xx, is a ``ServerError`` naming the endpoint and why. Only usable replies
are cached (a cached one is checked again when read).

Why not the ``openai`` package: it types replies without validating them (a list of strings as
``choices`` still fails later, as here before), and it has neither the request cache nor top-ups; what
it adds (retries, timeouts) is a few lines here. Per request against a local server it costs twice
ours (benchmarks/chat_client_overhead.py, 300 requests x 5 rounds: 2.87 ms vs 1.40 ms, openai 3.54).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import ServerError, UserError


CHAT = "/chat/completions"


@dataclass
class Choice:
    text: str
    top_logprobs: Optional[list[dict[str, float]]] = None  # per generated token: {token: logprob}
    finish_reason: str = "stop"  # "length": cut by max_tokens
    token_ids: Optional[list[int]] = None  # the ids sampled, where the server returns them (vLLM: return_token_ids)
    prompt_token_ids: Optional[list[int]] = None  # the ids the server rendered the prompt to (vLLM)
    stop_reason: Optional[str] = None  # vLLM: the stop string that ended the choice (None: the end of turn)


UNIX = "unix:"  # a server on a Unix socket: unix:PATH stands for its OpenAI base, http://localhost/v1 over PATH
SOCKET_HOST = "http://localhost"


def socket_of(url: str) -> Optional[str]:
    """The Unix socket a server address goes through (``unix:PATH``), or None for an http(s) URL."""
    return url[len(UNIX):] if url.startswith(UNIX) else None


def http_base(url: str) -> str:
    """The HTTP URL requests to ``url``'s OpenAI API are sent to (over its socket, if it has one)."""
    return SOCKET_HOST + "/v1" if socket_of(url) else url


def http_client(url: str, **kwargs):
    """An httpx.Client that reaches the server at ``url``: through its Unix socket for ``unix:PATH``."""
    import httpx

    uds = socket_of(url)
    return httpx.Client(transport=httpx.HTTPTransport(uds=uds) if uds else None, **kwargs)


@dataclass
class Endpoint:
    """``URL#model``; the model defaults to the server's first listed model. The URL is http(s)://…/v1, or
    ``unix:PATH`` (also a bare path of a socket file) for a server on a Unix socket (vLLM's ``--uds``)."""

    url: str
    model: Optional[str] = None

    @classmethod
    def parse(cls, spec: str) -> "Endpoint":
        url, _, model = spec.partition("#")
        if url.startswith("/") and Path(url).is_socket():
            url = UNIX + url
        if not url.startswith(("http://", "https://", UNIX)):
            raise ValueError(f"endpoint {spec!r}: expected http(s)://HOST:PORT/v1[#model], or unix:SOCKET[#model] "
                             "(a bare path must be an existing socket)")
        return cls(url.rstrip("/"), model or None)

    @property
    def http(self) -> str:
        return http_base(self.url)

    def __str__(self) -> str:
        return f"{self.url}#{self.model}" if self.model else self.url


@dataclass
class ChatClient:
    endpoint: Endpoint
    cache_dir: Optional[Path] = None
    timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 0.5
    api_key: Optional[str] = None
    stats: dict = field(default_factory=lambda: {"requests": 0, "cached": 0, "retries": 0})

    def __post_init__(self):
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = http_client(self.endpoint.url, timeout=self.timeout_s, headers=headers)
        self._lock = threading.Lock()
        if self.cache_dir is not None:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)

    def close(self):
        self._http.close()

    def model(self) -> str:
        if self.endpoint.model is None:
            self.check()
        return self.endpoint.model

    def check(self, require_listed: bool = False) -> str:
        """Reach the server once before any work; -> the model (the first listed when none was given).

        An unreachable server, or one that lists no model when none was given, is a ``UserError`` naming the URL;
        with ``require_listed``, so is a server that lists models but not the given one (it would answer another).
        """
        import httpx

        url = self.endpoint.url + "/models"
        try:
            response = self._http.get(self.endpoint.http + "/models")
        except httpx.TransportError as exc:
            raise UserError(f"{url}: cannot reach the server ({type(exc).__name__}: {exc}); is it running?") from None
        if self.endpoint.model is None:
            try:
                ids = [m["id"] for m in response.json()["data"]]
            except (ValueError, KeyError, TypeError):
                raise UserError(f"{url}: HTTP {response.status_code}, not an OpenAI model list; "
                                "name the model as URL#MODEL") from None
            if not ids:
                raise UserError(f"{url}: the server lists no model; name it as URL#MODEL")
            self.endpoint.model = ids[0]
        elif require_listed:
            try:
                ids = [m["id"] for m in response.json()["data"]]
            except (ValueError, KeyError, TypeError):
                ids = []
            if ids and self.endpoint.model not in ids:  # servers that load on demand list nothing (transformers serve)
                raise UserError(f"{url}: the server does not serve {self.endpoint.model} (it lists {ids[:5]})")
        return self.endpoint.model

    # -- cache ------------------------------------------------------------------
    def _key(self, body: dict, path: str) -> str:
        url = self.endpoint.url if path == CHAT else self.endpoint.url + path  # chat keys as before: caches stay valid
        raw = json.dumps({"url": url, "body": body}, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _cached(self, key: str, check) -> Optional[dict]:
        if self.cache_dir is None:
            return None
        path = Path(self.cache_dir) / key[:2] / f"{key}.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # a torn or foreign file: ask again
            return None
        return data if check(data) is None else None

    def _store(self, key: str, data: dict) -> None:
        if self.cache_dir is None:
            return
        path = Path(self.cache_dir) / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    # -- requests ---------------------------------------------------------------
    def post(self, body: dict, path: str = CHAT, check: Callable = None) -> dict:
        """POST ``body`` to the endpoint's ``path``; the reply, usable by ``check`` (-> why not, or None;
        default ``unusable``), from the cache or the server (retried, then cached)."""
        import httpx

        check = check or unusable
        key = self._key(body, path)
        cached = self._cached(key, check)
        if cached is not None:
            with self._lock:
                self.stats["cached"] += 1
            return cached
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                with self._lock:
                    self.stats["requests"] += 1
                response = self._http.post(self.endpoint.http + path, json=body)
                if response.status_code >= 500 or response.status_code == 429:
                    raise httpx.HTTPStatusError(f"server error {response.status_code}", request=response.request,
                                                response=response)
                response.raise_for_status()
                data = response.json()  # ValueError if the body is not JSON
                why = check(data)
                if why is not None:
                    raise ValueError(why)
                self._store(key, data)
                return data
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                last = exc
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500 \
                        and exc.response.status_code != 429:  # a client error will not go away: this request's fault
                    raise RequestRejected(self.endpoint, exc.response.status_code,
                                          _error_message(exc.response)) from None
                with self._lock:
                    self.stats["retries"] += 1
                time.sleep(self.backoff_s * 2 ** attempt)
        raise ServerError(f"{self.endpoint}: request failed: {last}")

    def complete(self, messages: list[dict], n: int = 1, max_tokens: int = 256, temperature: float = 0.7,
                 logprobs: bool = False, top_logprobs: int = 10, seed: int = 0,
                 top_p: Optional[float] = None, extra: Optional[dict] = None) -> list[Choice]:
        """``n`` choices; asks again while the server returns fewer.

        ``extra``: more body fields (vLLM's top_k, min_p, repetition_penalty). vLLM seeds choice j of a
        request with seed + j, so a top-up round starts at seed + n·round: no seed is used twice.
        """
        out: list[Choice] = []
        round_ = 0
        while len(out) < n:
            body = {"model": self.model(), "messages": messages, "n": n - len(out), "max_tokens": max_tokens,
                    "temperature": temperature, "seed": seed + n * round_}
            if logprobs:
                body.update(logprobs=True, top_logprobs=top_logprobs)
            if top_p is not None:
                body["top_p"] = top_p
            body.update(extra or {})
            data = self.post(body)  # checked: a non-empty list of choices with text
            out.extend(_choice(c, data.get("prompt_token_ids")) for c in data["choices"])
            round_ += 1
        return out[:n]


class RequestRejected(ServerError):
    """The server refused this request (a 4xx other than 429: a prompt longer than the context, a bad
    parameter); the server itself is fine, so callers skip the request rather than restart anything."""

    def __init__(self, endpoint, status: int, message: str):
        super().__init__(f"{endpoint}: HTTP {status}: {message}")
        self.status, self.message = status, message


def _error_message(response) -> str:
    try:
        error = response.json().get("error")
        return str(error.get("message", error) if isinstance(error, dict) else error or response.text)[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


def unusable(data) -> Optional[str]:
    """Why a chat completion reply cannot be used, or None: an object whose ``choices`` is a non-empty list
    of objects, each with a string ``message.content`` (or ``text``)."""
    if not isinstance(data, dict):
        return f"the reply is a JSON {type(data).__name__}, not an object"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            return f"the server answered with an error: {message}"
        return "the reply has no choices"
    for choice in choices:
        if not isinstance(choice, dict):
            return f"a choice is a {type(choice).__name__}, not an object"
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) and not isinstance(choice.get("text"), str):
            return "a choice carries no text"
    return None


def _choice(raw: dict, prompt_token_ids=None) -> Choice:
    message = raw.get("message")
    text = message.get("content") if isinstance(message, dict) and isinstance(message.get("content"), str) \
        else raw.get("text") or ""
    stop = raw.get("stop_reason")
    return Choice(text, _top_logprobs(raw.get("logprobs")), str(raw.get("finish_reason") or "stop"),
                  _ids(raw.get("token_ids")), _ids(prompt_token_ids), stop if isinstance(stop, str) else None)


def _ids(value) -> Optional[list[int]]:
    """A list of token ids, or None when absent or not one (a reply is input)."""
    if isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return value
    return None


def _top_logprobs(logprobs) -> Optional[list[dict[str, float]]]:
    """Per generated token {token: logprob}; None when absent or not in the OpenAI shape (callers fall back)."""
    try:
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not content:
            return None
        return [{t["token"]: float(t["logprob"]) for t in (item.get("top_logprobs") or [item])} for item in content]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
