"""main() and every command map any failure to one scrubbed line and an exit code; --debug (or
MONGO_PROMOTE_DEBUG=1) adds the traceback, scrubbed too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import mongo_promote.cli as cli
from mongo_promote import api
from mongo_promote.errors import LockHeld

PLAN = """\
version: 1
source: {uri: "mongodb://127.0.0.1:1/", database: a}
target: {uri: "mongodb://127.0.0.1:2/", database: b}
"""
PASSWORD = "s3cretPW"


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom at mongodb://admin:s3cretPW@db.example:27017/?authSource=admin\nmore")


@pytest.fixture
def plan(tmp_path: Path) -> str:
    path = tmp_path / "promote.yaml"
    path.write_text(PLAN)
    return str(path)


def history(plan: str, *before: str, env: dict[str, str] | None = None) -> Result:
    """`history` (reads files only) run by the real CLI, its api call made to fail."""
    return CliRunner().invoke(cli.app, [*before, "history", "--plan", plan], env=env)


def test_an_unexpected_failure_is_one_scrubbed_line_and_exit_1(
    plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "history", broken)
    result = history(plan, env={"MONGO_PROMOTE_DEBUG": ""})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: RuntimeError: boom at mongodb://admin:***@db.example")
    assert lines[0].endswith("more (run again with --debug for the traceback)")
    assert "Traceback" not in result.output and PASSWORD not in result.output


@pytest.mark.parametrize("how", ["--debug", "MONGO_PROMOTE_DEBUG=1"])
def test_debug_shows_the_traceback_scrubbed(
    plan: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(api, "history", broken)
    if how == "--debug":
        result = history(plan, "--debug", env={"MONGO_PROMOTE_DEBUG": ""})
    else:
        result = history(plan, env={"MONGO_PROMOTE_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise RuntimeError("boom at mongodb://admin:***@db.example' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: RuntimeError: boom")
    assert PASSWORD not in result.output and "--debug for the traceback" not in result.stderr


def test_a_typed_failure_keeps_its_exit_code_and_ctrl_c_is_130(
    plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def held(*args: Any, **kwargs: Any) -> Any:
        raise LockHeld("the lock is held by run r-1")

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "history", held)
    result = history(plan)
    assert (result.exit_code, result.stderr.strip()) == (4, "error: the lock is held by run r-1")
    monkeypatch.setattr(api, "history", interrupted)
    result = history(plan)
    assert (result.exit_code, result.stderr.strip()) == (130, "error: interrupted")


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (ValueError("bad [/x] mongodb://u:s3cretPW@h/"), 1, "error: ValueError: bad [/x]"),
        (KeyboardInterrupt(), 130, "error: interrupted"),
        (LockHeld("held"), 4, "error: held"),
    ],
)
def test_main_maps_what_is_raised_around_the_commands(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    line: str,
) -> None:
    def app() -> None:
        raise raised

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr("sys.argv", ["mongo-promote", "history"])
    monkeypatch.delenv("MONGO_PROMOTE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == code
    err = capsys.readouterr().err
    assert err.startswith(line) and len(err.strip().splitlines()) == 1
    assert PASSWORD not in err and "Traceback" not in err


def test_with_json_a_failure_is_also_one_document_on_stdout(
    plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: with --json, errors left stdout empty."""

    def held(*args: Any, **kwargs: Any) -> Any:
        raise LockHeld("the lock is held by run r-1\n(since 2025)")

    monkeypatch.setattr(api, "history", held)
    result = CliRunner().invoke(cli.app, ["history", "--plan", plan, "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout) == {
        "schema_version": 1,
        "error": {
            "code": "lock_held",
            "exit": 4,
            "message": "the lock is held by run r-1 (since 2025)",
        },
    }
    assert result.stderr.strip() == "error: the lock is held by run r-1 (since 2025)"
    monkeypatch.setattr(api, "history", broken)
    result = CliRunner().invoke(
        cli.app, ["history", "--plan", plan, "--json"], env={"MONGO_PROMOTE_DEBUG": ""}
    )
    assert json.loads(result.stdout)["error"]["code"] == "internal"
    assert PASSWORD not in result.stdout
