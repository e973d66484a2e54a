"""The rules of the W3C Feed Validation Service, as checks a test can run on RSS and Atom bytes.

The service (validator.w3.org/feed) cannot be reached from here and is not on PyPI, so its rules are
re-stated below from its source (github.com/w3c/feedvalidator: src/feedvalidator/channel.py, item.py,
feed.py, entry.py, link.py, content.py, validators.py, logging.py, base.py, __init__.py) and its
message docs (docs/warning/*.html, docs/error/*.html). Each check carries the name of the validator
message it stands for; a feed passes when no check finds anything (no errors, no warnings).

RSS 2.0 (channel.py, item.py, validators.py):
- MissingAtomSelfLink ('Missing atom:link with rel="self"'), SelfDoesntMatchLocation, RelativeSelf,
  SelfNotAtom: an absolute atom:link rel=self, typed application/rss+xml, equal to the feed's URL.
- MissingTitle / MissingLink / MissingDescription on the channel; NotBlank on item titles;
  ItemMustContainTitleOrDescription.
- MissingGuid ("item should contain a guid element"), DuplicateValue (guids unique in the feed),
  InvalidHttpGUID / InvalidPermalink (isPermaLink="true" needs a full http URL, not tag:),
  InvalidBooleanAttribute (isPermaLink is "true" or "false"), NotSufficientlyUnique (short numbers).
- InvalidRFC2822Date, ProblematicalRFC822Date, IncorrectDOW, ImplausibleDate on pubDate and
  lastBuildDate: "Fri, 18 Dec 2020 15:50:13 +0700", weekday right, not before 1990 nor in the future.
- ContainsHTML ("title should not contain HTML", the "avoid HTML in title" warning) on title,
  description and category of the channel and items: no HTML end tag, no entity-like text.
- CharacterData (RSS Best Practices Profile: 'Encode "&" and "<" in plain text using hexadecimal
  character references'): plain text holding "<x", "</" or "&#" must be written with &#x..; refs.
- NeedDescriptionBeforeContent: description precedes content:encoded.
- MisplacedItem: channel metadata comes before the first item.
- DuplicateItemSemantics / DuplicateSemantics: never both author and dc:creator, pubDate and dc:date,
  category and dc:subject, guid and atom:id.
- EmailFormat / MissingRealName: an RSS <author> must be "email (Name)"; we use dc:creator instead.
- ContainsRelRef ("should not contain relative URL references") on description and content:encoded.
- InvalidFullLink on channel/item links and permalink guids (full ASCII URLs, no IRIs).

Atom 1.0 (feed.py, entry.py, link.py, content.py):
- MissingSelf, SelfDoesntMatchLocation, SelfNotAtom; MissingElement for feed title/id/updated/author
  (an author on the feed or on every entry; an empty feed needs one on the feed) and entry
  title/id/updated/author.
- DuplicateEntries ("Two entries with the same id"), DuplicateUpdated ("Two entries with the same value
  for atom:updated"), NonCanonicalURI (ids in RFC 3986 normal form), InvalidFullLink on ids.
- InvalidRFC3339Date, ImplausibleDate on updated and published.
- ContainsUndeclaredHTML: type="text" text constructs hold no HTML end tags or entity-like text.
- ContainsHTML on author names and category labels; NotBlank on title, summary, content.
- MissingTextualContent, MissingContentOrAlternate.
- DuplicateAtomLink (one alternate per type and hreflang), UnregisteredAtomLinkRel,
  FeedHistoryRelInEntry, InvalidMIMEType (link and content types: `type="CDATA"` is not one),
  InvalidTextType.
- MisplacedMetadata: feed metadata before the first entry.
- MissingCurrentInArchive / ArchiveIncomplete: an fh:archive page links rel=current and prev/next.
- AvoidNamespacePrefix: Atom elements in the default namespace.

Both (base.py, validators.py): BadCharacters (C1 controls, U+FFFD), NonstdPrefix / ReservedPrefix
(dc, content, atom, fh prefixes), UnknownNamespace, SecurityRisk / SecurityRiskAttr /
DangerousStyleAttr (no script, iframe, on* or style in content), InvalidLanguage, MissingEncoding.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from urllib.parse import urlsplit, urlunsplit

import lxml.html
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
FH = "http://purl.org/syndication/history/1.0"
XML = "http://www.w3.org/XML/1998/namespace"
PREFIXES = {ATOM: "atom", CONTENT: "content", DC: "dc", FH: "fh"}

HTML_ELEMENTS = {
    "a", "abbr", "acronym", "address", "applet", "area", "article", "aside", "audio", "b", "base",
    "basefont", "bdi", "bdo", "big", "blink", "blockquote", "body", "br", "button", "canvas", "caption",
    "center", "cite", "code", "col", "colgroup", "data", "datalist", "dd", "del", "details", "dfn",
    "dialog", "dir", "div", "dl", "dt", "em", "embed", "fieldset", "figcaption", "figure", "font",
    "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup",
    "hr", "html", "i", "iframe", "img", "input", "ins", "kbd", "label", "legend", "li", "link", "listing",
    "main", "map", "mark", "menu", "meta", "meter", "nav", "noframes", "noscript", "object", "ol",
    "optgroup", "option", "output", "p", "param", "picture", "plaintext", "pre", "progress", "q", "rp",
    "rt", "ruby", "s", "samp", "script", "section", "select", "slot", "small", "source", "span", "strike",
    "strong", "style", "sub", "summary", "sup", "table", "tbody", "td", "template", "textarea", "tfoot",
    "th", "thead", "time", "title", "tr", "track", "tt", "u", "ul", "var", "video", "wbr", "xmp",
}  # fmt: skip
UNSAFE_ELEMENTS = {
    "applet", "base", "basefont", "blink", "body", "embed", "frame", "frameset", "head", "html", "iframe",
    "link", "listing", "meta", "noframes", "object", "param", "plaintext", "script", "slot", "style",
    "title", "xmp",
}  # fmt: skip
LINK_RELS = {
    "alternate", "current", "describedby", "edit", "edit-media", "enclosure", "first", "hub", "last",
    "license", "next", "next-archive", "payment", "prev-archive", "previous", "related", "replies",
    "search", "self", "service", "up", "via",
}  # fmt: skip
FEED_HISTORY_RELS = {"current", "first", "last", "next", "next-archive", "prev-archive", "previous"}
FEED_TYPES = {"application/atom+xml", "application/rss+xml", "application/rdf+xml"}

FULL_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//)?[A-Za-z0-9;/?:@&=+$.\-_!~*'()%,#]+$")
MIME = re.compile(
    r"^[^\s()<>,;:\\\"/\[\]?=]+/[^\s()<>,;:\\\"/\[\]?=]+(\s*;\s*[^\s()<>,;:\\\"/\[\]?=]+=\S+)*$"
)
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d\d:\d\d(:\d\d)? ([+-]\d\d[03]0|UT|GMT|Z)$"
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
END_TAG = re.compile(r"</(\w+)>")
ENTITY = re.compile(r"&(#?\w+)")
PROFILE_CHARS = re.compile(r"&#[x0-9]|<[/a-zA-Z]")
ABSOLUTE_REF = re.compile(r"^\w+:")
C1_OR_REPLACEMENT = re.compile("[\x80-\x9f\ufffd]")
UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")


class Report:
    def __init__(self, raw: bytes) -> None:
        self.problems: list[str] = []
        # The validator lets plain text through when the line it starts on holds a "&#x" reference.
        self.hex_lines = [b"&#x" in line for line in raw.split(b"\n")]

    def add(self, message: str, where: str = "") -> None:
        self.problems.append(f"{message}: {where}" if where else message)

    def hex_line(self, element: etree._Element) -> bool:
        line = element.sourceline or 1
        return self.hex_lines[line - 1]

    def plain_text(self, element: etree._Element, value: str, message: str, *, rss: bool) -> None:
        """nonhtml: no HTML end tag, no entity-like text, and (RSS) no "<x"/"&#" without hex refs."""
        value = value.strip()
        if any(tag.lower() in HTML_ELEMENTS for tag in END_TAG.findall(value)):
            self.add(message, f"{element.tag} {value!r}")
        elif ENTITY.search(value):
            names = ENTITY.findall(value)
            suspicious = any(n in name2codepoint or n == "apos" or not n.isalpha() for n in names)
            if suspicious and not self.hex_line(element):
                self.add(message, f"{element.tag} {value!r}")
        elif rss and PROFILE_CHARS.search(value) and not self.hex_line(element):
            self.add("CharacterData", f"{element.tag} {value!r}")


def check_common(raw: bytes, root: etree._Element, report: Report) -> None:
    if not raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") and not raw.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>'
    ):
        report.add("MissingEncoding")
    for element in root.iter():
        for prefix, uri in element.nsmap.items():
            if uri not in PREFIXES:
                report.add("UnknownNamespace", uri)
            elif prefix is not None and prefix != PREFIXES[uri]:
                report.add("NonstdPrefix", f"{prefix}={uri}")
        texts = [element.text or "", *element.attrib.values()]
        if any(C1_OR_REPLACEMENT.search(t) for t in texts):
            report.add("BadCharacters", str(element.tag))
    languages = [root.get(f"{{{XML}}}lang"), root.findtext("channel/language")]
    for language in filter(None, languages):
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*", language):
            report.add("InvalidLanguage", language)


def check_html(fragment: str, where: str, report: Report) -> None:
    if not fragment.strip():
        return
    for node in lxml.html.fragments_fromstring(fragment):
        if not isinstance(node, lxml.html.HtmlElement):
            continue
        for element in node.iter():
            if not isinstance(element.tag, str):
                continue
            tag = element.tag.lower()
            if tag in UNSAFE_ELEMENTS or tag not in HTML_ELEMENTS:
                report.add("SecurityRisk", f"{where} <{tag}>")
            for name, value in element.attrib.items():
                check_html_attribute(tag, name, value, where, report)


def check_html_attribute(tag: str, name: str, value: str, where: str, report: Report) -> None:
    if name.lower().startswith("on") or name.lower() in ("formaction", "srcdoc"):
        report.add("SecurityRiskAttr", f"{where} {name}")
    elif name.lower() == "style":
        report.add("DangerousStyleAttr", f"{where} {value}")
    elif name.lower() in ("href", "src"):
        if value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
            report.add("SecurityRiskAttr", f"{where} {name}={value}")
        elif tag in ("a", "img") and not ABSOLUTE_REF.match(value.strip()):
            report.add("ContainsRelRef", f"{where} {value}")


def check_rfc822(element: etree._Element | None, report: Report) -> None:
    if element is None:
        return
    value = (element.text or "").strip()
    if not RFC822.match(value):
        report.add("ProblematicalRFC822Date" if value else "InvalidRFC2822Date", f"{element.tag} {value!r}")
        return
    moment = parsedate_to_datetime(value)
    if moment.strftime("%a") != value[:3]:
        report.add("IncorrectDOW", value)
    check_plausible(moment, element.tag, report)


def check_rfc3339(element: etree._Element | None, report: Report) -> datetime | None:
    if element is None:
        return None
    value = element.text or ""
    if not RFC3339.match(value):
        report.add("InvalidRFC3339Date", f"{element.tag} {value!r}")
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    check_plausible(moment, element.tag, report)
    return moment


def check_plausible(moment: datetime, where: object, report: Report) -> None:
    if moment.year < 1990 or moment.timestamp() > time.time() + 600:
        report.add("ImplausibleDate", f"{where} {moment.isoformat()}")


def check_full_uri(value: str | None, message: str, where: str, report: Report) -> None:
    if not value or not FULL_URI.match(value):
        report.add(message, f"{where} {value!r}")


def check_self(
    link: etree._Element | None, location: str, media_type: str, message: str, report: Report
) -> None:
    if link is None:
        report.add(message)
        return
    href = link.get("href", "")
    if not urlsplit(href).netloc:
        report.add("RelativeSelf", href)
    if href != location:
        report.add("SelfDoesntMatchLocation", f"{href} != {location}")
    if (link.get("type") or "").split(";")[0] not in FEED_TYPES or link.get("type") != media_type:
        report.add("SelfNotAtom", str(link.get("type")))


def rss_problems(raw: bytes, location: str) -> list[str]:
    report = Report(raw)
    root = etree.fromstring(raw)
    check_common(raw, root, report)
    if root.tag != "rss" or root.get("version") != "2.0":
        report.add("InvalidRSSVersion")
    channel = root.find("channel")
    assert channel is not None
    check_rss_channel(channel, location, report)
    guids: set[str] = set()
    for item in channel.findall("item"):
        check_rss_item(item, guids, report)
    return report.problems


def check_rss_channel(channel: etree._Element, location: str, report: Report) -> None:
    for name, message in (
        ("title", "MissingTitle"),
        ("link", "MissingLink"),
        ("description", "MissingDescription"),
    ):
        element = channel.find(name)
        if element is None or not (element.text or "").strip():
            report.add(message)
        elif name != "link":
            report.plain_text(element, element.text or "", "ContainsHTML", rss=True)
    check_full_uri(channel.findtext("link"), "InvalidFullLink", "channel link", report)
    self_links = [a for a in channel.findall(f"{{{ATOM}}}link") if a.get("rel") == "self"]
    check_self(
        self_links[0] if self_links else None, location, "application/rss+xml", "MissingAtomSelfLink", report
    )
    for link in channel.findall(f"{{{ATOM}}}link"):
        if link.get("rel") not in LINK_RELS:
            report.add("UnregisteredAtomLinkRel", str(link.get("rel")))
        check_full_uri(link.get("href"), "InvalidFullLink", "atom:link", report)
    for name in ("pubDate", "lastBuildDate"):
        check_rfc822(channel.find(name), report)
    for category in channel.findall("category"):
        report.plain_text(category, category.text or "", "ContainsHTML", rss=True)

    seen_item = False
    for child in channel:
        if child.tag == "item":
            seen_item = True
        elif seen_item and isinstance(child.tag, str):
            report.add("MisplacedItem", str(child.tag))


def check_rss_item(item: etree._Element, guids: set[str], report: Report) -> None:
    names = [child.tag for child in item if isinstance(child.tag, str)]
    title = item.find("title")
    if title is None and item.find("description") is None:
        report.add("ItemMustContainTitleOrDescription")
    if title is not None:
        if not (title.text or "").strip():
            report.add("NotBlank", "item title")
        report.plain_text(title, title.text or "", "ContainsHTML", rss=True)
    if item.find("link") is not None:
        check_full_uri(item.findtext("link"), "InvalidFullLink", "item link", report)
    guid = item.find("guid")
    if guid is None:
        report.add("MissingGuid", item.findtext("title") or "")
    else:
        check_rss_guid(guid, guids, report)
    check_rss_item_children(names, report)
    for author in item.findall("author"):
        if not re.fullmatch(r"\S+@\S+ \(.+\)", author.text or ""):
            report.add("EmailFormat", author.text or "")
    check_rfc822(item.find("pubDate"), report)
    for category in item.findall("category"):
        report.plain_text(category, category.text or "", "ContainsHTML", rss=True)
    for name in ("description", f"{{{CONTENT}}}encoded"):
        element = item.find(name)
        if element is not None:
            check_html(element.text or "", str(name), report)


def check_rss_item_children(names: list[str], report: Report) -> None:
    """Which elements an item holds, and in which order."""
    content_name = f"{{{CONTENT}}}encoded"
    if content_name in names and (
        "description" not in names or names.index("description") > names.index(content_name)
    ):
        report.add("NeedDescriptionBeforeContent")
    for core, extension in (
        ("author", f"{{{DC}}}creator"),
        ("pubDate", f"{{{DC}}}date"),
        ("category", f"{{{DC}}}subject"),
        ("guid", f"{{{ATOM}}}id"),
    ):
        if core in names and extension in names:
            report.add("DuplicateItemSemantics", f"{core} + {extension}")


def check_rss_guid(guid: etree._Element, guids: set[str], report: Report) -> None:
    value = guid.text or ""
    if value in guids:
        report.add("DuplicateValue", value)
    guids.add(value)
    permalink = guid.get("isPermaLink", "true")
    if permalink not in ("true", "false"):
        report.add("InvalidBooleanAttribute", permalink)
    if permalink == "true":
        if value.lower().startswith(("tag:", "urn:uuid:")):
            report.add("InvalidPermalink", value)
        check_full_uri(value, "InvalidHttpGUID", "guid", report)
    elif len(value) < 9 and value.isdigit():
        report.add("NotSufficientlyUnique", value)


def canonical(uri: str) -> str:
    """RFC 3986 section 6.2.2 normal form, as the validator compares identifiers."""

    def escapes(part: str) -> str:
        def one(match: re.Match[str]) -> str:
            char = chr(int(match[1], 16))
            return char if char.isascii() and (char.isalnum() or char in "-._~") else match[0].upper()

        return UNRESERVED.sub(one, part)

    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if netloc:
        host = (parts.hostname or "").lower()
        default = {"http": 80, "https": 443}.get(scheme)
        port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
        userinfo = netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}{port}" if userinfo else f"{host}{port}"
    path = escapes(parts.path)
    if netloc or path.startswith("/"):
        segments: list[str] = []
        for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
            if segment == "..":
                if segments:
                    segments.pop()
            elif segment != ".":
                segments.append(segment)
        path = "/" + "/".join(segments) if netloc or path.startswith("/") else path
    return urlunsplit((scheme, netloc, path, escapes(parts.query), escapes(parts.fragment)))


A = f"{{{ATOM}}}"  # Clark notation prefix of Atom element names


def atom_problems(raw: bytes, location: str) -> list[str]:
    report = Report(raw)
    root = etree.fromstring(raw)
    check_common(raw, root, report)
    if root.tag != f"{A}feed":
        report.add("UndefinedElement", str(root.tag))
    for element in root.iter(f"{A}*"):
        if element.prefix is not None:
            report.add("AvoidNamespacePrefix", element.prefix)
    if root.get(f"{{{XML}}}lang") is None:
        report.add("MissingDCLanguage")
    check_atom_feed(root, location, report)
    feed_author = root.find(f"{A}author")
    ids: set[str] = set()
    updates: set[str] = set()
    for entry in root.findall(f"{A}entry"):
        check_atom_entry(entry, feed_author is not None, ids, updates, report)
    return report.problems


def check_text_construct(element: etree._Element | None, where: str, required: bool, report: Report) -> None:
    if element is None:
        if required:
            report.add("MissingElement", where)
        return
    kind = element.get("type", "text")
    if kind not in ("text", "html", "xhtml"):
        report.add("InvalidTextType", f"{where} {kind}")
    value = element.text or ""
    if not value.strip():
        report.add("NotBlank", where)
    if kind == "text":
        report.plain_text(element, value, "ContainsUndeclaredHTML", rss=False)
    elif kind == "html":
        check_html(value, where, report)


def check_atom_links(parent: etree._Element, where: str, report: Report) -> list[etree._Element]:
    found: list[etree._Element] = parent.findall(f"{A}link")
    alternates: set[tuple[str | None, str | None]] = set()
    for link in found:
        rel = link.get("rel", "alternate")
        if rel not in LINK_RELS:
            report.add("UnregisteredAtomLinkRel", f"{where} {rel}")
        if where == "entry" and rel in FEED_HISTORY_RELS:
            report.add("FeedHistoryRelInEntry", rel)
        if link.get("type") is not None and not MIME.match(link.get("type", "")):
            report.add("InvalidMIMEType", f"{where} link {link.get('type')}")
        check_full_uri(link.get("href"), "InvalidFullLink", f"{where} link", report)
        if rel == "alternate":
            key = (link.get("type"), link.get("hreflang"))
            if key in alternates:
                report.add("DuplicateAtomLink", where)
            alternates.add(key)
    return found


def check_atom_id(element: etree._Element | None, where: str, report: Report) -> str | None:
    if element is None:
        report.add("MissingElement", f"{where} id")
        return None
    value = element.text or ""
    check_full_uri(value, "InvalidFullLink", f"{where} id", report)
    if canonical(value) != value:
        report.add("NonCanonicalURI", f"{value} -> {canonical(value)}")
    return value


def check_atom_feed(root: etree._Element, location: str, report: Report) -> None:
    """The feed's metadata."""
    seen_entry = False
    for child in root:
        if child.tag == f"{A}entry":
            seen_entry = True
        elif seen_entry and isinstance(child.tag, str):
            report.add("MisplacedMetadata", str(child.tag))
    check_text_construct(root.find(f"{A}title"), "feed title", True, report)
    check_text_construct(root.find(f"{A}subtitle"), "feed subtitle", False, report)
    check_atom_id(root.find(f"{A}id"), "feed", report)
    if root.find(f"{A}updated") is None:
        report.add("MissingElement", "feed updated")
    check_rfc3339(root.find(f"{A}updated"), report)
    feed_links = check_atom_links(root, "feed", report)
    selfs = [link for link in feed_links if link.get("rel") == "self"]
    check_self(selfs[0] if selfs else None, location, "application/atom+xml", "MissingSelf", report)
    for name in root.iterfind(f"{A}author/{A}name"):
        report.plain_text(name, name.text or "", "ContainsHTML", rss=False)
    if root.find(f"{A}entry") is None and root.find(f"{A}author") is None:
        report.add("MissingElement", "feed author")
    if root.find(f"{{{FH}}}archive") is not None:
        rels = {link.get("rel") for link in feed_links}
        if "current" not in rels:
            report.add("MissingCurrentInArchive")
        if not rels & {"prev-archive", "next-archive"}:
            report.add("ArchiveIncomplete")


