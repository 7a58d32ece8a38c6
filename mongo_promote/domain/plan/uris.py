"""Where each side's URI comes from: an option, a file (0600), an environment variable, or the plan."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from mongo_promote.errors import PlanError, UsageError
from mongo_promote.redact import redact_uri


def uri_from(
    file: str | Path | None, env_name: str | None, env: Mapping[str, str], side: str
) -> str | None:
    if file is not None:
        return read_uri_file(Path(file), what=f"{side} URI file")
    if env_name is not None:
        if not env.get(env_name):
            raise UsageError(f"the {side} URI variable {env_name} is not set")
        return env[env_name]
    return None


def read_uri_file(path: Path, *, what: str = "URI file") -> str:
    """A URI kept in a file (0600, out of the process list and of shell history): its first line."""
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read the {what} {path}: {reason}") from None
    if not lines or not lines[0].strip():
        raise UsageError(f"the {what} {path} is empty")
    return lines[0].strip()


def argv_password_warning(uri: str | None, option: str) -> str | None:
    """The warning to print when a password came as a command-line argument (`--target-uri`)."""
    if not uri or redact_uri(uri) == uri:
        return None
    return (
        f"{option} carries a password: other users of this machine can read it in the process "
        f'list (ps). Prefer {option} env:NAME or {option} file:PATH, or uri: "${{VAR}}" / '
        "uri_file: PATH in the plan"
    )


def read_plan_uri_file(shown: str, tree: CommentedMap, side: str, base: Path) -> None:
    """`uri_file: PATH` in a side of the plan (relative to the plan's directory) becomes its uri."""
    node = tree.get(side)
    if not isinstance(node, CommentedMap) or "uri_file" not in node:
        return
    line = node.lc.key("uri_file")[0] + 1
    if "uri" in node and node.get("uri"):
        raise PlanError(shown, line, f"{side}.uri_file", "give either uri or uri_file, not both")
    file = Path(str(node["uri_file"])).expanduser()
    try:
        uri = read_uri_file(file if file.is_absolute() else base / file)
    except UsageError as exc:
        raise PlanError(shown, line, f"{side}.uri_file", exc.message) from None
    _set_uri(node, uri)


def override_uri(tree: CommentedMap, side: str, uri: str | None) -> None:
    """--source-uri/--target-uri win over the plan, before expansion, so an unset variable is fine."""
    if uri and isinstance(tree.get(side), CommentedMap):
        _set_uri(tree[side], uri)


def _set_uri(node: CommentedMap, uri: str) -> None:
    """Set a side's uri, replacing a `uri_file:` key (whose line errors then point at)."""
    if "uri_file" in node:
        if "uri" not in node:
            node.insert(list(node.keys()).index("uri_file"), "uri", uri)
            node.lc.data["uri"] = node.lc.data["uri_file"]
        del node["uri_file"]
    node["uri"] = uri
