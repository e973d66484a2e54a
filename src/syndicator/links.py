"""Public URLs, built in one place so feeds, pages, mails and the CLI agree."""

from __future__ import annotations

from urllib.parse import quote

from syndicator.model import Article


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def article_page(base_url: str, article_id: str) -> str:
    return absolute(base_url, f"/a/{quote(article_id)}")


def permalink(base_url: str, article: Article) -> str:
    """The article's public link: its source URL when it has one, else our own page."""
    return article.url or article_page(base_url, article.id)


def category_page(base_url: str, slug: str) -> str:
    return absolute(base_url, f"/c/{quote(slug)}")


def feed(base_url: str, slug: str, extension: str) -> str:
    return absolute(base_url, f"/feeds/{quote(slug)}.{extension}")
