"""The plan file (DESIGN.md §4): `model` (the pydantic sections), `load` (YAML read and validated, errors
naming file, line and field), `env` (${VAR} expansion, the values never shown), `uris` (where each
side's URI comes from). `from mongo_promote.domain.plan import X` reaches every public name."""

from mongo_promote.domain.plan.load import DEFAULT_PLAN_PATH, bundled_plan_path, load_plan
from mongo_promote.domain.plan.model import (
    HOOK_STAGES,
    BackupSpec,
    CleanupSpec,
    CutoverSpec,
    EmbedSpec,
    EmbedTransform,
    Endpoint,
    HealthCheck,
    HealthGate,
    Hook,
    HooksSpec,
    IndexSpec,
    LoadedPlan,
    NamePattern,
    Plan,
    ReferenceCheck,
    RewriteSpec,
    RewriteTransform,
    StagingRefresh,
    ValidateSpec,
)
from mongo_promote.domain.plan.uris import argv_password_warning, read_uri_file

__all__ = [
    "DEFAULT_PLAN_PATH",
    "HOOK_STAGES",
    "BackupSpec",
    "CleanupSpec",
    "CutoverSpec",
    "EmbedSpec",
    "EmbedTransform",
    "Endpoint",
    "HealthCheck",
    "HealthGate",
    "Hook",
    "HooksSpec",
    "IndexSpec",
    "LoadedPlan",
    "NamePattern",
    "Plan",
    "ReferenceCheck",
    "RewriteSpec",
    "RewriteTransform",
    "StagingRefresh",
    "ValidateSpec",
    "argv_password_warning",
    "bundled_plan_path",
    "load_plan",
    "read_uri_file",
]
