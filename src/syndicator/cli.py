"""The `syndicator` command. Each command is a thin call into the functions the jobs and the web use."""

from __future__ import annotations

import gc
import itertools
import logging
import signal
import socket
import sys
import threading
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from syndicator import __version__, access, cliout, clock, i18n, links, presenters
from syndicator.accounts import AuditEntry
from syndicator.cli_admin import admin_app
from syndicator.cliout import (
    JSON_HELP,
    actor,
    counted,
    err,
    fail,
    opened_store,
    print_json,
    said,
    settings,
    shown,
    stdout,
)
from syndicator.cliout import moment as _moment
from syndicator.config import Settings, default_base_url_note
from syndicator.files import Refused, Source, streamed_text
from syndicator.ingest.importer import Format, Reported, count_files, display, import_paths
from syndicator.mail.choices import (
    InvalidSubscription,
    UnknownCategory,
    add,
    known_categories,
    own_choice,
    parse_categories,
    parse_language,
    remove,
)
from syndicator.mail.csvio import export_csv, import_csv
from syndicator.model import Frequency, Subscriber, SubscriberStatus
from syndicator.store import Store, StoreError
from syndicator.store import audit as store_audit
from syndicator.store.channels import ALL
from syndicator.store.database import create_store_engine, upgrade
from syndicator.store.subscribers import by_email, listing

app = typer.Typer(
    help="Serve and build RSS/Atom/JSON feeds and send email digests for a public-sector portal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
articles_app = typer.Typer(help="Inspect the stored articles.", no_args_is_help=True)
categories_app = typer.Typer(help="Inspect the categories.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Manage the email subscribers.", no_args_is_help=True)
digest_app = typer.Typer(help="Preview and send the email digests.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")
app.add_typer(categories_app, name="categories")
app.add_typer(db_app, name="db")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(digest_app, name="digest")
app.add_typer(admin_app, name="admin")

# One wording for each kind of value, so every command's --help describes it the same way.
MOMENT_HELP = "ISO 8601 date or date-time, in site.timezone unless it has a zone"
LOG_LEVEL_HELP = "Log level: debug, info, warning or error."
# the office's double opt-in (subscribers add, import --pending): how its mail goes, and the web's limit
QUEUED_HOW = "sent by the running service's deliver job, or by the next `digest send`"
OFFICE_LIMIT = (
    "the web's limit of confirmation mails per address and hour does not apply to the office, but "
    "running the command again does not ask an address again while a mail already asks it for the "
    "same choices with its link still valid (subscribe.confirm_days): changed choices, or an expired "
    "link, ask again."
)
EMAIL_HELP = "The subscriber's email address."

# --frequency of the digest commands (checked by _frequency: immediate mails are no digest)
DigestFrequency = Annotated[str, typer.Option(help="Which digest: daily or weekly.")]
LogLevel = Annotated[str, typer.Option(help=LOG_LEVEL_HELP)]


def write_out(path: Path, text: str) -> None:
    """The file a user named on the command line: a path that cannot be written (no such folder, a
    folder, no permission, a full disk) is one line naming it and exit 1, not a traceback."""
    if path.is_dir():
        fail(f"{display(path)}: cannot write: it is a folder (name a file)", 1)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"{display(path)}: cannot write: {error.strerror or error}", 1)


def linking_settings() -> Settings:
    """The settings of a command that writes links (feeds, mails, previews). Without a configured
    base_url they link where the last `serve` on this database linked, else to the built-in default,
    and say so once on stderr."""
    config = settings()
    if config.base_url_configured:
        return config
    with opened_store(config) as store:
        return linked(config, store)


def linked(config: Settings, store: Store) -> Settings:
    """`config` linking where the last `serve` on `store` linked, when no base_url is configured (said
    once on stderr); the store a command has open already."""
    from syndicator.service import served_base  # service assembles web and publish: slow to load

    if config.base_url_configured:
        return config
    served = served_base(store)
    note = default_base_url_note(config, served)
    if note is not None:
        err.print(said(note))
    return config.served_at(served) if served else config


def _show_version(value: bool) -> None:
    if value:
        stdout.print(f"syndicator {__version__}")
        raise typer.Exit()


