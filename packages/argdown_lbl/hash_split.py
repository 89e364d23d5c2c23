"""Deterministic train/validation/test assignment by hashing: the same item lands in the same split everywhere.

Used for line-by-line snippets (keyed by their code, so identical snippets from different sources
share a split) and for the argument-map pairs (keyed by the text's id).
"""

from __future__ import annotations

import hashlib


def snippet_key(code: str) -> str:
    """The hash key of a text: whitespace at line ends and blank lines around it ignored."""
    # rstrip each line first, then drop the blank lines at both ends (a line of spaces is blank too)
    normal = "\n".join(line.rstrip() for line in code.split("\n")).strip("\n")
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def assign_split(key: str, ratios: dict[str, float]) -> str:
    """Deterministic: the key's hash as a point in [0, 1) against the cumulative ratios."""
    point = int(key[:12], 16) / 16**12
    total = 0.0
    for name in ("train", "validation", "test"):
        if name in ratios:
            total += ratios[name]
            if point < total:
                return name
    return "train"
