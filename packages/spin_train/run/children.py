"""Child processes that never outlive the run (the vLLM server, the accelerate launch of the DPO phase).

Three guards, because ``spin-train run`` itself can die by SIGKILL (OOM killer, preemption), when no
cleanup code runs:

- each child runs under a supervisor (``python -m spin_train.run.children CMD...``) that leads its own
  process group, which the child and its workers inherit. The supervisor has a parent-death signal
  (Linux ``PR_SET_PDEATHSIG``): when the run dies, it terminates every process of its group (SIGTERM,
  then SIGKILL), whatever the child does with signals. It does the same when told to stop and when
  the child exits (workers a launcher left behind);
- a pid file per child in the run dir (``.children/HOST/machine-M/NAME.json``: pid, process group, start time,
  boot id, command) that the next run on that host reads first: whatever of that group is still alive
  is terminated, once the pid's start time and boot id show that it is still the recorded process.
  Processes that leave the supervisor's group register themselves the same way (``register``): the
  DPO ranks, which torchrun starts in sessions of their own;
- on a normal or failed stop, the run terminates the whole group and removes the pid file.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from .run_dir import write_json

PR_SET_PDEATHSIG = 1
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the pid file still covers it
        pass


def _boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, /proc/PID/stat field 22); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def identity(pid: int) -> dict:
    """What tells this process from a later one that gets its pid: start time and boot id."""
    return {"start_time": start_time(pid), "boot_id": _boot_id()}


def _still_recorded(info: dict) -> bool:
    """Whether the pid file's process may still run: same boot, and its pid (if alive) is the same process.
    (While a process group has members, Linux gives its id to no new process.)"""
    if info.get("boot_id") and _boot_id() and info["boot_id"] != _boot_id():
        return False
    now = start_time(info["pid"]) if isinstance(info.get("pid"), int) else None
    return now is None or info.get("start_time") in (None, now)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is alive (a zombie, an exited process not yet reaped, is not)."""
    if Path("/proc/self/stat").exists():
        return bool(_group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, not ours to signal
        return True
    return True


def terminate_group(pgid: int, grace_s: float = 30.0) -> bool:
    """SIGTERM the process group, SIGKILL what is left after ``grace_s``; -> whether anything was running."""
    if not _group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signal.SIGTERM)
        os.killpg(pgid, signal.SIGCONT)  # a paused group (Children.pause) acts on SIGTERM only once continued
        deadline = time.time() + grace_s
        while time.time() < deadline and _group_alive(pgid):
            time.sleep(0.1)
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


class Children:
    """The run's child processes, with their pid files in ``folder`` (RunDir.children_dir)."""

    def __init__(self, folder: Path, log: Callable[[str], None] = print):
        self.folder = Path(folder)
        self.log = log

    def reap(self, grace_s: float = 30.0, prefix: str = "") -> list[str]:
        """Terminate what an earlier run of this run dir left running (pid files named ``prefix*``); -> the
        names of what was found alive."""
        found = []
        for pid_file in sorted(self.folder.glob(f"{prefix}*.json")):
            try:
                info = json.loads(pid_file.read_text(encoding="utf-8"))
            except ValueError:
                info = {}
            pgid = info.get("pgid")
            if isinstance(pgid, int) and pgid > 1 and _still_recorded(info) and terminate_group(pgid, grace_s):
                found.append(pid_file.stem)
                self.log(f"stopped {pid_file.stem} (process group {pgid}) left running by an earlier run: "
                         f"{' '.join(info.get('cmd', []))[:200]}")
            pid_file.unlink(missing_ok=True)
        return found

    def start(self, name: str, cmd: list[str], log_path: Path, env: Optional[dict] = None,
              remove: tuple[Path, ...] = ()) -> subprocess.Popen:
        """Start ``cmd`` (output to ``log_path``) under a supervisor in a new process group; record its pid file.
        The supervisor removes the files (or empty folders) in ``remove`` once the group is gone, also when the
        run died: a server's Unix socket outlives a killed server otherwise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cleanup = [arg for path in remove for arg in ("--remove", str(path))]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "spin_train.run.children", *cleanup, "--", *cmd], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.register(name, proc.pid, cmd)
        return proc

    def register(self, name: str, pid: int, cmd: list[str], pgid: Optional[int] = None) -> Path:
        """Record ``pid`` (and its process group, by default its own) in the pid file ``name``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.json"
        write_json(path, {"pid": pid, "pgid": pgid or pid, "cmd": cmd, "started": time.time(), **identity(pid)})
        return path

    def stop(self, name: str, proc: subprocess.Popen, grace_s: float = 60.0) -> None:
        """Terminate ``proc``'s whole group (also when it already exited: its workers may not have)."""
        terminate_group(proc.pid, grace_s)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent to the group
            proc.kill()
            proc.wait()
        (self.folder / f"{name}.json").unlink(missing_ok=True)
        self.reap(grace_s=10.0, prefix=f"{name}-")  # what registered itself under this child (DPO ranks)

    @staticmethod
    def pause(proc: subprocess.Popen, resume: bool = False) -> int:
        """Stop (SIGSTOP) or continue (SIGCONT) every process of ``proc``'s group but the supervisor, which stays
        awake to clean up if the run dies meanwhile; -> how many processes were signalled."""
        members = [pid for pid in _group_members(proc.pid) if pid != proc.pid]
        for pid in members:
            try:
                os.kill(pid, signal.SIGCONT if resume else signal.SIGSTOP)
            except ProcessLookupError:
                pass
        return len(members)

    def run(self, name: str, cmd: list[str], log_path: Path, env: Optional[dict] = None) -> int:
        """Start ``cmd``, wait for it, and stop its group; -> its exit status."""
        proc = self.start(name, cmd, log_path, env)
        try:
            return proc.wait()
        finally:
            self.stop(name, proc)


# -- the supervisor ------------------------------------------------------------------------------------------------

def _group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` (Linux /proc), this process excluded."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _stop_members(grace_s: float = 30.0) -> None:
    """SIGTERM every other process of our group, SIGKILL what is left after ``grace_s``."""
    pgid = os.getpgrp()
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        members = _group_members(pgid)
        for pid in members:
            try:
                os.kill(pid, sig)
                os.kill(pid, signal.SIGCONT)  # a paused member (Children.pause) acts on SIGTERM once continued
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while members and time.time() < deadline:
            time.sleep(0.1)
            members = _group_members(pgid)
        if not members:
            return


def _remove(paths: list[Path]) -> None:
    """Files, then empty folders, in order; what is already gone is fine."""
    for path in paths:
        try:
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
        except OSError:  # a folder someone put files into stays
            pass


def supervise(cmd: list[str], remove: Optional[list[Path]] = None) -> int:
    """Run ``cmd`` in our process group; stop the whole group when the child ends, when we get SIGTERM or
    SIGINT, or when our parent (the run) dies; then remove ``remove``."""
    remove = remove or []
    die_with_parent(signal.SIGTERM)
    if os.getppid() == 1:  # the run died before the parent-death signal was armed
        return 1
    child = subprocess.Popen(cmd)

    def stop(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_members()
        _remove(remove)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = child.wait()
    _stop_members(grace_s=10.0)  # workers the child left behind
    _remove(remove)
    return status if status >= 0 else 128 - status


def _main(argv: list[str]) -> int:
    """``python -m spin_train.run.children [--remove PATH]... -- CMD...``"""
    remove = []
    while argv and argv[0] == "--remove":
        remove.append(Path(argv[1]))
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    return supervise(argv, remove)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