def check_atom_entry(
    entry: etree._Element, feed_has_author: bool, ids: set[str], updates: set[str], report: Report
) -> None:
    check_text_construct(entry.find(f"{A}title"), "entry title", True, report)
    identifier = check_atom_id(entry.find(f"{A}id"), "entry", report)
    if identifier in ids:
        report.add("DuplicateEntries", identifier or "")
    ids.add(identifier or "")
    updated = entry.find(f"{A}updated")
    if updated is None:
        report.add("MissingElement", "entry updated")
    else:
        if updated.text in updates:
            report.add("DuplicateUpdated", updated.text or "")
        updates.add(updated.text or "")
    check_rfc3339(updated, report)
    check_rfc3339(entry.find(f"{A}published"), report)
    if entry.find(f"{A}author") is None and not feed_has_author:
        report.add("MissingElement", "entry author")
    for name in entry.iterfind(f"{A}author/{A}name"):
        if not (name.text or "").strip():
            report.add("NotBlank", "author name")
        report.plain_text(name, name.text or "", "ContainsHTML", rss=False)
    for category in entry.findall(f"{A}category"):
        if not category.get("term"):
            report.add("MissingAttribute", "category term")
        report.plain_text(category, category.get("label", ""), "ContainsHTML", rss=False)
    check_atom_entry_content(entry, report)


