"""What the benchmarks share, declared once: the project on the path, where its built things live, and the
options several benchmarks take. Each runs as ``python benchmarks/NAME.py``, so this folder is on sys.path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages"))  # the project's packages without an install

SMOLLM2 = ROOT / "runs" / "base" / "SmolLM2-135M-Instruct"  # make base
TINY = ROOT / "runs" / "tiny" / "base"  # spin-train init-tiny
DATA = ROOT / "runs" / "demo" / "argdown_line-by-line"  # make demo
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"  # make vllm


def parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser, described by the first line of its docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0])


def model_and_data(ap: argparse.ArgumentParser, model: Path = SMOLLM2) -> None:
    ap.add_argument("--model", type=Path, default=model, help="a model folder")
    ap.add_argument("--data", type=Path, default=DATA, help="a line-by-line dataset folder")


def configs(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--configs", nargs="+", default=["classic-philosophical-arguments",
                                                     "critical-thinking-ten-arguments"])


def pairs(ap: argparse.ArgumentParser) -> None:
    """The DPO benchmarks' pairs: each of ``--pairs`` prompts of ``--config`` with its gold line as chosen."""
    ap.add_argument("--config", default="critical-thinking-ten-arguments")
    ap.add_argument("--pairs", type=int, default=16)


def vllm_python(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--vllm-python", default=str(VLLM_PYTHON), help="the interpreter of vLLM's own venv")


def rounds(ap: argparse.ArgumentParser, default: int) -> None:
    ap.add_argument("--rounds", type=int, default=default, help="timed rounds of each way")
