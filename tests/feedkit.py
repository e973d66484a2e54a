"""Builders shared by the feed tests: channels, lists of articles (of tests/factories.article), and the
sample portal exports as articles.

No tests here; pytest collects the module and finds none.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from syndicator.feeds import Channel
from syndicator.ingest.portal import parse_export
from syndicator.model import Article, ArticleInput, Category
from tests.conftest import EXAMPLES
from tests.factories import article

BASE = "https://thoxuan.example.vn"
HUB = "https://hub.example.net/"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def channel(key: str = "thong-bao", **overrides: Any) -> Channel:
    values: dict[str, Any] = {
        "key": key,
        "title": "Thông báo - Cổng thông tin điện tử huyện Thọ Xuân",
        "description": "Tin bài chuyên mục Thông báo của Cổng thông tin điện tử huyện Thọ Xuân",
        "page_url": f"{BASE}/c/{key}" if key != "all" else f"{BASE}/",
        "feed_urls": {kind: f"{BASE}/feeds/{key}.{kind}" for kind in ("rss", "atom", "json")},
        "base_url": BASE,
        "language": "vi",
        "tz": VIETNAM,
        "hub": HUB,
    }
    values.update(overrides)
    return Channel(**values)


def articles(count: int = 3) -> list[Article]:
    return [article(n) for n in range(count)]


def from_input(item: ArticleInput, updated_at: datetime | None = None) -> Article:
    """What the store would hand back for an imported ArticleInput."""
    published = item.published_at.astimezone(UTC)
    updated = updated_at or (item.updated_at.astimezone(UTC) if item.updated_at else published)
    return Article(
        id=item.id,
        title=item.title,
        category=Category(item.category_slug, item.category_name),
        published_at=published,
        updated_at=updated,
        body_html=item.body_html,
        summary=item.summary,
        author=item.author,
        office=item.office,
        url=item.url,
        status=item.status,
        changed_at=updated,
    )


def sample_articles() -> list[Article]:
    """The twelve sample exports, newest first as the store lists them."""
    items = [
        from_input(parse_export(path.read_bytes(), path.stem)) for path in sorted(EXAMPLES.glob("*.txt"))
    ]
    assert len(items) >= 12
    return sorted(items, key=lambda a: (a.published_at, a.id), reverse=True)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def nasty_articles() -> list[Article]:
    """Text that breaks naive feed writers, one trap per article (plus a few everywhere)."""
    long_body = "".join(f"<p>Đoạn {i}: {'Thọ Xuân ' * 40}</p>" for i in range(2500))  # ~1 MB
    traps: list[dict[str, Any]] = [
        {
            "title": "Cảnh báo <script>alert('x')</script> & lừa đảo",
            "summary": "Đừng bấm <b>liên kết</b> lạ & đừng trả lời",
            "body_html": "<p>Trước</p><script>alert(1)</script><p onclick='x()'>Sau &amp; hết</p>",
        },
        {
            "title": "Điều kiện a < b && c > d, kết thúc CDATA ]]> ở đây",
            "summary": "Chuỗi ]]> và <![CDATA[ trong tóm tắt",
            "body_html": "<p>Chuỗi ]]&gt; trong thân bài &amp; &lt;tag&gt;</p>",
        },
        {
            "title": "Ký tự điều khiển\x00\x01\x08\x0b\x0c\x1f\x7f\x85 giữa\ufffe chữ",
            "summary": "Tóm tắt\x02 có ký tự\x1b điều khiển",
            "body_html": "<p>Thân\x03 bài\x0c có ký tự điều khiển</p>",
            "author": "Trần\x07 Thị Bình",
        },
        {
            "title": nfd("Hội nghị tổng kết công tác Quốc phòng - An ninh"),
            "summary": nfd("Tóm tắt viết ở dạng NFD"),
            "body_html": nfd("<p>Thân bài viết ở dạng NFD: Thọ Xuân, Thanh Hóa</p>"),
            "author": nfd("Lê Đình Hải"),
            "category": Category("thong-bao", nfd("Thông báo")),
        },
        {"title": "Bài rất dài", "body_html": long_body, "summary": ""},
        {"title": "Không tóm tắt, không tác giả", "summary": "", "author": None, "office": None},
        {
            "title": "Có liên kết nguồn và liên kết tương đối",
            "url": "https://thoxuan.thanhhoa.gov.vn/tin-tuc/hoi-nghi.html?id=12&p=3",
            "body_html": '<p><a href="/van-ban/qd-12.pdf">Quyết định</a> <img src="anh/1.jpg" alt="Ảnh"> '
            '<a href="#muc-2">mục 2</a> <a href="javascript:alert(1)">xấu</a></p>',
        },
        {
            "title": "Nguồn có dấu tiếng Việt trong URL",
            "url": "https://thoxuan.thanhhoa.gov.vn/tin tức/hội nghị",
            "author": None,
            "office": "Phòng Tư pháp",
        },
        {"title": "Tiêu đề có thực thể &amp; &copy; &#x41; R&D2 </p>", "summary": "Giá 5 &lt; 6 &#123;"},
        {"title": "   ", "summary": "Tiêu đề trống thì dùng mã bài", "body_html": ""},
    ]
    return [article(n, **trap) for n, trap in enumerate(traps)]
