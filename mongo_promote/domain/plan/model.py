"""The plan file (DESIGN.md §4): YAML loading, ${VAR} expansion, the pydantic model, located errors."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mongo_promote.errors import PlanError, UsageError
from mongo_promote.redact import redact_uri, remember_secrets, uri_secrets

DEFAULT_PLAN_PATH = "promote.yaml"
_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


# ---------------------------------------------------------------- value types


def _parse_duration(value: Any) -> timedelta:
    """Durations are written the way operators say them (`48h`, `30s`); bare numbers mean seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _DURATION_UNITS[m.group(2)])
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 48h, 2d)")


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


def _as_list(value: Any) -> Any:
    """Several plan fields take one name or a list of fallbacks; normalise to a list."""
    return [value] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(_as_list)]


class NamePattern:
    """A collection name, or `re:<regex>` matched against the whole name."""

    def __init__(self, text: str) -> None:
        self.text = text
        if text.startswith("re:"):
            try:
                self._regex: re.Pattern[str] | None = re.compile(text[3:])
            except re.error as exc:
                raise ValueError(f"bad regular expression {text[3:]!r}: {exc}") from exc
        else:
            self._regex = None

    def matches(self, name: str) -> bool:
        if self._regex is None:
            return name == self.text
        return self._regex.fullmatch(name) is not None

    def __repr__(self) -> str:
        return f"NamePattern({self.text!r})"


def _pattern(value: Any) -> NamePattern:
    if isinstance(value, NamePattern):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("a collection name or a 're:' pattern is expected")
    return NamePattern(value)


Pattern = Annotated[NamePattern, BeforeValidator(_pattern)]


