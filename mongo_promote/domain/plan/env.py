"""${VAR} expansion in a plan's YAML tree (naming the line of an unset variable), and the values never to show."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mongo_promote.domain.plan.model import MissingVariable, Plan
from mongo_promote.domain.plan.needs import needed_variables
from mongo_promote.errors import PlanError
from mongo_promote.redact import uri_secrets

_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Shell commands keep `${VAR}` as written (shown, stored and hashed so); the shell expands them.
_COMMAND_FIELDS = re.compile(
    r"^(hooks\.(before_backup|before_cutover|after_cutover|on_failure)|staging_refresh\.commands"
    r"|freeze\.(start|end))\[\d+\](\.run)?$"
)
# Health check URLs: only `health` (and a health gate, the staging refresh) reach them, so an
# unset variable there is recorded as missing (the URL made unreachable) instead of refused.
_DEFERRED_URLS = re.compile(r"^(staging_refresh\.)?health\[\d+\]\.url$")
# What every hook gets from the run itself (steps/hooks.py `hook_env`): never missing.
RUN_VARIABLES = frozenset(
    {"MONGO_PROMOTE_RUN_ID", "MONGO_PROMOTE_PLAN", "MONGO_PROMOTE_STAGE", "MONGO_PROMOTE_STATUS"}
)
_SECRET_NAME = re.compile(r"(?i)(PASS|SECRET|TOKEN|KEY|CRED|AUTH|PRIVATE)")


class Variables:
    """The ${VAR}s a plan references and their values (unset ones with a default are absent)."""

    def __init__(self) -> None:
        self.everywhere: dict[str, str] = {}
        self.in_commands: dict[str, str] = {}
        # unset variables of commands and health URLs: refused by the commands that need them
        self.missing: list[MissingVariable] = []


def plan_secrets(plan: Plan, seen: Variables) -> list[str]:
    """What must never be shown: URI passwords, every value a hook sees, secret-named values."""
    found = [*uri_secrets(plan.source.uri), *uri_secrets(plan.target.uri)]
    found += seen.in_commands.values()
    found += [v for k, v in seen.everywhere.items() if _SECRET_NAME.search(k) and "://" not in v]
    return sorted({s for s in found if s}, key=len, reverse=True)


URI_FIELDS = frozenset({"source.uri", "target.uri"})


def expand_env(
    shown: str,
    node: Any,
    env: Mapping[str, str],
    prefix: str = "",
    *,
    seen: Variables,
    lenient: frozenset[str] = frozenset(),
) -> None:
    """Expand ${VAR} / ${VAR:-default} in every string value, naming any unset variable and its line.

    Shell commands are never expanded: the variables the shell would need unset are recorded in
    `seen.missing`, as are those of health check URLs (then made unreachable). In a `lenient`
    field an unset variable gives a placeholder URI instead of an error.
    """
    for key, value, line in _children(node):
        field = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}".lstrip(".")
        if isinstance(value, str) and _COMMAND_FIELDS.match(field):
            names = {m.group(1): "" for m in _ENV_NAME.finditer(value)}
            _expand_text(shown, value, {**names, **env}, line, field, Variables())  # syntax only
            given = (
                dict.fromkeys(RUN_VARIABLES, "set")
                if field.startswith(("hooks.", "freeze."))
                else {}
            )
            for name in needed_variables(value, {**env, **given}):
                seen.missing.append(MissingVariable(name, field, line))
            for m in _ENV_NAME.finditer(value):  # nested defaults' variables too
                if m.group(1) in env:
                    seen.in_commands[m.group(1)] = env[m.group(1)]
        elif isinstance(value, str) and _DEFERRED_URLS.match(field):
            unset = _unset_in(value, env)
            seen.missing += [MissingVariable(name, field, line) for name in unset]
            node[key] = (
                _expand_text(shown, value, env, line, field, seen)
                if not unset
                else f"https://{unset[0].lower().replace('_', '-')}.unset.invalid/"
            )
        elif isinstance(value, str):
            try:
                node[key] = _expand_text(shown, value, env, line, field, seen)
            except PlanError:
                if field not in lenient:
                    raise
                node[key] = _placeholder_uri(value)
        else:
            expand_env(shown, value, env, field, seen=seen, lenient=lenient)


def _unset_in(text: str, env: Mapping[str, str]) -> list[str]:
    """The variables ${VAR} expansion of `text` would refuse (unset, no default used)."""
    unset: list[str] = []
    while True:
        try:
            _expand_text("", text, {**env, **dict.fromkeys(unset, "")}, 0, "", Variables())
            return unset
        except PlanError as exc:
            name = re.search(r"environment variable (\w+) is not set", exc.problem)
            if name is None:
                return unset
            unset.append(name.group(1))


def _placeholder_uri(text: str) -> str:
    """`${PROD_MONGO_URI}` unset -> mongodb://prod-mongo-uri.unset.invalid (RFC 2606: never resolves)."""
    names = [m.group(1) for m in _ENV_NAME.finditer(text)] or ["uri"]
    return f"mongodb://{names[0].lower().replace('_', '-')}.unset.invalid"


def _expand_text(
    shown: str, text: str, env: Mapping[str, str], line: int, field: str, seen: Variables
) -> str:
    """One pass, left to right; a default may itself hold ${VAR:-...} (`${A:-ssh ${HOST:-h}}`).
    A variable's value is used as it is, never expanded again. As in `sh`, a default is only
    used, and its own variables only needed, when its variable is unset: `${A:-ssh ${HOST}}`
    with A set needs no HOST."""
    return _expand_until(shown, text, 0, env, line, field, seen, nested=False)[0]


def _expand_until(
    shown: str,
    text: str,
    pos: int,
    env: Mapping[str, str],
    line: int,
    field: str,
    seen: Variables,
    *,
    nested: bool,
    used: bool = True,
) -> tuple[str, int]:
    """Expand from `pos` to the end (or, nested, to the `}` closing a default); (text, end).
    `used=False`: a default that will not be used, only read through (its unset variables are
    no error)."""
    out: list[str] = []
    while pos < len(text):
        if nested and text[pos] == "}":
            return "".join(out), pos + 1
        m = _ENV_NAME.match(text, pos)
        if m is None:
            out.append(text[pos])
            pos += 1
            continue
        name, pos = m.group(1), m.end()
        default: str | None = None
        if text.startswith(":-", pos):
            default, pos = _expand_until(
                shown, text, pos + 2, env, line, field, seen, nested=True,
                used=used and name not in env,
            )  # fmt: skip
        elif text.startswith("}", pos):
            pos += 1
        else:
            out.append(m.group(0))  # not a reference after all: `${NAME` then something else
            continue
        if name in env:
            seen.everywhere[name] = env[name]
            out.append(env[name])
        elif default is not None:
            out.append(default)
        elif used:
            raise PlanError(
                shown, line, field, f"environment variable {name} is not set (no default)"
            )
    if nested:
        raise PlanError(shown, line, field, "unterminated ${VAR:-default} (a `}` is missing)")
    return "".join(out), pos


def _children(node: Any) -> list[tuple[Any, Any, int]]:
    """(key, value, 1-based line) of a ruamel mapping or sequence."""
    if isinstance(node, CommentedMap):
        return [(k, v, node.lc.value(k)[0] + 1) for k, v in node.items()]
    if isinstance(node, CommentedSeq):
        return [(i, v, node.lc.item(i)[0] + 1) for i, v in enumerate(node)]
    return []
