"""One test group per Argdown syntax feature: valid input builds the right model,
invalid input yields positioned errors (never an exception)."""

import pytest

from argdown_lbl.argdown import parse


def ok(text, **kw):
    doc = parse(text, **kw)
    assert doc.ok, [str(e) for e in doc.errors]
    return doc


def bad(text, line=None, column=None, contains=None):
    doc = parse(text)
    assert not doc.ok
    first = doc.errors[0]
    if line is not None:
        assert (first.line, first.column) == (line, column), str(first)
    if contains:
        assert contains in first.message
    return doc


# -- statements ---------------------------------------------------------------
def test_untitled_statements_are_numbered_in_order():
    doc = ok("First.\n\nSecond\nline.\n")
    assert list(doc.statements) == ["Untitled 1", "Untitled 2"]
    assert doc.statements["Untitled 2"].members[0].text == "Second line."
    assert doc.statements["Untitled 2"].members[0].span.end_line == 4


def test_definitions_share_an_equivalence_class_and_references_add_members():
    doc = ok("[T]: One.\n\n[T]: Two.\n\n[T]\n")
    members = doc.statements["T"].members
    assert [m.text for m in members] == ["One.", "Two.", None]
    assert [m.is_reference for m in members] == [False, False, True]


def test_statement_definition_needs_text():
    bad("[T]:\n\nx\n", contains="Expected")


def test_mentions_keep_text_and_ranges():
    doc = ok("[N]: dead.\n\nI doubt @[N] and @<A>.\n")
    member = doc.statements["Untitled 1"].members[0]
    assert member.text == "I doubt @[N] and @<A>."
    assert [(r.type, r.title) for r in member.ranges] == [("statement-mention", "N"), ("argument-mention", "A")]


# -- arguments ------------------------------------------------------------------
def test_argument_definitions_and_references():
    doc = ok("<A>: One.\n\n<A>\n    + <B>: Two.\n")
    arg = doc.arguments["A"]
    # A reference's line break before its relations adds a space, as in the reference.
    assert [m.text for m in arg.members] == ["One.", " "]
    assert doc.relations[0].source.title == "B" and doc.relations[0].target is arg


# -- premise-conclusion structures ---------------------------------------------
def test_pcs_roles_and_inference_rules():
    doc = ok("<A>\n\n(1) a\n(2) b\n--\nModus ponens, Chain\n{uses: [1, 2]}\n--\n(3) c\n(4) d\n----\n(5) e\n")
    pcs = doc.arguments["A"].pcs
    assert [s.role for s in pcs] == ["premise", "premise", "intermediary-conclusion", "premise", "main-conclusion"]
    assert pcs[2].inference.rules == ["Modus ponens", "Chain"]
    assert pcs[2].inference.data == {"uses": [1, 2]}
    assert pcs[4].inference.conclusion_index == 4


def test_pcs_without_argument_is_anonymous():
    doc = ok("(1) a\n-- MP --\n(2) b\n")
    (arg,) = doc.arguments.values()
    assert arg.title == "Untitled 1" and arg.pcs[0].inference is None


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("(1) a\n---\n(2) b\n", 3, 1),  # three hyphens is no inference
        ("(1) a\n(2) b\n", None, None),  # no inference
        ("<A>\n(1) a\n----\n(2) b\n", 2, 1),  # pcs needs an empty line after the title
    ],
)
def test_bad_pcs(text, line, col):
    bad(text, line, col)


def test_lenient_mode_accepts_pyargdown_style():
    text = "(P1) a\n(P2) b\n---\n(C1) c\n"
    assert not parse(text).ok
    doc = ok(text, lenient=True)
    assert [s.role for s in next(iter(doc.arguments.values())).pcs] == ["premise", "premise", "main-conclusion"]


def test_second_pcs_for_one_argument_is_an_error():
    bad("<A>\n\n(1) a\n----\n(2) b\n\n<A>\n\n(1) c\n----\n(2) d\n", 9, 1, "already has")


# -- relations ----------------------------------------------------------------
def rels(doc):
    return sorted((r.source.title, r.type, r.target.title) for r in doc.relations)


def test_relation_tree_of_any_depth():
    doc = ok("s1\n    + <a>\n        - <b>\n            + <c>\n        + <d>\n    - <e>\n")
    assert rels(doc) == [("a", "support", "Untitled 1"), ("b", "attack", "a"), ("c", "support", "b"),
                         ("d", "support", "a"), ("e", "attack", "Untitled 1")]


