"""Readers: Markdown, HTML, .argdown units and chat .jsonl, with context and positions."""

import json

from hypothesis import example, given, settings, strategies as st

from argdown_lbl.readers import decode, read_argdown, read_chat_jsonl, read_html, read_markdown, read_source
from argdown_lbl.snippets import language_of

MD = """---
title: Guide page
---

# Relations

Some intro prose.

## Attacks

An attack is drawn with a minus.
It can point both ways.

```argdown
[A]: Text.
    - [B]: Other.
```

```z3 ignore-errors
(check-sat)
```

```{.argdown #fig:map caption="Map"}
[C]: c.
```

```sh
argdown json x.argdown
```

```python
x = 1
```
"""


def test_markdown_snippets_languages_lines_and_context():
    result = read_markdown(MD, "guide.md")
    assert [(s.language, s.line) for s in result.snippets] == [("argdown", 15), ("smt2", 20), ("argdown", 24),
                                                               ("python", 32)]
    first = result.snippets[0]
    assert first.code == "[A]: Text.\n    - [B]: Other.\n"
    assert first.headings == ["Guide page", "Relations", "Attacks"]
    assert first.prose == "Some intro prose.\n\nAn attack is drawn with a minus.\nIt can point both ways."
    assert "Guide page > Relations > Attacks" in first.context(1000)
    assert result.snippets[1].flags == {"ignore-errors"}
    assert not result.problems


def test_markdown_context_is_bounded_from_the_front():
    prose = "\n".join(f"Sentence number {i}." for i in range(200))
    snippet = read_markdown(f"# T\n\n{prose}\n\n```argdown\n[A]: a.\n```\n", "x.md").snippets[0]
    context = snippet.context(100)
    assert len(context) <= 100 + len("T\n\n")
    assert context.endswith("Sentence number 199.")


def test_unclosed_fence_is_reported_with_its_line_and_left_out():
    text = "# T\n\n```argdown\n[A]: a.\n```\n\nprose\n\n```argdown\n[B]: never closed.\n"
    result = read_markdown(text, "bad.md")
    assert [s.code for s in result.snippets] == ["[A]: a.\n"]
    assert len(result.problems) == 1 and result.problems[0].line == 9
    assert "unclosed" in str(result.problems[0]) and str(result.problems[0]).startswith("bad.md:9:1:")


def test_language_of_fence_info():
    assert language_of("argdown-map") == "argdown"
    assert language_of("{.argdown-map width=800}") == "argdown"
    assert language_of("z3 no-build") == "smt2"
    assert language_of("z3-py") == "python"
    assert language_of("z3-duo") is None and language_of("") is None and language_of("argdown-sayswho") is None


HTML = """<html><head><title>T</title></head><body>
<h1>Z3 API in Python</h1>
<p>Intro paragraph.</p>
<h2>Getting Started</h2>
<p>Let us start with
a simple example:</p>
<example pref="z3py.1"><html><body>
<div class="highlight"><pre><span class="n">x</span> <span class="o">=</span> <span class="n">Int</span>(<span class="s">'x'</span>)
<span class="n">solve</span>(x &gt; 2)
</pre></div>
</body></html></example>
<h2>Maps</h2>
<p>An argument map:</p>
<pre class="language-argdown"><code>[A]: Cats &amp; dogs.
    + &lt;B&gt;: Because.
</code></pre>
<pre><code>no language here</code></pre>
<div class="highlight-source-smt2"><pre>(check-sat)</pre></div>
<div class="highlight-python notranslate"><div class="highlight"><pre><span></span><span class="n">x</span> = 1
</pre></div></div>
<div class="sourceCode" id="cb1"><pre class="sourceCode argdown"><code class="sourceCode argdown">[P]: pandoc.</code></pre></div>
</body></html>
"""


