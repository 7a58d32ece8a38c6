"""Executing a run: the steps in order (sequence), the runner, failures mapped to exit codes, what a
rollback may undo (rollback), and the staging runbook (refresh)."""
