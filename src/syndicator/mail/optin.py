"""The web's flow: double opt-in (a confirmation mail holding the choices, nothing stored as chosen
until its link is followed), the preferences and unsubscribe links, and forgetting addresses never
confirmed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndicator import i18n, tokens
from syndicator.addresses import InvalidAddress, normalise
from syndicator.i18n import N_, _
from syndicator.mail.choices import InvalidSubscription, parse_categories, parse_frequency, parse_language
from syndicator.mail.composer import MailComposer
from syndicator.mail.linktokens import email_check, subscriber_from_token
from syndicator.model import Frequency, OutboxEntry, OutboxKind, Source, Subscriber, SubscriberStatus
from syndicator.store import Store, mailqueue
from syndicator.store import subscribers as store_subscribers

log = logging.getLogger(__name__)


class TooManyRequests(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


CONFIRM_PURPOSE = "confirm"
CONFIRM_LIST = N_("Xác nhận đăng ký")


def request_subscription(
    store: Store,
    composer: MailComposer,
    email: str,
    categories: str | Iterable[str] | None,
    frequency: str | None,
    now: datetime,
    language: str = i18n.SOURCE,
) -> None:
    """Queue a confirmation mail holding the address and the choices; nothing changes until confirmed.

    `language`: the page's; the confirmation mail is written in it, the errors raised say it, and the
    confirmed subscriber's mail will be in it.
    Raises InvalidSubscription (bad input) or TooManyRequests (too many mails to one address).
    Whether the address is known is never revealed: the same happens (and is shown) either way.
    """
    lang = i18n.check(language)
    with i18n.using(lang):  # what is wrong is told in the language of the page it is shown on
        try:
            address = normalise(email)
        except InvalidAddress as error:
            raise InvalidSubscription(str(error)) from None
        chosen = parse_categories(categories)
        cadence = parse_frequency(frequency)
        settings = composer.settings
        token = tokens.sign(
            settings.resolved_secret_key(),
            CONFIRM_PURPOSE,
            {"e": address, "c": store_subscribers.encode_categories(chosen), "f": cadence.value, "l": lang},
            expires=now + timedelta(days=settings.subscribe.confirm_days),
        )
        if len(token) > mailqueue.TOKEN_CHARS:
            # the token is kept in outbox.token (VARCHAR(512)): PostgreSQL would refuse it (a 500)
            raise InvalidSubscription(
                _(
                    "Địa chỉ email quá dài để chọn nhiều chuyên mục như vậy: vui lòng chọn ít chuyên mục "
                    "hơn hoặc chọn Tất cả chuyên mục."
                )
            )
    content = composer.renderer.confirmation(settings.subscribe.confirm_days, lang)
    with store.writing() as conn:
        person = store_subscribers.by_email(conn, address)
        if person is None:
            person, _created = store_subscribers.save(
                conn,
                address,
                name=None,
                categories=chosen,
                frequency=cadence,
                status=SubscriberStatus.PENDING,
                source=Source.WEB,
                now=now,
                language=lang,
            )
        hour_ago = now - timedelta(hours=1)
        recent = mailqueue.recent_confirmations(conn, person.id, hour_ago)
        limit = settings.subscribe.per_address_per_hour
        if len(recent) >= limit:
            wait = (recent[-limit] + timedelta(hours=1) - now).total_seconds()
            raise TooManyRequests(max(1, int(wait) + 1))
        mime = composer.template(
            content.subject, content.text, content.html, list_what=CONFIRM_LIST, lang=lang, one_click=False
        )
        body = mailqueue.body_id(
            conn,
            f"confirm:{lang}:{hash_text(content.html + content.text)}",
            content.subject,
            mime,
            now,
            language=lang,
        )
        mailqueue.enqueue(conn, [OutboxEntry(person.id, OutboxKind.CONFIRM, body, token=token)], now)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Request:
    """What a confirmation link asks for: this address, these categories (None: all), this pace, and
    mail in this language (None: a link mailed before languages, which keeps the one they have)."""

    email: str
    categories: frozenset[str] | None
    frequency: Frequency
    language: str | None = None


def requested(secret: str, token: str, now: datetime) -> Request:
    """Read a confirmation link without acting on it. Raises tokens.BadToken (expired: "expired")."""
    data = tokens.verify(secret, CONFIRM_PURPOSE, token, now=now)
    try:
        return Request(
            normalise(str(data["e"])),
            store_subscribers.decode_categories(str(data["c"])),
            Frequency(str(data["f"])),
            i18n.check(str(data["l"])) if "l" in data else None,
        )
    except (KeyError, ValueError):
        raise tokens.BadToken("invalid token") from None


def confirm(store: Store, secret: str, token: str, now: datetime, ip: str | None) -> Subscriber:
    """Apply a confirmation link (twice is harmless). Raises tokens.BadToken."""
    wanted = requested(secret, token, now)
    with store.writing() as conn:
        person, _ = store_subscribers.save(
            conn,
            wanted.email,
            name=None,
            categories=wanted.categories,
            frequency=wanted.frequency,
            status=SubscriberStatus.CONFIRMED,
            source=Source.WEB,
            now=now,
            confirmed_ip=ip,
            language=wanted.language,
            default_language=i18n.SOURCE,
        )
    return person


def from_link(store: Store, secret: str, purpose: str, token: str) -> Subscriber:
    """The subscriber a preferences/unsubscribe link stands for. Raises tokens.BadToken."""
    subscriber_id, check = subscriber_from_token(secret, purpose, token)
    with store.reading() as conn:
        person = store_subscribers.by_id(conn, subscriber_id)
    if person is None or email_check(person.email) != check:
        raise tokens.BadToken("unknown subscriber")
    return person


def update_preferences(
    store: Store,
    person: Subscriber,
    categories: str | Iterable[str] | None,
    frequency: str | None,
    now: datetime,
    language: str | None = None,
) -> Subscriber:
    """The choices of the preferences page; `language` (of their mail): None leaves it as it is."""
    chosen = parse_categories(categories)
    cadence = parse_frequency(frequency)
    lang = None if language is None else parse_language(language)
    with store.writing() as conn:
        store_subscribers.set_choice(conn, person.id, chosen, cadence, now, language=lang)
        found = store_subscribers.by_id(conn, person.id)
    assert found is not None
    return found


def purge_unconfirmed(store: Store, now: datetime, days: int) -> int:
    """Addresses typed on the web but never confirmed are personal data with no purpose: forget
    them once their confirmation link has expired."""
    cutoff = now - timedelta(days=days)
    with store.writing() as conn:
        stale = store_subscribers.unconfirmed_from_web(conn, cutoff)
        store_subscribers.forget(conn, stale)
    if stale:
        log.info("forgot %d addresses never confirmed within %d days", len(stale), days)
    return len(stale)
