"""Executing a run: the steps in order (sequence), the runner, failures mapped to exit codes."""
