"""The plan file (DESIGN.md §4): `model` (the pydantic sections), `load` (YAML read and validated, errors
naming file, line and field), `env` (${VAR} expansion, the values never shown), `uris` (where each
side's URI comes from). `from mongo_promote.domain.plan import X` reaches every public name; the
modules load on first use (the CLI's start-up and --help need none of pydantic)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mongo_promote.domain.plan.load import bundled_plan_path, load_plan
    from mongo_promote.domain.plan.model import (
        HOOK_STAGES,
        BackupSpec,
        CleanupSpec,
        CutoverSpec,
        EmbedSpec,
        EmbedTransform,
        Endpoint,
        FreezeSpec,
        HealthCheck,
        HealthGate,
        Hook,
        HooksSpec,
        IndexSpec,
        LoadedPlan,
        MissingVariable,
        NamePattern,
        Plan,
        ReferenceCheck,
        RewriteSpec,
        RewriteTransform,
        StagingRefresh,
        ValidateSpec,
        describe_missing,
        parse_duration,
    )
    from mongo_promote.domain.plan.uris import argv_password_warning, read_uri_file

DEFAULT_PLAN_PATH = "promote.yaml"

_MODULE_OF = {
    "bundled_plan_path": "load",
    "load_plan": "load",
    "HOOK_STAGES": "model",
    "BackupSpec": "model",
    "CleanupSpec": "model",
    "CutoverSpec": "model",
    "EmbedSpec": "model",
    "EmbedTransform": "model",
    "Endpoint": "model",
    "FreezeSpec": "model",
    "HealthCheck": "model",
    "HealthGate": "model",
    "Hook": "model",
    "HooksSpec": "model",
    "IndexSpec": "model",
    "LoadedPlan": "model",
    "MissingVariable": "model",
    "NamePattern": "model",
    "Plan": "model",
    "ReferenceCheck": "model",
    "RewriteSpec": "model",
    "RewriteTransform": "model",
    "StagingRefresh": "model",
    "ValidateSpec": "model",
    "describe_missing": "model",
    "parse_duration": "model",
    "argv_password_warning": "uris",
    "read_uri_file": "uris",
}


def __getattr__(name: str) -> Any:
    """A public name, from its module, imported on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


__all__ = [
    "DEFAULT_PLAN_PATH",
    "HOOK_STAGES",
    "BackupSpec",
    "CleanupSpec",
    "CutoverSpec",
    "EmbedSpec",
    "EmbedTransform",
    "Endpoint",
    "FreezeSpec",
    "HealthCheck",
    "HealthGate",
    "Hook",
    "HooksSpec",
    "IndexSpec",
    "LoadedPlan",
    "MissingVariable",
    "NamePattern",
    "Plan",
    "ReferenceCheck",
    "RewriteSpec",
    "RewriteTransform",
    "StagingRefresh",
    "ValidateSpec",
    "argv_password_warning",
    "bundled_plan_path",
    "describe_missing",
    "load_plan",
    "parse_duration",
    "read_uri_file",
]
