"""The validate step of `run`: every shadow against the source before cutover, collections side by side."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mongo_promote.adapters.mongo import long_operation
from mongo_promote.checksum import ContentHash
from mongo_promote.domain.analysis import Actions, CollectionAction
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase
from mongo_promote.steps.validate.checks import Check, ValidationReport
from mongo_promote.steps.validate.content import (
    ReadBack,
    checksum_check,
    count_check,
    read_back,
    transformed_checks,
    written_checks,
)
from mongo_promote.steps.validate.indexes import index_check
from mongo_promote.steps.validate.options import options_check
from mongo_promote.steps.validate.references import reference_check

if TYPE_CHECKING:
    from mongo_promote.steps.copy import CopyResult


class ValidateStep(StepBase):
    """One action: every shadow against the source; any failed check stops the run before cutover."""

    title = "validate the shadows against the source"
    kind = "validate"
    builds_shadows = True

    def __init__(self, state: RunState, analysis: Actions) -> None:
        super().__init__(state)
        self.analysis = analysis

    def plan(self, ctx: RunContext) -> list[Action]:
        spec = ctx.plan.validate_
        checks = ["counts"] * spec.counts + ["content"] + ["indexes", "collection options"]
        checks += ["references"] * bool(spec.references)
        return [
            self.action(
                "validate",
                f"validate {len(self.analysis.collections)} shadow(s) against the source: "
                + ", ".join(checks),
            )
        ]

    def read_back(self, ctx: RunContext, copied: CopyResult) -> None:
        """Read a shadow back as soon as its copy is done (`CopyStep(after_each=...)`), in the
        copy's worker: its read overlaps the copies still running instead of following them.
        Not read when validation would not read it either (counts only, nothing transformed)."""
        if copied.verification is None and not ctx.plan.validate_.checksums:
            return
        # Looked up at call time, so a test can stand between the copy and the read.
        self.state.read_backs[copied.name] = read_back(ctx, copied.name)

    def apply(self, ctx: RunContext, action: Action) -> Result:
        # Looked up at call time, so a test can stand between the run and the check.
        validation = validate_shadows(
            ctx, self.analysis, self.state.copied, read_backs=self.state.read_backs
        )
        result = {"validation": validation.to_json(), "checks": validation.collection_checks()}
        self.resume(ctx, action, result)
        if not validation.passed:
            raise OperationFailed("validation failed before cutover: " + validation.summary())
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        report = self.state.report
        report.validation = result["validation"]
        self.state.shadow_hashes.update(result["validation"].get("hashes", {}))
        for name, check in result["checks"].items():
            report.collection(name)["check"] = check
        self.state.counts.update(result["validation"]["counts"])


def validate_shadows(
    ctx: RunContext,
    actions: Actions,
    copied: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    read_backs: Mapping[str, ReadBack] | None = None,
) -> ValidationReport:
    """Shadows against the source, before cutover: any failed check stops the run.

    `copied` holds what the copy saw (steps/copy.py): the content hash of the documents it
    wrote and its verification of each transformed one. With it a shadow is read once, raw,
    and its hash compared; without it (a journal from an older version) the source is read
    again and transformed here. `read_backs` are shadows already read that way right after
    their copy; the others are read now.
    """
    names = {a.name: ctx.shadow_name(a.name) for a in actions.collections}
    return validate_collections(ctx, actions, names, copied or {}, read_backs or {})


def validate_collections(
    ctx: RunContext,
    actions: Actions,
    names: dict[str, str],
    copied: Mapping[str, Mapping[str, Any]],
    read_backs: Mapping[str, ReadBack],
) -> ValidationReport:
    """Collections are checked side by side (ctx.workers at once, biggest first so the longest
    starts earliest): each check is independent."""
    report = ValidationReport()
    biggest = sorted(actions.collections, key=lambda a: (a.source_size, a.source_count))[::-1]
    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="validate") as pool:
        futures = {
            a.name: pool.submit(
                _collection_checks,
                ctx,
                a,
                names[a.name],
                copied.get(a.name, {}),
                read_backs.get(a.name),
            )
            for a in biggest
        }
    results = [futures[a.name].result() for a in actions.collections]
    for action, (count, checks, content_hash) in zip(actions.collections, results, strict=True):
        report.counts[action.name] = count
        report.checks.extend(checks)
        if content_hash is not None:
            report.hashes[action.name] = content_hash
    for ref in ctx.plan.validate_.references:
        report.checks.append(reference_check(ctx, ref, names))
    return report


def _collection_checks(
    ctx: RunContext,
    action: CollectionAction,
    target_name: str,
    copied: Mapping[str, Any],
    done: ReadBack | None = None,
) -> tuple[int, list[Check], str | None]:
    """The collection's checks, and its content hash when one was computed."""
    ctx.check_cancelled()
    ctx.out.detail(f"  validating {action.name}")
    spec = ctx.plan.validate_
    target = ctx.target_db[target_name]
    source = ctx.source_db[action.name]
    checks: list[Check] = []
    found: ContentHash | None = None
    if action.transformed and copied.get("verification") is not None:
        found, content_checks = written_checks(ctx, action, target, copied, done)
        checks.extend(content_checks)
    elif action.transformed:
        checks.extend(transformed_checks(ctx, action, target))
    elif spec.checksums:
        found, check = checksum_check(action.name, source, target, done, copied.get("content_hash"))
        checks.append(check)
    # Counted on the pass that hashed it, and the source as its copy read it: a count_documents
    # is a whole scan on FerretDB v1. Without those, counted here.
    sizes = {"size": action.source_size, "documents": action.source_count}
    if found is not None:
        count = found.count
    else:
        with long_operation(target, **sizes):  # a counting scan (FerretDB v1 reads everything)
            count = target.count_documents({})
    if spec.counts:
        read = copied.get("count") if found is not None else None
        if read is not None:
            expected = int(read)
        else:
            with long_operation(source, **sizes):
                expected = source.count_documents({})
        checks.insert(0, count_check(action.name, expected, count))
    checks.append(index_check(ctx, action, target))
    checks.append(options_check(ctx, action, target))
    return count, checks, found.hexdigest() if found is not None else None