def test_relation_directions():
    doc = ok("[s]\n    +> <a>\n    -> <b>\n    <+ <c>\n    <- <d>\n    _> <e>\n    >< [f]\n")
    assert rels(doc) == [("c", "support", "s"), ("d", "attack", "s"), ("s", "attack", "b"),
                         ("s", "contradictory", "f"), ("s", "support", "a"), ("s", "undercut", "e")]


def test_strict_mode_turns_statement_relations_logical():
    doc = ok("===\nmodel:\n    mode: strict\n===\n\n[a]\n    +> [b]\n    -> [c]\n")
    assert rels(doc) == [("a", "contrary", "c"), ("a", "entails", "b")]
    assert rels(parse("[a]\n    +> [b]\n", mode="strict")) == [("a", "entails", "b")]


def test_undercut_below_inference_targets_the_inference():
    doc = ok("<a>\n\n(1) s1\n----\n    <_ <b>\n(2) s2\n")
    (rel,) = doc.relations
    assert rel.type == "undercut" and rel.target is doc.arguments["a"].pcs[1].inference


def test_relation_of_reconstructed_argument_moves_to_its_conclusion():
    doc = ok("<a>\n\n(1) s1\n----\n(2) s3\n\ns4\n    <- <a>\n")
    assert rels(doc) == [("Untitled 2", "attack", "Untitled 3")]
    assert doc.arguments["a"].relations == []


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("[A]\n+ [B]\n", 2, 1),  # relation at column 0
        ("[A]: x\n\n    + <B>: y\n", 3, 1),  # relation after an empty line
        ("[A]\n  + b\n[C]\n", 3, 1),  # tree not closed
        ("[a]\n    >< <f>\n", 2, 8),  # contradiction needs a statement
    ],
)
def test_bad_relations(text, line, col):
    bad(text, line, col)


# -- headings, front matter, data ---------------------------------------------------
def test_sections_nest_by_level_and_carry_tags_and_data():
    doc = ok("# H1 #t {isGroup: true}\n\n<A1>\n\n## H2\n\n[S1]\n\n# H3\n\nx\n")
    h1, h3 = doc.sections
    assert (h1.title, h1.tags, h1.is_group, h1.data) == ("H1 #t", ["t"], True, {"isGroup": True})
    assert [c.title for c in h1.children] == ["H2"] and h1.children[0].parent is h1
    assert doc.statements["S1"].section.id == "s2" and h3.id == "s3"


def test_front_matter_and_yaml_data_flow_and_block():
    doc = ok("===\ntitle: T\n===\n\n[N]: x\n{a: [1, 2]}\n\n[N] {\nb:\n    - c\n}\n")
    assert doc.front_matter == {"title": "T"}
    assert doc.statements["N"].data == {"a": [1, 2], "b": ["c"]}


def test_repeated_data_blocks_give_each_element_its_own_value():
    # The builder parses each distinct data block once; no two elements may share a mutable value.
    doc = ok("[A]: a {k: [1], d: 2020-01-02}\n\n[B]: b {k: [1], d: 2020-01-02}\n\n[C]: c {k: [1]}\n\n[D]: d {k: [1]}\n")
    a, b, c, d = (doc.statements[t].members[0].data for t in "ABCD")
    assert a == b and c == d == {"k": [1]} and a["d"] == "2020-01-02T00:00:00.000Z"  # as the reference's JSON
    c["k"].append(2)
    assert d == {"k": [1]} and doc.statements["D"].data == {"k": [1]}


def test_the_syntax_tree_is_kept_only_when_asked():
    assert parse("[A]: a\n").tree is None
    tree = parse("[A]: a\n  + b\n", keep_tree=True).tree
    assert tree.name == "argdown" and tree.children[0].name == "statement"
    assert parse("[A]: a\n\n  + b\n", keep_tree=True, model_on_errors=False).tree is not None


def test_bad_yaml_is_reported_with_position():
    bad("[N]: x {a: [1}\n", 1, 14, "Invalid YAML")  # at the problem: the '}' where ']' belongs
    # a repeated bad block is reported at each of its places
    doc = parse("[N]: x {a: [1}\n\n[M]: y {a: [1}\n")
    assert [(e.line, e.column) for e in doc.errors] == [(1, 14), (3, 14)]
    # in block data and front matter too, after the opening line
    assert [(e.line, e.column) for e in parse("[N]: x {\na: [1\n}\n").errors] == [(3, 1)]
    assert [(e.line, e.column) for e in parse("===\na: 1\na: 2\n===\n\n[A]: a\n").errors] == [(3, 1)]