class _Model(BaseModel):
    """Every plan section refuses unknown keys: a typo must not silently disable a safeguard."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, arbitrary_types_allowed=True, frozen=True
    )


# ---------------------------------------------------------------- sections


class Endpoint(_Model):
    uri: str = Field(min_length=1)
    database: str = Field(min_length=1)

    @field_validator("uri")
    @classmethod
    def _looks_like_mongodb(cls, uri: str) -> str:
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return uri


class Selection(_Model):
    include: list[Pattern] = Field(default_factory=lambda: [NamePattern("re:.*")])
    exclude: list[Pattern] = Field(default_factory=list)
    legacy: list[Pattern] = Field(default_factory=list)


class FieldMapping(_Model):
    """How one field of the embedded value is taken from the child document."""

    source: NameList = Field(alias="from", min_length=1)
    default: Any = None
    optional: bool = False

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


def _field_mapping(value: Any) -> Any:
    """`confidenceScore: confidenceScore` is shorthand for `{from: confidenceScore}`."""
    return {"from": value} if isinstance(value, str | list) else value


class MatchSpec(_Model):
    source: str = Field(alias="from")
    into: str = "_id"


class KeySpec(_Model):
    source: NameList = Field(alias="from", min_length=1)


class EmbedSpec(_Model):
    source: str = Field(alias="from", min_length=1)
    into: str = Field(min_length=1)
    match: MatchSpec
    key: KeySpec
    as_field: str = Field(alias="as", min_length=1)
    fields: dict[str, Annotated[FieldMapping, BeforeValidator(_field_mapping)]]
    on_duplicate_key: Literal["latest", "first", "fail"] = "latest"
    on_orphan: Literal["report", "fail", "ignore"] = "report"
    # a key the parent's map already has: the newer by updatedAt, the child's, or the existing one
    on_existing: Literal["latest", "overwrite", "keep"] = "latest"
    keep_source: bool = False


class RewriteSpec(_Model):
    collection: str = Field(min_length=1)
    fields: NameList = Field(min_length=1)
    find: str = Field(min_length=1)
    replace: str


class EmbedTransform(_Model):
    embed: EmbedSpec


class RewriteTransform(_Model):
    rewrite: RewriteSpec


def _transform_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for kind in ("embed", "rewrite"):
            if kind in value:
                return kind
    elif isinstance(value, EmbedTransform):
        return "embed"
    elif isinstance(value, RewriteTransform):
        return "rewrite"
    return None


Transform = Annotated[
    Annotated[EmbedTransform, Tag("embed")] | Annotated[RewriteTransform, Tag("rewrite")],
    Discriminator(
        _transform_kind,
        custom_error_type="transform_kind",
        custom_error_message="each transform is a mapping with one key: embed or rewrite",
    ),
]


class IndexSpec(_Model):
    keys: dict[str, int | str] = Field(min_length=1)
    name: str | None = None
    unique: bool = False
    sparse: bool = False
    partial_filter_expression: dict[str, Any] | None = Field(
        default=None, alias="partialFilterExpression"
    )
    expire_after_seconds: int | None = Field(default=None, alias="expireAfterSeconds")

    @field_validator("keys")
    @classmethod
    def _valid_directions(cls, keys: dict[str, int | str]) -> dict[str, int | str]:
        for field, direction in keys.items():
            if direction not in (1, -1) and not isinstance(direction, str):
                raise ValueError(f"index direction of {field!r} must be 1, -1 or a string type")
        return keys


class ReferenceCheck(_Model):
    source: str = Field(alias="from", pattern=r"^[^.]+\..+$")
    to: str = Field(pattern=r"^[^.]+\..+$")
    on_dangling: Literal["warn", "fail"] = "warn"


class ValidateSpec(_Model):
    counts: bool = True
    checksums: bool = True
    references: list[ReferenceCheck] = Field(default_factory=list)


class BackupSpec(_Model):
    dir: str = "./backups"
    gzip: bool = True
    # age recipients (`age1...`): every backup file is encrypted to them (`<file>.age`)
    encrypt_to: list[str] = Field(default_factory=list)

    @field_validator("encrypt_to")
    @classmethod
    def _age_recipients(cls, recipients: list[str]) -> list[str]:
        for recipient in recipients:
            if not recipient.startswith("age1"):
                raise ValueError(
                    f"{recipient!r} is not an age recipient (age1..., from `age-keygen -y KEY`)"
                )
        return recipients


class CleanupSpec(_Model):
    min_age: Duration = timedelta(hours=48)


HOOK_STAGES = ("before_backup", "before_cutover", "after_cutover", "on_failure")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


PositiveDuration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_positive)]


class HookCommand(_Model):
    """One shell command of a hook stage or runbook, optionally with its own timeout."""

    run: str = Field(min_length=1)
    timeout: PositiveDuration | None = None


def _hook_command(value: Any) -> Any:
    """`"cmd"` is shorthand for `{run: "cmd"}`; anything else but a mapping is refused clearly."""
    if isinstance(value, str):
        return {"run": value}
    if isinstance(value, Mapping | HookCommand):
        return value
    raise ValueError("a command is a string or a mapping {run: COMMAND, timeout: DURATION}")


CommandList = Annotated[
    list[Annotated[HookCommand, BeforeValidator(_hook_command)]], BeforeValidator(_as_list)
]


@dataclass(frozen=True)
class Hook:
    """A command ready to run: its text and its timeout, the per-command override applied."""

    stage: str
    command: str
    timeout_s: float


def _resolve(stage: str, commands: list[HookCommand], default: timedelta) -> list[Hook]:
    return [
        Hook(stage, c.run, (c.timeout if c.timeout is not None else default).total_seconds())
        for c in commands
    ]


class HooksSpec(_Model):
    """Shell commands per stage; `timeout` is each command's default (DESIGN.md §4, issue 10).

    The stage lists are stored under `<stage>_` so that `hooks.after_cutover` keeps giving the
    command texts the current pipeline iterates; `stage(name)` gives them with their timeouts.
    """

    model_config = ConfigDict(populate_by_name=False)

    before_backup_: CommandList = Field(default_factory=list, alias="before_backup")
    before_cutover_: CommandList = Field(default_factory=list, alias="before_cutover")
    after_cutover_: CommandList = Field(default_factory=list, alias="after_cutover")
    on_failure_: CommandList = Field(default_factory=list, alias="on_failure")
    timeout: PositiveDuration = timedelta(minutes=5)

    def stage(self, name: str) -> list[Hook]:
        """The stage's commands in order, each with its own timeout or the plan's default."""
        if name not in HOOK_STAGES:
            raise ValueError(f"unknown hook stage {name!r} (one of {', '.join(HOOK_STAGES)})")
        commands: list[HookCommand] = getattr(self, f"{name}_")
        return _resolve(name, commands, self.timeout)

    @property
    def before_backup(self) -> list[str]:
        return [h.command for h in self.stage("before_backup")]

    @property
    def before_cutover(self) -> list[str]:
        return [h.command for h in self.stage("before_cutover")]

    @property
    def after_cutover(self) -> list[str]:
        return [h.command for h in self.stage("after_cutover")]

    @property
    def on_failure(self) -> list[str]:
        return [h.command for h in self.stage("on_failure")]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class HealthCheck(_Model):
    """One HTTP(S) check: status, body text and latency, with retries under exponential backoff."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    method: Annotated[
        Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        BeforeValidator(_upper),
    ] = "GET"
    expect_status: int = Field(default=200, ge=100, le=599)
    contains: str | None = Field(default=None, min_length=1)
    max_latency_ms: int | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0, le=100)  # attempts after the first failed one
    backoff: PositiveDuration = timedelta(seconds=1)  # first wait; doubles, capped (health.py)
    timeout: PositiveDuration = timedelta(seconds=5)
    verify: bool = True

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HealthCheck:
        if self.method == "HEAD" and self.contains is not None:
            raise ValueError("a HEAD response has no body: `contains` cannot be checked")
        return self


