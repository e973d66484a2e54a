"""OPML 2.0 list of every feed, for readers that import a whole portal at once.

In the site's language, as the feeds are. Each outline says which language its feed is in with a
`language` attribute (the feed's own language tag, `site.language`): OPML 2.0 defines no such
attribute and allows any other, readers that do not know it (Feedly, Inoreader) ignore it, and it
is the name the feeds themselves use (RSS <language>, JSON Feed `language`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from syndicator import i18n, links
from syndicator.config import Settings
from syndicator.i18n import _
from syndicator.model import Category, reading_order


def render_opml(settings: Settings, categories: Sequence[Category], now: datetime | None) -> bytes:
    """`now` is left out of the document by default so that equal inputs give equal bytes."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    with i18n.using(settings.site.catalogue):
        title = _("Nguồn tin RSS - %(site)s") % {"site": settings.site.name}
    ET.SubElement(head, "title").text = title
    if now is not None:
        ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    base = settings.base_url
    entries = [("all", settings.site.name, links.absolute(base, "/"))] + [
        (c.slug, c.name, links.category_page(base, c.slug)) for c in reading_order(categories)
    ]
    for slug, name, page in entries:
        ET.SubElement(
            body,
            "outline",
            type="rss",
            text=name,
            title=name,
            xmlUrl=links.feed(base, slug, "rss"),
            htmlUrl=page,
            language=settings.site.language,
        )
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + document + b"\n"
