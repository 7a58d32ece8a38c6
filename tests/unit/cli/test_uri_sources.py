"""`--source-uri` / `--target-uri` take a URI, `env:NAME` or `file:PATH` (keeps passwords out of ps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mongo_promote.cli.common import load

PLAN = """\
version: 1
source: {uri: "mongodb://127.0.0.1:1/", database: a}
target: {uri: "mongodb://127.0.0.1:2/", database: b}
"""


@pytest.fixture
def plan(tmp_path: Path) -> str:
    path = tmp_path / "promote.yaml"
    path.write_text(PLAN)
    return str(path)


def test_env_and_file_sources_replace_the_plans_uris(
    plan: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_TARGET", "mongodb://admin:s3cret@127.0.0.1:3/")
    uri_file = tmp_path / "source.uri"
    uri_file.write_text("mongodb://reader:hunter2@127.0.0.1:4/\n")
    uri_file.chmod(0o600)
    loaded = load(plan, f"file:{uri_file}", "env:MY_TARGET")
    assert loaded.plan.target.uri == "mongodb://admin:s3cret@127.0.0.1:3/"
    assert loaded.plan.source.uri == "mongodb://reader:hunter2@127.0.0.1:4/"
    assert "process list" not in capsys.readouterr().err  # nothing was on the command line


def test_a_password_on_the_command_line_is_warned_about(
    plan: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load(plan, None, "mongodb://admin:s3cret@127.0.0.1:5/")
    assert loaded.plan.target.uri.endswith("127.0.0.1:5/")
    err = capsys.readouterr().err
    assert "process list" in err and "env:NAME" in err and "s3cret" not in err
