"""The README's commands are true: they name commands and options that exist, files the repository has and
run outputs that `make demo` (or a README command before them) makes; the cheap ones run for real.

The cheap ones run in a sandbox that holds what `make demo` would have made for them: the dataset split from the
real corpora (the upstream docs from ../shared/upstream) and a started run dir. The expensive ones (training,
evaluation, chat, uploads) are checked, not run.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spin_fixtures import ROOT

README = ROOT / "README.md"
SHARED_UPSTREAM = ROOT.parent / "shared" / "upstream"
CLIS = {"spin-train": "spin_train.cli", "argdown-lbl": "argdown_lbl.cli"}
REPO_FOLDERS = ("configs/", "corpora/", "benchmarks/", "docs/", "notebooks/", "tests/")


def commands() -> list[tuple[int, list[str]]]:
    """(line number, argv) of every command in the README's bash blocks (continuations joined, comments cut)."""
    out, block, pending = [], False, None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            block = line.strip() == "```bash"
            continue
        if not block or not line.strip():
            continue
        text = (pending[1] + " " if pending else "") + line.split("  #")[0].strip()
        start = pending[0] if pending else number
        if text.endswith("\\"):
            pending = (start, text[:-1].strip())
            continue
        pending = None
        out.append((start, shlex.split(text, comments=True)))
    return out


def demo_outputs() -> set[str]:
    """The run outputs `make demo` makes: its dataset, JSON export, base, SFT model and SPIN run with its epochs."""
    config = yaml.safe_load((ROOT / "configs" / "smollm2-vllm.yaml").read_text(encoding="utf-8"))
    epochs = len(config["curriculum"]["weights"])
    made = {"runs/demo/argdown_line-by-line", "runs/demo/parse.json", "runs/base/SmolLM2-135M-Instruct",
            "runs/demo/sft", "runs/demo/spin", "runs/demo/spin/tensorboard"}
    made |= {f"runs/demo/spin/epoch-{e:02d}/checkpoint" for e in range(1, epochs + 1)}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert all(p.split("/")[1] in makefile or p.startswith("runs/demo") for p in made)
    assert "--out runs/demo/sft" in makefile and "--run-dir runs/demo/spin" in makefile
    return made


def _command(argv: list[str]):
    """The click command a README line names (None for make, python, hf, tensorboard, ...)."""
    import importlib

    if argv[0] not in CLIS:
        return None, []
    group = importlib.import_module(CLIS[argv[0]]).main
    command, rest = group, argv[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        assert rest[0] in command.commands, f"{argv[0]} has no command {rest[0]!r}"
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_every_readme_command_names_real_commands_options_files_and_demo_outputs():
    made = demo_outputs()
    seen = 0
    for number, argv in commands():
        command, rest = _command(argv)
        if command is not None:
            options = {o for p in command.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
            for arg in rest:
                if arg.startswith("--"):
                    assert arg.split("=")[0] in options, f"README.md:{number}: {argv[0]} has no option {arg}"
            seen += 1
        # what this line makes (for itself and the lines after it)
        for flag in ("--run-dir", "--out"):
            if flag in argv and argv[argv.index(flag) + 1].startswith("runs/"):
                made.add(argv[argv.index(flag) + 1])
        if argv[:2] == ["spin-train", "init-tiny"]:
            made.add(argv[2])
        for arg in argv[1:]:
            if arg.startswith(REPO_FOLDERS):
                assert (ROOT / arg).exists(), f"README.md:{number}: {arg} is not in the repository"
            if arg.startswith("runs/"):
                assert any(arg == m or arg.startswith(m + "/") for m in made), \
                    f"README.md:{number}: nothing before it makes {arg} (make demo makes {sorted(made)})"
    assert seen >= 20


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A working dir laid out as after `make demo`, for what the cheap commands read."""
    if not SHARED_UPSTREAM.is_dir():
        pytest.skip(f"{SHARED_UPSTREAM} is missing: the dataset the dry-run plans over needs the upstream docs")
    from argdown_lbl.cli import main as lbl

    box = tmp_path_factory.mktemp("after-make-demo")
    (box / "configs").symlink_to(ROOT / "configs")
    corpora = box / "corpora"
    corpora.mkdir()
    for folder in (ROOT / "corpora").iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            (corpora / folder.name).symlink_to(folder)
    for args in (["fetch", str(corpora), "--from", str(SHARED_UPSTREAM)],
                 ["split", str(corpora), "--out", str(box / "runs/demo/argdown_line-by-line"), "--quiet"]):
        with pytest.raises(SystemExit) as done:
            lbl(args)
        assert done.value.code in (0, None), args
    from spin_train.config import load
    from spin_train.run.run_dir import RunDir

    RunDir(box / "runs/demo/spin").start(load(ROOT / "configs" / "smollm2-vllm.yaml"))
    return box


CHEAP = [(n, a) for n, a in commands() if a[0] in CLIS and ("--dry-run" in a and a[1] == "run" or a[1] == "status")]


@pytest.mark.parametrize("number, argv", CHEAP, ids=[f"README.md:{n}" for n, _ in CHEAP])
def test_the_cheap_readme_commands_run_as_written_after_make_demo(sandbox, number, argv):
    module = CLIS[argv[0]]
    done = subprocess.run([sys.executable, "-m", module, *argv[1:]], cwd=sandbox, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"README.md:{number}: {shlex.join(argv)}\n{done.stderr[-2000:]}"
    assert done.stdout.strip()


def test_the_cheap_commands_are_there_to_run():
    assert {a[1] for _, a in CHEAP} == {"run", "status"} and any(re.search("smollm2", " ".join(a)) for _, a in CHEAP)
