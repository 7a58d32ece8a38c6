"""Which variables a shell command needs: what `sh -c COMMAND` would expand from an unset variable.

Hooks, freeze and runbook commands keep their `${VAR}` text and run with the plan's variables in
their environment, so the shell decides what is used: `${A}` and `$A` need A (set, not empty);
`${A:-word}` needs only what `word` needs, and only when A is unset or empty (`${A-word}`: when
A is unset); `${A:+word}` needs what `word` needs when A is set; `${A:?}` needs A. Single-quoted
text is not expanded (`ssh host 'echo $HOME'` expands $HOME on the remote side, not here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the shell sets itself: never missing.
SHELL_VARIABLES = frozenset(
    "PPID PWD OLDPWD IFS OPTIND OPTARG LINENO RANDOM SECONDS PS1 PS2 PS4 UID EUID".split()
)
_OPERATOR = re.compile(r":?[-=?+]|##?|%%?")


_ASSIGNED = re.compile(
    r"\bfor\s+([A-Za-z_]\w*)\s+in\b"  # for f in ...
    r"|(?:^|[\s;&|(])([A-Za-z_]\w*)="  # NAME=value, export NAME=value
    r"|\bread\s+(?:-\w+\s+)*([A-Za-z_]\w*)"  # read NAME
)


def needed_variables(command: str, env: Mapping[str, str]) -> list[str]:
    """The variables `command` would expand while unset (or empty), in order, each once; those
    the command sets itself (a loop variable, an assignment, `read`) are not needed."""
    found: list[str] = []
    own = {name for match in _ASSIGNED.finditer(command) for name in match.groups() if name}
    given = {**dict.fromkeys(SHELL_VARIABLES | own, "set"), **env}
    _Scanner(command, given, found).scan(0, closing=None)
    return list(dict.fromkeys(found))


class _Scanner:
    def __init__(self, text: str, env: Mapping[str, str], found: list[str]) -> None:
        self.text, self.env, self.found = text, env, found

    def scan(self, pos: int, *, closing: str | None, collect: bool = True) -> int:
        """Expansions from `pos` to the end, or to the `}` closing a `${...}` word; the position
        after it. With `collect` False the word is only skipped (its default is not used)."""
        text = self.text
        quoted = False  # inside "double quotes": single quotes are plain characters there
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                pos += 2
            elif char == "'" and not quoted:
                end = text.find("'", pos + 1)
                pos = len(text) if end < 0 else end + 1
            elif char == '"':
                quoted, pos = not quoted, pos + 1
            elif char == "}" and closing and not quoted:
                return pos + 1
            elif char == "$":
                pos = self.dollar(pos + 1, collect)
            else:
                pos += 1
        return pos

    def dollar(self, pos: int, collect: bool) -> int:
        text = self.text
        if text.startswith("{", pos):
            return self.braced(pos + 1, collect)
        name = _NAME.match(text, pos)
        if name is None:
            return pos  # $(, $$, $1, $?: not a variable of ours
        if collect and not self.env.get(name.group()):
            self.found.append(name.group())
        return name.end()

    def braced(self, pos: int, collect: bool) -> int:
        """`${NAME...}`: which words count depends on the operator and whether NAME is set."""
        text = self.text
        name = _NAME.match(text, pos)
        if name is None:  # ${#A}, ${!A}, ${1}: nothing we require
            return self.scan(pos, closing="}", collect=False)
        var, pos = name.group(), name.end()
        if text.startswith("}", pos):
            if collect and not self.env.get(var):
                self.found.append(var)
            return pos + 1
        op = _OPERATOR.match(text, pos)
        if op is None:
            return self.scan(pos, closing="}", collect=False)
        kind = op.group()
        unset = var not in self.env
        empty = unset or not self.env[var]
        missing = empty if kind.startswith(":") else unset
        if kind.lstrip(":") in ("-", "="):  # the word stands in for a missing variable
            return self.scan(op.end(), closing="}", collect=collect and missing)
        if kind.lstrip(":") == "+":  # the word is used when the variable is there
            return self.scan(op.end(), closing="}", collect=collect and not missing)
        if collect and (missing if kind.lstrip(":") == "?" else unset):
            self.found.append(var)  # ${A:?message}, or a trim of A (${A#x}, ${A%x})
        return self.scan(op.end(), closing="}", collect=False)