def test_html_examples_pre_blocks_and_highlighting_removed():
    result = read_html(HTML, "page.htm")
    langs = [s.language for s in result.snippets]
    assert langs == ["python", "argdown", "smt2", "python", "argdown"]
    py, ad, smt, sphinx, pandoc = result.snippets
    assert sphinx.code == "x = 1\n" and pandoc.code == "[P]: pandoc.\n"
    assert py.code == "x = Int('x')\nsolve(x > 2)\n"
    assert py.headings == ["Z3 API in Python", "Getting Started"]
    assert py.prose == "Intro paragraph.\n\nLet us start with a simple example:"
    assert py.line == 8
    assert ad.code == "[A]: Cats & dogs.\n    + <B>: Because.\n"
    assert ad.headings == ["Z3 API in Python", "Maps"] and ad.prose.endswith("example:\n\nAn argument map:")
    assert smt.code == "(check-sat)\n"


ARGDOWN = """# Debate

[A]: Cats purr.
    + <Why>: They are happy.

<Why>

(1) Purring shows joy.
(2) Cats purr.
----
(3) Cats are happy.

## Objections

[broken: *unclosed

<Z>: fine.
"""


def test_argdown_units_join_title_and_pcs_and_report_rejected_blocks():
    result = read_argdown(ARGDOWN, "d.argdown")
    assert [(s.line, s.headings) for s in result.snippets] == [
        (3, ["Debate"]), (6, ["Debate"]), (17, ["Debate", "Objections"])]
    assert result.snippets[1].code.startswith("<Why>\n\n(1) Purring") and result.snippets[1].code.endswith("happy.\n")
    assert [(p.source, p.line) for p in result.problems] == [("d.argdown", 15)]
    kept = read_argdown(ARGDOWN, "d.argdown", keep_invalid=True)
    assert [s.line for s in kept.snippets] == [3, 6, 15, 17] and not kept.problems


def test_chat_jsonl_assistant_fences_with_conversation_context():
    records = [
        {"messages": [{"role": "user", "content": "Map this: cats purr because they are happy."},
                      {"role": "assistant", "content": "Here:\n\n```argdown\n[A]: Cats purr.\n```\n"}]},
        {"messages": [{"role": "user", "content": "```argdown\n[U]: user fence, ignored\n```"}]},
    ]
    text = "\n".join(json.dumps(r) for r in records) + "\n{not json\n"
    result = read_chat_jsonl(text, "chats.jsonl")
    assert [s.code for s in result.snippets] == ["[A]: Cats purr.\n"]
    snippet = result.snippets[0]
    assert snippet.line == 1 and "user: Map this" in snippet.prose and snippet.prose.endswith("Here:")
    assert [(p.line, "not a chat record" in p.message) for p in result.problems] == [(3, True)]


def test_decode_reports_binary_and_bad_utf8_with_position(tmp_path):
    text, problem = decode(b"ok\nfine\nbad \xff here\n", "x.md")
    assert text is None and (problem.line, problem.column) == (3, 5) and "0xff" in problem.message
    text, problem = decode(b"\x89PNG\r\n\x1a\n\0\0\0", "x.md")
    assert text is None and "binary" in problem.message
    path = tmp_path / "crlf.md"
    path.write_bytes(b"# T\r\n\r\n```argdown\r\n[A]: a.\r\n```\r\n")
    assert read_source(path, "crlf.md").snippets[0].code == "[A]: a.\n"


FENCE_PIECES = ["```argdown\n", "```z3\n", "~~~python\n", "```\n", "# Head\n", "[A]: a.\n", "    + <B>: b.\n", "\n",
                "prose line\n", "<pre class=\"language-argdown\">", "</pre>", "<example>", "<h2>T</h2>", "---\n"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FENCE_PIECES), st.text(max_size=20)), max_size=40))
@example(["```argdown\n", "\x00", "```argdown\n", "```\n"])  # markdown-it turned NUL into U+FFFD in the code
def test_readers_never_raise_and_positions_lie_inside_the_source(pieces):
    text = "".join(pieces).replace("\r\n", "\n").replace("\r", "\n")  # as read_source normalises
    n_lines = text.count("\n") + 1
    for reader in (read_markdown, read_html, read_argdown):
        result = reader(text, "random")
        for item in result.snippets + result.problems:
            assert 1 <= item.line <= n_lines + 1
        for snippet in result.snippets:
            assert snippet.code.strip("\n") in text or reader is read_html
