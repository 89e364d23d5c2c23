"""The one error type for what a user can fix, and how the CLIs report every error in one line.

Library code raises ``UserError`` subclasses whose message names the file (with line and
column), the URL or the config key, and says what to do. The CLIs (``argdown-lbl``,
``spin-train``) use ``ReportingGroup``: any exception becomes ``error: <one line>`` on stderr
and exit status 1; click's usage errors keep status 2; ``--debug`` (or ARGUNAUTS_DEBUG=1)
re-raises so Python prints the traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

DEBUG_ENV = "ARGUNAUTS_DEBUG"


class UserError(ValueError):
    """Bad input or an unreachable resource: the message says where and what to do."""


class ServerError(UserError, RuntimeError):
    """A server or a child process failed or answered badly: names the URL or the log to read."""


class ConfigError(UserError):
    """A config file problem (a corpus's config.yaml, a spin-train run config): names the file and the key."""


class NotText(UserError):
    """Bytes that are not UTF-8 text, with the 1-based line and column of the first bad byte."""

    def __init__(self, source: str, line: int, column: int, why: str):
        super().__init__(f"{source}:{line}:{column}: {why}")
        self.line, self.column, self.why = line, column, why


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text (a byte-order mark dropped), else ``NotText`` at the first bad byte's position: a NUL byte
    in the first 8 KiB marks a binary file (as git decides), then the first byte that is not UTF-8."""
    nul = data.find(0, 0, 8192)
    if nul >= 0:
        raise NotText(source, *_position(data, nul), "a NUL byte: a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(source, *_position(data, exc.start),
                      f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None


def read_text(path: str | Path) -> str:
    """A UTF-8 text file; a binary or otherwise undecodable file is ``NotText`` at its line and column."""
    return decode_text(Path(path).read_bytes(), str(path))


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


# Libraries of an optional extra (pyproject.toml) -> the extra that brings them
EXTRAS = {"torch": "train", "transformers": "train", "trl": "train", "peft": "train", "accelerate": "train",
          "matplotlib": "train", "tensorboard": "train", "gguf": "train", "safetensors": "train",
          "deepspeed": "gpu", "vllm": "gpu", "pytest": "dev"}


def describe(exc: BaseException) -> str:
    """One line for any exception: ours verbatim, well-known library errors by what they mean."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in EXTRAS:
        extra = EXTRAS[exc.name.split(".")[0]]
        return (f"this command needs {exc.name.split('.')[0]}, which the '{extra}' extra installs: "
                f"pip install -e '.[{extra}]' (`make test` or `make demo` set up .venv with it)")
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    url = _request_url(exc)
    if url is not None:
        return f"cannot reach {url}: {_first_line(exc) or type(exc).__name__}; is the server running?"
    return (f"unexpected {type(exc).__name__}: {_first_line(exc)} "
            f"(an internal error; rerun with --debug for the traceback and report it)")


def _request_url(exc: BaseException) -> str | None:
    """The URL of a failed transport-level request (httpx), else None."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a base dependency
        return None
    if isinstance(exc, (httpx.TransportError, httpx.TimeoutException)):
        try:
            return str(exc.request.url)
        except RuntimeError:  # no request attached
            return "the server"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


class ReportingGroup(click.Group):
    """A click group whose commands fail with one line and status 1, never a traceback (unless --debug)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True,
                                        callback=_remember_debug,
                                        help=f"Show the Python traceback of an error (or set {DEBUG_ENV}=1)."))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.meta.get("debug") or os.environ.get(DEBUG_ENV):
                raise
            click.echo(f"error: {describe(exc)}", err=True)
            ctx.exit(1)


def _remember_debug(ctx: click.Context, _param, value: bool) -> None:
    ctx.meta["debug"] = value
