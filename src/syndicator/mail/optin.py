"""Double opt-in (a confirmation mail holding the choices, nothing stored as chosen until its link is
followed), for the web's sign-up and the office's (`subscribers add`, `import --pending`); the
preferences and unsubscribe links; and forgetting addresses typed on the web and never confirmed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from syndicator import i18n, tokens
from syndicator.addresses import InvalidAddress, normalise
from syndicator.i18n import N_, _
from syndicator.mail.choices import InvalidSubscription, parse_categories, parse_frequency, parse_language
from syndicator.mail.composer import MailComposer
from syndicator.mail.linktokens import email_check, subscriber_from_token
from syndicator.model import Frequency, OutboxEntry, OutboxKind, Source, Subscriber, SubscriberStatus
from syndicator.store import Store, mailqueue
from syndicator.store import subscribers as store_subscribers
from syndicator.text import counted

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
        confirmations = Confirmations(composer, now)
        token = confirmations.token(address, chosen, cadence, lang, Source.WEB)
    settings = composer.settings
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
        confirmations.queue(conn, person.id, token, lang)


class Confirmations:
    """Confirmation mails (double opt-in) made at one moment: the body rendered once per language and
    kept, as a digest's are; a signed token per address, holding the choices its link confirms. One
    copy for the web's sign-up (`request_subscription`) and the office's (`ask_to_confirm`)."""

    def __init__(self, composer: MailComposer, now: datetime) -> None:
        self.composer = composer
        self.now = now
        self._mime: dict[str, tuple[str, str, bytes]] = {}  # lang -> (key, subject, MIME)
        self._bodies: dict[str, int] = {}  # lang -> mail_bodies.id, within one transaction

    def token(
        self, address: str, chosen: frozenset[str] | None, cadence: Frequency, lang: str, source: Source
    ) -> str:
        """The link's token; InvalidSubscription (in the language being made) when it would not fit."""
        settings = self.composer.settings
        token = tokens.sign(
            settings.resolved_secret_key(),
            CONFIRM_PURPOSE,
            _asked_for(address, chosen, cadence, lang, source),
            expires=self.now + timedelta(days=settings.subscribe.confirm_days),
        )
        if len(token) > mailqueue.TOKEN_CHARS:
            # the token is kept in outbox.token (VARCHAR(512)): PostgreSQL would refuse it (a 500)
            raise InvalidSubscription(
                _(
                    "Địa chỉ email quá dài để chọn nhiều chuyên mục như vậy: vui lòng chọn ít chuyên mục "
                    "hơn hoặc chọn Tất cả chuyên mục."
                )
            )
        return token

    def _rendered(self, lang: str) -> tuple[str, str, bytes]:
        if lang not in self._mime:
            composer = self.composer
            content = composer.renderer.confirmation(composer.settings.subscribe.confirm_days, lang)
            mime = composer.template(
                content.subject,
                content.text,
                content.html,
                list_what=CONFIRM_LIST,
                lang=lang,
                one_click=False,
            )
            key = f"confirm:{lang}:{hash_text(content.html + content.text)}"
            self._mime[lang] = (key, content.subject, mime)
        return self._mime[lang]

    def body(self, conn: Connection, lang: str) -> int:
        """The stored body of the mail in this language (stored once; its id is looked up once)."""
        if lang not in self._bodies:
            key, subject, mime = self._rendered(lang)
            self._bodies[lang] = mailqueue.body_id(conn, key, subject, mime, self.now, language=lang)
        return self._bodies[lang]

    def forget_bodies(self) -> None:
        self._bodies.clear()

    def queue(self, conn: Connection, subscriber_id: int, token: str, lang: str) -> None:
        """Queues the confirmation mail; this very mail (the same token: same choices, made in the same
        second) queued already is kept."""
        entry = OutboxEntry(subscriber_id, OutboxKind.CONFIRM, self.body(conn, lang), token=token)
        mailqueue.enqueue(conn, [entry], self.now)

    def still_asking(self, earlier: mailqueue.Confirmation, person: Subscriber) -> datetime | None:
        """Until when the link of an earlier confirmation mail stays valid, if that mail asks `person`
        for their choices as they stand (categories, frequency, language, source) and did not fail;
        None when it must be asked again (other choices, link expired, mail failed, another key)."""
        if not earlier.live or earlier.token is None:
            return None
        secret = self.composer.settings.resolved_secret_key()
        try:  # read as at its making: its expiry is compared here, with the same rule as tokens.verify
            data = tokens.verify(secret, CONFIRM_PURPOSE, earlier.token, now=earlier.queued_at)
        except tokens.BadToken:
            return None
        expires = data.pop("exp", None)
        wanted = _asked_for(person.email, person.categories, person.frequency, person.language, person.source)
        if data != wanted or not isinstance(expires, int) or self.now.timestamp() > expires:
            return None
        return datetime.fromtimestamp(expires, UTC)


