"""Loading a plan file: YAML read, URIs and ${VAR}s filled in, validated; every error names file, line and field."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mongo_promote.domain.plan.env import URI_FIELDS, Variables, expand_env, plan_secrets
from mongo_promote.domain.plan.model import LoadedPlan, Plan
from mongo_promote.domain.plan.uris import override_uri, read_plan_uri_file, uri_from
from mongo_promote.errors import PlanError, UsageError
from mongo_promote.redact import remember_secrets


def load_plan(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    source_uri: str | None = None,
    target_uri: str | None = None,
    source_uri_file: str | Path | None = None,
    target_uri_file: str | Path | None = None,
    source_uri_env: str | None = None,
    target_uri_env: str | None = None,
    servers: bool = True,
    network_timeout: timedelta | None = None,
) -> LoadedPlan:
    """Read, expand and validate a plan; every problem is a PlanError naming file, line and field.

    A side's URI comes, first found: `*_uri` (e.g. `--target-uri`: visible in the process list,
    see `argv_password_warning`), `*_uri_file` (first line of a file), `*_uri_env` (the name of an
    environment variable), else the plan's `uri:` (`${VAR}` expanded) or `uri_file:` (a path,
    relative to the plan). Hook commands keep their `${VAR}` text: see LoadedPlan.command_env.

    `network_timeout` (`--network-timeout`) replaces the plan's `network_timeout:`. Neither it
    nor `long_operation_timeout:` counts in the fingerprint: a resume may wait longer or less.

    `servers=False` is for commands that never connect (health, refresh-staging, history): an
    unset variable in `source.uri` / `target.uri` is then no error, the URI becomes a placeholder
    on the reserved `.invalid` domain (nothing can reach it) and the same-database check is moot.
    """
    path = Path(path)
    env = os.environ if env is None else env
    shown = str(path)
    source_uri = source_uri or uri_from(source_uri_file, source_uri_env, env, "source")
    target_uri = target_uri or uri_from(target_uri_file, target_uri_env, env, "target")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(shown, None, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(shown, None, None, f"cannot read: {exc}") from None
    tree = _parse_yaml(shown, text)
    override_uri(tree, "source", source_uri)
    override_uri(tree, "target", target_uri)
    seen = Variables()
    expand_env(shown, tree, env, seen=seen, lenient=frozenset() if servers else URI_FIELDS)
    for side in ("source", "target"):
        read_plan_uri_file(shown, tree, side, path.parent)
    try:
        plan = Plan.model_validate(_plain(tree))
    except ValidationError as exc:
        raise _located(shown, tree, exc) from None
    if servers:
        _refuse_same_database(shown, tree, plan)
    if network_timeout is not None:
        if network_timeout <= timedelta(0):
            raise UsageError(
                f"--network-timeout must be a positive duration, not {network_timeout}"
            )
        plan = plan.model_copy(update={"network_timeout": network_timeout})
    secrets = plan_secrets(plan, seen)
    remember_secrets(*secrets)
    return LoadedPlan(
        plan=plan,
        path=path.resolve(),
        fingerprint=_fingerprint(tree),
        command_variables=seen.in_commands,
        secrets=tuple(secrets),
        missing=tuple(seen.missing),
    )


def _refuse_same_database(shown: str, tree: CommentedMap, plan: Plan) -> None:
    from mongo_promote.redact import same_server

    if plan.source.database == plan.target.database and same_server(
        plan.source.uri, plan.target.uri
    ):
        line, field = _locate(tree, ("target", "database"))
        raise PlanError(
            shown,
            line,
            field,
            "source and target are the same database on the same server: "
            "a promotion would overwrite what it reads",
        )


def _parse_yaml(shown: str, text: str) -> CommentedMap:
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PlanError(shown, line, None, f"invalid YAML: {exc.problem or exc}") from None
    except YAMLError as exc:
        raise PlanError(shown, None, None, f"invalid YAML: {exc}") from None
    if not isinstance(tree, CommentedMap):
        raise PlanError(shown, 1, None, "a plan is a YAML mapping (version, source, target, ...)")
    return tree


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _located(shown: str, tree: CommentedMap, exc: ValidationError) -> PlanError:
    """Turn pydantic's first error into file:line + dotted field; the others follow in the message."""
    errors = exc.errors()
    first = errors[0]
    line, field = _locate(tree, first["loc"])
    problem = _describe(first)
    if len(errors) > 1:
        others = []
        for err in errors[1:4]:
            other_line, other_field = _locate(tree, err["loc"])
            others.append(f"line {other_line}: {other_field or 'plan'}: {_describe(err)}")
        problem += "; also " + "; ".join(others)
    return PlanError(shown, line, field or None, problem)


def _describe(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _locate(tree: CommentedMap, loc: tuple[Any, ...]) -> tuple[int, str]:
    """Walk the YAML tree along pydantic's loc as far as it exists: the deepest line found wins."""
    # A transform's union tag repeats its key ("embed", "embed"): keep one.
    steps = [s for i, s in enumerate(loc) if not (i and loc[i - 1] == s and s in _TAGS)]
    node: Any = tree
    line = 1
    parts: list[str] = []
    for step in steps:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            parts.append(str(step))
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            line = node.lc.item(step)[0] + 1
            parts.append(f"[{step}]")
            node = node[step]
        else:
            parts.append(str(step))
            break
    return line, ".".join(parts).replace(".[", "[")


_TAGS = {"embed", "rewrite"}
_NOT_FINGERPRINTED = ("network_timeout", "long_operation_timeout")  # how long, not what


def _fingerprint(tree: CommentedMap) -> str:
    """Hash of the expanded plan with URIs removed: credentials or a moved server don't count."""
    data = {k: v for k, v in _plain(tree).items() if k not in _NOT_FINGERPRINTED}
    for side in ("source", "target"):
        if isinstance(data.get(side), dict):
            data[side] = {k: v for k, v in data[side].items() if k != "uri"}
    canonical = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def bundled_plan_path() -> Path:
    """The Meeshy plan shipped with the package; the demo runs it."""
    return Path(__file__).parents[2] / "demo" / "meeshy-plan.yaml"
