"""Layers that point down: the store alone speaks SQL (no module outside src/syndicator/store/ reads the
tables or builds statements), and the store imports nothing from the layers above it. ruff's banned-api
(pyproject.toml) says the first as one edits; these tests read every import, function-level ones too."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "syndicator"
SCHEMA = "syndicator.store.schema"
STATEMENTS = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "exists"}
ABOVE_THE_STORE = ("mail", "web", "publish", "ingest")


def _modules(*, in_store: bool) -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if (path.relative_to(SRC).parts[0] == "store") is in_store:
            yield path


def _imports(path: Path) -> Iterator[tuple[int, str, set[str]]]:
    """(line, module, names imported from it) of every import in the file, relative ones resolved."""
    package = ["syndicator", *path.relative_to(SRC).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, set()
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = {alias.name for alias in node.names}
            yield node.lineno, module, names
            for name in names:  # `from syndicator.store import schema` names the module itself
                yield node.lineno, f"{module}.{name}", set()


def test_no_module_outside_the_store_reads_tables_or_builds_statements() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: {module} {sorted(names)}"
        for path in _modules(in_store=False)
        for line, module, names in _imports(path)
        if module == SCHEMA or (module == "sqlalchemy" and names & STATEMENTS)
    ]
    assert found == []


def test_the_store_imports_nothing_from_the_layers_above_it() -> None:
    above = tuple(f"syndicator.{layer}" for layer in ABOVE_THE_STORE)
    found = [
        f"{path.relative_to(SRC)}:{line}: {module}"
        for path in _modules(in_store=True)
        for line, module, _ in _imports(path)
        if module in above or module.startswith(tuple(f"{a}." for a in above))
    ]
    assert found == []


def test_ruff_bans_the_same_imports_outside_the_store() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    banned = set(config["flake8-tidy-imports"]["banned-api"])
    assert banned == {SCHEMA} | {f"sqlalchemy.{name}" for name in STATEMENTS}
    assert "TID251" in config["select"] or "TID" in config["select"]
    ignored = {pattern for pattern, rules in config["per-file-ignores"].items() if "TID251" in rules}
    assert not any(pattern.startswith("src/") and "store" not in pattern for pattern in ignored)
