"""Spectrum: train only the weight matrices with the highest signal-to-noise ratio.

SNR per matrix W with singular values S: sigma = IQR(S)/1.349,
threshold = sigma * (1 + sqrt(beta)) with beta = min(n, m)/max(n, m);
SNR = (sum of S above threshold / sum of S at or below it) / max(S).
Matrices are ranked per type (q_proj, down_proj, ...) and the top fraction
of each type is kept; the result is the upstream ``unfrozen_parameters:``
list of regexes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Optional

import yaml
from argdown_lbl.errors import UserError, read_text
from argdown_lbl.yamlfile import load_yaml

from ..run.run_dir import atomic_write


def snr(weight, device: str = "cpu") -> float:
    import torch

    s = torch.linalg.svdvals(weight.detach().to(device=device, dtype=torch.float32))
    q75, q25 = torch.quantile(s, 0.75), torch.quantile(s, 0.25)
    sigma = (q75 - q25) / 1.349
    n, m = weight.shape
    threshold = sigma * (1 + (min(n, m) / max(n, m)) ** 0.5)
    signal, noise = s[s > threshold].sum(), s[s <= threshold].sum()
    if noise == 0:
        return float("inf")
    return float(signal / noise / s.max())


def module_type(name: str) -> str:
    """``model.layers.3.self_attn.q_proj.weight`` -> ``self_attn.q_proj``."""
    parts = name.split(".")
    return ".".join(p for p in parts[:-1] if not p.isdigit() and p not in ("model", "layers"))


def scan(model, include_embeddings: bool = False, device: str = "cpu") -> dict[str, float]:
    """SNR of every 2-D weight matrix (fp32 singular values, computed on ``device``: an 8B scan takes about an
    hour on CPU); embeddings and lm_head only on request."""
    out = {}
    for name, param in model.named_parameters():
        if param.ndim != 2:
            continue
        if not include_embeddings and ("embed" in name or "lm_head" in name):
            continue
        out[name] = snr(param, device)
    return out


def top(snrs: dict[str, float], top_fraction: float) -> list[str]:
    """The top fraction of matrices per weight type by SNR (at least one per type)."""
    by_type: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for name, value in snrs.items():
        by_type[module_type(name)].append((value, name))
    chosen = []
    for items in by_type.values():
        items.sort(reverse=True)
        chosen += [name for _, name in items[: max(1, round(top_fraction * len(items)))]]
    return sorted(chosen)


def select(model, top_fraction: float, include_embeddings: bool = False) -> list[str]:
    """Names of the 2-D weight matrices to train (top fraction per type, at least one per type)."""
    return top(scan(model, include_embeddings), top_fraction)


def write_snr_json(snrs: dict[str, float], path: Path) -> None:
    import json

    ranked = {t: sorted(((v, n) for n, v in snrs.items() if module_type(n) == t), reverse=True)
              for t in {module_type(n) for n in snrs}}
    data = {t: [{"name": n, "snr": v if v != float("inf") else None} for v, n in items] for t, items in ranked.items()}
    atomic_write(path, json.dumps(data, indent=2).encode())


def to_regexes(names: list[str]) -> list[str]:
    return ["^" + re.escape(n) + "$" for n in names]


def unfrozen_patterns(cfg, scanned: Path) -> Optional[list[str]]:
    """The run's trainable-parameter regexes: the given file, the run's scan (``scanned``, written when
    spectrum.top_percent asks), or None (all trainable)."""
    sp = cfg.spectrum
    if sp.unfrozen_parameters_file:
        return read_yaml(Path(sp.unfrozen_parameters_file))
    if sp.top_percent is not None:
        return read_yaml(scanned)
    return None


def write_yaml(names: list[str], path: Path) -> None:
    # atomic: a run takes an existing YAML as the finished scan, so a kill must never leave half of one
    atomic_write(path, yaml.safe_dump({"unfrozen_parameters": to_regexes(names)}, sort_keys=False).encode())


def read_yaml(path: Path) -> list[str]:
    data = load_yaml(read_text(path), path) or {}
    patterns = data.get("unfrozen_parameters") if isinstance(data, dict) else None
    if not isinstance(patterns, list):
        raise UserError(f"{path}: expected a top-level 'unfrozen_parameters:' list of regexes")
    return patterns


def freeze(model, patterns: list[str]) -> int:
    """Freeze every parameter not matched by a pattern; returns the trainable parameter count."""
    compiled = [re.compile(p) for p in patterns]
    trainable = 0
    for name, param in model.named_parameters():
        param.requires_grad = any(c.search(name) for c in compiled)
        trainable += (getattr(param, "ds_numel", None) or param.numel()) if param.requires_grad else 0
    if trainable == 0:
        raise UserError("spectrum: no parameter matches the unfrozen_parameters patterns")
    return trainable
