"""Layers that point down: the store alone speaks SQL (no module outside src/syndicator/store/ reads the
tables, builds statements, sends SQL text or catches SQLAlchemy's errors), every import points down the
picture of docs/architecture.md (the store imports nothing from mail, web, publish or ingest; mail
nothing from web), and no modules import each other in a cycle. ruff's banned-api (pyproject.toml) says
the first as one edits; these tests read every import, function-level ones too, and every call."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "syndicator"
SCHEMA = "syndicator.store.schema"
# SQLAlchemy's statement builders (and table definitions), as `sqlalchemy.<name>`; its whole
# `sqlalchemy.sql` package (where they all come from) is banned besides
STATEMENTS = frozenset({
    "select", "insert", "update", "delete", "text", "func", "and_", "or_", "not_", "exists", "literal",
    "literal_column", "table", "column", "case", "cast", "bindparam", "union", "union_all", "values",
    "tuple_", "null", "true", "false", "distinct", "join", "outerjoin", "over", "between", "lateral",
    "alias", "type_coerce", "extract", "collate", "desc", "asc", "Table", "Column", "MetaData",
})  # fmt: skip
SQL_PACKAGE = "sqlalchemy.sql"
# Modules outside the store that may name SQLAlchemy's exceptions, and why: the rest ask the store
# (store.database.is_unavailable, connection_lost; store.WriteRefused)
ERRORS_ALLOWED = {
    "config.py": "checks the database URL at start with SQLAlchemy's own parser (ArgumentError)",
    "web/app.py": "registers Starlette's exception handlers by type (DBAPIError, the pool's TimeoutError)",
}
ABOVE_THE_STORE = ("mail", "web", "publish", "ingest")


def _modules(*, in_store: bool) -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if (path.relative_to(SRC).parts[0] == "store") is in_store:
            yield path


def _imports(path: Path) -> Iterator[tuple[int, str, set[str]]]:
    """(line, module, names imported from it) of every import in the file, relative ones resolved."""
    inner = path.relative_to(SRC).parent.parts if path.is_relative_to(SRC) else ()
    package = ["syndicator", *inner]
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


def _is_sql_name(qualified: str) -> bool:
    """A name of SQLAlchemy's that builds SQL: a statement builder, or anything of `sqlalchemy.sql`."""
    parts = qualified.split(".")
    return parts[0] == "sqlalchemy" and len(parts) > 1 and (parts[1] in STATEMENTS or parts[1] == "sql")


def _is_error_name(qualified: str) -> bool:
    return qualified == "sqlalchemy.exc" or qualified.startswith("sqlalchemy.exc.")