# Operators read English; what residents read (mail, pages, feeds) says its own language where it is made
OPERATOR_LANGUAGE = "en"


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Serve and build RSS/Atom/JSON feeds and send email digests for a public-sector portal."""
    ctx.with_resource(i18n.using(OPERATOR_LANGUAGE))
    cliout.new_command()  # until the command ends (a test's CliRunner too)


@app.command("import")
def import_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and folders to import (folders are searched recursively).")
    ],
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="Read every file in this format instead of choosing by extension (.txt portal, .jsonl).",
            show_default="by extension",
        ),
    ] = None,
) -> None:
    """Import portal exports (.txt) and JSON Lines (.jsonl) into the article store."""
    config = settings()
    with opened_store(config) as store:
        total = count_files([p for p in paths if p.exists()])
        progress = _progress("Importing")

        def report_failure(failure: Reported) -> None:
            # printed at once (the operator sees problems while a long import runs), and counted; past
            # the first few of a file, one line says how many more it had
            progress.console.print(said(str(failure), "failed"))

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
        f"{counted(report.files, 'file')}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.failed} failed",
        highlight=False,
    )
    raise typer.Exit(1 if report.failed else 0)


@articles_app.command("list")
def articles_list(
    category: Annotated[
        str | None, typer.Option(help="Only the articles of this category (its slug).", show_default="all")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List all articles, newest first, with their state (published, scheduled, withdrawn)."""
    config = linking_settings() if as_json else settings()  # the JSON holds links
    now = clock.utcnow()
    with opened_store(config) as store:
        if category is not None and store.category(category) is None:
            fail(f"no category {category!r} (see `syndicator categories list`)", 1)
        found = store.articles(now, category=category, visible_only=False)
    rows = [presenters.article_json(a, config, now) for a in found]
    if as_json:
        print_json(rows)
        return
    table = Table(box=None)
    for name in ("id", "published", "status", "category"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", overflow="fold")
    for article, row in zip(found, rows, strict=True):
        when = shown(article.published_at, config)
        cells = (row["id"], when, row["status"], row["category"], row["title"])
        table.add_row(*(said(str(cell)) for cell in cells))  # titles are text, not rich markup
    stdout.print(table)


@categories_app.command("list")
def categories_list(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List the categories: name, English name ([categories.en]) and visible articles."""
    config = settings()
    with opened_store(config) as store:
        counts = store.categories(clock.utcnow())
    english = config.categories_en
    rows = [
        {
            "slug": c.category.slug,
            "name": c.category.name,
            "name_en": english.get(c.category.slug),  # null: English pages show `name`
            "articles": c.visible,
        }
        for c in counts
    ]
    if as_json:
        print_json(rows)
        return
    columns = ["slug", "name", *(["name_en"] if english else []), "articles"]
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*(said("" if row[column] is None else str(row[column])) for column in columns))
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
    except Exception as error:  # noqa: BLE001 - any driver error becomes one line for the operator
        reason = getattr(error, "orig", None) or error  # without SQLAlchemy's SQL and help link
        fail(f"upgrade failed: {' '.join(str(reason).split())}", 1)
    finally:
        engine.dispose()
    stdout.print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every address).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.", min=1, max=65535)] = 8000,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="Run the scheduled jobs in this process (turn off when a `worker` runs them).",
        ),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes serving the port (default: one per core; 1: a single process). With "
            "the scheduler, one of them runs the jobs and the others follow its renders.",
            min=1,
            max=64,
            show_default=False,
        ),
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """Serve the feeds, pages and API (and, by default, run the scheduler in the same process)."""
    from syndicator import workers as supervision

    configured = settings()
    # without a configured base_url, links point where this server listens (every consumer gets this
    # copy through assemble: pages, feeds, OPML, API, mails)
    config = configured.served_at(links.served_base(host, port))
    _logging(log_level)
    count = workers if workers is not None else supervision.default_count()

    def run(first: bool, sock: socket.socket | None) -> int:
        return _serve_process(configured, config, host, port, scheduler, log_level, first=first, sock=sock)

    if count == 1:  # as before --workers: this process serves, no fork
        raise typer.Exit(run(True, None))
    # opened once here first: a database that cannot be opened is one line and the exit status as for
    # a single process (not each worker's), a new schema is created by one process, not raced by all,
    # and the settings' unknown categories are noted once. Closed again before any fork: the workers
    # inherit no connection
    with opened_store(config):
        pass
    try:
        sockets = supervision.listening_sockets(host, port, count)
    except OSError as error:
        fail(f"cannot listen on {links.http_origin(host or '0.0.0.0', port)}: {error.strerror or error}", 1)
    err.print(f"{_serving_line(configured, config.base_url, host, port)}, {count} workers", highlight=False)
    supervisor = supervision.Supervisor(
        sockets, lambda index, sock: run(index == 0, sock), lambda line: err.print(line, highlight=False)
    )
    raise typer.Exit(supervisor.run())


def _serve_process(
    configured: Settings,
    config: Settings,
    host: str,
    port: int,
    scheduler: bool,
    log_level: str,
    *,
    first: bool,
    sock: socket.socket | None,
) -> int:
    """One serving process: alone (`sock` None: uvicorn binds host:port) or a worker of several.

    `first`: the lone process or the first worker records the served base and brings the kept feeds up
    to date before serving; the other workers serve the kept feeds and follow the leader's renders."""
    # the server, scheduler, web app and service load in about a fifth of a second: imported at the
    # top, every other command (--help included) would wait for them too
    import uvicorn

    from syndicator import jobs
    from syndicator.service import assemble, record_served_base
    from syndicator.web.app import create_app

    with opened_store(config) as store:
        renders = first and scheduler and not configured.base_url_configured
        if renders:
            record_served_base(store, config, clock.utcnow())  # where one-off commands link too
        # the leading instance's first store-watch tick renders what changed; until then the kept
        # feeds are served, so a restart costs no rendering before the first request. Without a
        # configured base_url the kept feeds may link to the port of the last start: the leader
        # brings them up to date first (the fingerprints hold the base: only what differs renders)
        service = assemble(config, store, render_now=renders)
        _check_officials(service)
        background = jobs.start(service) if scheduler else None
        try:
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(service.services),
                    host=host,
                    port=port,
                    log_level=log_level,
                    access_log=False,
                    proxy_headers=False,  # applied by the app behind the feed server (web/app.py)
                    server_header=False,
                    timeout_graceful_shutdown=5,
                )
            )
            if sock is None:
                err.print(_serving_line(configured, config.base_url, host, port), highlight=False)
            # what is alive now (modules, templates, the kept feeds: some 100,000 objects) lives as
            # long as the process: out of the collector's sight, a full collection walks only what
            # requests make, instead of pausing every poll in flight for tens of milliseconds
            gc.collect()
            gc.freeze()
            # uvicorn shuts down on SIGTERM, then raises the signal again to its previous handler; a
            # handler that does nothing lets run() return, so the cleanup below runs (pings, leader)
            signal.signal(signal.SIGTERM, lambda *_: None)
            server.run(sockets=None if sock is None else [sock])
        finally:
            if background is not None:
                background.shutdown(wait=False)
            service.close()
    return 0 if server.started else 1


