"""Keeps a web instance's feed cache in step with what the leading instance renders.

Every instance serves feeds from memory, but only the leader renders them (into the database).
The others look, twice a second, for rows built since their last look: one indexed query when idle,
and on SQLite not even that while nothing was committed (Store.data_version). On PostgreSQL the
leader's notice wakes them at once (store/notices.py), and their own look is only a fallback.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from syndicator.publish.builder import load_rows
from syndicator.publish.cache import FeedCache
from syndicator.store import Store
from syndicator.text import counted

log = logging.getLogger(__name__)

# A row's built_at comes from the leader's clock and is committed a little after it was taken:
# look back this far (rows already held cost only an ETag comparison).
LOOKBACK = timedelta(seconds=30)
FULL_LOOK_EVERY = timedelta(seconds=10)


class CacheFollower:
    def __init__(
        self, store: Store, cache: FeedCache, lock: AbstractContextManager[object] | None = None
    ) -> None:
        self.store = store
        self.cache = cache
        # The builder's lock where this process renders too: a rebuild puts new documents in the cache
        # before it writes them to the database, and a look in between would put the old ones back.
        self.lock = lock or nullcontext()
        self._since: datetime | None = None
        self._version: int | None = None  # the store's data_version at the last look

    def sync(self, now: datetime) -> int:
        # taken before the look: a commit during it changes the number, and the next look sees it
        version = self.store.data_version()
        # nothing committed since the last look (SQLite): the look would find nothing new; it is still
        # made every FULL_LOOK_EVERY, in case the number missed something
        unchanged = version is not None and version == self._version
        if unchanged and self._since is not None and now - self._since < FULL_LOOK_EVERY:
            return 0
        since = None if self._since is None else self._since - LOOKBACK
        with self.lock:
            changed = load_rows(self.store, self.cache, since)
        self._since = now
        self._version = version
        if changed:
            log.info("feed cache: %s updated from the database", counted(changed, "document"))
        return changed
