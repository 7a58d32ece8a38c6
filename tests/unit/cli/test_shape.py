"""The CLI package stays thin: small modules that reach the library only through `api`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mongo_promote.cli

CLI_DIR = Path(mongo_promote.cli.__file__).parent
FORBIDDEN = (
    "mongo_promote.run",
    "mongo_promote.steps",
    "mongo_promote.domain.transforms",
)
COMMANDS = (
    "inspect",
    "run",
    "validate",
    "backup",
    "restore",
    "rollback",
    "seed",
    "demo",
    "servers",
    "health",
    "refresh_staging",
    "cleanup",
    "history",
)


def cli_modules() -> list[Path]:
    return sorted(CLI_DIR.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_one_module_per_command() -> None:
    assert {p.stem for p in cli_modules()} >= set(COMMANDS)


def test_no_cli_module_exceeds_150_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in cli_modules()}
    assert sizes and max(sizes.values()) <= 150, sizes


def test_the_cli_never_imports_the_runner_steps_or_transforms() -> None:
    leaks = {
        f"{path.name}: {module}"
        for path in cli_modules()
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN)
    }
    assert not leaks, sorted(leaks)


def test_the_ast_check_would_see_a_function_level_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from mongo_promote.run.runner import Runner\n    return Runner\n")
    assert "mongo_promote.run.runner" in imported_modules(sneaky)
    sneaky.write_text("from mongo_promote.run import runner\n")
    assert any(m.startswith(FORBIDDEN) for m in imported_modules(sneaky))


def test_every_command_has_an_integration_test_that_invokes_it() -> None:
    """Issue 16: a CLI test for every command (real servers, exit code and output asserted)."""
    cli_tests = Path(__file__).parents[2] / "integration" / "cli"
    text = "\n".join(p.read_text() for p in cli_tests.glob("test_*.py"))
    untested = [
        command
        for command in COMMANDS
        if not re.search(r'[\[(]\s*"' + command.replace("_", "-") + '"', text)
    ]
    assert not untested, untested
