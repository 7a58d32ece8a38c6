"""One module per step of a run; each can plan (dry-run) and apply."""
