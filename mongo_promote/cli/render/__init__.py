"""Everything the commands show a person, built from the library's plain results: tables and
lines (Rich is imported here and in `console`, nowhere else). One module per concern."""
