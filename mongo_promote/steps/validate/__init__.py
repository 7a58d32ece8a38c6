"""Validation: the validate step of `run` (shadows against the source before cutover) and `validate`
on the live target after it (the same checks, plus what production changed since and a URL audit).

Modules: `step` (the step and the per-collection checks it runs side by side), `checks` (Check,
ValidationReport), `content` (counts, content hashes, transformed documents), `indexes`,
`references`, `live` (`validate` after cutover).
"""

from mongo_promote.steps.validate.checks import Check, ValidationReport
from mongo_promote.steps.validate.indexes import compare_indexes
from mongo_promote.steps.validate.live import (
    MonitoringReport,
    kept_aside_changes,
    monitor,
    validate_live,
)
from mongo_promote.steps.validate.step import ValidateStep, validate_shadows

__all__ = [
    "Check",
    "MonitoringReport",
    "ValidateStep",
    "ValidationReport",
    "compare_indexes",
    "kept_aside_changes",
    "monitor",
    "validate_live",
    "validate_shadows",
]
