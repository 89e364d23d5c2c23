"""Corpus configs (validation with named keys) and fetching upstream sources (offline and over HTTP)."""

import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from argdown_lbl.corpus import ConfigError, load_config, load_corpus
from argdown_lbl.fetch import FetchError, fetch
from argdown_lbl.split import split_config

COMMIT = "0123456789abcdef0123456789abcdef01234567"
UPSTREAM = f"""upstream:
  repo: someone/docs
  commit: {COMMIT}
  paths: ["docs/guide/*.md"]
  strip: docs/
  offline: some-docs/
  license: MIT
"""


def make_config(tmp_path, text, name="cfg"):
    folder = tmp_path / "corpus" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("text, message", [
    ("licence: mit\n", "key 'licence': unknown key"),
    ("context_chars: lots\n", "key 'context_chars': expected int"),
    ("splits: {train: 0.5, test: 0.2}\n", "key 'splits'"),
    ("languages: [argdown, cobol]\n", "key 'languages'"),
    ("upstream: {repo: a/b, commit: abc, paths: [x], offline: y}\n", "key 'upstream.commit'"),
    ("upstream: {repo: a/b, paths: [x], offline: y}\n", "key 'upstream.commit': missing"),
    ("generator: {seed: 1, colour: red}\n", "key 'generator'"),
])
def test_config_errors_name_the_file_and_key(tmp_path, text, message):
    folder = make_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    assert str(folder / "config.yaml") in str(err.value) and message in str(err.value)


def test_bad_yaml_names_line_and_column(tmp_path):
    folder = make_config(tmp_path, "license: mit\nsplits: [train\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:3:1: not valid YAML"):
        load_config(folder)


def test_folder_with_sources_only_is_a_config_with_defaults(tmp_path):
    folder = tmp_path / "corpus" / "plain"
    folder.mkdir(parents=True)
    (folder / "a.argdown").write_text("[A]: a.\n")
    (folder / ".hidden.argdown").write_text("[H]: h.\n")
    [spec] = load_corpus(tmp_path / "corpus")
    assert spec.name == "plain" and spec.license == "cc-by-4.0" and spec.upstream is None
    assert [label for _, label in spec.sources()] == ["a.argdown"]
    with pytest.raises(ConfigError, match="no config folder matches nope"):
        load_corpus(tmp_path / "corpus", ["nope"])


def upstream_layout(root):
    guide = root / "some-docs" / "guide"
    guide.mkdir(parents=True)
    (guide / "intro.md").write_text("# Intro\n\nProse.\n\n```argdown\n[A]: a.\n```\n")
    (root / "some-docs" / "other.md").write_text("not pinned\n")


def test_fetch_offline_then_split_records_upstream_provenance(tmp_path):
    folder = make_config(tmp_path, UPSTREAM)
    spec = load_config(folder)
    assert "not fetched" in split_config(spec).problems[0].message
    upstream_layout(tmp_path / "shared")
    manifest, fresh = fetch(spec, from_dir=tmp_path / "shared")
    assert fresh and list(manifest["files"]) == ["docs/guide/intro.md"] and manifest["commit"] == COMMIT
    assert fetch(spec, from_dir=tmp_path / "shared") == (manifest, False)  # cached: no-op
    result = split_config(spec)
    row = result.rows["train"][0] if "train" in result.rows else result.rows["test"][0]
    assert row["source"] == "docs/guide/intro.md" and row["upstream"] == f"someone/docs@{COMMIT}"
    with pytest.raises(FetchError, match="does not exist"):
        fetch(spec, from_dir=tmp_path / "elsewhere", force=True)


class TarballServer(BaseHTTPRequestHandler):
    payload = b""
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.path != f"/someone/docs/tar.gz/{COMMIT}":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)


def tarball():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [(f"docs-{COMMIT}/docs/guide/intro.md", b"# Intro\n\n```argdown\n[A]: a.\n```\n"),
                           (f"docs-{COMMIT}/src/code.js", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_fetch_online_from_a_local_http_server(tmp_path):
    TarballServer.payload = tarball()
    server = ThreadingHTTPServer(("127.0.0.1", 0), TarballServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = load_config(make_config(tmp_path, UPSTREAM))
        base = f"http://127.0.0.1:{server.server_port}"
        manifest, fresh = fetch(spec, base_url=base)
        assert fresh and list(manifest["files"]) == ["docs/guide/intro.md"]
        assert (spec.cache / "docs" / "guide" / "intro.md").read_bytes().startswith(b"# Intro")
        assert TarballServer.requests == [f"/someone/docs/tar.gz/{COMMIT}"]
        spec.upstream.repo = "someone/missing"
        with pytest.raises(FetchError, match="cannot download"):
            fetch(spec, base_url=base, force=True)
    finally:
        server.shutdown()


def test_fetch_cli_offline_and_a_clear_error_without_the_folder(tmp_path):
    from click.testing import CliRunner

    from argdown_lbl.cli import main

    make_config(tmp_path, UPSTREAM)
    upstream_layout(tmp_path / "shared")
    ok = CliRunner().invoke(main, ["fetch", str(tmp_path / "corpus"), "--from", str(tmp_path / "shared")])
    assert ok.exit_code == 0 and "cfg: fetched, 1 files of someone/docs@0123456789" in ok.output
    again = CliRunner().invoke(main, ["fetch", str(tmp_path / "corpus"), "--from", str(tmp_path / "shared")])
    assert "up to date" in again.output
    (tmp_path / "empty").mkdir()
    bad = CliRunner().invoke(main, ["fetch", str(tmp_path / "corpus"), "--from", str(tmp_path / "empty"), "--force"])
    assert bad.exit_code == 1 and "some-docs" in bad.output


def test_fetch_refuses_tar_members_that_leave_the_cache(tmp_path):
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"docs-{COMMIT}/docs/guide/../../../../escape.md")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    TarballServer.payload = evil.getvalue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), TarballServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = load_config(make_config(tmp_path, UPSTREAM))
        with pytest.raises(FetchError, match="leave the cache"):
            fetch(spec, base_url=f"http://127.0.0.1:{server.server_port}")
        assert not (tmp_path / "escape.md").exists()
    finally:
        server.shutdown()
