"""Which variables a shell command needs: what `sh -c` would expand from an unset variable."""

from __future__ import annotations

import subprocess

import pytest

from mongo_promote.domain.plan.needs import needed_variables

RESTART = "${RESTART:-ssh ${HOST} 'cd /opt && docker compose restart gateway'}"


@pytest.mark.parametrize(
    ("command", "env", "needed"),
    [
        ("ssh ${HOST} restart", {}, ["HOST"]),
        ("ssh $HOST restart", {"HOST": ""}, ["HOST"]),  # set but empty: ssh to nowhere
        ("ssh ${HOST} restart", {"HOST": "h"}, []),
        (RESTART, {}, ["HOST"]),
        (RESTART, {"RESTART": "true"}, []),  # the default is not used: HOST not needed
        (RESTART, {"RESTART": ""}, ["HOST"]),  # `:-` uses the default for an empty value
        ("${A-${B}}", {"A": ""}, []),  # `-` only for an unset one
        ("${A:+--flag ${B}}", {}, []),
        ("${A:+--flag ${B}}", {"A": "1"}, ["B"]),
        ("${A:?say it}", {}, ["A"]),
        ("ssh h 'echo $HOME $X'", {}, []),  # expanded on the remote side
        ('echo "it\'s $X"', {}, ["X"]),  # a quote inside double quotes is a character
        ("echo \\$X $(date) $1 $? $$", {}, []),
        ("${X} ${X} $X", {}, ["X"]),
        ('for f in /proc/*; do cat "$f"; done; N=1; echo $N ${PPID}', {}, []),  # its own
        ("read -r line; echo $line $PWD", {}, []),
    ],
)
def test_what_the_shell_would_need(command: str, env: dict[str, str], needed: list[str]) -> None:
    assert needed_variables(command, env) == needed


@pytest.mark.parametrize("env", [{}, {"RESTART": "echo restarted"}, {"HOST": "h.invalid"}])
def test_agrees_with_sh(env: dict[str, str]) -> None:
    """What sh does: with every needed variable set to a marker, no expansion is left empty."""
    command = RESTART.replace("ssh ", "echo ssh ")
    filled = {**env, **dict.fromkeys(needed_variables(command, env), "MARK")}
    out = subprocess.run(
        ["/bin/sh", "-c", command], env=filled, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith(("ssh MARK ", "ssh h.invalid ", "restarted"))
