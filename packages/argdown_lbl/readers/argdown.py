"""``.argdown`` sources: one snippet per top-level unit the parser builds."""

from __future__ import annotations

from ..argdown.lines import source_lines, top_level_units
from ..issues import Issue
from ..snippets import ReadResult, Snippet


def read_argdown(text: str, source: str, keep_invalid: bool = False) -> ReadResult:
    """Units (a statement or argument with its relations; an argument title with its pcs).

    Blocks the parser rejects are reported; ``keep_invalid`` keeps them as
    snippets (the split validates and flags every Argdown snippet anyway).
    """
    result = ReadResult()
    lines = source_lines(text)
    units, rejected = top_level_units(text)
    for unit in units:
        code = "\n".join(lines[unit.first - 1:unit.last]) + "\n"
        result.snippets.append(Snippet(code=code, language="argdown", source=source, line=unit.first,
                                       headings=unit.headings, info="argdown"))
    for first, last in rejected:
        if keep_invalid:
            code = "\n".join(lines[first - 1:last]) + "\n"
            result.snippets.append(Snippet(code=code, language="argdown", source=source, line=first,
                                           info="argdown"))
        else:
            result.problems.append(Issue(first, 1, f"lines {first}-{last}: the parser rejected this block; left out "
                                         "(see `argdown-lbl parse` for the error)", "argdown", source))
    result.snippets.sort(key=lambda s: s.line)
    return result
