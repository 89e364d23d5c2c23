"""One vLLM server on a private Unix socket: its command, its start (a child of the run, checked by /health and
/v1/models), its requests and its stop. run_server.py decides when a run starts it and which weights it serves;
worker_extension.py is copied next to its socket for vLLM's interpreter.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Optional

from argdown_lbl.errors import ServerError

from ..config import GenerationConfig, ModelConfig
from ..run.children import Children


CHAT_TEMPLATE = "chat_template.jinja"  # in the epoch dir, when the config gives one


def vllm_model_args(model: ModelConfig, checkpoint: str, epoch_dir: Path) -> list[str]:
    """What vLLM must be told about the model, as the other backends are: the base model's revision, the
    config's chat template (written to the epoch dir by the run) and remote code only on request."""
    args = []
    if model.revision and checkpoint == model.path:
        args += ["--revision", model.revision]
    if model.chat_template:
        args += ["--chat-template", str(epoch_dir / CHAT_TEMPLATE)]
    if model.trust_remote_code:
        args.append("--trust-remote-code")
    return args


SERVED_NAME = "spin-policy"  # the model id requests name: the weights change under it (run_server.py records which)


def vllm_command(cfg: GenerationConfig, checkpoint: str, seed: int, extra_args: list[str], socket: Path) -> list[str]:
    """``vllm serve`` as the run starts it, listening on the Unix socket ``socket`` and on no TCP port.
    ``--generation-config vllm``: the checkpoint's generation_config.json sets no sampling default; the
    request's pinned settings are all there is."""
    server = ([cfg.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", checkpoint] if cfg.vllm_python
              else [cfg.vllm_executable, "serve", checkpoint])
    return [*server, "--served-model-name", SERVED_NAME, "--uds", str(socket), "--seed", str(seed),
            "--generation-config", "vllm", "--worker-extension-cls", f"{EXTENSION}.Reload", *extra_args,
            *cfg.vllm_args]


EXTENSION = "spin_vllm_extension"  # worker_extension.py as the server imports it, from the socket's folder


def private_folder(folder: Path) -> None:
    """``folder``, made if missing, enterable by this user alone (0700): who cannot enter it cannot reach the
    socket inside. One that is a link or someone else's is refused."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        raise ServerError(f"{folder}: the vLLM server's socket folder is a link or belongs to another user "
                          f"(uid {info.st_uid}); remove it")
    os.chmod(folder, 0o700)


class VLLMServer:
    """``vllm serve CHECKPOINT`` (as SERVED_NAME) on the Unix socket ``socket`` (in a folder only this user can
    enter), started and stopped as a child of the run; logs go to ``log_path``. run_server.py decides when, and
    loads later checkpoints into it."""

    name = SERVED_NAME

    def __init__(self, checkpoint: str, cfg: GenerationConfig, log_path: Path, seed: int,
                 extra_args: Optional[list[str]], children: Children, env: Optional[dict] = None, *, socket: Path):
        self.checkpoint, self.cfg, self.log_path, self.seed = checkpoint, cfg, log_path, seed
        self.extra_args = extra_args or []  # e.g. --revision, --chat-template, --trust-remote-code
        self.children, self.socket = children, Path(socket)
        self.env = {**os.environ, **(env or {}), **cfg.vllm_env}
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        """The OpenAI API's address (argdown_lbl.chat_client: ``unix:PATH``)."""
        return f"unix:{self.socket}"

    def request(self, method: str, path: str, timeout: float, **kwargs):
        """``method`` ``path`` (``/health``, ``/v1/models``, ...) over the socket; httpx errors propagate."""
        from argdown_lbl.chat_client import SOCKET_HOST, http_client

        with http_client(self.url, timeout=timeout) as client:
            return client.request(method, SOCKET_HOST + path, **kwargs)

    def healthy(self) -> bool:
        """Whether the server answers /health (a failed request alone does not mean it is down)."""
        import httpx

        try:
            return self.request("GET", "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _served(self) -> list:
        """The model ids the server on our socket lists (``/v1/models``)."""
        import httpx

        try:
            data = self.request("GET", "/v1/models", timeout=10).json()
            return [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        except (httpx.HTTPError, ValueError, AttributeError):
            return []

    def __enter__(self) -> "VLLMServer":
        folder = self.socket.parent
        private_folder(folder)
        # our worker methods, importable by vLLM's interpreter without the project (worker_extension.py)
        extension = folder / f"{EXTENSION}.py"
        shutil.copy(Path(__file__).with_name("worker_extension.py"), extension)
        env = {**self.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), self.env.get("PYTHONPATH")]))}
        if self.socket.exists():
            if self.healthy():  # our own leftovers were reaped when the run started: this one is not ours
                raise ServerError(f"{self.socket} already answers /health, but no server of this run is running: "
                                  "stop that process")
            self.socket.unlink()  # a killed server's: vLLM cannot bind a path that exists
        cmd = vllm_command(self.cfg, self.checkpoint, self.seed, self.extra_args, self.socket)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.with_suffix(".cmd").write_text(shlex.join(cmd) + "\n", encoding="utf-8")  # the exact command
        # the supervisor removes the socket and its folder when the server is gone, also after a kill of the run
        self.proc = self.children.start("vllm", cmd, self.log_path, env, remove=(self.socket, extension, folder))
        deadline = time.time() + self.cfg.vllm_startup_timeout_s
        while time.time() < deadline:
            status = self.proc.poll()
            if status is not None:
                self.__exit__(None, None, None)
                raise ServerError(self._failed(f"vllm serve exited with status {status} while starting"))
            if self.healthy():
                served = self._served()
                if self.name in served:
                    return self
                self.__exit__(None, None, None)
                raise ServerError(self._failed(f"the server on {self.socket} serves {served}, not {self.name}"))
            time.sleep(min(2.0, max(0.0, deadline - time.time())))
        self.__exit__(None, None, None)
        raise ServerError(self._failed(f"vllm serve did not answer /health within {self.cfg.vllm_startup_timeout_s:g} s "
                                       "(generation.vllm_startup_timeout_s)"))

    def _failed(self, what: str, lines: int = 15) -> str:
        """``what``, the last lines of the server's log and its path: one error a user can act on."""
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()[-lines:]
        except OSError:
            tail = []
        shown = "\n".join(f"  | {line}" for line in tail) if tail else "  (the log is empty)"
        return f"{what}; the end of its log ({self.log_path}):\n{shown}"

    def __exit__(self, *exc):
        if self.proc is not None:
            self.children.stop("vllm", self.proc)
            self.proc = None
