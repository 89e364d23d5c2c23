"""Run SMT-LIB snippets through z3-solver and read off their verdicts.

Each snippet gets a fresh ``z3.Context``, so declarations and options never
leak between snippets, and a ``:timeout`` option put in front of its first
line (a context-level timeout parameter is not honoured by the SMT-LIB
front end; the prefix keeps line numbers, and columns on line 1 are shifted
back). The verdicts are the lines z3 prints for
``check-sat`` (sat / unsat / unknown) and for errors; model values are not
compared (they change between z3 versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ERROR = re.compile(r'^\(error "line (\d+) column (\d+): (.*)"\)$')
VERDICTS = ("sat", "unsat", "unknown")


@dataclass
class Z3Result:
    output: str
    verdicts: list[str] = field(default_factory=list)  # sat / unsat / unknown / error, in order
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # (line, column, message)

    @property
    def summary(self) -> str:
        return " ".join(self.verdicts)


def verdicts(output: str, shift: int = 0) -> tuple[list[str], list[tuple[int, int, str]]]:
    """The verdict sequence and the positioned errors in z3's output."""
    found, errors = [], []
    for line in output.splitlines():
        line = line.strip()
        if line in VERDICTS:
            found.append(line)
        elif line.startswith("(error"):
            found.append("error")
            m = _ERROR.match(line)
            if m:
                row, col = int(m.group(1)), int(m.group(2))
                errors.append((row, col - shift if row == 1 else col, m.group(3)))
            else:
                errors.append((1, 1, line))
    return found, errors


def run_smtlib(code: str, timeout_ms: int = 5000) -> Z3Result:
    """Evaluate an SMT-LIB script as the z3 command line would; never raises on bad scripts."""
    import z3

    prefix = f"(set-option :timeout {int(timeout_ms)}) "
    ctx = z3.Context()
    try:
        output = z3.Z3_eval_smtlib2_string(ctx.ref(), prefix + code)
    except z3.Z3Exception as exc:  # z3 raises after an (error ...), carrying the output so far
        value = exc.value
        output = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    found, errors = verdicts(output, shift=len(prefix))
    return Z3Result(output, found, errors)
