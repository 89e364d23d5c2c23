"""Strong/weak argument-map preference pairs: map each text with both models, the strong map is ``chosen``.

A map that does not parse is never chosen: the pair is skipped and reported.
Identical maps carry no preference and are skipped too.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..argdown import parse
from ..hash_split import assign_split, snippet_key
from ..errors import ServerError, read_text
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


@dataclass
class PairsResult:
    rows: dict[str, list[dict]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (text id, why)
    n_texts: int = 0


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


def map_text(client: ChatClient, text: str, max_reasons: int = 8, max_pairs: int = 12,
             extra_percentile: float = 80, seed: int = 0) -> MapResult:
    issue, _ = stages.central_issue(client, text, seed=seed)
    claim, reasons = stages.reasons(client, text, issue, max_reasons, seed=seed)
    central = claim or issue
    edges = stages.relevance(client, central, reasons, max_pairs=max_pairs, seed=seed)
    fmap = build(central, reasons, edges, extra_percentile)
    argdown = to_argdown(fmap)
    doc = parse(argdown)
    return MapResult(argdown, fmap, issue, doc.ok, str(doc.errors[0]) if doc.errors else "")


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
    }


def build_pairs(texts: list[Text], strong: ChatClient, weak: ChatClient, concurrency: int = 4,
                progress: Optional[Callable[[str], None]] = None, **map_kwargs) -> PairsResult:
    result = PairsResult(n_texts=len(texts))
    strong.model(), weak.model()  # resolve "URL" to "URL#model" (the server's first model) for provenance
    strong_name, weak_name = str(strong.endpoint), str(weak.endpoint)
    progress = progress or (lambda _id: None)

    def one(text: Text):
        try:
            return text, map_text(strong, text.body, **map_kwargs), map_text(weak, text.body, **map_kwargs), None
        except ServerError as exc:  # the client gave up after its retries: skip the text, say why
            return text, None, None, str(exc)

    rows = []
    with concurrent.futures.ThreadPoolExecutor(max(1, concurrency)) as pool:
        for text, s, w, error in pool.map(one, texts):
            progress(text.id)
            if error:
                result.skipped.append((text.id, error))
            elif not s.parse_ok:
                result.skipped.append((text.id, f"the strong model's map does not parse: {s.error}"))
            elif s.argdown == w.argdown:
                result.skipped.append((text.id, "both models drew the same map"))
            else:
                rows.append(pair_row(text, s, w, strong_name, weak_name))
    for row in rows:
        split = assign_split(snippet_key(row["text_id"]), SPLITS)
        result.rows.setdefault(split, []).append(row)
    return result
