"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), written with json: no library needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from syndicator.feeds.channel import Channel
from syndicator.feeds.entries import Entry, as_uri, prepare
from syndicator.model import Article
from syndicator.text import clean_line

VERSION = "https://jsonfeed.org/version/1.1"


def render_json(channel: Channel, articles: Sequence[Article]) -> bytes:
    title = clean_line(channel.title) or channel.key
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": title,
        "home_page_url": as_uri(channel.page_url),
        "feed_url": as_uri(channel.self_link("json")),
    }
    description = clean_line(channel.description)
    if description:
        feed["description"] = description
    feed["language"] = channel.language
    feed["authors"] = [{"name": title}]
    if channel.hub:
        feed["hubs"] = [{"type": "WebSub", "url": as_uri(channel.hub)}]
    feed["items"] = [_item(prepare(channel, a)) for a in articles]
    # No indentation, keys in a fixed order: the same input gives the same bytes.
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id, "url": entry.link, "title": entry.title}
    if entry.content_html:
        item["content_html"] = entry.content_html
    else:
        item["content_text"] = entry.summary  # an item must have content_html or content_text
    item["summary"] = entry.summary
    item["date_published"] = _rfc3339(entry.published)
    item["date_modified"] = _rfc3339(entry.updated)
    if entry.author:
        item["authors"] = [{"name": entry.author}]
    item["tags"] = [entry.category_label]
    return item


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
