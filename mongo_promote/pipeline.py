"""Kept only until the CLI package lands: the old `pipeline.run` entry point, now `api.run`."""

from mongo_promote.api import RunOptions, RunOutcome, run

__all__ = ["RunOptions", "RunOutcome", "run"]