def check_atom_entry_content(entry: etree._Element, report: Report) -> None:
    entry_links = check_atom_links(entry, "entry", report)
    for link in entry_links:  # feedgen issue #135 loses these; readers need them
        if link.get("rel") is None or link.get("type") is None:
            report.add("EntryLinkWithoutRelOrType", link.get("href", ""))
    summary = entry.find(f"{A}summary")
    check_text_construct(summary, "entry summary", False, report)
    content = entry.find(f"{A}content")
    if content is None:
        if summary is None:
            report.add("MissingTextualContent")
        if not any(link.get("rel", "alternate") == "alternate" for link in entry_links):
            report.add("MissingContentOrAlternate")
    else:
        kind = content.get("type", "text")
        if kind not in ("text", "html", "xhtml") and not MIME.match(kind):
            report.add("InvalidMIMEType", f"content {kind}")
        check_text_construct(content, "entry content", False, report)


def rule_names(problems: list[str]) -> set[str]:
    """The validator message names among `problems` ("MissingSelf: ..." -> "MissingSelf")."""
    return {p.split(":")[0] for p in problems}


# -- the checks bite --------------------------------------------------------------------------------
# A feed test passing means something only if these checks find what they stand for. They prove it
# here, on documents with known faults, each time a feed test imports this module: a check that stops
# catching its fault stops every feed test at collection, not silently.

