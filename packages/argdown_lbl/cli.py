"""Command line: ``argdown-lbl``."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import click

from .errors import ReportingGroup, UserError

MARKDOWN_SUFFIXES = {".md", ".markdown"}


def _parse_path(path: Path, lenient: bool, mode: str | None, model_on_errors: bool = True):
    """-> list of (label, Document, line_offset) for an .argdown or Markdown file.

    The documents keep their syntax trees: the process exits without freeing them (``_exit_now``).

    An unclosed fence is not parsed: its Document holds one error at the opening fence."""
    from .argdown import Document, Issue, find_snippets, parse, parse_file
    from .errors import read_text

    if path.suffix.lower() not in MARKDOWN_SUFFIXES:
        doc = parse_file(str(path), lenient=lenient, mode=mode, model_on_errors=model_on_errors, keep_tree=True)
        return [(str(path), doc, 0)]
    out = []
    for s in find_snippets(read_text(path)):
        if s.closed:
            doc = parse(s.code, source=str(path), lenient=lenient, mode=mode, model_on_errors=model_on_errors,
                        keep_tree=True)
            out.append((f"{path}#{s.index}", doc, s.line - 1))
        else:
            unclosed = Issue(s.fence_line, 1, f"unclosed code fence ```{s.info} runs to the end of the file; "
                                  "close it with ``` (left out)", code="fence", source=str(path))
            out.append((f"{path}#{s.index}", Document(errors=[unclosed], source=str(path)), 0))
    return out


def _exit_now(status: int) -> None:
    """Exit without freeing the parsed documents object by object: millions of them for a large map
    (0.27 s of the 3.8 MB map's 2.7 s). Only in a process of its own: under click's test runner
    (replaced streams) this is a plain sys.exit."""
    if sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


@click.group(cls=ReportingGroup)
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
@click.option("--partial", is_flag=True, help="With --json: print the model even when there are errors.")
def parse_command(files, as_json, lenient, mode, summary, partial):
    """Parse Argdown FILES (.argdown, or Markdown with ```argdown fences).

    Errors go to stderr as FILE:LINE:COL: message; the exit status is 1 if any. With errors, --json
    prints nothing (as the reference) unless --partial.
    """
    gc.disable()  # a short-lived process building large trees: see argdown.document.parse
    failed = False
    exports = []
    # The model of a document with syntax errors is needed only to print it (--partial) or count it (--summary).
    model_on_errors = summary or (as_json and partial)
    for path in files:
        for label, doc, offset in _parse_path(path, lenient, mode, model_on_errors):
            for err in doc.errors:
                failed = True
                click.echo(f"{err.source or path}:{err.line + offset}:{err.column}: {err.message}", err=True)
            if as_json:
                exports.append((label, doc))  # exported at the end, and only if it will be printed
            if summary:
                reconstructed = sum(a.is_reconstructed for a in doc.arguments.values())
                click.echo(
                    f"{label}: {len(doc.statements)} statements, {len(doc.arguments)} arguments "
                    f"({reconstructed} reconstructed), {len(doc.relations)} relations, {len(doc.errors)} errors",
                    err=as_json,  # keep stdout pure JSON
                )
    if as_json and (partial or not failed):
        from .argdown.export import dumps, lazy_json

        payload = lazy_json(exports[0][1]) if len(exports) == 1 else {label: lazy_json(d) for label, d in exports}
        sys.stdout.flush()
        sys.stdout.buffer.write(dumps(payload))
        sys.stdout.buffer.flush()
    _exit_now(1 if failed else 0)


def _load(corpus: Path, configs: tuple[str, ...]):
    from .corpus import load_corpus

    return load_corpus(corpus, list(configs) or None)


@main.command("fetch")
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Take the files from a folder laid out like ../shared/upstream instead of downloading.")
@click.option("--config", "configs", multiple=True, help="Only these configs (glob; repeatable).")
@click.option("--force", is_flag=True, help="Fetch again even if the cache holds the pinned commit.")
@click.option("--base-url", default="https://codeload.github.com", show_default=True,
              help="Where repository tarballs are served ({base}/{owner}/{name}/tar.gz/{commit}).")
def fetch_command(corpus, from_dir, configs, force, base_url):
    """Download the upstream sources that CORPUS's configs pin into CORPUS/.cache/."""
    from .fetch import FetchError, fetch

    specs = [s for s in _load(corpus, configs) if s.upstream is not None]
    failed = False
    for spec in specs:
        try:
            manifest, fresh = fetch(spec, from_dir, base_url, force)
        except FetchError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        state = "fetched" if fresh else "up to date"
        click.echo(f"{spec.name}: {state}, {len(manifest['files'])} files of {spec.upstream.repo}"
                   f"@{spec.upstream.commit[:10]} in {spec.cache}")
    sys.exit(1 if failed else 0)


@main.command("split")
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write as a Hub dataset repository (README.md + <config>/<split>-*.parquet).")
@click.option("--config", "configs", multiple=True, help="Only these configs (glob; repeatable).")
@click.option("--keep-invalid", is_flag=True, help="Keep snippets the parser or z3 rejects (flagged valid=false).")
@click.option("--strict", is_flag=True, help="Exit with status 1 if anything was skipped or reported.")
@click.option("--quiet", is_flag=True, help="No progress bar and no problem list (the summary table stays).")
def split_command(corpus, out, configs, keep_invalid, strict, quiet):
    """Turn every snippet in CORPUS into "write the next line" chat rows and write a Hub dataset."""
    from .dataset_folder import write_dataset
    from .terminal import print_problems, print_summary, progress_bar
    from .split import source_count, split_config

    specs = _load(corpus, configs)
    results = []
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("sources", total=sum(source_count(s) for s in specs))
        for spec in specs:
            bar.update(task, description=spec.name)
            results.append(split_config(spec, keep_invalid, progress=lambda _label: bar.advance(task)))
    written = write_dataset(results, out)
    if not quiet:
        print_problems(results)
    print_summary(results)
    click.echo(f"wrote {len(written)} files to {out}", err=True)
    problems = sum(1 for r in results for p in r.problems if p.code != "duplicate")
    sys.exit(1 if strict and problems else 0)


def _repo_id(_ctx, _param, value: str) -> str:
    if value.count("/") != 1 or not all(value.split("/")):
        raise click.BadParameter(f"must look like ORG/NAME, got {value!r}")
    return value


@main.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, callback=_repo_id, help="ORG/NAME of the dataset repository on the Hub.")
@click.option("--private", is_flag=True, help="Create the repository as private (if it does not exist).")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded where; send nothing.")
def push_command(folder, repo_id, private, dry_run):
    """Upload FOLDER (written by `split`) as a dataset repository.

    The token comes from HF_TOKEN or `hf auth login`; it is never printed.
    `hf upload ORG/NAME FOLDER --repo-type dataset` uploads the same folder.
    """
    from .hub import describe, plan_upload, push

    plan = plan_upload(folder, repo_id, private)
    if dry_run:
        click.echo(describe(plan))
        return
    info = push(folder, repo_id, private, message=f"argdown-lbl: {len(plan.files)} files")
    click.echo(f"uploaded {len(plan.files)} files to {plan.where}: {getattr(info, 'commit_url', info)}")


@main.command("pairs")
@click.argument("texts_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dataset", help="Texts from a Hub or local dataset (ORG/NAME or a folder) instead of TEXTS_DIR.")
@click.option("--text-column", default="text", show_default=True, help="The dataset's text column.")
@click.option("--id-column", default=None, help="A column of unique text ids (default: the row number).")
@click.option("--split", "split_name", default="train", show_default=True, help="The dataset's split to map.")
@click.option("--strong", required=True, help="The strong model: URL of an OpenAI-compatible server, e.g. "
              "http://127.0.0.1:8000/v1#meta-llama/Llama-3.1-70B-Instruct (#model optional).")
@click.option("--weak", required=True, help="The weak model, same form.")
@click.option("--nli", default=None, help="An NLI classifier for the edge weights instead of the models' own "
              "probabilities: the URL of a text-embeddings-inference /predict endpoint.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write as a Hub dataset repository (README.md + default/<split>-*.parquet).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Request cache and journal (default: OUT/.cache); a rerun sends no answered request twice.")
@click.option("--concurrency", default=4, show_default=True, help="Texts mapped at the same time.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds per request.")
@click.option("--retries", default=3, show_default=True, help="Retries per request (exponential backoff).")
@click.option("--max-reasons", default=8, show_default=True)
@click.option("--max-sources", default=20, show_default=True, help="Reason-to-reason edges weighed per target.")
@click.option("--revisions", default=1, show_default=True, help="Critique-and-revise rounds of the pros and cons.")
@click.option("--guided", type=click.Choice(["auto", "response_format", "guided_json", "off"]), default="auto",
              show_default=True, help="Guided JSON decoding of the pros and cons (auto: response_format, "
              "dropped for a server that refuses it).")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any text was skipped.")
@click.option("--quiet", is_flag=True)
def pairs_command(texts_dir, dataset, text_column, id_column, split_name, strong, weak, nli, out, cache, concurrency,
                  timeout, retries, max_reasons, max_sources, revisions, guided, strict, quiet):
    """Map every text (TEXTS_DIR or --dataset) with a strong and a weak model; write chosen/rejected pairs."""
    import os

    from .chat_client import ChatClient, Endpoint
    from .mapping import stages
    from .mapping.card import write_pairs
    from .mapping.pairs import Journal, Settings, build_pairs, dataset_texts, read_texts
    from .terminal import console, progress_bar

    if (texts_dir is None) == (dataset is None):
        raise click.UsageError("give either TEXTS_DIR or --dataset")
    try:
        ends = {name: Endpoint.parse(spec) for name, spec in (("strong", strong), ("weak", weak))}
        nli_end = Endpoint.parse(nli) if nli else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    texts = dataset_texts(dataset, text_column, split_name, id_column) if dataset else read_texts(texts_dir)
    if not texts:
        raise UserError(f"{dataset or texts_dir}: no texts (expected one argumentative text per Markdown file, "
                        "or a dataset column of texts)")
    cache = cache or out / ".cache"
    key = os.environ.get("OPENAI_API_KEY")
    clients = {name: ChatClient(e, cache / "requests" / name, timeout, retries, api_key=key) for name, e in ends.items()}
    for c in clients.values():
        c.check()  # an unreachable server is one error naming its URL, before any text is mapped
    if nli_end:  # the classifier's weights for both models' maps
        clients["nli"] = ChatClient(nli_end, cache / "requests" / "nli", timeout, retries)
    weights = stages.nli_weight(clients["nli"]) if nli_end else None
    run_key = _journal_key(strong, weak, nli, max_reasons, max_sources, revisions, guided)
    journal = Journal(cache / f"journal-{run_key}.jsonl")
    settings = Settings(max_reasons=max_reasons, max_sources=max_sources, revisions=revisions, guidance=guided)
    if journal.done:
        click.echo(f"resuming: {len(journal.done)} texts already mapped ({journal.path})", err=True)
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("texts", total=len(texts))
        result = build_pairs(texts, clients["strong"], clients["weak"], concurrency,
                             progress=_progress(bar, task, len(texts), quiet), settings=settings, weights=weights,
                             journal=journal)
    journal.close()
    for text_id, why in result.skipped[:20]:
        console.print(f"skipped {text_id}: {why}", markup=False)
    if len(result.skipped) > 20:
        console.print(f"... and {len(result.skipped) - 20} more; per reason: {result.skip_counts()}", markup=False)
    stats = {name: c.stats for name, c in clients.items()}
    for c in clients.values():
        c.close()
    pairs = sum(len(r) for r in result.rows.values())
    click.echo(f"{pairs} pairs from {len(texts)} texts ({len(result.skipped)} skipped: {result.skip_counts()}); "
               f"requests {stats}", err=True)
    if not pairs:  # a card without data files is a dataset load_dataset cannot load
        raise UserError(f"no pair from {len(texts)} texts; nothing written to {out}")
    written = write_pairs(result, out, str(ends["strong"]), str(ends["weak"]))
    click.echo(f"wrote {len(written)} files to {out}", err=True)
    sys.exit(1 if strict and result.skipped else 0)


def _progress(bar, task, total: int, quiet: bool):
    """Advance the bar; where there is no terminal to draw it on (a cluster job's log), a line every 100 texts."""
    import time

    from .terminal import console

    done, start = [0], time.monotonic()

    def advance(_text_id):
        bar.advance(task)
        done[0] += 1
        if not quiet and not console.is_terminal and (done[0] % 100 == 0 or done[0] == total):
            click.echo(f"pairs: {done[0]}/{total} texts mapped ({time.monotonic() - start:.0f} s)", err=True)
    return advance


def _journal_key(*settings) -> str:
    """Finished texts count for a rerun with the same servers and settings only."""
    import hashlib

    return hashlib.sha256("\x00".join(str(s) for s in settings).encode()).hexdigest()[:12]


@main.command("generate")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--count", default=1200, show_default=True, type=int,
              help="Arguments to write (the shipped corpus synthetic_corpus-001 has 1,200).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def generate_command(seed, count, out):
    """Write the synthetic corpus as the Markdown documents split generates in memory for a generator config
    (each argument in prose, its reconstruction, an objection and the map)."""
    from .synthetic import generate_documents

    for label, text in generate_documents(seed, count):
        path = out / label
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {count} arguments to {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
