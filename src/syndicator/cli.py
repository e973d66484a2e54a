"""The `syndicator` command. Each command is a thin call into the functions the jobs and the web use."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from syndicator import clock, presenters
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.ingest.importer import Failure, Format, count_files, import_paths
from syndicator.store import Store, StoreError
from syndicator.store.database import create_store_engine, upgrade

app = typer.Typer(
    help="syndicator: RSS/Atom/JSON feeds and email digests for a public-sector portal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
articles_app = typer.Typer(help="Inspect articles.", no_args_is_help=True)
categories_app = typer.Typer(help="Inspect categories.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")
app.add_typer(categories_app, name="categories")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))


@contextmanager
def opened_store(config: Settings) -> Iterator[Store]:
    try:
        store = Store.open(config.database_url, config.categories)
    except StoreError as error:
        fail(str(error))
    try:
        yield store
    finally:
        store.close()


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (searched recursively).")],
    fmt: Annotated[
        Format | None, typer.Option("--format", help="Force a format instead of using the extension.")
    ] = None,
) -> None:
    """Import portal exports (.txt) and JSON Lines (.jsonl) into the article store."""
    config = settings()
    with opened_store(config) as store:
        total = count_files([p for p in paths if p.exists()])
        progress = Progress(
            TextColumn("[bold]Đang nhập[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )

        def report_failure(failure: Failure) -> None:
            # printed at once (the operator sees problems while a long import runs), and counted
            progress.console.print(f"[red]failed[/] {failure}", highlight=False, markup=True)

        with progress:
            task = progress.add_task("import", total=total)
            report = import_paths(
                store,
                paths,
                clock.utcnow(),
                config.tz,
                fmt=fmt,
                max_bytes=config.imports.max_file_bytes,
                batch_size=config.imports.batch_size,
                on_failure=report_failure,
                on_file=lambda _path: progress.advance(task),
            )
    out.print(
        f"{report.files} files: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.failed} failed",
        highlight=False,
    )
    raise typer.Exit(1 if report.failed else 0)


@articles_app.command("list")
def articles_list(
    category: Annotated[str | None, typer.Option(help="Only this category (slug).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON array instead of a table.")] = False,
) -> None:
    """All articles, newest first, with their state (published, scheduled, withdrawn)."""
    config = settings()
    now = clock.utcnow()
    with opened_store(config) as store:
        if category is not None and store.category(category) is None:
            fail(f"no category {category!r} (see `syndicator categories list`)", 1)
        found = store.articles(now, category=category, visible_only=False)
    rows = [presenters.article_json(a, config, now) for a in found]
    if as_json:
        _print_json(rows)
        return
    table = Table(box=None)
    for name in ("id", "đăng lúc", "trạng thái", "chuyên mục"):
        table.add_column(name, no_wrap=True)
    table.add_column("tiêu đề", overflow="fold")
    for row in rows:
        table.add_row(row["id"], row["published_at"][:16].replace("T", " "), row["status"], row["category"], row["title"])
    out.print(table)


@categories_app.command("list")
def categories_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON array instead of a table.")] = False,
) -> None:
    """Categories with their number of visible articles."""
    config = settings()
    with opened_store(config) as store:
        counts = store.categories(clock.utcnow())
    rows = [{"slug": c.category.slug, "name": c.category.name, "articles": c.visible} for c in counts]
    if as_json:
        _print_json(rows)
        return
    table = Table("slug", "tên", "số bài", box=None)
    for row in rows:
        table.add_row(row["slug"], row["name"], str(row["articles"]))
    out.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to this version."""
    config = settings()
    engine = create_store_engine(config.database_url)
    try:
        before, after = upgrade(engine)
    except Exception as error:  # noqa: BLE001 - any driver error becomes one line for the operator
        fail(f"upgrade failed: {error}", 1)
    finally:
        engine.dispose()
    out.print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


def _print_json(rows: Any) -> None:
    sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")


def main() -> None:
    app()