def _aliases(tree: ast.AST) -> dict[str, str]:
    """What each local name of SQLAlchemy's stands for: `import sqlalchemy as sa` gives sa -> sqlalchemy,
    `from sqlalchemy import text as t` gives t -> sqlalchemy.text."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    found[alias.asname or "sqlalchemy"] = alias.name if alias.asname else "sqlalchemy"
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").startswith("sqlalchemy")
        ):
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """`sa.sql.expression.column` as sqlalchemy.sql.expression.column; None for what is not SQLAlchemy's."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_sql_text(node: ast.expr, aliases: dict[str, str]) -> bool:
    """A string (literal, f-string, joined or formatted) or a call to something of SQLAlchemy's."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_sql_text(node.left, aliases) or _is_sql_text(node.right, aliases)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and _is_sql_text(func.value, aliases):
            return True  # "...".format(...)
        return _qualified(func, aliases) is not None
    return False


def _sql_calls(tree: ast.AST, aliases: dict[str, str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "exec_driver_sql":
                yield node.lineno, ".exec_driver_sql(...)"
            elif node.func.attr == "execute" and node.args and _is_sql_text(node.args[0], aliases):
                yield node.lineno, ".execute(...) of SQL text or a SQLAlchemy construct"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            qualified = _qualified(node, aliases)
            if qualified and (_is_sql_name(qualified) or _is_error_name(qualified)):
                yield node.lineno, qualified


def sql_outside_the_store(path: Path) -> list[str]:
    """Where a module outside the store speaks SQL: it imports the tables, a statement builder or
    `sqlalchemy.sql`, uses one through `import sqlalchemy as sa`, sends SQL itself (`exec_driver_sql`,
    `execute` of a string or of a SQLAlchemy construct), or names SQLAlchemy's exceptions (unless
    ERRORS_ALLOWED says why it must)."""
    where = str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name
    errors_allowed = where in ERRORS_ALLOWED
    found = [
        f"{where}:{line}: {module}"
        for line, module, _ in _imports(path)
        if module == SCHEMA or _is_sql_name(module) or (_is_error_name(module) and not errors_allowed)
    ]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found += [
        f"{where}:{line}: {what}"
        for line, what in _sql_calls(tree, _aliases(tree))
        if not (errors_allowed and _is_error_name(what))
    ]
    return found


def test_no_module_outside_the_store_reads_tables_or_builds_statements() -> None:
    assert [found for path in _modules(in_store=False) for found in sql_outside_the_store(path)] == []


BAD = {
    "from syndicator.store.schema import articles": "syndicator.store.schema",
    "from syndicator.store import schema": "syndicator.store.schema",
    "from sqlalchemy import select": "sqlalchemy.select",
    "from sqlalchemy import literal_column as lc": "sqlalchemy.literal_column",
    "from sqlalchemy.sql import select": "sqlalchemy.sql",
    "from sqlalchemy.sql.expression import text": "sqlalchemy.sql.expression",
    "from sqlalchemy import sql": "sqlalchemy.sql",
    "import sqlalchemy.sql.expression": "sqlalchemy.sql.expression",
    "import sqlalchemy as sa\nsa.case": "sqlalchemy.case",
    "import sqlalchemy as sa\nsa.table('articles')": "sqlalchemy.table",
    "import sqlalchemy as sa\nsa.sql.expression.column('id')": "sqlalchemy.sql",
    "import sqlalchemy\nsqlalchemy.func.count()": "sqlalchemy.func",
    "conn.exec_driver_sql('SELECT 1')": ".exec_driver_sql(...)",
    "conn.execute('DELETE FROM articles')": ".execute(...)",
    "conn.execute(f'DELETE FROM {table}')": ".execute(...)",
    "conn.execute('DELETE FROM ' + table)": ".execute(...)",
    "conn.execute('DELETE FROM {}'.format(table))": ".execute(...)",
    "from sqlalchemy import Connection as C\nconn.execute(C.anything())": ".execute(...)",
    "from sqlalchemy.exc import IntegrityError": "sqlalchemy.exc",
    "import sqlalchemy as sa\ntry: pass\nexcept sa.exc.DBAPIError: pass": "sqlalchemy.exc",
}


@pytest.mark.parametrize("source", sorted(BAD))
def test_the_sql_check_finds_each_way_round_it(tmp_path: Path, source: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source + "\n", encoding="utf-8")
    found = sql_outside_the_store(path)
    assert found and all(f.startswith("bad.py:") for f in found)
    assert any(BAD[source] in f for f in found), found


def test_the_sql_check_lets_the_store_s_api_through(tmp_path: Path) -> None:
    path = tmp_path / "good.py"
    path.write_text(
        "from sqlalchemy import Connection, Engine\n"
        "from syndicator.store import Store, mailqueue\n"
        "def run(store: Store, conn: Connection, pool: object) -> None:\n"
        "    store.ping()\n"
        "    mailqueue.claim(conn, 1)\n"
        "    pool.execute(run)\n",  # an executor's execute, of no string
        encoding="utf-8",
    )
    assert sql_outside_the_store(path) == []


def test_errors_are_allowed_only_where_they_are_said_to_be() -> None:
    for where in ERRORS_ALLOWED:
        assert any(_is_error_name(module) for _, module, _ in _imports(SRC / where)), where


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
    assert banned == {SCHEMA, SQL_PACKAGE} | {f"sqlalchemy.{name}" for name in STATEMENTS}
    assert "TID251" in config["select"] or "TID" in config["select"]
    ignored = {pattern for pattern, rules in config["per-file-ignores"].items() if "TID251" in rules}
    assert not any(pattern.startswith("src/") and "store" not in pattern for pattern in ignored)


# The picture of docs/architecture.md, as ranks: a module may import its own rank and those below.
RANKS = {
    "cli": 6, "cli_admin": 6, "cliout": 6, "jobs": 6, "__main__": 6,
    "service": 5,
    "web": 4,
    "publish": 3,
    "mail": 2, "ingest": 2, "leader": 2, "access": 2,
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
