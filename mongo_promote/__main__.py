"""Lets `python -m mongo_promote` behave exactly like the `mongo-promote` command."""

from mongo_promote.cli import main

if __name__ == "__main__":
    main()
