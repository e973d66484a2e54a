"""A subscriber's language: where it comes from (web sign-up, CLI, CSV, officials file, preferences
page) and every mail written in it: confirmation, digests and immediate mails, their subjects and
footers, rendered once per language (not per subscriber). Over real HTTP (uvicorn), a real SMTP server
(aiosmtpd), SQLite and PostgreSQL."""

from __future__ import annotations

import email
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from syndicator import i18n
from syndicator.config import Settings
from syndicator.mail import choices, csvio, officials
from syndicator.mail.choices import InvalidSubscription
from syndicator.mail.composer import MailComposer
from syndicator.mail.digests import preview_since, queue_immediate
from syndicator.mail.mime import PARTS_HTML_SLOT, PARTS_TEXT_SLOT, TOTAL_SLOT, UNSUBSCRIBE_SLOT, encode_part
from syndicator.mail.render import MailRenderer
from syndicator.mail.sender import Sender
from syndicator.model import OutboxKind, SubscriberStatus
from syndicator.store import Store, mailqueue
from syndicator.store.database import alembic_config, create_store_engine, upgrade
from syndicator.store.mailqueue import Claimed
from syndicator.store.schema import mail_bodies, metadata, subscribers
from tests.clikit import environment, syndicator
from tests.conftest import NOW
from tests.factories import FakeClock, publish
from tests.mailkit import IN_WINDOW, RUN_AT, THONG_BAO, local
from tests.smtp_server import SmtpServer, smtp_server
from tests.subscribekit import Site, csrf_field, html_part, link, list_unsubscribe, running_site, text_part


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def site(database_url: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Site]:
    with running_site(database_url, tmp_path, smtp=smtp) as running:
        yield running


def browser(site: Site, lang: str) -> httpx.Client:
    """A client whose browser asks for `lang` (Accept-Language), as a resident's does."""
    client = site.client()
    client.headers["accept-language"] = f"{lang};q=1, *;q=0.1"
    return client


def counting(monkeypatch: pytest.MonkeyPatch, renderer: MailRenderer) -> Counter[tuple[str, str]]:
    """(what, language) of every render of a digest frame, a digest part and an article mail."""
    renders: Counter[tuple[str, str]] = Counter()
    for name in ("digest_frame", "digest_part", "article"):
        original: Callable[..., Any] = getattr(renderer, name)

        def counted(*args: Any, _name: str = name, _original: Callable[..., Any] = original) -> Any:
            renders[(_name, args[-1])] += 1
            return _original(*args)

        monkeypatch.setattr(renderer, name, counted)
    return renders


# -- no Vietnamese UI text in an English mail -------------------------------------------------------


def _ui_pieces() -> set[str]:
    """The words of every msgid of the vi catalogue, between its placeholders and tags."""
    pieces: set[str] = set()
    for message in i18n.read_catalogue("vi"):
        if not message.id:
            continue
        texts = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        for text in texts:
            for piece in re.split(r"<[^>]*>|%\(\w+\)[sd]|\{\w+\}", text):
                if any(c.isalpha() for c in piece.strip()):
                    pieces.add(piece.strip())
    return pieces


