"""The split: rows per line, exact completions, blank lines, the end row, split assignment."""

from hypothesis import example, given, settings, strategies as st

from argdown_lbl.corpus import ConfigSpec
from argdown_lbl.snippets import Snippet
from argdown_lbl.hash_split import assign_split, snippet_key
from argdown_lbl.split import (END, Checked, check_snippet, snippet_rows,
                               split_config)

PCS = "<Why>: Cats are happy.\n\n(1) Purring shows joy.\n  More text.\n(2) Cats purr.\n-- modus ponens {uses: [1, 2]} --\n(3) Cats are happy.\n"


def rows_for(code, language="argdown"):
    snippet = Snippet(code=code, language=language, source="x.argdown", line=10, headings=["H"], prose="Prose.")
    return snippet_rows(Checked(snippet, True, "ok", "sha", ""), "cfg", 500)


def test_one_row_per_non_blank_line_plus_the_end_row():
    rows = rows_for(PCS)
    lines = PCS.rstrip("\n").split("\n")
    assert [r["completion"][0]["content"] for r in rows] == [line for line in lines if line.strip()] + [END]
    assert [r["line_index"] for r in rows] == [0, 2, 3, 4, 5, 6, 7]
    assert [r["element"] for r in rows] == ["argument", "premise", "premise", "premise", "inference", "conclusion",
                                            "end"]
    assert rows[2]["completion"][0]["content"] == "  More text."  # indentation kept
    assert rows[1]["source_line"] == 12 and rows[0]["snippet_id"] == "cfg/x.argdown:10"
    assert all(r["n_lines"] == 7 and r["completion"][0]["role"] == "assistant" for r in rows)


def test_prompt_holds_instruction_context_and_previous_lines_in_an_open_fence():
    rows = rows_for(PCS)
    prompt = rows[1]["prompt"]
    assert len(prompt) == 1 and prompt[0]["role"] == "user"
    content = prompt[0]["content"]
    assert "next non-empty line" in content and "Context:\nH\n\nProse." in content
    assert content.endswith("```argdown\n<Why>: Cats are happy.\n\n")  # the blank line is shown, not a target
    assert rows[0]["prompt"][0]["content"].endswith("```argdown\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c"
                                                                     "\x1c\x1d\x1e\x85\u2028\u2029"),
                        max_size=30), min_size=1, max_size=15))
def test_rows_rebuild_the_snippet(lines):
    """The last row's prompt plus nothing else reproduces the snippet; each completion is its line."""
    code = "\n".join(lines) + "\n"
    if not code.strip():
        return
    rows = rows_for(code, language="smt2")
    stripped = code.rstrip("\n").split("\n")
    assert rows[-1]["completion"][0]["content"] == END
    assert rows[-1]["prompt"][0]["content"].endswith("```smt2\n" + "".join(line + "\n" for line in stripped))
    for row in rows[:-1]:
        assert row["completion"][0]["content"] == stripped[row["line_index"]]
        assert row["completion"][0]["content"].strip()


@given(st.text(min_size=1, max_size=200))
@example("\n1")  # a line of spaces at the start is blank too (found by hypothesis)
def test_split_assignment_is_deterministic_and_ignores_trailing_spaces(code):
    ratios = {"train": 0.8, "validation": 0.1, "test": 0.1}
    key = snippet_key(code)
    assert assign_split(key, ratios) == assign_split(snippet_key(code.replace("\n", "  \n")), ratios)
    assert assign_split(key, ratios) in ratios


def test_invalid_argdown_is_reported_at_the_source_position():
    snippet = Snippet(code="[A]: ok.\n\n[B]: *unclosed\n", language="argdown", source="f.md", line=20)
    valid, summary, problems = check_snippet(snippet, ConfigSpec("c", folder=None))
    assert not valid and problems[0].line == 22 and str(problems[0]).startswith("f.md:22:")


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_split_config_reports_bad_sources_and_processes_the_rest(tmp_path):
    cfg = tmp_path / "corpus" / "mixed"
    write(cfg, "good.md", "# G\n\n```argdown\n[A]: a.\n    + [B]: b.\n```\n")
    write(cfg, "copy.md", "# Copy\n\n```argdown\n[A]: a.   \n    + [B]: b.\n```\n")  # same code, other source
    write(cfg, "invalid.md", "```argdown\n[A]: *unclosed\n```\n")
    write(cfg, "open.md", "```argdown\n[A]: never closed\n")
    (cfg / "bytes.md").write_bytes(b"# x\n\xfe\xff\n")
    (cfg / "image.png").write_bytes(b"\x89PNG\0\0")
    write(cfg, "huge.md", "```argdown\n" + "[A]: a.\n" * 50_000 + "```\n")
    result = split_config(ConfigSpec("mixed", folder=cfg, max_snippet_lines=2000))
    where = sorted((p.source, p.line, p.code) for p in result.problems)
    assert where == [("bytes.md", 2, "source"), ("good.md", 4, "duplicate"), ("huge.md", 2, "source"),
                     ("image.png", 1, "source"), ("invalid.md", 2, "argdown"), ("open.md", 1, "source")]
    assert result.n_kept == 2 and result.n_duplicates == 1
    splits = {r["source"]: s for s, rows in result.rows.items() for r in rows}
    assert splits["good.md"] == splits["copy.md"]
    kept = split_config(ConfigSpec("mixed", folder=cfg, max_snippet_lines=2000), keep_invalid=True)
    flagged = [r for rows in kept.rows.values() for r in rows if not r["valid"]]
    assert flagged and all(r["source"] == "invalid.md" and "Unclosed italic" in r["check"] for r in flagged)


def test_a_rewritten_dataset_folder_loads_its_own_rows_not_a_cached_earlier_one(tmp_path):
    """`datasets` keys its cache of a local folder on the card: the card carries the split sizes, so two
    folders of the same name with different data never share a cache entry."""
    from datasets import load_dataset

    from argdown_lbl.corpus import load_corpus
    from argdown_lbl.dataset_folder import write_dataset
    from argdown_lbl.split import split_config

    from spin_fixtures import ROOT

    seen = []
    for seed in (11, 12):
        [spec] = load_corpus(ROOT / "corpora", ["synthetic_corpus-001"])
        spec.generator.seed, spec.generator.count = seed, 40
        out = tmp_path / str(seed) / "lbl"
        write_dataset([split_config(spec)], out)
        seen.append({r["source"].split("/")[1] for r in load_dataset(str(out), name="synthetic_corpus-001",
                                                                      split="train")})
    assert seen == [{"seed-11"}, {"seed-12"}]