def _serving_line(configured: Settings, base_url: str, host: str, port: int) -> str:
    listening = links.http_origin(host or "0.0.0.0", port)
    line = f"syndicator: serving {base_url} on {listening}"
    if configured.base_url_configured:
        return line
    if links.is_wildcard(host):
        return (
            f"{line} (base_url is not set and {host or 'every address'} is no address to link to: "
            "links use this machine's loopback; set base_url to the address readers use)"
        )
    return f"{line} (base_url is not set: links use the address served)"


@app.command()
def worker(
    log_level: LogLevel = "info",
) -> None:
    """Run the scheduled jobs only (drop folder, store watch, digests), without serving.

    For web instances started with `serve --no-scheduler`."""
    from syndicator import jobs  # the scheduler and service: slow to load, as in serve
    from syndicator.service import assemble

    config = linking_settings()  # digests, confirmations and feeds rendered here all link
    _logging(log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with opened_store(config) as store:
        service = assemble(config, store, render_now=False)
        _check_officials(service)
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
        Path | None,
        typer.Option(
            help="Also write the static tree (feeds, archives, OPML, .gz twins) into this folder.",
        ),
    ] = None,
) -> None:
    """Render every feed that changed; with --out, write the static tree for nginx or a CDN."""
    # publish (feedgen, lxml) is as slow to load as the server's modules in serve: only here
    from syndicator.publish.builder import FeedBuilder
    from syndicator.publish.cache import FeedCache
    from syndicator.publish.static import write_tree

    config = linking_settings()
    now = clock.utcnow()
    with opened_store(config) as store:
        cache = FeedCache()
        builder = FeedBuilder(store, config, cache)
        kept = builder.load_kept()
        report = builder.refresh(now)
        stdout.print(
            f"{counted(report.checked, 'channel')} checked, {counted(len(report.rendered), 'document')} "
            f"rendered ({kept} {'was' if kept == 1 else 'were'} kept), {len(report.gone)} gone",
            highlight=False,
        )
        if out is None:
            return
        keys = [ALL, *(c.category.slug for c in store.categories(now) if c.visible)]
        kept_docs = [d for d in (cache.get(p) for p in cache.paths()) if d is not None]
        # a generator: each archive page is written as it is rendered, so memory stays flat
        docs = itertools.chain(kept_docs, *(builder.archive_pages(key, now) for key in keys))
        try:
            tree = write_tree(out, docs)
        except OSError as error:  # a file in the way, no permission, a full disk: one line, exit 1
            where = display(Path(error.filename)) if error.filename else display(out)
            at = "" if where == display(out) else f"{where}: "
            fail(f"{display(out)}: cannot write the static tree: {at}{error.strerror or error}", 1)
    written = f"{counted(tree.written, 'file')} written, {tree.unchanged} unchanged, {tree.removed} removed"
    stdout.print(said(f"{display(out)}: {written}"))


