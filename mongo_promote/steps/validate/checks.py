"""What validation finds: one Check per finding, and the report that gathers them (the run's and `validate`'s)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mongo_promote.domain.transforms.bsonbytes import jsonable

SAMPLES = 5
BATCH = 1000


@dataclass
class Check:
    kind: str  # count, checksum, content, rewrite, indexes, references
    collection: str
    passed: bool
    detail: str
    samples: list[Any] = field(default_factory=list)
    severity: str = "error"  # a failed "warning" does not fail the run


@dataclass
class ValidationReport:
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # content hash of each collection checked as it was read (cutover's fingerprint of a shadow)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks if c.severity == "error")

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    def summary(self) -> str:
        failed = self.failures()
        return (
            "; ".join(f"{c.collection} {c.kind}: {c.detail}" for c in failed) or "all checks passed"
        )

    def collection_checks(self) -> dict[str, str]:
        """One word per collection for the summary table."""
        result: dict[str, str] = {}
        for c in self.checks:
            if c.kind in ("count", "checksum", "content"):
                previous = result.get(c.collection, "ok")
                result[c.collection] = previous if c.passed else f"FAILED {c.kind}"
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": self.counts,
            "hashes": self.hashes,
            "checks": [jsonable(asdict(c)) for c in self.checks],
        }
