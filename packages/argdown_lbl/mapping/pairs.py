"""Strong/weak argument-map preference pairs: map each text with both models, the strong map is ``chosen``.

A quality gate (``gate``) skips a pair, with its reason, when the strong map does not parse, has no
reasons or no relations, has a question as a root, or is poorer than the weak map, and when both
maps are the same. Every finished text is journaled (``Journal``), so a rerun after a crash maps
only the rest and writes each pair once; the request cache makes it send no answered request twice.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..argdown import parse
from ..hash_split import assign_split, snippet_key
from ..errors import ServerError, UserError, read_text
from ..yamlfile import load_yaml
from . import stages
from ..chat_client import ChatClient
from .fuzzy import FuzzyMap, build, to_argdown

INSTRUCTION = (
    "Reconstruct the argumentation of the following text as an Argdown argument map: the central claim at the "
    "root, the reasons for and against it as arguments below it, with support (<+) and attack (<-) relations."
)
SPLITS = {"train": 0.9, "test": 0.1}


@dataclass
class Text:
    id: str
    source: str
    title: str
    genre: str
    body: str
    sha256: str


@dataclass
class MapResult:
    argdown: str
    fmap: FuzzyMap
    issue: str
    parse_ok: bool
    error: str = ""

    @property
    def richness(self) -> int:
        """Reasons plus relations: what a richer map has more of."""
        return len(self.fmap.reasons) + self.fmap.n_edges


@dataclass
class PairsResult:
    rows: dict[str, list[dict]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (text id, why)
    n_texts: int = 0

    def skip_counts(self) -> dict[str, int]:
        """How many texts each gate (or failure) skipped; server errors are counted as one reason."""
        counts: dict[str, int] = {}
        for _, why in self.skipped:
            reason = "a server failed" if why.startswith("server: ") else why.split(":")[0]
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def read_texts(folder: Path) -> list[Text]:
    """Markdown files with front matter (title, genre) and the text as body."""
    texts = []
    for path in sorted(p for p in folder.glob("*.md") if p.name.lower() != "readme.md"):
        raw = read_text(path)
        meta, body = {}, raw
        if raw.startswith("---\n"):
            head, _, body = raw[4:].partition("\n---\n")
            meta = load_yaml(head, path, line_offset=1) or {}  # a YAMLFileError names the line
        texts.append(Text(id=path.stem, source=path.name, title=str(meta.get("title", path.stem)),
                          genre=str(meta.get("genre", "")), body=body.strip(),
                          sha256=hashlib.sha256(raw.encode()).hexdigest()))
    return texts


def dataset_texts(name: str, text_column: str, split: str = "train", id_column: Optional[str] = None) -> list[Text]:
    """The texts of a Hub or local dataset (``load_dataset(name, split=split)``); empty texts are left out."""
    from ..dataset_folder import load

    try:
        ds = load(name, split=split)
    except Exception as exc:  # datasets raises many types: one line naming the dataset
        raise UserError(f"--dataset {name}: cannot load split {split!r} ({type(exc).__name__}: {exc})") from None
    for column in filter(None, (text_column, id_column)):
        if column not in ds.column_names:
            raise UserError(f"--dataset {name}: no column {column!r} (it has {ds.column_names})")
    texts, seen = [], set()
    for i, row in enumerate(ds):
        body = row[text_column]
        if isinstance(body, str) and body.strip():
            text_id = str(row[id_column]) if id_column else f"{i:06d}"
            if text_id in seen:
                raise UserError(f"--dataset {name}: row {i}: id {text_id!r} in column {id_column!r} is not unique")
            seen.add(text_id)
            texts.append(Text(id=text_id, source=f"{name}:{split}:{i}", title=text_id, genre="", body=body.strip(),
                              sha256=hashlib.sha256(body.encode()).hexdigest()))
    return texts


@dataclass
class Settings:
    """How a text is mapped (the same for both models)."""
    max_reasons: int = 8
    max_sources: int = 20  # reason -> reason edges per target
    extra_percentile: float = 80
    max_out: int = 3
    revisions: int = 1
    guidance: str = "auto"  # "response_format", "guided_json", "off"; auto = response_format, off once refused
    seed: int = 0


def map_text(client: ChatClient, text: str, settings: Settings = Settings(),
             weights: Optional[stages.Weights] = None, guidance: Optional[dict] = None) -> MapResult:
    """One text through every stage with one model; ``weights`` defaults to the model's own (``llm_weight``)."""
    issue, _, _ = stages.central_issue(client, text, seed=settings.seed)
    if guidance is None:
        guidance = {"mode": "response_format" if settings.guidance == "auto" else settings.guidance}
    found = stages.pros_cons(client, text, issue, settings.max_reasons, settings.revisions, settings.seed, guidance)
    edges = stages.relevance(found, weights or stages.llm_weight(client, settings.seed), settings.max_sources,
                             settings.seed)
    fmap = build(found, edges, settings.extra_percentile, settings.max_out)
    argdown = to_argdown(fmap)
    doc = parse(argdown)
    return MapResult(argdown, fmap, issue, doc.ok, str(doc.errors[0]) if doc.errors else "")