def _language(value: str | None) -> str | None:
    """`--language` as `choices.parse_language` reads it (the CSV's and the officials file's rule), or
    a usage error (exit 2) before the database is opened."""
    if value is None:
        return None
    try:
        return parse_language(value)
    except InvalidSubscription:
        fail(f"--language: {value!r} is not one of {', '.join(i18n.LANGUAGES)}")


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help=EMAIL_HELP)],
    name: Annotated[str | None, typer.Option(help="Name shown in the To: header of their mails.")] = None,
    categories: Annotated[
        str, typer.Option(help="Comma-separated category slugs or names, or 'all'.")
    ] = "all",
    frequency: Annotated[
        str, typer.Option(help="How often they get mail: immediate, daily or weekly.")
    ] = "daily",
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed",
            help="Skip the confirmation mail (double opt-in): the office vouches for the address. "
            "Without it a new (or pending, unsubscribed, bounced) address is pending until its owner "
            f"follows the link of a confirmation mail queued now in their language ({QUEUED_HOW}); "
            f"{OFFICE_LIMIT} An address already confirmed stays confirmed: only its choices change.",
        ),
    ] = False,
    language: Annotated[
        str | None,
        typer.Option(
            help="The language of their mail: vi or en.",
            show_default="theirs if the address is known, else the site's (site.language)",
        ),
    ] = None,
) -> None:
    """Add a subscriber (or change an existing one's choices)."""
    config = settings()
    chosen = _frequency(frequency)
    try:  # bad option values are usage errors (exit 2), found before the database is opened
        parse_categories(categories)
    except InvalidSubscription:
        fail(f"--categories: {categories!r} names a category with no letters or digits")
    language = _language(language)
    with opened_store(config) as store:
        try:
            person, created = add(
                store,
                email,
                clock.utcnow(),
                name=name,
                categories=categories,
                frequency=chosen.value,
                confirmed=confirmed,
                known=known_categories(store, config.categories),
                language=language,
                default_language=config.site.catalogue,
                actor=actor(),
            )
        except UnknownCategory as error:  # known only once the database is read: as `no subscriber`
            fail(str(error), 1)
        except InvalidSubscription as error:  # the address given is none: a usage error too
            fail(str(error))
        own = own_choice(store, person)
        if own is not None:
            stdout.print(
                said(
                    f"updated {person.email}: the office lists this address, so this is kept as the "
                    f"resident's own choice ({own.frequency.value}) for when it is unlisted"
                )
            )
            return
        stdout.print(
            said(
                f"{'added' if created else 'updated'} {person.email} "
                f"({person.status.value}, {person.frequency.value}, {person.language})"
            )
        )
        if person.status is SubscriberStatus.PENDING:
            _ask_to_confirm(store, config, [person], each=True)