BAD_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcx="http://purl.org/dc/elements/1.1/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
<title>x &lt;y</title><link>https://x.example/</link><description>d</description>
<lastBuildDate>2020-12-18 15:50:13</lastBuildDate>
<item><title>Avoid &lt;b&gt;html&lt;/b&gt;</title><link>https://x.example/a/1</link>
<content:encoded>&lt;a href="/rel"&gt;x&lt;/a&gt;</content:encoded>
<description>&lt;script&gt;x()&lt;/script&gt;</description>
<author>Nguyen Van A</author><dc:creator>Nguyen Van A</dc:creator>
<pubDate>Sat, 18 Dec 2020 15:50:13 +0700</pubDate></item>
<item><title>t</title><guid>tag:x.example,2020:1</guid></item>
<ttl>5</ttl>
</channel></rss>"""
BAD_RSS_FINDS = {
    "MissingAtomSelfLink",
    "CharacterData",  # the channel title's "<" with no hex reference on its line
    "ProblematicalRFC822Date",
    "ContainsHTML",
    "ContainsRelRef",
    "SecurityRisk",
    "NeedDescriptionBeforeContent",
    "DuplicateItemSemantics",
    "EmailFormat",
    "IncorrectDOW",
    "MissingGuid",
    "InvalidPermalink",
    "MisplacedItem",
    "NonstdPrefix",
}

BAD_ATOM = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0">
<id>HTTP://X.example:80/feed</id><title>t</title><updated>2020-12-18 15:50:13</updated>
<fh:archive/>
<entry><id>https://x.example/a/1</id><title>a &lt;/b&gt;</title><updated>2020-12-18T08:50:13Z</updated>
<link href="https://x.example/a/1"/><content type="CDATA">x</content></entry>
<entry><id>https://x.example/a/1</id><title>b</title><updated>2020-12-18T08:50:13Z</updated>
<link rel="alternate" type="text/html" href="https://x.example/a/2"/>
<link rel="prev-archive" type="text/html" href="https://x.example/a/3"/></entry>
<subtitle>late</subtitle>
</feed>"""
BAD_ATOM_FINDS = {
    "MissingSelf",
    "NonCanonicalURI",
    "InvalidRFC3339Date",
    "MissingElement",  # no author anywhere
    "ContainsUndeclaredHTML",
    "DuplicateEntries",
    "DuplicateUpdated",
    "InvalidMIMEType",
    "EntryLinkWithoutRelOrType",
    "FeedHistoryRelInEntry",
    "MisplacedMetadata",
    "MissingCurrentInArchive",
}