def gate(strong: MapResult, weak: MapResult) -> Optional[str]:
    """Why the pair is not kept, or None (each reason is counted in the dataset card)."""
    if not strong.fmap.reasons:  # also no root claim: then there is no map to parse either
        return "the strong map has no reasons"
    if not strong.parse_ok:
        return f"the strong map does not parse: {strong.error}"
    if not strong.fmap.n_edges:
        return "the strong map has no relations"
    if any(root.rstrip().endswith("?") for root in strong.fmap.roots):
        return "a root of the strong map is a question"
    if strong.argdown == weak.argdown:
        return "both models drew the same map"
    if weak.richness > strong.richness:
        return "the weak map is richer than the strong one"
    return None


def _message(map_: MapResult) -> list[dict]:
    return [{"role": "assistant", "content": "```argdown\n" + map_.argdown + "```"}]


def pair_row(text: Text, strong: MapResult, weak: MapResult, strong_name: str, weak_name: str) -> dict:
    return {
        "prompt": [{"role": "user", "content": f"{INSTRUCTION}\n\n{text.body}"}],
        "chosen": _message(strong), "rejected": _message(weak),
        "text_id": text.id, "source": text.source, "source_sha256": text.sha256, "genre": text.genre,
        "strong_model": strong_name, "weak_model": weak_name,
        "chosen_nodes": strong.fmap.n_nodes, "chosen_edges": strong.fmap.n_edges, "chosen_parse_ok": strong.parse_ok,
        "rejected_nodes": weak.fmap.n_nodes, "rejected_edges": weak.fmap.n_edges, "rejected_parse_ok": weak.parse_ok,
        "chosen_issue": strong.issue, "rejected_issue": weak.issue,
        "chosen_map": json.dumps(strong.fmap.to_json(), ensure_ascii=False),
        "rejected_map": json.dumps(weak.fmap.to_json(), ensure_ascii=False),
        "margin": (strong.richness - weak.richness) / strong.richness,
    }


class Journal:
    """One JSON line per finished text (its row or why it was skipped), flushed and synced as it is written:
    a rerun reads it and maps only the texts not in it (same id and text)."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[tuple[str, str], dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["text_id"], entry["sha256"])] = entry
                except (ValueError, KeyError, TypeError):  # the torn last line of a killed run
                    continue
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def write(self, entry: dict) -> None:
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def build_pairs(texts: list[Text], strong: ChatClient, weak: ChatClient, concurrency: int = 4,
                progress: Optional[Callable[[str], None]] = None, settings: Settings = Settings(),
                weights: Optional[stages.Weights] = None, journal: Optional[Journal] = None) -> PairsResult:
    """Map every text with both models (``weights``: a shared NLI classifier, else each model's own)."""
    result = PairsResult(n_texts=len(texts))
    strong.model(), weak.model()  # resolve "URL" to "URL#model" (the server's first model) for provenance
    strong_name, weak_name = str(strong.endpoint), str(weak.endpoint)
    progress = progress or (lambda _id: None)
    guidance = {name: {"mode": "response_format" if settings.guidance == "auto" else settings.guidance}
                for name in ("strong", "weak")}  # per server: one that refuses guidance is not asked again
    done = journal.done if journal else {}

    def one(text: Text) -> dict:
        entry = {"text_id": text.id, "sha256": text.sha256}
        try:
            s = map_text(strong, text.body, settings, weights, guidance["strong"])
            w = map_text(weak, text.body, settings, weights, guidance["weak"])
        except ServerError as exc:  # the client gave up after its retries: skip the text, say why
            return {**entry, "skipped": f"server: {exc}"}
        why = gate(s, w)
        return {**entry, "skipped": why} if why else {**entry, "row": pair_row(text, s, w, strong_name, weak_name)}

    entries = {}
    todo = [t for t in texts if (t.id, t.sha256) not in done]
    for t in texts:
        if (t.id, t.sha256) in done:
            entries[t.id] = done[(t.id, t.sha256)]
            progress(t.id)
    with concurrent.futures.ThreadPoolExecutor(max(1, concurrency)) as pool:
        for entry in pool.map(one, todo):
            if journal and not entry.get("skipped", "").startswith("server: "):  # a server failure may pass
                journal.write(entry)
            entries[entry["text_id"]] = entry
            progress(entry["text_id"])
    for text in texts:  # in the texts' order, each once
        entry = entries[text.id]
        if "row" in entry:
            row = entry["row"]
            result.rows.setdefault(assign_split(snippet_key(row["text_id"]), SPLITS), []).append(row)
        else:
            result.skipped.append((text.id, entry["skipped"]))
    return result
