"""Prometheus text exposition of what an operator watches: polls served, feeds, articles, mail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from syndicator.model import OutboxStatus, SubscriberStatus
from syndicator.publish.cache import FeedCache
from syndicator.store import Store
from syndicator.store.tallies import tallies


def _family(name: str, kind: str, help_text: str, samples: Mapping[str, float] | float) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    if isinstance(samples, Mapping):
        lines += [f"{name}{{{labels}}} {value:g}" for labels, value in sorted(samples.items())]
    else:
        lines.append(f"{name} {samples:g}")
    return lines


def render(store: Store, cache: FeedCache, served: Mapping[int, int], now: datetime) -> str:
    with store.reading() as conn:
        counted = tallies(conn, now)
    mails, people = counted.outbox, counted.subscribers
    lines: list[str] = []
    lines += _family(
        "syndicator_feed_responses_total",
        "counter",
        "Feed and OPML responses served by this process, by HTTP status.",
        {f'status="{code}"': count for code, count in served.items()},
    )
    lines += _family("syndicator_feed_documents", "gauge", "Rendered documents held in memory.", len(cache))
    lines += _family(
        "syndicator_articles",
        "gauge",
        "Articles in the store by state.",
        {f'state="{state.value}"': n for state, n in counted.articles.items()},
    )
    lines += _family(
        "syndicator_outbox_mails",
        "gauge",
        "Mails in the outbox by status.",
        {f'status="{s.value}"': mails.get(s, 0) for s in OutboxStatus},
    )
    lines += _family(
        "syndicator_subscribers",
        "gauge",
        "Subscribers by status.",
        {f'status="{s.value}"': people.get(s, 0) for s in SubscriberStatus},
    )
    return "\n".join(lines) + "\n"
