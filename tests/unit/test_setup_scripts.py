"""scripts/demo and scripts/setup install only what their purpose needs, quietly (issue 19, item 11).

The scripts run in a copy of the checkout whose install-tools is a stub recording the pieces it was asked for,
and whose .venv already holds the package (its stamp matches pyproject.toml), so nothing is downloaded or built.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB_TOOLS = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$(dirname "$0")/../calls"
echo "install-tools: stub ($*)" >&2
"""
STUB_CLI = """#!/usr/bin/env bash
echo "mongo-promote $*"
"""


def _run(checkout: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONGO_PROMOTE_")}
    return subprocess.run(
        [str(checkout / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml, a stub install-tools, and a .venv holding the package (no dev)."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("setup", "demo", "test"):
        shutil.copy2(ROOT / "scripts" / name, repo / "scripts" / name)
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    _executable(repo / "scripts" / "install-tools", STUB_TOOLS)
    _executable(repo / ".venv" / "bin" / "mongo-promote", STUB_CLI)
    _stamp(repo, "")
    return repo


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _stamp(repo: Path, extras: str) -> None:
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (repo / ".venv" / ".mongo-promote-setup").write_text(f"{digest} {extras}\n")


def _calls(repo: Path) -> list[str]:
    path = repo / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_demo_installs_ferretdb_only_and_says_what_it_skipped(checkout: Path) -> None:
    result = _run(checkout, "scripts/demo", "--scale", "0.1")
    assert result.returncode == 0, result.stderr
    assert _calls(checkout) == ["ferretdb"]
    assert result.stdout.strip() == "mongo-promote demo --scale 0.1"
    skip_lines = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skip_lines) == 1, result.stderr
    for piece in ("dev tools", "mongo-tools", "mongosh", "age", "documentdb"):
        assert piece in skip_lines[0]
    assert "FerretDB v1," not in skip_lines[0]  # the one piece it does install
    assert f"{checkout}/.tools/install.log" in result.stderr
    assert "already installed in .venv" in result.stderr


@pytest.mark.parametrize(
    ("argv", "calls", "skips_v1"),
    [
        (["--engine", "documentdb"], ["documentdb"], True),
        (["--engine=documentdb", "--keep"], ["documentdb"], True),
        (["--engine", "mongod"], [], True),
    ],
)
def test_demo_asks_for_its_engine_only(
    checkout: Path, argv: list[str], calls: list[str], skips_v1: bool
) -> None:
    result = _run(checkout, "scripts/demo", *argv)
    assert result.returncode == 0, result.stderr
    assert _calls(checkout) == calls
    assert ("FerretDB v1" in result.stderr) == skips_v1
    assert ("the documentdb engine" in result.stderr) == (calls != ["documentdb"])
    assert result.stdout.strip() == "mongo-promote demo " + " ".join(argv)


def test_setup_without_arguments_installs_everything(checkout: Path) -> None:
    _stamp(checkout, "[dev]")
    result = _run(checkout, "scripts/setup")
    assert result.returncode == 0, result.stderr
    assert _calls(checkout) == ["all"]
    assert "skipped" not in result.stderr
    assert "already installed in .venv with its dev tools" in result.stderr


def test_a_dev_install_serves_the_demo_too(checkout: Path) -> None:
    _stamp(checkout, "[dev]")
    result = _run(checkout, "scripts/setup", "--for", "demo")
    assert result.returncode == 0, result.stderr
    assert "already installed in .venv" in result.stderr


def test_setup_refuses_an_unknown_purpose(checkout: Path) -> None:
    result = _run(checkout, "scripts/setup", "--for", "production")
    assert result.returncode == 2
    assert "--for takes demo or test" in result.stderr
    assert _calls(checkout) == []


def test_install_tools_refuses_an_unknown_piece() -> None:
    result = _run(ROOT, "scripts/install-tools", "ferretdb", "mongodb")
    assert result.returncode == 2
    assert "unknown piece mongodb" in result.stderr
    assert "ferretdb mongo-tools mongosh documentdb age" in result.stderr


def test_install_tools_help_lists_its_pieces() -> None:
    result = _run(ROOT, "scripts/install-tools", "--help")
    assert result.returncode == 0
    for piece in ("ferretdb", "mongo-tools", "mongosh", "documentdb", "age"):
        assert f"  {piece} " in result.stdout
