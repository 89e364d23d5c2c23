"""The parser does linear work on every construct left open: no input hangs it.

Each construct's opener is left unclosed and followed by n and by 10n lines of ordinary Argdown;
a child process parses both and must finish within a hang bound far above linear (a linear parse of
the larger text takes about a second here; a quadratic one, hours). The child is killed at the
bound. Token counts must grow linearly too. Speed itself is measured in benchmarks/parse_speed.py.

Why the older property test missed the exponential comment regex: it repeated each opener 3,000
times on one line (``"<!--" * 3000``), and its random texts were at most 80 pieces long. The
backtracking needs one unclosed opener followed by many *line breaks*; these texts have 2,000 and
20,000 lines after it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

N_LINES = 2000
HANG_BOUND_S = 90

OPENERS = {
    "html comment": "<!--",
    "block comment": "/*",
    "line comment at the end": "[T]: x //",
    "YAML data": "[T]: x {a: ",
    "statement bracket": "[",
    "argument bracket": "<",
    "Markdown link": "[x](",
    "bold": "**",
    "italic": "*a",
    "underscore": "_a",
    "backtick": "`x",
    "fence": "```",
    "escape": "\\",
    "front matter": "===\ntitle: x\n",
    "inference": "<A>\n\n(1) p\n--",
    "inference with data": "<A>\n\n(1) p\n-- {uses: [1",
    "heading with data": "# Heading {a: ",
    "comment in a relation line": "[C]: c.\n  + <!--",
    "comment after a reconstruction": "<A>\n\n(1) p\n-----\n(2) q\n/*",
}

# Ordinary Argdown after the opener: statements, nested relations, a reconstruction, prose, empty lines.
LINES = ["[S{i}]: Statement {i} is *true*.", "  + <A{i}>: Reason {i} for it.", "    - [S{j}]", "",
         "<R{i}>", "", "(1) premise {i}", "----", "(2) conclusion {i}", "", "plain prose line {i} with words"]

CHILD = """
import json, sys
from argdown_lbl.argdown import lexer, parse
opener, n = json.loads(sys.stdin.read())
lines = {lines!r}
counts = []
for size in (n, 10 * n):
    body = "\\n".join(lines[i % len(lines)].format(i=i, j=i - 1) for i in range(size))
    text = opener + "\\n" + body + "\\n"
    doc = parse(text)
    counts.append(len(lexer.tokenize(text).tokens))
print(json.dumps(counts))
"""


def finishes(code: str, stdin: str, bound_s: float) -> subprocess.CompletedProcess | None:
    """Run ``code`` in a child Python; None if it is still running at ``bound_s`` (then it is killed)."""
    try:
        return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True,
                              timeout=bound_s)
    except subprocess.TimeoutExpired:  # subprocess.run kills the child before raising
        return None


@pytest.mark.timeout(HANG_BOUND_S + 60)
@pytest.mark.parametrize("name", list(OPENERS))
def test_an_unclosed_construct_costs_linear_work(name):
    done = finishes(CHILD.format(lines=LINES), json.dumps([OPENERS[name], N_LINES]), HANG_BOUND_S)
    assert done is not None, f"{name}: parsing {N_LINES} and {10 * N_LINES} lines did not end in {HANG_BOUND_S} s"
    assert done.returncode == 0, done.stderr[-2000:]
    small, large = json.loads(done.stdout)
    assert large <= 10.5 * small + 50, (name, small, large)


@pytest.mark.timeout(60)
def test_the_bound_catches_a_planted_exponential_scan():
    """The detector itself: the comment regex the lexer used before (alternatives that both match a line break)."""
    planted = ("import re, sys\n"
               "re.compile(r'<!--(?:.|\\n|\\r)*?-->', re.S).match(sys.stdin.read())\n")
    text = "<!--\n" + "\n".join(f"line {i}" for i in range(60))
    assert finishes(planted, text, 10) is None
    fixed = "import re, sys\nre.compile(r'<!--[\\s\\S]*?-->').match(sys.stdin.read())\n"
    assert finishes(fixed, text, 10) is not None
