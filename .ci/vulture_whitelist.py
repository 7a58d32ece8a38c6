"""Names vulture cannot see used: called or read by a framework or a reader outside the package (pyproject)."""

# ruff: noqa: B018
# mypy: ignore-errors
_ = object()

# pydantic: model configuration and the validators it calls itself (domain/plan/model.py).
_.model_config
_._looks_like_mongodb  # Endpoint
_._valid_directions  # IndexSpec
_._age_recipients  # BackupSpec
_._head_has_no_body  # HealthCheck
_._not_negative  # StagingRefresh
_._gate_has_checks  # Plan (health_gate needs health checks)
# pydantic: plan fields of the contract (DESIGN.md §4), parsed and validated by pydantic; the hook
# stages are read through HooksSpec.stage() (getattr), the properties by readers of the plan.
_.before_backup_
_.before_cutover_
_.after_cutover_
_.on_failure_
_.before_backup
_.before_cutover
_.after_cutover
_.on_failure

# pymongo: CommandListener.succeeded, called by the driver's command monitoring (adapters/mongo.Asked).
_.succeeded

# Rich: ProgressColumn.render, called by Rich's progress display (steps/copy.py).
_.render

# io protocol: the streaming decryptor is read by gzip/io, which ask readable() (adapters/dump/encryption.py).
_.readable

# Signatures fixed by the caller: __exit__(exc_type, exc, tb) (adapters/dump/writer.DumpWriter).
_.tb

# Dataclass fields written to JSON through dataclasses.asdict (reports, manifest.json, --json
# results): read by users, tests and other tools, never by attribute in this package.
_.tool  # adapters/dump/manifest.Manifest
_.created_at
_.final_url  # adapters/health.CheckResult (health --json)
_.dump_database  # api.RestoreResult
_.put_back_uuid  # steps/swap.Swap: in a rollback's journal header, read back by state/journal.py
_.put_back_fingerprint
_.target_size  # domain/analysis.CollectionAction
_.oversize_skipped  # domain/transforms/fold.EmbedStats (report.json, the dry-run's --json)
_.children_read  # domain/transforms/fold.EmbedStats
_.parents_seen
_.parents_updated
_.existing_kept  # (on_existing)
_.existing_replaced
_.invalid_keys
_.no_key
_.null_maps_replaced
_.non_map_parents
_.documents_scanned  # domain/transforms/rewrite.RewriteStats
_.documents_changed
_.content_hashes  # steps/backup.BackupResult
_.after_run  # steps/cleanup.CleanupResult
_.window_ms  # steps/cutover.CutoverResult

# Read by the benchmarks (bench/), outside the package: every process of a local server, for CPU
# accounting (adapters/servers.LocalServer).
_.pids

# Called only by tests (tests/unit/test_generator.py): the data set's manifest without a server.
# Not a framework's name: issue 16 (item 7) asks for such names to leave this list; it stays until
# someone decides whether the tests or demo/generator.py should own it.
_.build_manifest

# A reader outside the package: steps/swap.undo_renames is the function a frozen cutover's failure
# calls to undo the renames made so far (the freeze, issue 17); tests call it today.
_.undo_renames

# http.server calls these by name (demo/gateway.py: the demo's local stand-in for the gateway)
_.do_GET
_.log_message

# Python calls a module's __getattr__ for a name it lacks (PEP 562): domain/plan/__init__.py loads
# its modules on first use.
__getattr__