def _asked_for(
    address: str, chosen: frozenset[str] | None, cadence: Frequency, lang: str, source: Source
) -> dict[str, str]:
    """What a confirmation link holds (and confirms), without its expiry."""
    data = {"e": address, "c": store_subscribers.encode_categories(chosen), "f": cadence.value, "l": lang}
    if source is not Source.WEB:
        data["s"] = source.value  # confirmed, the address keeps the source the office gave it
    return data


@dataclass(frozen=True, slots=True)
class Asked:
    """What `ask_to_confirm` did: the addresses mailed; those whose same mail was queued already (the
    same token: in the same second); those refused with the reason; and those not asked again
    because a confirmation mail already asks them for the same choices with a link still valid, with
    when it was queued and until when its link is valid (`recent`)."""

    queued: list[str]
    refused: list[tuple[str, str]]
    already: list[str]
    recent: list[tuple[str, datetime, datetime]] = field(default_factory=list)


ASK_BATCH = 1000  # addresses per transaction: one look at their earlier mails, one insert


def ask_to_confirm(
    store: Store, composer: MailComposer, people: Iterable[Subscriber], now: datetime
) -> Asked:
    """The office's double opt-in (`subscribers add` without --confirmed, `subscribers import --pending`):
    a confirmation mail to each pending address, in its language, its link confirming the choices
    stored for it. The body is rendered once per language. The web's per-address limit
    (subscribe.per_address_per_hour) does not apply: the office is trusted. An address that is not
    pending (confirmed, unsubscribed) is not asked (the office's add and import keep a confirmed address
    confirmed, its choices changed: `choices.add`), nor one that a confirmation mail already asks for
    the same choices (categories, frequency, language, source) with its link still valid
    (subscribe.confirm_days): running the same add or import again mails nobody twice. Changed
    choices, an expired link or a failed mail ask again. Given twice, an address is asked once, as
    given last."""
    confirmations = Confirmations(composer, now)
    asked = Asked([], [], [])
    by_id = {person.id: person for person in people if person.status is SubscriberStatus.PENDING}
    pending = list(by_id.values())
    for start in range(0, len(pending), ASK_BATCH):
        with store.writing() as conn:
            _ask_batch(conn, confirmations, pending[start : start + ASK_BATCH], asked)
    return asked


def _ask_batch(
    conn: Connection, confirmations: Confirmations, people: list[Subscriber], asked: Asked
) -> None:
    confirmations.forget_bodies()  # a new transaction: the body is looked up again
    earlier = mailqueue.latest_confirmations(conn, [person.id for person in people])
    entries: list[OutboxEntry] = []
    for person in people:
        try:
            token = confirmations.token(
                person.email, person.categories, person.frequency, person.language, person.source
            )
        except InvalidSubscription as error:
            asked.refused.append((person.email, str(error)))
            continue
        before = earlier.get(person.id)
        valid_until = None if before is None else confirmations.still_asking(before, person)
        if before is not None and valid_until is not None:  # asked already, as a run a second ago did
            asked.recent.append((person.email, before.queued_at, valid_until))
            continue
        if before is not None and before.token == token:
            asked.already.append(person.email)  # this very mail, failed, made in the same second
            continue
        body = confirmations.body(conn, person.language)
        entries.append(OutboxEntry(person.id, OutboxKind.CONFIRM, body, token=token))
        asked.queued.append(person.email)
    mailqueue.enqueue(conn, entries, confirmations.now)


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
    source: Source = Source.WEB  # the office's sign-ups (cli, import) keep theirs once confirmed


def requested(secret: str, token: str, now: datetime) -> Request:
    """Read a confirmation link without acting on it. Raises tokens.BadToken (expired: "expired")."""
    data = tokens.verify(secret, CONFIRM_PURPOSE, token, now=now)
    try:
        return Request(
            normalise(str(data["e"])),
            store_subscribers.decode_categories(str(data["c"])),
            Frequency(str(data["f"])),
            i18n.check(str(data["l"])) if "l" in data else None,
            Source(str(data.get("s", Source.WEB.value))),
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
            source=wanted.source,
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
        log.info(
            "forgot %s never confirmed within %s",
            counted(len(stale), "address", "addresses"),
            counted(days, "day"),
        )
    return len(stale)
