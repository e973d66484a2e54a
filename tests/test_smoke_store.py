from datetime import datetime

from syndicator.config import Settings
from syndicator.ingest.importer import import_paths
from syndicator.store import Store
from tests.conftest import EXAMPLES


def test_import_samples_twice(store: Store, settings: Settings, now: datetime) -> None:
    report = import_paths(store, [EXAMPLES], now, settings.tz)
    assert (report.created, report.failed) == (12, 0)
    again = import_paths(store, [EXAMPLES], now, settings.tz)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 12)
    assert store.count_visible(now) == 12
    article = store.article("000_7aa2cdb3d5133083")
    assert article is not None and article.author == "Lê Hải"
    assert article.published_at.tzinfo is not None
