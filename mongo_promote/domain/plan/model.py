"""The plan's model (DESIGN.md §4): pydantic sections that refuse unknown keys, and the derived views the steps use."""

from __future__ import annotations

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
    field_validator,
    model_validator,
)

from mongo_promote.adapters.mongo import NETWORK_TIMEOUT_S
from mongo_promote.errors import MissingVariables

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


# ---------------------------------------------------------------- value types


def parse_duration(value: Any) -> timedelta:
    """Durations are written the way operators say them (`48h`, `30s`); bare numbers mean seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _DURATION_UNITS[m.group(2)])
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 48h, 2d)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


OptionsPolicy = Literal["exact", "best_effort"]


def _policy_patterns(value: Any) -> Any:
    """`options: {Name: best_effort, "re:^Log": best_effort}`: every key a name or a valid pattern."""
    if isinstance(value, Mapping):
        for key in value:
            _pattern(key)
    return value


class Selection(_Model):
    include: list[Pattern] = Field(default_factory=lambda: [NamePattern("re:.*")])
    exclude: list[Pattern] = Field(default_factory=list)
    legacy: list[Pattern] = Field(default_factory=list)
    # collection options (validator, collation, capped, ...) a target does not keep: `exact`
    # (default) refuses the run, `best_effort` lets it go on and reports each one lost; one
    # policy for every collection, or by name / `re:` pattern (the first key that matches)
    options: Annotated[
        OptionsPolicy | dict[str, OptionsPolicy], BeforeValidator(_policy_patterns)
    ] = "exact"

    def options_policy(self, name: str) -> OptionsPolicy:
        if isinstance(self.options, str):
            return self.options
        for key, policy in self.options.items():
            if NamePattern(key).matches(name):
                return policy
        return "exact"


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
    # a parent the fold would push past 16 MB: `fail` (refused before anything is copied),
    # `skip_children` (written with the entries that fit, in map order; the rest reported) or
    # `report` (written without this embed's entries, as its source holds it; reported)
    on_oversize: Literal["fail", "skip_children", "report"] = "fail"
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


class CutoverSpec(_Model):
    """How the cutover replaces a live collection. `keep_previous` (default): renamed aside as
    `<name>__prev_<run-id>` and kept until cleanup, so a rollback is a swap of names; false: one
    atomic `dropTarget` rename where the server has it, and a rollback restores from the backup."""

    keep_previous: bool = True


HealthGate = Literal["off", "report", "rollback"]


HOOK_STAGES = ("before_backup", "before_cutover", "after_cutover", "on_failure")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


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
    backoff: PositiveDuration = timedelta(
        seconds=1
    )  # first wait; doubles, capped (adapters/health.py)
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


class FreezeSpec(_Model):
    """The application's write freeze (DESIGN.md §5, issue 17): `start` returns once writes have
    stopped, `end` lets them resume; between the two the run catches up its backup and cuts over.
    Commands are like hooks: kept as written, run by `sh -c` with the plan's variables in their
    environment, each with its own timeout or `timeout`. `max_window`: a pre-pass estimate of the
    frozen work over it stops the run before `start`."""

    start_: CommandList = Field(alias="start", min_length=1)
    end_: CommandList = Field(alias="end", min_length=1)
    max_window: PositiveDuration | None = None
    timeout: PositiveDuration = timedelta(minutes=5)

    model_config = ConfigDict(populate_by_name=False)

    @property
    def start(self) -> list[Hook]:
        """freeze.start's commands in order, each with its timeout."""
        return _resolve("freeze.start", self.start_, self.timeout)

    @property
    def end(self) -> list[Hook]:
        """freeze.end's commands in order, each with its timeout."""
        return _resolve("freeze.end", self.end_, self.timeout)


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
    cutover: CutoverSpec = Field(default_factory=CutoverSpec)
    health: list[HealthCheck] = Field(default_factory=list)
    # after the after_cutover hooks: the health checks, and on failure nothing (off), exit 1
    # (report) or an instant rollback then exit 1 (rollback)
    health_gate: HealthGate = "off"
    staging_refresh: StagingRefresh | None = None
    # the longest wait for a server's answer to one request (--network-timeout wins; a URI's
    # own socketTimeoutMS/timeoutMS is honoured for its server): adapters/mongo.Bounds
    network_timeout: PositiveDuration = timedelta(seconds=NETWORK_TIMEOUT_S)
    # index builds, counting scans, sorted reads: this bound instead of one from the collection's size
    long_operation_timeout: PositiveDuration | None = None
    freeze: FreezeSpec | None = None

    @model_validator(mode="after")
    def _gate_has_checks(self) -> Plan:
        if self.health_gate != "off" and not self.health:
            raise ValueError(
                f"health_gate: {self.health_gate} needs health checks (a `health:` list of "
                "{name, url, ...})"
            )
        return self

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


@dataclass(frozen=True)
class MissingVariable:
    """A variable a command or health check URL of the plan needs, unset: where it is used."""

    name: str
    field: str  # hooks.after_cutover[0], health[1].url, freeze.start[0], ...
    line: int

    @property
    def scope(self) -> str:
        """hooks, freeze, health or staging_refresh: which commands need it."""
        return self.field.split(".")[0].split("[")[0]


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
    # variables that commands (hooks, freeze, staging refresh) or health URLs need, unset
    missing: tuple[MissingVariable, ...] = ()

    def command_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a hook runs with: the process's (or `base`) plus the plan's variables."""
        return {**(os.environ if base is None else base), **self.command_variables}

    def missing_for(self, *scopes: str) -> list[MissingVariable]:
        """The unset variables the plan's `scopes` (hooks, freeze, health, staging_refresh) need."""
        return [m for m in self.missing if m.scope in scopes]

    def require(self, *scopes: str, doing: str, otherwise: str = "") -> None:
        """Refuse (exit 2, before any connection) when `scopes` need unset variables: every one
        is named at once, with where the plan uses it."""
        missing = self.missing_for(*scopes)
        if missing:
            raise MissingVariables(
                f"{doing}: {describe_missing(missing)}; set them"
                + (f", or {otherwise}" if otherwise else "")
                + "; nothing was touched"
            )


def describe_missing(missing: list[MissingVariable]) -> str:
    """`A (hooks.after_cutover[0], line 90), B (...) are not set`: one line, each name once."""
    where: dict[str, list[str]] = {}
    for m in missing:
        where.setdefault(m.name, []).append(f"{m.field}, line {m.line}")
    names = [f"{name} ({'; '.join(fields)})" for name, fields in where.items()]
    verb = "is" if len(names) == 1 else "are"
    return f"{', '.join(names)} {verb} not set"
