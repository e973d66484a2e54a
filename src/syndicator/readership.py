"""Who polls the feeds: a client's family and the subscriber count an aggregator reports, read from a
User-Agent, and the in-memory tally of polls the poll path keeps until a flush writes it (issue 14).

Only the family is kept of a client, from a fixed list (never the User-Agent itself, never an address):
Feedly says `Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )`, Inoreader
`Mozilla/5.0 (compatible; Inoreader/...; 7 subscribers; )`, NewsBlur `NewsBlur Feed Fetcher -
5 subscribers - http://...`. A User-Agent is the client's word: a count is taken only from an
aggregator's family and only up to `MAX_SUBSCRIBERS`, and only the first `PARSED_BYTES` are read, so a
huge or hostile one costs what a normal one does. Anyone can still claim to be Feedly: the console says
these numbers are the aggregators' own reports.
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
MAX_SUBSCRIBERS = 10**7  # more than any feed has: a larger "report" is forged, and not taken
# families that report how many of their users follow a feed; anything else saying "N subscribers" (a
# browser, a script, an unknown fetcher) is not an aggregator, and its number is not taken
_REPORTING = frozenset({"Feedly", "Inoreader", "NewsBlur", "The Old Reader", "Feedbin"})
_SUBSCRIBERS = re.compile(rb"(?<![0-9])([0-9]+) +(?:subscribers?|readers?)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Client:
    family: str  # one of FAMILIES
    subscribers: int | None  # what the client reports for the feed it polls, if anything


def client(user_agent: bytes | None) -> Client:
    """The family of the client that sent `user_agent` (as the request's header bytes) and the
    subscriber count it reports. Cached per User-Agent: a few fetchers poll again and again."""
    if not user_agent:
        return Client(OTHER, None)
    # the cache keeps what is read, never more: 4,096 huge User-Agents would hold megabytes
    return _client(user_agent[:PARSED_BYTES] if len(user_agent) > PARSED_BYTES else user_agent)


@lru_cache(maxsize=4096)
def _client(head: bytes) -> Client:
    lower = head.decode("latin-1").lower()
    family = next((name for needle, name in _FAMILIES if needle in lower), None)
    if family is None:
        is_browser = lower.startswith("mozilla/") and any(b in lower for b in _BROWSERS)
        family = BROWSER if is_browser and not any(b in lower for b in _BOTS) else OTHER
    found = _SUBSCRIBERS.search(head)
    reported = int(found[1]) if found and family in _REPORTING else None
    subscribers = reported if reported is not None and reported <= MAX_SUBSCRIBERS else None
    return Client(family, subscribers)


@dataclass(frozen=True, slots=True)
class Counts:
    """What was counted for one feed document and client family since the last flush."""

    polls: int
    not_modified: int
    subscribers: int | None  # the latest count reported since, if any


Key = tuple[str, str]  # (feed document, client family)
FEEDS = "/feeds/"  # a document's name is its path under this: "thong-bao.atom", as its URL ends
SEEN_REQUESTS = 4096  # (document, User-Agent) pairs remembered by the poll path before it starts afresh
_C_POLLS, _C_NOT_MODIFIED, _C_REPORTS, _C_LATEST = range(4)  # a counter's cells


class Tally:
    """Polls per (feed document, client family), counted in memory by the poll path.

    The counters only grow, and only the poll path writes them (one thread: the event loop), so it takes
    no lock: a poll is a cached parse, a dictionary lookup and two or three integer additions. A flush
    reads them from any thread and writes what grew since the last flush it wrote (`take`, then
    `written` once the database has it): a count read while a poll adds to it is only caught by the
    next flush, never lost, and a flush that fails leaves everything for the next. The keys are
    bounded: documents that exist (the poll path counts only 200 and 304) times the fixed families.
    The day is the flush's: a poll counted just before midnight and flushed just after counts for the
    new day (a few seconds of a day's polls, at most)."""

    def __init__(self) -> None:
        self._counters: dict[Key, list[int]] = {}  # polls, not modified, reports, last report
        # the poll path's shortcut: a (document, User-Agent) seen before -> its counter and report, so
        # that a fetcher polling again costs one lookup (bounded: cleared when full)
        self._seen: dict[tuple[str, bytes | None], tuple[list[int], int | None]] = {}
        self._written: dict[Key, tuple[int, int, int]] = {}  # polls, not modified, reports flushed
        # held by a flush from `take` to `written` (store/readership.flush): two flushers at once (a
        # scheduler's job, the web app's shutdown) would each write the same growth
        self.flushing = threading.Lock()
        self.flushed_by_scheduler = False  # set by jobs.start: then the web app leaves flushing to it

    def poll(self, path: str, user_agent: bytes | None, not_modified: bool) -> None:
        """One answered poll of the document at `path` (as served: "/feeds/thong-bao.atom"). Called
        from one thread only."""
        seen = self._seen.get((path, user_agent))
        if seen is None:
            seen = self._first(path, user_agent)
        counter, subscribers = seen
        counter[_C_POLLS] += 1
        if not_modified:
            counter[_C_NOT_MODIFIED] += 1
        if subscribers is not None:
            counter[_C_LATEST] = subscribers
            counter[_C_REPORTS] += 1  # after the count: a flush that sees this report sees its count

    def _first(self, path: str, user_agent: bytes | None) -> tuple[list[int], int | None]:
        found = client(user_agent)
        key = (path.removeprefix(FEEDS), found.family)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = [0, 0, 0, 0]
        seen = (counter, found.subscribers)
        if user_agent is not None and len(user_agent) > PARSED_BYTES:
            return seen  # not remembered: the table holds short keys only (what `client` reads)
        if len(self._seen) >= SEEN_REQUESTS:
            self._seen = {}
        self._seen[(path, user_agent)] = seen
        return seen

    def take(self) -> tuple[dict[Key, Counts], dict[Key, tuple[int, int, int]]]:
        """What grew since the last flush written, by (feed, family), and the mark to give `written`
        once it is in the database. Nothing grew: an empty dict. Under `flushing`."""
        counters = self._counters.copy()  # one C call: safe while the poll path adds a key
        grown: dict[Key, Counts] = {}
        mark: dict[Key, tuple[int, int, int]] = {}
        for key, counter in counters.items():
            reports = counter[_C_REPORTS]
            subscribers = counter[_C_LATEST]  # read after `reports`: never older than it
            not_modified = counter[_C_NOT_MODIFIED]
            polls = counter[_C_POLLS]  # read after: a poll adds here first, so never fewer than 304s
            before = self._written.get(key, (0, 0, 0))
            mark[key] = (polls, not_modified, reports)
            if polls > before[0] or reports > before[2]:
                reported = subscribers if reports > before[2] else None
                grown[key] = Counts(polls - before[0], not_modified - before[1], reported)
        return grown, mark

    def written(self, mark: dict[Key, tuple[int, int, int]]) -> None:
        """The counts `take` gave with `mark` are in the database: the next flush starts from there.
        Under `flushing`, held since `take`."""
        self._written.update(mark)

    def __len__(self) -> int:
        """How many (feed, family) counters there are."""
        return len(self._counters)
