"""Names vulture cannot see used: called or read by a framework, never by our own code (see pyproject)."""

# ruff: noqa: B018
# mypy: ignore-errors
_ = object()

# Typer: command functions registered with a decorator (the others are registered by reference).
_.stop  # cli/servers.py `servers stop`

# pydantic: model configuration and validators it calls itself.
_.model_config
_._looks_like_mongodb
_._valid_directions

# pydantic: plan fields of the contract (DESIGN.md §4), parsed and validated by pydantic; the commands
# that read them (cleanup, health, refresh-staging) are not built yet.
_.cleanup
_.min_age
_.health
_.url
_.expect_status
_.max_latency_ms
_.retries
_.interval
_.staging_refresh
_.commands

# Rich: ProgressColumn.render, called by Rich's progress display.
_.render

# Signatures fixed by the caller: __exit__(exc_type, exc, tb), signal handlers (signum, frame).
_.tb
_.frame

# Dataclass fields written to JSON through dataclasses.asdict (reports, manifest.json, --json
# results): read by users, tests and other tools, never by attribute in this package.
_.tool  # dumpfmt.Manifest
_.created_at
_.format
_.resumed  # report.RunReport
_.target_size  # steps/analyse.CollectionAction
_.verified  # steps/backup.BackupResult, steps/restore.RestoreResult
_.content_hashes
_.dump_database
_.window_ms  # steps/cutover
_.children_read  # transforms EmbedStats
_.parents_seen
_.parents_updated
_.invalid_keys
_.no_key
_.null_maps_replaced
_.non_map_parents
_.documents_changed  # transforms RewriteStats
_.remaining
_.method  # steps/cutover.CutoverResult
_.existing_kept  # transforms/fold.EmbedStats (on_existing)
_.existing_replaced
_.documents_scanned  # transforms/rewrite.RewriteStats

# The generator's server-less entry points: the data set and its manifest without writing anywhere
# (the unit tests check determinism and the manifest through them).
_.iter_dataset
_.build_manifest

# io protocol: the streaming decryptor is read by gzip/io, which ask readable().
_.readable
# pydantic validators (plan.py), called by pydantic.
_._age_recipients
_._not_negative
_._head_has_no_body
# The generator's list of the live snake_case models, which the tests check the plan against.
_.SNAKE_CASE_MODELS
