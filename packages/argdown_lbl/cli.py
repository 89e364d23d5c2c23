"""Command line: ``argdown-lbl``."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import click

MARKDOWN_SUFFIXES = {".md", ".markdown"}


def _parse_path(path: Path, lenient: bool, mode: str | None):
    """-> list of (label, Document, line_offset) for an .argdown or Markdown file."""
    from .argdown import find_snippets, parse, parse_file

    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        text = path.read_text(encoding="utf-8")
        return [
            (f"{path}#{s.index}", parse(s.code, source=str(path), lenient=lenient, mode=mode), s.line - 1)
            for s in find_snippets(text)
        ]
    return [(str(path), parse_file(str(path), lenient=lenient, mode=mode), 0)]


@click.group()
@click.version_option(package_name="argunauts")
def main():
    """Argdown parsing and line-by-line datasets for argumentation LMs."""


@main.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON export (argdown json shape, compact) to stdout.")
@click.option("--lenient", is_flag=True, help="Also accept pyargdown-style (P1) labels and --- inference lines.")
@click.option("--mode", type=click.Choice(["loose", "strict"]), default=None,
              help="Relation interpretation; overrides the front matter's model.mode.")
@click.option("--summary", is_flag=True, help="Print one line of counts per file or snippet.")
def parse_command(files, as_json, lenient, mode, summary):
    """Parse Argdown FILES (.argdown, or Markdown with ```argdown fences).

    Errors go to stderr as FILE:LINE:COL: message; the exit status is 1 if any.
    """
    gc.disable()  # a short-lived process building large trees: see argdown.document.parse
    failed = False
    exports = []
    for path in files:
        for label, doc, offset in _parse_path(path, lenient, mode):
            for err in doc.errors:
                failed = True
                click.echo(f"{err.source or path}:{err.line + offset}:{err.column}: {err.message}", err=True)
            if as_json:
                exports.append((label, doc.to_json()))
            if summary:
                reconstructed = sum(a.is_reconstructed for a in doc.arguments.values())
                click.echo(
                    f"{label}: {len(doc.statements)} statements, {len(doc.arguments)} arguments "
                    f"({reconstructed} reconstructed), {len(doc.relations)} relations, {len(doc.errors)} errors",
                    err=as_json,  # keep stdout pure JSON
                )
    if as_json:
        payload = exports[0][1] if len(exports) == 1 else {label: data for label, data in exports}
        # dumps, compact: json.dump to a stream and indent= both use the pure-Python encoder (5x slower).
        sys.stdout.write(json.dumps(payload, ensure_ascii=False))
        sys.stdout.write("\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