CANONICAL_FORMS = {
    "https://thoxuan.example.vn/a/tb-001": "https://thoxuan.example.vn/a/tb-001",
    "HTTP://Example.ORG:80/a/./b/../c": "http://example.org/a/c",
    "https://example.org": "https://example.org/",
    "https://example.org/%7euser/%c3%a1": "https://example.org/~user/%C3%A1",
    "tag:example.org,2000:/a/1": "tag:example.org,2000:/a/1",
}

# "&copy;"-like text passes when a "&#x" reference is on the line it starts on, and only then
HEX_ON_ITS_LINE = b"<rss version='2.0'><channel><title>a &#x26;copy; b</title></channel></rss>"
HEX_ON_ANOTHER_LINE = (
    b"<rss version='2.0'><channel>\n<title>a &amp;copy; b</title>\n<x>&#x26;</x></channel></rss>"
)


def _title_problems(raw: bytes) -> list[str]:
    report = Report(raw)
    title = etree.fromstring(raw).find("channel/title")
    assert title is not None
    report.plain_text(title, title.text or "", "ContainsHTML", rss=True)
    return report.problems


def _faults_missed() -> list[str]:
    """What the checks fail to find in the documents above (empty when they all bite)."""
    missed = [
        f"RSS: {name}"
        for name in sorted(BAD_RSS_FINDS - rule_names(rss_problems(BAD_RSS, "https://x.example/feed.rss")))
    ]
    missed += [
        f"Atom: {name}"
        for name in sorted(
            BAD_ATOM_FINDS - rule_names(atom_problems(BAD_ATOM, "https://x.example/feed.atom"))
        )
    ]
    missed += [
        f"canonical({uri!r}) is not {want!r}"
        for uri, want in CANONICAL_FORMS.items()
        if canonical(uri) != want
    ]
    if _title_problems(HEX_ON_ITS_LINE):
        missed.append("a hex reference on the line does not let the title pass")
    if not any(p.startswith("ContainsHTML") for p in _title_problems(HEX_ON_ANOTHER_LINE)):
        missed.append("a hex reference on another line lets the title pass")
    return missed


if _missed := _faults_missed():
    raise AssertionError(f"tests/w3crules.py: its checks no longer catch known faults: {_missed}")