def test_columns_count_utf16_units_after_astral_characters():
    # As the reference (JavaScript strings; its output for this input): an emoji is two columns.
    doc = ok("[A]: \U0001F600 x\n  + [B]: \U0001F600 y\n")
    span = doc.statements["B"].members[0].span
    assert (span.start_line, span.start_column, span.end_line, span.end_column) == (2, 5, 2, 14)


def test_front_matter_must_come_first():
    bad("[A]: a\n\n===\nx: 1\n===\n", 3, 1)


# -- lists, inline elements, comments, escapes, whitespace -------------------------------
def test_lists():
    doc = ok("1. [A]: one\n2. <B>: two\n")
    assert doc.statements["A"].members[0].text == "one" and "B" in doc.arguments
    bad("* a\n    * b\n", 2, 1)  # nested lists are not supported


def test_inline_formatting_links_and_tags():
    doc = ok("This is _it_ and **bold** [w](http://w.org) #t #(two words)\n")
    member = doc.statements["Untitled 1"].members[0]
    assert member.text == "This is it and bold w #t #(two words)"
    assert [r.type for r in member.ranges] == ["italic", "bold", "link", "tag", "tag"]
    assert member.tags == ["t", "two words"] and member.ranges[2].url == "http://w.org"


def test_unclosed_italic_fails():
    bad("foo *bar\n", 1, 9, "Unclosed italic")  # at the last token, like the reference


def test_shortcodes_and_escapes():
    doc = ok("p .^. q .->. r \\[x\\]\n")
    assert doc.statements["Untitled 1"].members[0].text == "p ∧ q → r [x]"


def test_comments_are_ignored():
    doc = ok("/* a\nb */\n\n<A>: <!-- c --> text // tail\n")
    assert doc.arguments["A"].members[0].text == "text "


def test_bare_url_is_cut_at_the_comment():
    assert ok("see http://x.org\n").statements["Untitled 1"].members[0].text == "see http:"


def test_crlf_and_tabs():
    doc = ok("[A]: one\r\n\t+ [B]: two\r\n\r\n[C]: three\r\n")
    assert rels(doc) == [("B", "support", "A")]
    assert doc.statements["C"].members[0].span.start_line == 4


def test_include(tmp_path):
    (tmp_path / "part.argdown").write_text("[B]: included\n", encoding="utf-8")
    main = tmp_path / "main.argdown"
    main.write_text("[A]: a\n\n@include(part.argdown)\n\n@include(missing.argdown)\n", encoding="utf-8")
    from argdown_lbl.argdown import parse_file

    doc = parse_file(str(main))
    assert doc.statements["B"].members[0].text == "included"
    assert any(e.code == "include" and "missing.argdown" in e.message for e in doc.errors)


def test_raise_errors_option():
    from argdown_lbl.argdown import ArgdownSyntaxError

    with pytest.raises(ArgdownSyntaxError, match="2:1"):
        parse("[A]\n+ x\n", raise_errors=True)


def test_error_messages_quote_the_source_and_say_what_to_write():
    """No message quotes a placeholder ("found an indented line 'an indented line'") or calls "..." a shortcode."""
    import json

    from argdown_lbl.argdown.tokens import LABELS
    from oracle import TRICKY

    texts = list(json.loads(TRICKY.read_text(encoding="utf-8")).values()) + [
        "[A]: a ... b\n  + [B]: x\n\n\n  - <C>\n", "<A>\n\n(1) p\n----\n... \n", "<A>\n\n(1) <B>: text\n----\n(2) c\n"]
    messages = [e.message for text in texts for e in parse(text).errors]
    assert messages
    for message in messages:
        assert not any(f"'{label}'" in message for label in LABELS.values()), message
        assert "shortcode '...'" not in message, message
    relation = parse(texts[-3]).errors[0].message
    assert "found an indented line '- <C>'" in relation and "Remove the empty line above it" in relation
    assert "found text '...'" in parse(texts[-2]).errors[0].message
    premise = parse(texts[-1]).errors[0].message
    assert "'<B>:'" in premise and "write a statement reference ([Title])" in premise
