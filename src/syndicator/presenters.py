"""Plain-data views of model objects (JSON for the CLI and the API), with times shown in the site's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syndicator import links
from syndicator.config import Settings
from syndicator.model import Article


def local_iso(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.tz).isoformat(timespec="seconds")


def article_json(article: Article, settings: Settings, now: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "category": article.category.slug,
        "category_name": article.category.name,
        "published_at": local_iso(article.published_at, settings),
        "updated_at": local_iso(article.updated_at, settings),
        "status": article.visibility(now).value,
        "author": article.author,
        "office": article.office,
        "summary": article.summary,
        "url": links.permalink(settings.base_url, article),
    }
