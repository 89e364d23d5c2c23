import json
import subprocess
import sys

from argdown_lbl.argdown import find_snippets, parse

MD = """# Title

Some prose.

```argdown
[A]: a
    + <B>: b
```

```{.argdown #map}
[C]: c
```

```python
print("not argdown")
```

~~~argdown-map
[A]
+ bad
~~~
"""


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "argdown_lbl.cli", *args], capture_output=True, text=True)


def test_find_snippets_languages_and_offsets():
    snippets = find_snippets(MD)
    assert [s.language for s in snippets] == ["argdown"] * 3 and snippets[2].info.split()[0] == "argdown-map"
    assert snippets[0].line == 6 and snippets[0].code.startswith("[A]: a")
    assert snippets[1].info == "{.argdown #map}"
    assert parse(snippets[0].code).ok and not parse(snippets[2].code).ok


def test_cli_reports_file_line_column_and_exit_status(tmp_path):
    good = tmp_path / "good.argdown"
    good.write_text("[A]: a\n    + <B>: b\n", encoding="utf-8")
    bad = tmp_path / "bad.argdown"
    bad.write_text("[A]\n+ [B]\n", encoding="utf-8")
    ok = run_cli("parse", str(good), "--json")
    assert ok.returncode == 0 and ok.stderr == ""
    data = json.loads(ok.stdout)
    assert data["relations"][0]["from"] == "B" and data["relations"][0]["relationType"] == "support"
    res = run_cli("parse", str(good), str(bad))
    assert res.returncode == 1
    assert res.stderr.startswith(f"{bad}:2:1: ")
    # with errors, --json prints nothing (as the reference does) unless --partial
    quiet = run_cli("parse", str(good), str(bad), "--json")
    assert quiet.returncode == 1 and quiet.stdout == "" and f"{bad}:2:1: " in quiet.stderr
    partial = run_cli("parse", str(good), str(bad), "--json", "--partial")
    assert partial.returncode == 1 and set(json.loads(partial.stdout)) == {str(good), str(bad)}


def test_cli_maps_markdown_errors_to_file_lines(tmp_path):
    md = tmp_path / "doc.md"
    md.write_text(MD, encoding="utf-8")
    res = run_cli("parse", str(md), "--summary")
    assert res.returncode == 1
    assert f"{md}:20:1:" in res.stderr  # line 2 of the third snippet, which starts on line 19
    assert "doc.md#0: 1 statements, 1 arguments (0 reconstructed), 1 relations, 0 errors" in res.stdout


def test_networkx_export_marks_derived_edges():
    doc = parse("<a>\n\n(1) s1\n----\n(2) [t]: c\n\n<b>\n\n(1) [t]\n----\n(2) d\n")
    g = doc.to_networkx()
    edges = {(u, v, d["type"], d["derived"]) for u, v, d in g.edges(data=True)}
    assert ("<a>", "<b>", "support", True) in edges  # a's conclusion is b's premise
    assert ("[t]", "<b>", "support", True) in edges
    assert all(not d["derived"] for *_, d in doc.to_networkx(derived=False).edges(data=True))
    assert g.nodes["<a>"]["reconstructed"] is True


def test_an_unclosed_fence_is_an_error_for_parse_as_for_split(tmp_path):
    from argdown_lbl.readers.markdown import read_markdown

    text = "# Doc\n\n```argdown\n[A]: a\n  + [B]: b\n```\n\nText.\n\n```argdown\n[C]: c\n\nmore\n"
    md = tmp_path / "doc.md"
    md.write_text(text, encoding="utf-8")
    res = run_cli("parse", str(md), "--summary")
    assert res.returncode == 1 and f"{md}:10:1: unclosed code fence ```argdown" in res.stderr
    assert "doc.md#0: 2 statements" in res.stdout and "doc.md#1: 0 statements" in res.stdout
    read = read_markdown(text, "doc.md")
    assert len(read.snippets) == 1 and read.problems[0].line == 10 and "unclosed code fence" in read.problems[0].message
    assert [s.closed for s in find_snippets(text)] == [True, False]


def test_with_syntax_errors_the_cli_reports_them_without_building_the_model(tmp_path):
    """As the reference: syntax errors first (the model and its own errors, e.g. bad YAML, only on request)."""
    text = "[A]: a {bad: [yaml}\n\n[B]\n+ [C]\n"
    path = tmp_path / "two.argdown"
    path.write_text(text, encoding="utf-8")
    full = parse(text)
    assert {e.code for e in full.errors} == {"yaml", "syntax"} and full.statements
    quick = parse(text, model_on_errors=False)
    assert [e.code for e in quick.errors] == ["syntax"] and not quick.statements
    assert parse("[A]: a {bad: [yaml}\n", model_on_errors=False).errors[0].code == "yaml"  # no syntax error: built
    res = run_cli("parse", str(path))
    assert res.returncode == 1 and f"{path}:4:1:" in res.stderr and "YAML" not in res.stderr
    summary = run_cli("parse", str(path), "--summary")
    assert "YAML" in summary.stderr and "2 errors" in summary.stdout


def test_the_cli_json_is_to_json_written_element_by_element(tmp_path):
    # parse --json writes lazy_json (arguments and classes converted while written): the same bytes
    # as to_json, for one file and for several.
    import orjson

    from argdown_lbl.argdown.export import dumps, lazy_json

    first = tmp_path / "a.argdown"
    first.write_text("# S {isGroup: true}\n\n[A]: a #t {k: [1]}\n    + <B>: b\n    - [C]\n\n<B>\n\n(1) p\n----\n"
                     "(2) [A]\n    _> <D>\n", encoding="utf-8")
    second = tmp_path / "b.argdown"
    second.write_text("[X]: x\n    >< [Y]: y\n", encoding="utf-8")
    docs = {str(p): parse(p.read_text(encoding="utf-8"), source=str(p)) for p in (first, second)}
    one = orjson.dumps(docs[str(first)].to_json(), option=orjson.OPT_APPEND_NEWLINE)
    assert dumps(lazy_json(docs[str(first)])) == one
    assert run_cli("parse", str(first), "--json").stdout.encode() == one
    both = {label: doc.to_json() for label, doc in docs.items()}
    assert dumps({label: lazy_json(doc) for label, doc in docs.items()}) == orjson.dumps(
        both, option=orjson.OPT_APPEND_NEWLINE)
    assert json.loads(run_cli("parse", str(first), str(second), "--json").stdout) == both
