"""Public URLs, built in one place so feeds, pages, mails and the CLI agree."""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, quote, urlencode

from syndicator.model import Article

# A server listening on every address has no address of its own to link to: links use the loopback of
# the same family (asyncio binds "::" IPv6-only), which works on this machine and through a published
# container port; anything else needs base_url (the startup line says so).
_STAND_INS = {4: "127.0.0.1", 6: "::1"}


OPML_PATH = "/feeds.opml"  # every feed, for a reader to subscribe to at once


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def article_path(article_id: str) -> str:
    return f"/a/{quote(article_id)}"


def category_path(slug: str) -> str:
    return f"/c/{quote(slug)}"


def feed_path(key: str, kind: str) -> str:
    """A feed's path: `key` a category's slug or "all", `kind` rss, atom or json (its extension)."""
    return f"/feeds/{quote(key)}.{kind}"


def archive_path(key: str, page: int) -> str:
    """An RFC 5005 archive page of a feed (page 1 the oldest)."""
    return f"/feeds/{quote(key)}/archive/{page}.atom"


def subscribe_path(category: str | None = None) -> str:
    """The subscription form, with a category ticked when given."""
    return "/subscribe" if category is None else f"/subscribe?c={quote(category, safe='')}"


def in_language(query: str, lang: str, parameter: str = "lang") -> str:
    """The same page in `lang`: a relative link keeping every parameter of `query` (a raw query
    string, e.g. a category page's "trang=2") in its order, and only the old `parameter` dropped."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != parameter]
    return "?" + urlencode([*kept, (parameter, lang)])


def article_page(base_url: str, article_id: str) -> str:
    return absolute(base_url, article_path(article_id))


def permalink(base_url: str, article: Article) -> str:
    """The article's public link: its source URL when it has one, else our own page."""
    return article.url or article_page(base_url, article.id)


def category_page(base_url: str, slug: str) -> str:
    return absolute(base_url, category_path(slug))


def feed(base_url: str, slug: str, extension: str) -> str:
    return absolute(base_url, feed_path(slug, extension))


def is_wildcard(host: str) -> bool:
    """Whether a listening host means every address ("", 0.0.0.0, ::)."""
    try:
        return not host or ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False  # a name


def http_origin(host: str, port: int) -> str:
    """http://host:port as a URL writes it: IPv6 literals in brackets (a zone id %25-escaped, RFC 6874),
    no port 80."""
    bare = host.strip("[]")
    if ":" in bare:
        host = "[" + bare.replace("%", "%25") + "]"
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


def served_base(host: str, port: int) -> str:
    """The base of links to a server listening on host:port (plain http: serve has no TLS of its own)."""
    if is_wildcard(host):
        family = 6 if ":" in host else 4
        host = _STAND_INS[family]
    return http_origin(host, port)


def confirm(base_url: str, token: str) -> str:
    return absolute(base_url, f"/confirm/{quote(token)}")


def preferences(base_url: str, token: str) -> str:
    return absolute(base_url, f"/preferences/{quote(token)}")


def in_mail_language(url: str, lang: str) -> str:
    """A link of a mail, opening its page in the mail's language whatever the browser prefers (the
    page remembers it as a chosen language: the reader chose it when they subscribed)."""
    return f"{url}?lang={quote(lang)}"


def unsubscribe(base_url: str, token: str) -> str:
    """A mail's unsubscribe link, in its body and in its List-Unsubscribe header alike."""
    return absolute(base_url, f"/unsubscribe/{quote(token)}")
