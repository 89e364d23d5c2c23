"""Reading YAML safely, with errors that name the file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import UserError


class YAMLFileError(UserError):
    pass


def load_yaml(text: str, path: Path | str, line_offset: int = 0) -> Any:
    """``yaml.safe_load``; a syntax error becomes ``PATH:LINE:COL: not valid YAML: ...``.

    ``line_offset``: lines before ``text`` in the file (e.g. a front-matter opener).
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1 + line_offset}:{mark.column + 1}" if mark else ""
        raise YAMLFileError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
