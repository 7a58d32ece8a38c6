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

# pydantic: validators it calls itself.
_._head_has_no_body  # plan.HealthCheck
_._not_negative  # plan.StagingRefresh
# pydantic: plan fields of the contract (DESIGN.md §4), parsed and validated by pydantic; the hook
# stages are read through HooksSpec.stage() (getattr) and the stage properties by the runner's hooks.
_.before_backup_
_.before_cutover_
_.after_cutover_
_.on_failure_
_.before_backup
_.before_cutover
_.after_cutover
_.on_failure
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
_.after_run  # steps/cleanup.CleanupResult
_.final_url  # health.CheckResult (health --json)

# The generator's server-less entry points: the data set and its manifest without writing anywhere
# (the unit tests check determinism and the manifest through them).
_.iter_dataset
_.SNAKE_CASE_MODELS  # the live models @@map'ped to snake_case, which the tests check by name
_.build_manifest

# io protocol: the streaming decryptor is read by gzip/io, which ask readable().
_.readable
# pydantic validators (plan.py), called by pydantic.
_._age_recipients
_._not_negative
_._head_has_no_body
# The generator's list of the live snake_case models, which the tests check the plan against.
_.SNAKE_CASE_MODELS
_.pids  # servers.LocalServer: every process of a server, for the benchmarks' CPU accounting (bench/)
