"""Issue 19, "the README and the behaviour disagree": every `mongo-promote` line of the README's
```bash blocks that can run locally runs, in order, against the test servers (the bundled plan as
`promote.yaml` and as `--plan meeshy`, its hooks and health checks pointed at local commands and a
local HTTP server), and exits as documented: 0, or the `(exit N)` its comment says.

Not run, and why: lines with placeholders (`<…>`, `RUN_ID`, `DIR`, `…`), and `refresh-staging`
without `--dry-run` (it runs the plan's ssh commands against the staging host). `export` lines
point at production: the test gives its own environment instead. A command that asks is answered
yes, as the person at the terminal would; `$S` and `$HOME` expand as the shell would.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mongo_promote.cli.cleanup as cleanup_command
import mongo_promote.cli.restore as restore_command
import mongo_promote.cli.rollback as rollback_command
import mongo_promote.cli.run as run_command
from mongo_promote.domain.plan import bundled_plan_path
from tests.integration.conftest import explain, invoke, meeshy_env, seed_meeshy
from tests.integration.localhttp import serve

pytestmark = pytest.mark.integration

README = Path(__file__).parents[3] / "README.md"
PLACEHOLDERS = re.compile(r"<|RUN_ID|\bDIR\b|…")
EXIT = re.compile(r"\(exit (\d+)\)")


def readme_commands() -> Iterator[tuple[str, int]]:
    """Each line of a ```bash block, continuations joined: (line, documented exit code)."""
    text = README.read_text()
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                found = EXIT.search(line.partition("#")[2])
                yield line.strip(), int(found.group(1)) if found else 0


def runs_locally(words: list[str]) -> bool:
    if words[0] != "mongo-promote":
        return False
    line = " ".join(words)
    return not PLACEHOLDERS.search(line) and not (
        "refresh-staging" in words and "--dry-run" not in words
    )


@pytest.fixture
def answers_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (run_command, rollback_command, restore_command, cleanup_command):
        monkeypatch.setattr(module, "confirmer", lambda: lambda question: True)


def test_every_readme_command_that_can_run_locally_exits_as_documented(
    servers: Any,
    fresh_name: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answers_yes: None,
) -> None:
    name = fresh_name("readme")
    seed_meeshy(servers, name, scale=0.05)
    (tmp_path / "promote.yaml").write_text(bundled_plan_path().read_text())
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(tmp_path)
    ran: list[str] = []
    with serve() as http:
        env = {
            **meeshy_env(servers, name, tmp_path / "backups"),
            "HOME": str(home),
            "MEESHY_GATEWAY_URL": http.url("/ok"),
            "MEESHY_FRONTEND_URL": http.url("/ok"),
            "MEESHY_STAGING_GATEWAY_URL": http.url("/ok"),
            "MONGO_PROMOTE_STATE_DIR": None,
        }
        shell = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        for line, expected in readme_commands():
            assignment = re.fullmatch(r'(\w+)="([^"]*)"(\s+#.*)?', line)
            if assignment:  # S="--plan meeshy --state-dir $HOME/meeshy-promote"
                shell[assignment.group(1)] = _expand(assignment.group(2), shell)
                continue
            words = shlex.split(_expand(line, shell), comments=True)
            if not words or not runs_locally(words):
                continue
            result = invoke(words[1:], env)  # type: ignore[arg-type]
            assert result.exit_code == expected, f"README: {line}\n{explain(result)}"
            ran.append(" ".join(words[1:3]))
    assert {"inspect --plan", "run --plan", "validate --plan", "rollback --plan"} <= set(ran)
    assert {"health --plan", "history --plan", "refresh-staging --plan"} <= set(ran)
    assert len(ran) >= 15, ran


def _expand(text: str, shell: dict[str, str]) -> str:
    """`$VAR`, `${VAR}` and `~/` as the shell would (before the words are split)."""
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: shell.get(m.group(1), ""), text)
    return re.sub(r"(^|\s)~/", lambda m: m.group(1) + shell["HOME"] + "/", text)