class StagingRefresh(_Model):
    """The staging refresh runbook: commands in order, a wait, then health checks."""

    commands: CommandList = Field(default_factory=list)
    wait: Duration = timedelta(0)
    health: list[HealthCheck] = Field(default_factory=list)
    timeout: PositiveDuration = timedelta(minutes=10)  # each command's default

    @field_validator("wait")
    @classmethod
    def _not_negative(cls, wait: timedelta) -> timedelta:
        if wait < timedelta(0):
            raise ValueError("must not be negative")
        return wait

    @property
    def steps(self) -> list[Hook]:
        """The commands in order, each with its own timeout or the runbook's default."""
        return _resolve("staging_refresh", self.commands, self.timeout)


class Plan(_Model):
    version: Literal[1]
    source: Endpoint
    target: Endpoint
    collections: Selection = Field(default_factory=Selection)
    transforms: list[Transform] = Field(default_factory=list)
    indexes: dict[str, list[IndexSpec]] = Field(default_factory=dict)
    validate_: ValidateSpec = Field(default_factory=ValidateSpec, alias="validate")
    backup: BackupSpec = Field(default_factory=BackupSpec)
    cleanup: CleanupSpec = Field(default_factory=CleanupSpec)
    hooks: HooksSpec = Field(default_factory=HooksSpec)
    health: list[HealthCheck] = Field(default_factory=list)
    staging_refresh: StagingRefresh | None = None

    # -- derived views used by every step

    @property
    def embeds(self) -> list[EmbedSpec]:
        return [t.embed for t in self.transforms if isinstance(t, EmbedTransform)]

    @property
    def rewrites(self) -> list[RewriteSpec]:
        return [t.rewrite for t in self.transforms if isinstance(t, RewriteTransform)]

    def classify(self, name: str) -> str:
        """First match wins, in the documented order: embed_source, excluded, copy, legacy."""
        sel = self.collections
        if any(e.source == name for e in self.embeds):
            return "embed_source"
        if any(p.matches(name) for p in sel.exclude):
            return "excluded"
        if any(p.matches(name) for p in sel.include):
            return "copy"
        if any(p.matches(name) for p in sel.legacy):
            return "legacy"
        return "unmatched"

    def copies(self, name: str) -> bool:
        """Whether `run` brings this source collection to the target."""
        cls = self.classify(name)
        if cls == "embed_source":
            return any(e.source == name and e.keep_source for e in self.embeds)
        return cls == "copy"


class LoadedPlan(BaseModel):
    """A validated plan with where it came from; `fingerprint` lets `--resume` refuse a changed plan."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    plan: Plan
    path: Path
    fingerprint: str
    # ${VAR}s that shell commands (hooks) reference, with their values: the commands keep the
    # text as written and get these through their environment, so the shell expands them.
    command_variables: dict[str, str] = Field(default_factory=dict, repr=False)
    # values never to be shown: URI passwords, hook variables, variables named like secrets
    secrets: tuple[str, ...] = Field(default=(), repr=False)

    def command_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a hook runs with: the process's (or `base`) plus the plan's variables."""
        return {**(os.environ if base is None else base), **self.command_variables}


