"""The sample articles served by a real uvicorn server, for the tests of what pages say."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from syndicator.config import load_settings
from syndicator.ingest.importer import import_paths
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.conftest import EXAMPLES, ROOT
from tests.factories import FakeClock
from tests.live import live_server


@contextmanager
def serving_samples(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[str, str, str]]:
    """(the server's URL, the newest article's path, its category's path), links on portal.test."""
    settings = load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        base_url="https://portal.test",
    )
    store = Store.open(settings.database_url)
    import_paths(
        store, [EXAMPLES, ROOT / "examples" / "articles.jsonl"], now - timedelta(days=1), settings.tz
    )
    first = store.articles(now, limit=1)[0]
    service = assemble(settings, store, FakeClock(now))
    try:
        with live_server(create_app(service.services)) as url:
            yield url, f"/a/{first.id}", f"/c/{first.category.slug}"
    finally:
        service.close()
        store.close()
