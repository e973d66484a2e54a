"""Every list of categories a person reads is in the order of the names shown (model.reading_order),
not of the slugs: a `[categories]` entry may show a slug under a name that begins with another letter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from syndicator import tokens
from syndicator.config import load_settings
from syndicator.mail.optin import CONFIRM_PURPOSE
from syndicator.mail.render import category_order
from syndicator.model import Category, CategoryCount, reading_order
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from tests.factories import article, article_input
from tests.live import live_server

RENAMED = "Tài nguyên - Môi trường"  # shown for the slug moi-truong: by slug it sat before Quốc phòng
STORED = ["Văn hóa", "Môi trường", "An ninh", "Quốc phòng", "Kinh tế"]
BY_NAME = ["An ninh", "Kinh tế", "Quốc phòng", RENAMED, "Văn hóa"]
SECRET = "test-secret-key-0123456789"
BY_SLUG = ["an-ninh", "kinh-te", "quoc-phong", "moi-truong", "van-hoa"]  # the slugs of BY_NAME


# --- the order alone ----------------------------------------------------------------------------------


def names(categories: list[Category]) -> list[str]:
    return [c.name for c in categories]


def test_letters_first_then_diacritics() -> None:
    shown = [
        "Văn hóa",
        "Đô thị",
        "Bà Rịa",
        "Ba Đình",
        "Bá",
        "Ba",
        "Dân số",
        "Ẩm thực",
        "An ninh",
        "thể thao",
        "Thông báo",
    ]
    ordered = reading_order(Category(str(i), name) for i, name in enumerate(shown))
    # "Đ" among the d's, "Ẩ" among the a's, case aside; the letters of the whole name decide before any
    # mark does ("Bá" before "Ba Đình"), and between equal letters no mark comes first
    assert names(ordered) == [
        "Ẩm thực",
        "An ninh",
        "Ba",
        "Bá",
        "Ba Đình",
        "Bà Rịa",
        "Dân số",
        "Đô thị",
        "thể thao",
        "Thông báo",
        "Văn hóa",
    ]


def test_counts_follow_the_same_order() -> None:
    counts = [
        CategoryCount(Category("moi-truong", RENAMED), 1),
        CategoryCount(Category("quoc-phong", "Quốc phòng"), 2),
    ]
    assert [c.category.name for c in reading_order(counts)] == ["Quốc phòng", RENAMED]


# --- where people read the lists ----------------------------------------------------------------------


@pytest.fixture
def site(database_url: str, tmp_path: Path, now: datetime) -> Iterator[tuple[Any, str]]:
    settings = load_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key=SECRET,
        base_url="http://portal.test",
        categories={"moi-truong": RENAMED},
    )
    store = Store.open(settings.database_url, settings.categories)
    store.write(
        [article_input(f"a{i}", name, now - timedelta(hours=i + 1)) for i, name in enumerate(STORED)],
        now,
    )
    service = assemble(settings, store, lambda: now)
    service.services.builder.refresh(now)
    with live_server(create_app(service.services)) as url:
        yield service, url
    service.close()
    store.close()


def test_pages_opml_and_cli_list_by_the_name_shown(
    site: tuple[Any, str], database_url: str, tmp_path: Path, now: datetime
) -> None:
    _, url = site
    home = httpx.get(f"{url}/").text
    listing = home[home.index('<ul class="categories">') :]
    listing = listing[: listing.index("</ul>")]
    assert re.findall(r'<li><a href="/c/([^"]+)">', listing) == BY_SLUG

    form = httpx.get(f"{url}/subscribe").text
    assert re.findall(r'name="categories" value="([^"]+)"', form) == BY_SLUG

    # the confirmation page names what the link subscribes to
    chosen = {"e": "a@example.vn", "c": "van-hoa,moi-truong,quoc-phong,an-ninh", "f": "daily"}
    token = tokens.sign(SECRET, CONFIRM_PURPOSE, chosen, expires=now + timedelta(days=1))
    page = httpx.get(f"{url}/confirm/{token}").text
    assert f"chuyên mục: An ninh, Quốc phòng, {RENAMED}, Văn hóa." in page

    opml = ET.fromstring(httpx.get(f"{url}/feeds.opml").content)
    outlines = [o.get("text") for o in opml.iter("outline")]
    assert outlines[1:] == BY_NAME  # after the feed of every category

    config = tmp_path / "names.toml"
    config.write_text(f'[categories]\n"moi-truong" = "{RENAMED}"\n', encoding="utf-8")
    listed = subprocess.run(
        [sys.executable, "-m", "syndicator", "categories", "list", "--json"],
        cwd=tmp_path,
        env={
            "SYNDICATOR_DATABASE_URL": database_url,
            "SYNDICATOR_CONFIG": str(config),
            "PATH": "/usr/bin:/bin",
            "PYTHONIOENCODING": "utf-8",
        },
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=True,
    )
    assert [row["name"] for row in json.loads(listed.stdout)] == BY_NAME


def test_digest_sections_keep_announcements_first_then_the_reading_order() -> None:
    groups = {
        slug: [article(id=slug, category=Category(slug, name))]
        for slug, name in [
            ("van-hoa", "Văn hóa"),
            ("moi-truong", RENAMED),
            ("thong-bao", "Thông báo"),
            ("an-ninh", "An ninh"),
            ("quoc-phong", "Quốc phòng"),
        ]
    }
    # the articles carry the names shown (mail/digests.py applies [categories] before grouping)
    assert category_order(groups) == ["thong-bao", "an-ninh", "quoc-phong", "moi-truong", "van-hoa"]