def vietnamese_ui_left(site: Site, mail: EmailMessage, data: list[str]) -> list[str]:
    """What of the vi catalogue's wording, or any Vietnamese letter, an English mail still shows once
    its data (site and category names, article titles and summaries) is taken out."""
    settings = site.settings
    list_name = str(mail["List-Id"]).rpartition("<")[0]  # its <identifier> is an address, not words
    shown = "\n".join([str(mail["Subject"]), list_name, text_part(mail), html_part(mail)])
    for item in sorted([settings.site.name, settings.site.short_name, *data], key=len, reverse=True):
        shown = shown.replace(item, "")
    shown = re.sub(r"https?://[^\s<>\"']+", "", shown)
    left = [p for p in sorted(_ui_pieces()) if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", shown)]
    letters = sorted({c for c in shown if c.isalpha() and not c.isascii()})
    return left + letters


# -- the whole way: sign-up in English and in Vietnamese, then digests and immediate mails ---------


def _sign_up(site: Site, lang: str, email: str, frequency: str) -> EmailMessage:
    client = browser(site, lang)
    token = csrf_field(client.get("/subscribe"))
    form = {"csrf_token": token, "email": email, "frequency": frequency, "all": "1"}
    response = client.post("/subscribe", data=form)
    assert response.status_code == 200 and response.headers["content-language"] == lang
    before = site.mails_accepted()
    assert site.deliver().sent == 1
    return site.received(before + 1)[-1].message()


def test_an_english_sign_up_gets_english_mail_and_a_vietnamese_one_vietnamese(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = site.settings.site.short_name
    english = _sign_up(site, "en", "anna@example.org", "daily")
    assert english["Subject"] == f"Confirm your subscription to {short}"
    assert "Confirm subscription" in text_part(english) and '<html lang="en">' in html_part(english)
    assert vietnamese_ui_left(site, english, []) == []
    vietnamese = _sign_up(site, "vi", "binh@example.vn", "daily")
    assert vietnamese["Subject"] == f"Xác nhận đăng ký nhận tin từ {short}"
    assert "Xác nhận đăng ký" in text_part(vietnamese) and '<html lang="vi">' in html_part(vietnamese)
    for mail, lang in ((english, "en"), (vietnamese, "vi")):
        # the link opens its page in the mail's language, whatever the browser prefers
        assert link(mail, "/confirm/").endswith(f"?lang={lang}")
        page = httpx.get(link(mail, "/confirm/"), headers={"accept-language": "vi" if lang == "en" else "en"})
        assert page.headers["content-language"] == lang
        assert httpx.post(link(mail, "/confirm/")).status_code == 200
    anna, binh = site.person("anna@example.org"), site.person("binh@example.vn")
    assert anna is not None and binh is not None
    assert (anna.status, anna.language) == (SubscriberStatus.CONFIRMED, "en")
    assert (binh.status, binh.language) == (SubscriberStatus.CONFIRMED, "vi")
    site.add_confirmed("chi@example.vn")  # a second Vietnamese reader: no render of their own
    site.add_confirmed("dan@example.org", language="en")

    renders = counting(monkeypatch, site.service.composer.renderer)
    assert site.queue_daily_digest("d1") == 4
    assert renders == {
        ("digest_frame", "en"): 1,
        ("digest_frame", "vi"): 1,
        ("digest_part", "en"): 1,
        ("digest_part", "vi"): 1,
    }
    assert site.deliver().sent == 4
    mails = {r.recipients[0]: r.message() for r in site.received(site.mails_accepted())[-4:]}
    for address in ("anna@example.org", "dan@example.org"):
        digest = mails[address]
        assert digest["Subject"].endswith(": 1 new article"), digest["Subject"]
        assert digest["Subject"].startswith(f"{short} digest of ")
        assert digest.get_all("Content-Language") == ["en"]  # RFC 3282, once
        text = text_part(digest)
        assert "Unsubscribe: http" in text
        assert "Change categories, how often or in which language you get mail: http" in text
        assert link(digest, "/preferences/").endswith("?lang=en") and link(digest, "/unsubscribe/").endswith(
            "?lang=en"
        )
        assert "?" not in list_unsubscribe(digest)
        assert str(digest["List-Id"]).startswith("Digest ") and "<ban-tin." in str(digest["List-Id"])
        assert vietnamese_ui_left(site, digest, ["Thông báo", "THÔNG BÁO", "Tin d1", "Tóm tắt d1."]) == []
    for address in ("binh@example.vn", "chi@example.vn"):
        digest = mails[address]
        assert digest["Subject"].startswith(f"Bản tin {short} ngày ") and digest["Subject"].endswith(
            ": 1 tin mới"
        )
        assert digest.get_all("Content-Language") == ["vi"]
        text = text_part(digest)
        assert "Hủy đăng ký: http" in text and "dưới đây là 1 tin mới được đăng trên" in text
        assert link(digest, "/preferences/").endswith("?lang=vi")
    _immediate_mails_speak_each_language(site, renders)


def _immediate_mails_speak_each_language(site: Site, renders: Counter[tuple[str, str]]) -> None:
    """One body per language, however many read it."""
    site.add_confirmed("em@example.org", frequency="immediate", language="en")
    site.add_confirmed("giang@example.vn", frequency="immediate", language="vi")
    site.add_confirmed("ha@example.vn", frequency="immediate")
    composer = site.service.composer
    assert queue_immediate(site.store, composer, site.clock()) == 0  # the first look starts now
    site.clock.advance(timedelta(minutes=5))
    site.write_article("n1", "Thông báo", site.clock() - timedelta(minutes=1))
    site.clock.advance(timedelta(minutes=5))
    renders.clear()
    assert queue_immediate(site.store, composer, site.clock()) == 3
    assert renders == {("article", "en"): 1, ("article", "vi"): 1}
    before = site.mails_accepted()
    assert site.deliver().sent == 3
    mails = {r.recipients[0]: r.message() for r in site.received(before + 3)[-3:]}
    news = mails["em@example.org"]
    assert news["Subject"] == "[Thông báo] Tin n1"  # the category's name and the title are data
    assert "Read the full article" in text_part(news)
    assert "as soon as it is published" in text_part(news)
    assert vietnamese_ui_left(site, news, ["Thông báo", "Tin n1", "Tóm tắt n1."]) == []
    for address in ("giang@example.vn", "ha@example.vn"):
        assert "Đọc toàn văn" in text_part(mails[address])


def test_the_preferences_page_changes_the_language_of_the_mail(site: Site) -> None:
    person = site.add_confirmed("an@example.vn")
    assert person.language == "vi"
    client = browser(site, "en")
    url = f"/preferences/{site.link_token('preferences', person)}"
    page = client.get(url)
    assert page.status_code == 200 and page.headers["content-language"] == "en"
    assert "Language of your mail" in page.text
    assert 'name="language" value="vi" lang="vi" checked' in page.text
    form = {"csrf_token": csrf_field(page), "action": "save", "all": "1", "frequency": "daily"}
    saved = client.post(url, data={**form, "language": "en"})
    assert saved.status_code == 200 and 'value="en" lang="en" checked' in saved.text
    changed = site.person("an@example.vn")
    assert changed is not None and changed.language == "en"
    assert site.queue_daily_digest("p1") == 1
    assert site.deliver().sent == 1
    assert site.received(1)[0].message()["Subject"].endswith(": 1 new article")
    # a language we have no catalogue for is refused, in the page's language, and changes nothing
    refused = client.post(url, data={**form, "csrf_token": csrf_field(saved), "language": "fr"})
    assert refused.status_code == 422 and "Please choose the language of your mail" in refused.text
    kept = site.person("an@example.vn")
    assert kept is not None and kept.language == "en"


def test_errors_of_the_subscribe_form_are_in_the_page_language(site: Site) -> None:
    client = browser(site, "en")
    token = csrf_field(client.get("/subscribe"))
    response = client.post("/subscribe", data={"csrf_token": token, "email": "no-at-sign", "all": "1"})
    assert response.status_code == 422
    assert "The email address must look like name@domain.vn." in response.text
    vietnamese = browser(site, "vi")
    token = csrf_field(vietnamese.get("/subscribe"))
    response = vietnamese.post("/subscribe", data={"csrf_token": token, "email": "", "all": "1"})
    assert response.status_code == 422 and "Vui lòng nhập địa chỉ email." in response.text


# -- the other ways in: CLI, CSV, officials file ------------------------------------------------------


def test_cli_add_takes_a_language_and_list_shows_it(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        result = syndicator("subscribers", *args, env=env, cwd=tmp_path)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout.strip(), result.stderr.strip()

    assert run("add", "anna@example.org", "--language", "en", "--confirmed")[:2] == (
        0,
        "added anna@example.org (confirmed, daily, en)",
    )
    added = run("add", "binh@example.vn")[1].splitlines()
    assert added[0] == "added binh@example.vn (pending, daily, vi)"  # the site's
    assert added[1].startswith("confirmation mail queued for binh@example.vn")
    assert run("add", "anna@example.org", "--frequency", "weekly", "--confirmed")[1] == (
        "updated anna@example.org (confirmed, weekly, en)"  # no --language: theirs stays
    )
    code, _, error = run("add", "chi@example.vn", "--language", "fr")
    assert code == 2 and "--language: 'fr' is not one of vi, en" in error
    code, out, _ = run("list", "--json")
    listed = {p["email"]: p["language"] for p in json.loads(out)}
    assert code == 0 and listed == {"anna@example.org": "en", "binh@example.vn": "vi"}
    code, out, _ = run("list")
    assert code == 0 and "language" in out.splitlines()[0]


def test_csv_language_column_in_and_out(store: Store) -> None:
    data = (
        "email,name,categories,frequency,language\n"
        "anna@example.org,Anna,all,daily,en\n"
        "binh@example.vn,Bình,all,daily,vi\n"
        "chi@example.vn,Chi,all,daily,fr\n"
        "dung@example.vn,Dũng,all,weekly,\n"
    )
    created, updated, problems = csvio.import_csv(store, data, NOW)
    assert (created, updated) == (3, 0)
    assert [(p.line, p.reason) for p in problems] == [(4, "language: 'fr' is not one of vi, en")]
    exported = "".join(csvio.export_csv(store)).splitlines()
    assert exported[0] == "email,name,categories,frequency,language,status,source"
    languages = {row.split(",")[0]: row.split(",")[4] for row in exported[1:]}
    assert languages == {"anna@example.org": "en", "binh@example.vn": "vi", "dung@example.vn": "vi"}
    # an export read back as it is (its status and source columns skipped) changes nothing
    assert csvio.import_csv(store, "\n".join(exported), NOW) == (0, 3, [])
    # columns by name in any order; an empty cell keeps the language an address has
    reordered = "language,email\nvi,anna@example.org\n"
    assert csvio.import_csv(store, reordered, NOW) == (0, 1, [])
    again = "email,frequency,language\nanna@example.org,daily,\ndung@example.vn,weekly,EN\n"
    assert csvio.import_csv(store, again, NOW) == (0, 2, [])
    people = {p.email: p.language for p in _everyone(store)}
    assert people == {"anna@example.org": "vi", "binh@example.vn": "vi", "dung@example.vn": "en"}


def _everyone(store: Store) -> list[Any]:
    from syndicator.store.subscribers import listing

    with store.reading() as conn:
        return listing(conn)


OFFICIALS = """
[[official]]
email = "investors@example.org"
language = "en"

[[official]]
email = "vanphong@example.vn"
"""


def test_the_officials_file_language_key(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "officials.toml"
    path.write_text(OFFICIALS, encoding="utf-8")
    listed = officials.read_officials(path)
    assert [o.language for o in listed] == ["en", None]
    assert officials.sync_officials(store, listed, NOW, default_language="vi") == (2, 0)
    people = {p.email: p.language for p in _everyone(store)}
    assert people == {"investors@example.org": "en", "vanphong@example.vn": "vi"}
    assert officials.sync_officials(store, listed, NOW) == (0, 0)  # applied again: nothing changes
    path.write_text(OFFICIALS.replace('"en"', '"vi"'), encoding="utf-8")
    assert officials.sync_officials(store, officials.read_officials(path), NOW) == (1, 0)
    assert {p.email: p.language for p in _everyone(store)}["investors@example.org"] == "vi"
    path.write_text(OFFICIALS.replace('"en"', '"fr"'), encoding="utf-8")
    with pytest.raises(InvalidSubscription, match=r"official #1: language: 'fr' is not one of vi, en"):
        officials.read_officials(path)
    path.write_text(OFFICIALS.replace('"en"', "1"), encoding="utf-8")
    with pytest.raises(InvalidSubscription, match=r"official #1: language: 1 is not a string"):
        officials.read_officials(path)


def test_choices_add_keeps_or_sets_the_language(store: Store) -> None:
    person, _ = choices.add(store, "an@example.vn", NOW, default_language="en")
    assert person.language == "en"  # a new address: the site's
    person, _ = choices.add(store, "an@example.vn", NOW, frequency="weekly")
    assert person.language == "en"  # kept
    person, _ = choices.add(store, "an@example.vn", NOW, language=" VI ")
    assert person.language == "vi"
    with pytest.raises(InvalidSubscription, match="language: 'de'"):
        choices.add(store, "an@example.vn", NOW, language="de")


# -- migration 0012 ------------------------------------------------------------------------------------


def test_migration_0012_gives_existing_rows_vietnamese_and_goes_back(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0011")
        with engine.begin() as conn:
            conn.execute(
                subscribers.insert().values(
                    id=1,
                    email="an@example.vn",
                    email_key="an@example.vn",
                    status="confirmed",
                    source="web",
                    categories="*",
                    frequency="daily",
                    hard_bounces=0,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(select(subscribers.c.language)).scalars().all() == ["vi"]
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in differences if "language" in repr(d)] == []
        with engine.begin() as conn:
            conn.execute(mail_bodies.insert().values(key="k", subject="s", mime=b"m", created_at=NOW))
        command.downgrade(alembic_config(engine), "0011")
        upgrade(engine)  # and up again: the chain stays whole
        with engine.connect() as conn:
            assert conn.execute(select(mail_bodies.c.language)).scalars().all() == ["vi"]
    finally:
        engine.dispose()


# -- category names in the mail's language -------------------------------------------------------------


@pytest.fixture
def english_names_site(database_url: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Site]:
    names = {"en": {"thong-bao": "Announcements", "y-te": "Health"}}
    with running_site(database_url, tmp_path, smtp=smtp, categories=names) as running:
        yield running


def test_category_names_follow_the_language_of_the_page_and_of_the_mail(english_names_site: Site) -> None:
    site = english_names_site
    english = browser(site, "en").get("/subscribe").text
    assert "> Announcements</label>" in english and "> Health</label>" in english
    assert english.index("> Announcements</label>") < english.index("> Health</label>")
    vietnamese = browser(site, "vi").get("/subscribe").text
    assert "> Thông báo</label>" in vietnamese and "Announcements" not in vietnamese
    site.add_confirmed("anna@example.org", language="en")
    site.add_confirmed("binh@example.vn")
    assert site.queue_daily_digest("c1") == 2
    assert site.deliver().sent == 2
    mails = {r.recipients[0]: text_part(r.message()) for r in site.received(2)}
    assert "== ANNOUNCEMENTS ==" in mails["anna@example.org"]
    assert "== THÔNG BÁO ==" in mails["binh@example.vn"]


# -- previews, and frames stored before languages ------------------------------------------------------


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def test_a_preview_speaks_the_language_asked_or_the_subscribers(
    mail_store: Store, mail_settings: Settings
) -> None:
    publish(mail_store, "p1", THONG_BAO, IN_WINDOW)
    publish(mail_store, "p2", THONG_BAO, IN_WINDOW + timedelta(hours=1))
    reader, _ = choices.add(mail_store, "anna@example.org", utc(IN_WINDOW), language="en", confirmed=True)
    composer = MailComposer(mail_settings)
    since, now = utc(local(2021, 1, 1)), utc(RUN_AT)
    short = mail_settings.site.short_name
    asked = preview_since(mail_store, composer, since, now, None, "en")
    assert asked is not None and asked[0] == f"{short} digest: articles since 1 January 2021 (2 articles)"
    assert "<title>" + asked[0] + "</title>" in asked[1] and "2 new articles" in asked[1]
    theirs = preview_since(mail_store, composer, since, now, reader)
    assert theirs is not None and theirs[0] == asked[0]
    sites = preview_since(mail_store, composer, since, now, None)
    assert sites is not None and sites[0] == f"Bản tin {short}: các tin từ 01/01/2021 (2 tin)"
    with pytest.raises(ValueError, match="'fr'"):
        preview_since(mail_store, composer, since, now, None, "fr")


def test_a_digest_frame_stored_before_0012_still_gets_its_count(
    mail_store: Store, mail_settings: Settings
) -> None:
    """A frame queued by the version before languages has a bare number's slots ({total}, @@TOTAL@@)
    and its noun written after them: the sender still fills them with the number alone."""
    person, _ = choices.add(mail_store, "an@example.vn", utc(IN_WINDOW), confirmed=True)
    composer = MailComposer(mail_settings)
    mime = composer.template(
        "Bản tin ngày 07/01/2021: {total} tin mới",
        f"dưới đây là {TOTAL_SLOT} tin mới\n{PARTS_TEXT_SLOT}\n{UNSUBSCRIBE_SLOT}",
        f"<p>dưới đây là {TOTAL_SLOT} tin mới</p>{PARTS_HTML_SLOT}",
        list_what="Bản tin",
        subject_per_recipient=True,
    )
    part = mailqueue.Part(3, encode_part("== THÔNG BÁO ==\n"), encode_part("<h2>Thông báo</h2>"))
    with mail_store.writing() as conn:
        frame = mailqueue.body_id(conn, "digest:1", "Bản tin ngày 07/01/2021: {total} tin mới", mime, NOW)
        mailqueue.store_parts(conn, frame, {"thong-bao": part})
    row = Claimed(1, OutboxKind.DIGEST, person.id, person.email, None, frame, None, 0, ("thong-bao",))
    message = Sender(mail_store, mail_settings, clock=FakeClock(RUN_AT)).message(row)
    parsed = email.message_from_bytes(message, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Bản tin ngày 07/01/2021: 3 tin mới"
    assert "dưới đây là 3 tin mới" in text_part(parsed) and "== THÔNG BÁO ==" in text_part(parsed)