# ---------------------------------------------------------------- loading


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
) -> LoadedPlan:
    """Read, expand and validate a plan; every problem is a PlanError naming file, line and field.

    A side's URI comes, first found: `*_uri` (e.g. `--target-uri`: visible in the process list,
    see `argv_password_warning`), `*_uri_file` (first line of a file), `*_uri_env` (the name of an
    environment variable), else the plan's `uri:` (`${VAR}` expanded) or `uri_file:` (a path,
    relative to the plan). Hook commands keep their `${VAR}` text: see LoadedPlan.command_env.

    `servers=False` is for commands that never connect (health, refresh-staging, history): an
    unset variable in `source.uri` / `target.uri` is then no error, the URI becomes a placeholder
    on the reserved `.invalid` domain (nothing can reach it) and the same-database check is moot.
    """
    path = Path(path)
    env = os.environ if env is None else env
    shown = str(path)
    source_uri = source_uri or _uri_from(source_uri_file, source_uri_env, env, "source")
    target_uri = target_uri or _uri_from(target_uri_file, target_uri_env, env, "target")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(shown, None, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(shown, None, None, f"cannot read: {exc}") from None
    tree = _parse_yaml(shown, text)
    _override_uri(tree, "source", source_uri)
    _override_uri(tree, "target", target_uri)
    seen = _Variables()
    _expand_env(shown, tree, env, seen=seen, lenient=frozenset() if servers else _URI_FIELDS)
    for side in ("source", "target"):
        _read_uri_file(shown, tree, side, path.parent)
    try:
        plan = Plan.model_validate(_plain(tree))
    except ValidationError as exc:
        raise _located(shown, tree, exc) from None
    if servers:
        _refuse_same_database(shown, tree, plan)
    secrets = _secrets(plan, seen)
    remember_secrets(*secrets)
    return LoadedPlan(
        plan=plan,
        path=path.resolve(),
        fingerprint=_fingerprint(tree),
        command_variables=seen.in_commands,
        secrets=tuple(secrets),
    )


# Shell commands keep `${VAR}` as written (shown, stored and hashed so); the shell expands them.
_COMMAND_FIELDS = re.compile(
    r"^(hooks\.(before_backup|before_cutover|after_cutover|on_failure)|staging_refresh\.commands)"
    r"\[\d+\](\.run)?$"
)
_SECRET_NAME = re.compile(r"(?i)(PASS|SECRET|TOKEN|KEY|CRED|AUTH|PRIVATE)")


class _Variables:
    """The ${VAR}s a plan references and their values (unset ones with a default are absent)."""

    def __init__(self) -> None:
        self.everywhere: dict[str, str] = {}
        self.in_commands: dict[str, str] = {}


def _secrets(plan: Plan, seen: _Variables) -> list[str]:
    """What must never be shown: URI passwords, every value a hook sees, secret-named values."""
    found = [*uri_secrets(plan.source.uri), *uri_secrets(plan.target.uri)]
    found += seen.in_commands.values()
    found += [v for k, v in seen.everywhere.items() if _SECRET_NAME.search(k) and "://" not in v]
    return sorted({s for s in found if s}, key=len, reverse=True)


def _uri_from(
    file: str | Path | None, env_name: str | None, env: Mapping[str, str], side: str
) -> str | None:
    if file is not None:
        return read_uri_file(Path(file), what=f"{side} URI file")
    if env_name is not None:
        if not env.get(env_name):
            raise UsageError(f"the {side} URI variable {env_name} is not set")
        return env[env_name]
    return None


def read_uri_file(path: Path, *, what: str = "URI file") -> str:
    """A URI kept in a file (0600, out of the process list and of shell history): its first line."""
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read the {what} {path}: {reason}") from None
    if not lines or not lines[0].strip():
        raise UsageError(f"the {what} {path} is empty")
    return lines[0].strip()


def argv_password_warning(uri: str | None, option: str) -> str | None:
    """The warning to print when a password came as a command-line argument (`--target-uri`)."""
    if not uri or redact_uri(uri) == uri:
        return None
    return (
        f"{option} carries a password: other users of this machine can read it in the process "
        f'list (ps). Prefer {option} env:NAME or {option} file:PATH, or uri: "${{VAR}}" / '
        "uri_file: PATH in the plan"
    )


def _read_uri_file(shown: str, tree: CommentedMap, side: str, base: Path) -> None:
    """`uri_file: PATH` in a side of the plan (relative to the plan's directory) becomes its uri."""
    node = tree.get(side)
    if not isinstance(node, CommentedMap) or "uri_file" not in node:
        return
    line = node.lc.key("uri_file")[0] + 1
    if "uri" in node and node.get("uri"):
        raise PlanError(shown, line, f"{side}.uri_file", "give either uri or uri_file, not both")
    file = Path(str(node["uri_file"])).expanduser()
    try:
        uri = read_uri_file(file if file.is_absolute() else base / file)
    except UsageError as exc:
        raise PlanError(shown, line, f"{side}.uri_file", exc.message) from None
    _set_uri(node, uri)


def _override_uri(tree: CommentedMap, side: str, uri: str | None) -> None:
    """--source-uri/--target-uri win over the plan, before expansion, so an unset variable is fine."""
    if uri and isinstance(tree.get(side), CommentedMap):
        _set_uri(tree[side], uri)


def _set_uri(node: CommentedMap, uri: str) -> None:
    """Set a side's uri, replacing a `uri_file:` key (whose line errors then point at)."""
    if "uri_file" in node:
        if "uri" not in node:
            node.insert(list(node.keys()).index("uri_file"), "uri", uri)
            node.lc.data["uri"] = node.lc.data["uri_file"]
        del node["uri_file"]
    node["uri"] = uri


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


_URI_FIELDS = frozenset({"source.uri", "target.uri"})


def _expand_env(
    shown: str,
    node: Any,
    env: Mapping[str, str],
    prefix: str = "",
    *,
    seen: _Variables,
    lenient: frozenset[str] = frozenset(),
) -> None:
    """Expand ${VAR} / ${VAR:-default} in every string value, naming any unset variable and its line.

    Shell commands are only checked (every variable set or defaulted), never expanded. In a
    `lenient` field an unset variable gives a placeholder URI instead of an error.
    """
    for key, value, line in _children(node):
        field = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}".lstrip(".")
        if isinstance(value, str):
            try:
                expanded = _expand_text(shown, value, env, line, field, seen)
            except PlanError:
                if field not in lenient:
                    raise
                expanded = _placeholder_uri(value)
            if _COMMAND_FIELDS.match(field):
                for m in _ENV_NAME.finditer(value):  # nested defaults' variables too
                    if m.group(1) in env:
                        seen.in_commands[m.group(1)] = env[m.group(1)]
            else:
                node[key] = expanded
        else:
            _expand_env(shown, value, env, field, seen=seen, lenient=lenient)


