"""Layers that point down: the store alone speaks SQL (no module outside src/syndicator/store/ reads the
tables or builds statements), every import points down the picture of docs/architecture.md (the store
imports nothing from mail, web, publish or ingest; mail nothing from web), and no modules import each
other in a cycle. ruff's banned-api (pyproject.toml) says the first as one edits; these tests read
every import, function-level ones too."""

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


# The picture of docs/architecture.md, as ranks: a module may import its own rank and those below.
RANKS = {
    "cli": 6, "jobs": 6, "__main__": 6,
    "service": 5,
    "web": 4,
    "publish": 3,
    "mail": 2, "ingest": 2, "leader": 2,
    "feeds": 1, "store": 1,
}  # fmt: skip
BOTTOM = 0  # the other modules directly under src/syndicator/: model, text, links, config, ...
SIDEWAYS = {("mail", "ingest"), ("ingest", "mail"), ("feeds", "store"), ("store", "feeds")}


def _name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(["syndicator", *(parts[:-1] if parts[-1] == "__init__" else parts)])


def _part(module: str) -> str:
    """The layer a module of ours belongs to: its package under syndicator/, else its own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(module: str) -> int:
    return RANKS.get(_part(module), BOTTOM)


def _ours() -> dict[str, set[str]]:
    """Every module of ours and the modules of ours it imports (function-level imports too).
    `from syndicator.store import newsgate` imports the submodule; the package only when a name
    imported from it is no submodule."""
    paths = {_name(path): path for path in SRC.rglob("*.py") if "migrations" not in path.parts}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        for _, module, names in _imports(path):
            if module not in paths or module == name:
                continue
            submodules = {n for n in names if f"{module}.{n}" in paths}
            if not names or names - submodules:
                edges.add(module)
        graph[name] = edges
    return graph


def test_imports_point_down_the_layers() -> None:
    found = [
        f"{name} -> {module}"
        for name, imported in sorted(_ours().items())
        for module in sorted(imported)
        if _rank(module) > _rank(name)
        or (_rank(module) == _rank(name) and (_part(name), _part(module)) in SIDEWAYS)
    ]
    assert found == []


def test_no_import_cycles() -> None:
    graph = _ours()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for module in sorted(graph[name]):
            if module.rsplit(".", 1)[0] == name:
                continue  # a package's __init__ importing its own submodules is no cycle
            if state.get(module) == 1:
                cycles.append([*path[path.index(module) :], module])
            elif module not in state:
                visit(module)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []
