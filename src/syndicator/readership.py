"""Who polls the feeds: a client's family and the subscriber count an aggregator reports, read from a
User-Agent, and the in-memory tally of polls the poll path keeps until a flush writes it (issue 14).

Only the family is kept of a client, from a fixed list (never the User-Agent itself, never an address):
Feedly says `Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )`, Inoreader
`Mozilla/5.0 (compatible; Inoreader/...; 7 subscribers; )`, NewsBlur `NewsBlur Feed Fetcher -
5 subscribers - http://...`. A User-Agent is the client's word: a count is bounded (`MAX_SUBSCRIBERS`),
and only the first `PARSED_BYTES` are read, so a huge or hostile one costs what a normal one does.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

OTHER = "Other"
BROWSER = "Browser"
# (what the lower-cased User-Agent contains, the family): the first match wins, so a fetcher that also
# says "Mozilla" (Inoreader, The Old Reader) is named before browsers are looked for
_FAMILIES = (
    ("feedly", "Feedly"),
    ("inoreader", "Inoreader"),
    ("newsblur", "NewsBlur"),
    ("theoldreader", "The Old Reader"),
    ("the old reader", "The Old Reader"),
    ("feedbin", "Feedbin"),
    ("miniflux", "Miniflux"),
    ("netnewswire", "NetNewsWire"),
    ("tiny tiny rss", "Tiny Tiny RSS"),
    ("tt-rss", "Tiny Tiny RSS"),
    ("freshrss", "FreshRSS"),
    ("feedbro", "Feedbro"),
    ("feedparser", "Python"),
    ("python", "Python"),
    ("curl/", "curl"),
)
_BOTS = ("bot", "spider", "crawl")  # "Mozilla/5.0 (compatible; Googlebot/2.1; ...)" is no reader
_BROWSERS = ("firefox/", "chrome/", "safari/", "edg/", "opera", "gecko/")
FAMILIES = (*dict.fromkeys(name for _, name in _FAMILIES), BROWSER, OTHER)  # every value `client` gives
PARSED_BYTES = 512  # every fetcher we know says who it is well before this
MAX_SUBSCRIBERS = 10**7  # more than any feed has: a larger "report" is forged, and counts as this
_SUBSCRIBERS = re.compile(rb"(?<![0-9])([0-9]+) +(?:subscribers?|readers?)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Client:
    family: str  # one of FAMILIES
    subscribers: int | None  # what the client reports for the feed it polls, if anything


@lru_cache(maxsize=4096)
def client(user_agent: bytes | None) -> Client:
    """The family of the client that sent `user_agent` (as the request's header bytes) and the
    subscriber count it reports. Cached per User-Agent: a few fetchers poll again and again."""
    if not user_agent:
        return Client(OTHER, None)
    head = user_agent[:PARSED_BYTES]
    lower = head.decode("latin-1").lower()
    family = next((name for needle, name in _FAMILIES if needle in lower), None)
    if family is None:
        is_browser = lower.startswith("mozilla/") and any(b in lower for b in _BROWSERS)
        family = BROWSER if is_browser and not any(b in lower for b in _BOTS) else OTHER
    found = _SUBSCRIBERS.search(head)
    subscribers = min(int(found[1]), MAX_SUBSCRIBERS) if found and family != BROWSER else None
    return Client(family, subscribers)


class _Count:
    __slots__ = ("not_modified", "polls", "subscribers")

    def __init__(self) -> None:
        self.polls = 0
        self.not_modified = 0
        self.subscribers: int | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """What was counted for one feed document and client family since the last flush."""

    polls: int
    not_modified: int
    subscribers: int | None  # the latest count reported, if any


class Tally:
    """Polls per (feed document, client family) since the last flush, in memory.

    A poll pays for a cached parse, a lock taken uncontended and two integer additions; a flush takes
    the whole table at once (`take`) and starts a new one, and gives it back (`restore`) when it could
    not be written. The keys are bounded: documents that exist (the poll path counts only 200 and 304)
    times the fixed families. The day is the flush's: a poll counted just before midnight and flushed
    just after counts for the new day (a few seconds of a day's polls, at most)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the event loop counts, a scheduler or pool thread takes
        self._counts: dict[tuple[str, str], _Count] = {}
        self.flushed_by_scheduler = False  # set by jobs.start: then the web app leaves flushing to it

    def poll(self, feed: str, user_agent: bytes | None, not_modified: bool) -> None:
        """One answered poll of `feed` (its path under /feeds/)."""
        found = client(user_agent)
        key = (feed, found.family)
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count()
            count.polls += 1
            if not_modified:
                count.not_modified += 1
            if found.subscribers is not None:
                count.subscribers = found.subscribers

    def take(self) -> dict[tuple[str, str], Counts]:
        """Everything counted so far, by (feed, family); the tally starts again from nothing."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return {key: Counts(c.polls, c.not_modified, c.subscribers) for key, c in taken.items()}

    def restore(self, taken: dict[tuple[str, str], Counts]) -> None:
        """Adds back what `take` gave, for a flush that failed: the next one writes it (a report
        counted since is newer than the one given back, so it stays)."""
        with self._lock:
            for key, counts in taken.items():
                count = self._counts.get(key)
                if count is None:
                    count = self._counts[key] = _Count()
                count.polls += counts.polls
                count.not_modified += counts.not_modified
                if count.subscribers is None:
                    count.subscribers = counts.subscribers

    def __len__(self) -> int:
        return len(self._counts)
