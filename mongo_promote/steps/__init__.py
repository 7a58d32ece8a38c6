"""The Steps of a run, one module each (validate: a package); each can plan (the dry-run) and apply."""
