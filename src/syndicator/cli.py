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
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

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

stdout = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
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
            progress.console.print(f"[red]failed[/] {escape(str(failure))}", highlight=False, markup=True)

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
    stdout.print(
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
        when = row["published_at"][:16].replace("T", " ")
        cells = (row["id"], when, row["status"], row["category"], row["title"])
        table.add_row(*(Text(str(cell)) for cell in cells))  # titles are text, not rich markup
    stdout.print(table)


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
        table.add_row(Text(str(row["slug"])), Text(str(row["name"])), str(row["articles"]))
    stdout.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to this version."""
    config = settings()
    try:
        engine = create_store_engine(config.database_url)
    except StoreError as error:
        fail(str(error))
    try:
        before, after = upgrade(engine)
    except Exception as error:  # any driver error becomes one line for the operator
        reason = getattr(error, "orig", None) or error  # without SQLAlchemy's SQL and help link
        fail(f"upgrade failed: {' '.join(str(reason).split())}", 1)
    finally:
        engine.dispose()
    stdout.print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the background jobs in this process.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the feeds, pages and API (and, by default, run the scheduler in the same process)."""
    import uvicorn

    from syndicator import jobs
    from syndicator.service import assemble
    from syndicator.web.app import create_app

    config = settings()
    _logging(log_level)
    with opened_store(config) as store:
        # the leading instance's first store-watch tick renders what changed; until then the kept
        # feeds are served, so a restart costs no rendering before the first request
        service = assemble(config, store, render_now=False)
        background = jobs.start(service) if scheduler else None
        try:
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(service.services),
                    host=host,
                    port=port,
                    log_level=log_level,
                    access_log=False,
                    proxy_headers=True,
                    server_header=False,
                    timeout_graceful_shutdown=5,
                )
            )
            err.print(f"syndicator: serving {config.base_url} on http://{host}:{port}", highlight=False)
            server.run()
        finally:
            if background is not None:
                background.shutdown(wait=False)
            service.close()


@app.command()
def worker(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the scheduler only (drop folder, store watch, digests), for web instances started with
    `serve --no-scheduler`."""
    import signal
    import threading

    from syndicator import jobs
    from syndicator.service import assemble

    config = settings()
    _logging(log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with opened_store(config) as store:
        service = assemble(config, store, render_now=False)
        background = jobs.start(service)
        err.print("syndicator: worker running the scheduled jobs", highlight=False)
        try:
            stop.wait()
        finally:
            background.shutdown(wait=True)
            service.close()


@app.command()
def build(
    out: Annotated[
        Path | None, typer.Option(help="Write a static tree (feeds, archives, OPML, .gz twins) here.")
    ] = None,
) -> None:
    """Render every feed that changed; with --out, write the static tree for nginx or a CDN."""
    from syndicator.publish.builder import FeedBuilder
    from syndicator.publish.cache import FeedCache
    from syndicator.publish.static import write_tree
    from syndicator.store.channels import ALL

    config = settings()
    now = clock.utcnow()
    with opened_store(config) as store:
        cache = FeedCache()
        builder = FeedBuilder(store, config, cache)
        kept = builder.load_kept()
        report = builder.refresh(now)
        stdout.print(
            f"{report.checked} channels checked, {len(report.rendered)} documents rendered "
            f"({kept} were kept), {len(report.gone)} gone",
            highlight=False,
        )
        if out is None:
            return
        keys = [ALL, *(c.category.slug for c in store.categories(now) if c.visible)]
        docs = [d for d in (cache.get(p) for p in cache.paths()) if d is not None]
        for key in keys:
            docs.extend(builder.archive_pages(key, now))
        tree = write_tree(out, docs)
    stdout.print(
        f"{out}: {tree.written} files written, {tree.unchanged} unchanged, {tree.removed} removed",
        highlight=False,
    )


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # their per-run INFO lines (every job run, every migration step) would drown ours
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _print_json(rows: Any) -> None:
    sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")


def main() -> None:
    app()