def _ask_to_confirm(store: Store, config: Settings, people: list[Subscriber], *, each: bool) -> int:
    """Queue the double opt-in mails of the office's pending addresses (`optin.ask_to_confirm`, the
    web's own mail), say how many and how they go; the number refused (address too long to carry its
    choices in a link). An address a mail already asks for the same choices, its link still valid, is
    not asked again: said per address (`each`, for add) or in one count (for import)."""
    from syndicator.mail.composer import MailComposer  # slow to load, as in digest preview
    from syndicator.mail.optin import ask_to_confirm

    config = linked(config, store)
    asked = ask_to_confirm(store, MailComposer(config), people, clock.utcnow())
    for email in asked.already:
        stdout.print(said(f"{email}: the same confirmation mail is queued already"))
    if each:
        for email, queued_at, valid_until in asked.recent:
            stdout.print(
                said(
                    f"{email}: asked already on {shown(queued_at, config)}; the link stays valid until "
                    f"{shown(valid_until, config)}"
                )
            )
    elif asked.recent:
        stdout.print(f"{len(asked.recent)} already asked (links still valid)", highlight=False)
    for email, reason in asked.refused:
        err.print(said(f"{email}: no confirmation mail: {reason}", "failed"))
    if len(asked.queued) == 1 and not (asked.refused or asked.already or asked.recent):
        stdout.print(said(f"confirmation mail queued for {asked.queued[0]} ({QUEUED_HOW})"))
    elif asked.queued:
        stdout.print(
            f"{counted(len(asked.queued), 'confirmation mail')} queued ({QUEUED_HOW})", highlight=False
        )
    return len(asked.refused)


@subscribers_app.command("import")
def subscribers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="UTF-8 CSV file: email,name,categories,frequency,language (vi or en; empty: the "
            "address's own, or the site's for a new one). With a header row the columns go by name "
            "in any order (an export's status and source are skipped); without one, in this order."
        ),
    ],
    pending: Annotated[
        bool,
        typer.Option(
            "--pending",
            help="Imported addresses stay pending until they confirm: each is sent "
            f"a confirmation mail in its language, queued now ({QUEUED_HOW}); {OFFICE_LIMIT} "
            "An address already confirmed stays confirmed, with its source: only its choices change. "
            "Without --pending they are imported as confirmed.",
        ),
    ] = False,
) -> None:
    """Import subscribers from CSV; bad rows are reported and skipped."""
    config = settings()
    with ExitStack() as stack:
        try:  # like any import: a regular file only (no FIFO to hang on, no /dev/zero), bounded; all of
            # it UTF-8, checked before any row is imported; then read as it is imported (not held whole)
            lines = stack.enter_context(streamed_text(Source(file), config.imports.max_csv_bytes))
        except Refused as refused:
            fail(f"{display(file)}: {refused.reason}", 1)
        except OSError as error:
            fail(f"{display(file)}: cannot read: {error}", 1)
        store = stack.enter_context(opened_store(config))
        known = known_categories(store, config.categories)
        # by id: an address given twice is asked once, as it is last; kept only when they are to be asked
        saved: dict[int, Subscriber] = {}
        try:
            created, updated, problems = import_csv(
                store,
                lines,
                clock.utcnow(),
                confirmed=not pending,
                known=known,
                default_language=config.site.catalogue,
                on_saved=(lambda person: saved.__setitem__(person.id, person)) if pending else _nothing,
            )
        except (OSError, UnicodeDecodeError) as error:  # the file changed since it was checked
            fail(f"{display(file)}: cannot read: {error} (the rows before were imported)", 1)
        # one entry for the whole file, after it: its rows are saved a chunk per transaction (a bad row
        # spoils none of the others, the file is never held whole), so no one transaction holds them all
        summary = f"{created} added, {updated} updated, {len(problems)} failed, file {file.name}"
        access.record(store, AuditEntry(clock.utcnow(), actor(), "subscriber.import", None, summary))
        asking = [p for p in saved.values() if pending and p.status is SubscriberStatus.PENDING]
        for problem in problems:
            err.print(said(f"{display(file)}:{problem.line}: {problem.reason}", "failed"))
        stdout.print(f"{created} added, {updated} updated, {len(problems)} failed", highlight=False)
        unasked = _ask_to_confirm(store, config, asking, each=False) if asking else 0
    raise typer.Exit(1 if problems or unasked else 0)


def _nothing(person: Subscriber) -> None:
    """Nothing kept of a subscriber saved: without --pending nobody is asked."""