def _placeholder_uri(text: str) -> str:
    """`${PROD_MONGO_URI}` unset -> mongodb://prod-mongo-uri.unset.invalid (RFC 2606: never resolves)."""
    names = [m.group(1) for m in _ENV_NAME.finditer(text)] or ["uri"]
    return f"mongodb://{names[0].lower().replace('_', '-')}.unset.invalid"


def _expand_text(
    shown: str, text: str, env: Mapping[str, str], line: int, field: str, seen: _Variables
) -> str:
    """One pass, left to right; a default may itself hold ${VAR:-...} (`${A:-ssh ${HOST:-h}}`).
    A variable's value is used as it is, never expanded again."""
    return _expand_until(shown, text, 0, env, line, field, seen, nested=False)[0]


def _expand_until(
    shown: str,
    text: str,
    pos: int,
    env: Mapping[str, str],
    line: int,
    field: str,
    seen: _Variables,
    *,
    nested: bool,
) -> tuple[str, int]:
    """Expand from `pos` to the end (or, nested, to the `}` closing a default); (text, end)."""
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
            default, pos = _expand_until(shown, text, pos + 2, env, line, field, seen, nested=True)
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
        else:
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


def _fingerprint(tree: CommentedMap) -> str:
    """Hash of the expanded plan with URIs removed: credentials or a moved server don't count."""
    data = _plain(tree)
    for side in ("source", "target"):
        if isinstance(data.get(side), dict):
            data[side] = {k: v for k, v in data[side].items() if k != "uri"}
    canonical = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def bundled_plan_path() -> Path:
    """The Meeshy plan shipped with the package; the demo runs it."""
    return Path(__file__).parent.parent / "demo" / "meeshy-plan.yaml"
