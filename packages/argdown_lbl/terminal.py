"""Console output for long runs: a progress bar, the problems, and a summary table (rich, on stderr)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .split import ConfigResult

# Not a terminal (CI logs, pipes): rich would wrap at 80 columns and truncate the table.
console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)


def progress_bar(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=disable, transient=True)


def print_problems(results: list[ConfigResult]) -> None:
    for result in results:
        for problem in result.problems:
            if problem.code != "duplicate":
                console.print(f"{result.spec.name}/{problem}", markup=False, soft_wrap=True)


def print_summary(results: list[ConfigResult]) -> None:
    table = Table(title="argdown-lbl split")
    for column in ("config", "sources", "snippets", "kept", "invalid kept", "dupl.", "problems",
                   "train", "validation", "test"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for r in results:
        problems = sum(1 for p in r.problems if p.code != "duplicate")
        table.add_row(r.spec.name, str(r.n_sources), str(r.n_snippets), str(r.n_kept), str(r.n_invalid_kept),
                      str(r.n_duplicates), str(problems),
                      *(str(len(r.rows.get(s, []))) for s in ("train", "validation", "test")))
    console.print(table)
