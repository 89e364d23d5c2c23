"""Chat conversations in ``.jsonl``: Argdown fences inside assistant turns become snippets.

Each line holds ``{"messages": [{"role": ..., "content": ...}, ...]}``; the
conversation before a fence (earlier turns, then the turn's own text before
the fence) is its context.
"""

from __future__ import annotations

import json

from ..issues import Issue
from ..snippets import ReadResult
from .markdown import read_markdown


def _turn(message: dict) -> str:
    return f"{message.get('role', '?')}: {message.get('content', '')}".strip()


def read_chat_jsonl(text: str, source: str) -> ReadResult:
    result = ReadResult()
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            messages = record["messages"]
            if not isinstance(messages, list):
                raise TypeError("'messages' is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            result.problems.append(Issue(number, 1, f"not a chat record ({exc}); line left out", "source", source))
            continue
        for turn, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            inner = read_markdown(str(message.get("content", "")), source)
            history = "\n\n".join(_turn(m) for m in messages[:turn] if isinstance(m, dict))
            for problem in inner.problems:
                result.problems.append(Issue(number, 1, f"message {turn}: {problem.message}", "source", source))
            for snippet in inner.snippets:
                if snippet.language != "argdown":
                    continue
                snippet.line = number  # the record's line in the .jsonl file
                snippet.headings = [f"conversation {number}, message {turn}"]
                snippet.prose = "\n\n".join(p for p in (history, snippet.prose) if p)
                result.snippets.append(snippet)
    return result
