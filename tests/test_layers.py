"""The store alone speaks SQL: no module outside src/syndicator/store/ reads the tables or builds
statements (issue 12 finishes the job; this keeps what is done from coming back)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "syndicator"
STATEMENTS = {"select", "insert", "update", "delete", "and_", "or_", "func", "exists"}


def test_no_module_outside_the_store_reads_tables_or_builds_statements() -> None:
    found: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        if "store" in path.relative_to(SRC).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function-level imports too
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {alias.name for alias in node.names}
                if node.module == "syndicator.store.schema" or (
                    node.module == "sqlalchemy" and names & STATEMENTS
                ):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module} import {names}")
    assert found == []