@subscribers_app.command("export")
def subscribers_export() -> None:
    """Export all subscribers as CSV to standard output."""
    config = settings()
    with opened_store(config) as store:
        rows = 0
        try:
            for chunk in export_csv(store):
                sys.stdout.write(chunk)
                rows += 1
        finally:
            # a view of personal data (Decree 13/2023/ND-CP), logged with the rows that left, also
            # when the export stops partway (a closed pipe): it streams from its own reads, with no
            # write transaction open during it
            detail = counted(max(rows - 1, 0), "row")
            access.record(store, AuditEntry(clock.utcnow(), actor(), "subscriber.export", None, detail))


@subscribers_app.command("list")
def subscribers_list(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List the subscribers with their status, source and choices."""
    config = settings()
    with opened_store(config) as store, store.writing() as conn:  # a view of personal data: logged
        people = listing(conn)
        detail = counted(len(people), "subscriber") + (" (json)" if as_json else "")
        store_audit.record(conn, AuditEntry(clock.utcnow(), actor(), "subscriber.list", None, detail))
    if as_json:
        print_json(
            [
                {
                    "email": p.email,
                    "name": p.name,
                    "status": p.status.value,
                    "source": p.source.value,
                    "categories": "all" if p.categories is None else sorted(p.categories),
                    "frequency": p.frequency.value,
                    "language": p.language,
                }
                for p in people
            ]
        )
        return
    table = Table(box=None)
    for column in ("email", "name", "status", "source", "categories", "frequency", "language"):
        table.add_column(column, overflow="fold")
    for p in people:
        cats = "all" if p.categories is None else ", ".join(sorted(p.categories))
        cells = (p.email, p.name or "", p.status.value, p.source.value, cats, p.frequency.value, p.language)
        table.add_row(*(said(cell) for cell in cells))
    stdout.print(table)


@subscribers_app.command("remove")
def subscribers_remove(email: Annotated[str, typer.Argument(help=EMAIL_HELP)]) -> None:
    """Forget a subscriber entirely (their queued mail is dropped)."""
    config = settings()
    with opened_store(config) as store:
        if not remove(store, email, clock.utcnow(), actor()):
            fail(f"no subscriber {email}", 1)
    stdout.print(said(f"removed {email}"))


DIGESTS = (Frequency.DAILY, Frequency.WEEKLY)


def _frequency(value: str, allowed: tuple[Frequency, ...] = tuple(Frequency)) -> Frequency:
    """--frequency, one of `allowed`. A bad value is a usage error (exit 2, like typer's own), found
    before the database is opened; a frequency the command does not take is named as such."""
    named = next((f for f in Frequency if f.value == value.strip().lower()), None)
    if named is not None and named in allowed:
        return named
    choices = ", ".join(f.value for f in allowed[:-1]) + f" or {allowed[-1].value}"
    if named is not None:  # only digests take fewer than all: immediate mails are the one left out
        fail(f"--frequency: {named.value} mails are not digests ({choices})")
    fail(f"--frequency: {value!r} is not {choices}")


def _at(value: str | None, config: Settings, now: datetime) -> datetime:
    """The moment --at names (a run's window ends at or before it); now when not given."""
    return now if value is None else _moment("--at", value, config)


def _subscriber(store: Store, email: str | None) -> Subscriber | None:
    if email is None:
        return None
    with store.reading() as conn:
        person = by_email(conn, email)
    if person is None:
        fail(f"no subscriber {email}", 1)
    return person


@digest_app.command("preview")
def digest_preview(
    frequency: DigestFrequency,
    out: Annotated[Path, typer.Option(help="HTML file to write the digest to.")],
    at: Annotated[
        str | None,
        typer.Option(
            help=f"{MOMENT_HELP}: show the run whose window ends at or before it.", show_default="now"
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help=f"{MOMENT_HELP}: instead of a run's window, one digest of every visible article "
            "published since then (no run would send old articles: this shows the ones at hand).",
        ),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option(help="Show the digest as this subscriber (email address) would get it."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="Show the digest in this language: vi or en.",
            show_default="the subscriber's with --email, else the site's",
        ),
    ] = None,
) -> None:
    """Write the digest a run would send, as HTML, without sending, queueing or recording it."""
    # composing and sending mail (jinja2, smtplib, the sender) take over a tenth of a second to load:
    # only the digest commands wait for them
    from syndicator.mail.composer import MailComposer
    from syndicator.mail.digests import preview, preview_since, window_end, window_ended

    chosen = _frequency(frequency, DIGESTS)
    config = linking_settings()
    language = _language(language)
    if at is not None and since is not None:
        fail("--at and --since exclude each other: --at picks a run's window, --since a start date")
    now = clock.utcnow()
    start = None if since is None else _moment("--since", since, config)
    moment = _at(at, config, now)
    with opened_store(config) as store:
        person = _subscriber(store, email)
        if person is not None:  # a view of the address (and its choices): logged before it is shown
            access.record(store, AuditEntry(now, actor(), "subscriber.view", person.email, "digest preview"))
        composer = MailComposer(config)
        if start is not None:
            result = preview_since(store, composer, start, now, person, language)
            scope, empty = f"published since {shown(start, config)}", "no digest to show"
        else:
            end = window_end(chosen, moment, config)
            result = preview(store, composer, chosen, end, person, language)
            scope, empty = (
                f"new in the {chosen.value} window ending {shown(end, config)}",
                "no digest would be sent",
            )
            if not window_ended(end, now):  # a preview records nothing: an open window may be shown
                scope += " so far (the window is still open: what appears before its end will be in it too)"
    if result is None:
        stdout.print(said(f"nothing {scope}: {empty}"))
        return
    subject, html, count = result
    write_out(out, html)
    stdout.print(said(f"{display(out)}: {counted(count, 'article')} {scope}; subject: {subject}"))


@digest_app.command("send")
def digest_send(
    frequency: DigestFrequency,
    at: Annotated[
        str | None,
        typer.Option(
            help=f"{MOMENT_HELP}, not in the future: send the run whose window ends at or before it.",
            show_default="now",
        ),
    ] = None,
) -> None:
    """Queue the run whose window ends at --at (default now) and deliver it. Safe to repeat."""
    from syndicator.mail.digests import window_end  # slow to load, as in digest preview
    from syndicator.mail.sendrun import send_run

    chosen = _frequency(frequency, DIGESTS)
    config = linking_settings()
    _logging("warning")
    now = clock.utcnow()
    moment = _at(at, config, now)
    if moment > now:
        # a run is made only once its window has ended; a time still ahead is refused as such,
        # whatever window it falls in: the operator expects that moment's run, and it cannot be sent yet
        latest = window_end(chosen, now, config)
        fail(
            f"--at: {at} is still ahead: a digest is sent only once its window has ended "
            f"(the latest {chosen.value} window ended {shown(latest, config)})"
        )
    progress = _progress("Sending")
    with opened_store(config) as store, progress:
        task = progress.add_task("send", total=None)
        sent = send_run(
            store,
            config,
            chosen,
            moment,
            clock=clock.utcnow,
            on_pending=lambda pending: progress.update(task, total=pending),
            on_sent=lambda n: progress.advance(task, n),
        )
    totals = ", ".join(f"{v} {k}" for k, v in sorted(sent.totals.items())) or "no mails"
    delivered = sent.delivered
    stdout.print(
        f"{chosen.value} digest for the window ending {shown(sent.end, config)}: "
        f"{counted(sent.queued.articles, 'new article')}, {counted(sent.queued.queued, 'mail')} queued now; "
        f"sent {delivered.sent}, retry later {delivered.retried}, failed {delivered.failed}; "
        f"run totals: {totals}",
        highlight=False,
    )


def _check_officials(service: Any) -> None:
    """A broken officials file is logged at start (one line) and the officials stay as stored: the
    feeds go on being served. Only the instance running the jobs applies the file (jobs.py)."""
    service.officials.validate()


def _progress(label: str) -> Progress:
    """A progress bar on stderr while a terminal watches; silent in scripts and logs."""
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


LOG_LEVELS = ("debug", "info", "warning", "error")


def _logging(level: str) -> None:
    if level.lower() not in LOG_LEVELS:  # a usage error in one line (logging's own is a traceback)
        fail(f"--log-level: {level!r} is not {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # their per-run INFO lines (every job run, every migration step) would drown ours
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # a tick that finds the previous run still going is skipped by design (max_instances=1): no news
    logging.getLogger("apscheduler.scheduler").addFilter(
        lambda record: "maximum number of running instances" not in record.getMessage()
    )


def main() -> None:
    app()
