"""A subscriber's choices and their rules, one copy for the CLI, the CSV import, the officials file
and the web: categories, frequency, name; adding, removing and unsubscribing an address."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from syndicator import i18n
from syndicator.accounts import AuditEntry
from syndicator.addresses import InvalidAddress, normalise
from syndicator.model import Frequency, OwnChoice, Source, Subscriber, SubscriberStatus
from syndicator.store import Store
from syndicator.store import audit as store_audit
from syndicator.store import subscribers as store_subscribers
from syndicator.text import category_slug, clean_line


class InvalidSubscription(ValueError):
    """What is wrong, naming the field."""


def parse_categories(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """'all' (or nothing) -> None (every category); names or slugs -> slugs."""
    if value is None:
        return None
    if isinstance(value, str):
        return _categories_of_text(value)
    return _categories_of(value)


@lru_cache(maxsize=1024)
def _categories_of_text(value: str) -> frozenset[str] | None:
    # cached: an import's rows name the same few lists of categories again and again
    return _categories_of(value.split(","))


def _categories_of(items: Iterable[str]) -> frozenset[str] | None:
    cleaned = [v.strip() for v in items if v and v.strip()]
    if not cleaned or any(v.lower() in ("all", "*", "tất cả") for v in cleaned):
        return None
    slugs = frozenset(category_slug(v) for v in cleaned)
    if "" in slugs:
        raise InvalidSubscription("categories: a category has no letters or digits")
    return slugs


class UnknownCategory(InvalidSubscription):
    """A category that is none of the known ones; the message lists those."""


def known_categories(store: Store, configured: Collection[str] = ()) -> frozenset[str]:
    """The category slugs a subscriber may choose: those with articles stored and those the settings
    name (`categories`). Empty in a fresh database: then no choice is checked, as on a first start."""
    return frozenset(store.category_names()) | frozenset(configured)


def strangers(names: Iterable[str], known: Collection[str]) -> list[str]:
    """The names (or slugs) among `names` that are no known category (none known: none)."""
    return [n for n in names if known and category_slug(n) not in known]


def known_only(
    given: str | Iterable[str] | None, slugs: frozenset[str] | None, known: Collection[str]
) -> frozenset[str] | None:
    """`slugs` (parsed from `given`) when each is a known category; UnknownCategory otherwise."""
    if slugs is None or given is None or not known:
        return slugs  # every category, whichever there are (none known: not checked)
    if all(slug in known for slug in slugs):
        return slugs  # the common case, once per CSV row: the names are split again only to be named
    names = [n.strip() for n in (given.split(",") if isinstance(given, str) else given) if n.strip()]
    unknown = strangers(names, known)
    if unknown:
        raise UnknownCategory(
            f"categories: {', '.join(map(repr, unknown))}: no such category "
            f"(there are: {', '.join(sorted(known))})"
        )
    return slugs


def parse_frequency(value: str | None) -> Frequency:
    if not value:
        return Frequency.DAILY
    found = _FREQUENCIES.get(value.strip().lower())
    if found is None:
        raise InvalidSubscription(f"frequency: {value!r} is not immediate, daily or weekly")
    return found


_FREQUENCIES = {frequency.value: frequency for frequency in Frequency}  # faster than Frequency(value)


def parse_language(value: str | None) -> str:
    """The language of a subscriber's mail: a catalogue we have ("vi", "en"; any case, spaces ignored)."""
    given = (value or "").strip().lower()
    if given not in i18n.LANGUAGES:
        raise InvalidSubscription(f"language: {value!r} is not one of {', '.join(i18n.LANGUAGES)}")
    return given


def clean_name(value: str | None) -> str | None:
    # names reach mail headers: no control characters, one line, bounded
    name = clean_line(value or "")[:200]
    return name or None


def add(
    store: Store,
    email: str,
    now: datetime,
    *,
    name: str | None = None,
    categories: str | Iterable[str] | None = None,
    frequency: str | None = None,
    confirmed: bool = False,
    source: Source = Source.CLI,
    ip: str | None = None,
    known: Collection[str] = (),
    language: str | None = None,
    default_language: str = i18n.SOURCE,
    actor: str | None = None,
    address: str | None = None,
) -> tuple[Subscriber, bool]:
    """Add a subscriber or change an existing one's choices (keyed by address).

    `actor` (such as "cli:<os user>", or a console account's username): the change is audited in its
    transaction, as `subscriber.add` or `subscriber.update`, its detail the choices it changed
    (`changes`); `address`: the console's client, for the audit log.

    `language` of their mail: None (or empty) keeps the one they have; a new address gets
    `default_language` (the site's: `settings.site.catalogue`).

    `confirmed`: the office vouches for the address, which is confirmed (an unsubscribed or bounced one
    too, as the office says). Without it a new address is pending until its owner confirms, and so is
    one pending, unsubscribed or bounced; an address already confirmed stays confirmed, with its
    source: only its choices change, and it is not asked to confirm again.

    `known`: the category slugs there are (`known_categories`); a category outside them is refused
    (UnknownCategory), as the officials file refuses one. None known (a fresh database): not checked."""
    choice = wanted(email, name, categories, frequency, language, known)
    with store.writing() as conn:
        before = store_subscribers.by_email(conn, choice.email) if actor is not None else None
        person, created = store_subscribers.save(
            conn,
            choice.email,
            name=choice.name,
            categories=choice.categories,
            frequency=choice.frequency,
            status=_status(confirmed),
            source=source,
            now=now,
            confirmed_ip=ip,
            language=choice.language,
            default_language=default_language,
        )
        if actor is not None:
            action = "subscriber.add" if created else "subscriber.update"
            entry = AuditEntry(now, actor, action, person.email, changes(before, person) or None, address)
            store_audit.record(conn, entry)
        return person, created


def wanted(
    email: str,
    name: str | None = None,
    categories: str | Iterable[str] | None = None,
    frequency: str | None = None,
    language: str | None = None,
    known: Collection[str] = (),
) -> store_subscribers.Choice:
    """A subscription as given (to `add`, or on a CSV row) checked and cleaned, as the store saves it;
    InvalidSubscription names the first field that is wrong (the address, categories, language,
    frequency, in that order)."""
    try:
        address = normalise(email)
    except InvalidAddress as error:
        raise InvalidSubscription(f"email: {email!r}: {error}") from None
    chosen = known_only(categories, parse_categories(categories), known)
    lang = parse_language(language) if language else None
    return store_subscribers.Choice(address, clean_name(name), chosen, parse_frequency(frequency), lang)


def _status(confirmed: bool) -> SubscriberStatus:
    # pending: asked for; the store keeps a confirmed address confirmed (store_subscribers._choice)
    return SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING


@dataclass(frozen=True, slots=True)
class Given:
    """A subscription as a CSV row gives it, for `add_many`: every field as typed (None: not given)."""

    email: str
    name: str | None = None
    categories: str | None = None
    frequency: str | None = None
    language: str | None = None


def add_many(
    store: Store,
    given: Sequence[Given],
    now: datetime,
    *,
    confirmed: bool = False,
    source: Source = Source.IMPORT,
    known: Collection[str] = (),
    default_language: str = i18n.SOURCE,
) -> list[tuple[Subscriber, bool] | InvalidSubscription]:
    """`add` of each subscription, in order, in one transaction and a few statements
    (store_subscribers.save_many): what a CSV import does with each chunk of its rows. For each one,
    (subscriber, created) or the InvalidSubscription that left it out; the others are saved."""
    problems: list[InvalidSubscription | None] = []  # None: saved
    good: list[store_subscribers.Choice] = []
    for one in given:
        try:
            choice = wanted(one.email, one.name, one.categories, one.frequency, one.language, known)
        except InvalidSubscription as error:
            problems.append(error)
            continue
        good.append(choice)
        problems.append(None)
    if not good:
        return [problem for problem in problems if problem is not None]
    with store.writing() as conn:
        saved = iter(
            store_subscribers.save_many(
                conn,
                good,
                status=_status(confirmed),
                source=source,
                now=now,
                default_language=default_language,
            )
        )
    return [next(saved) if problem is None else problem for problem in problems]


def _choices(person: Subscriber) -> dict[str, str]:
    return {
        "name": person.name or "",
        "status": person.status.value,
        "categories": "all" if person.categories is None else ",".join(sorted(person.categories)),
        "frequency": person.frequency.value,
        "language": person.language,
    }


def changes(before: Subscriber | None, after: Subscriber) -> str:
    """What an add changed, as the audit log's detail: `frequency: daily -> weekly; ...` (every
    choice of a new address, `status: pending; ...`); empty when nothing changed."""
    now = _choices(after)
    if before is None:
        return "; ".join(f"{key}: {value}" for key, value in now.items() if value)
    then = _choices(before)
    return "; ".join(f"{key}: {then[key]} -> {now[key]}" for key in now if then[key] != now[key])


def remove(
    store: Store,
    email: str,
    now: datetime | None = None,
    actor: str | None = None,
    address: str | None = None,
) -> bool:
    """Forget an address entirely: the subscriber, its status history and the mails queued or sent to
    it; with `actor` (and `now`), audited as `subscriber.remove` in the same transaction (`address`:
    the console's client)."""
    with store.writing() as conn:
        found = store_subscribers.by_email(conn, email)
        if found is None:
            return False
        store_subscribers.forget(conn, [found.id])
        if actor is not None and now is not None:
            store_audit.record(conn, AuditEntry(now, actor, "subscriber.remove", found.email, None, address))
        return True


def unsubscribe(
    store: Store,
    subscriber_id: int,
    now: datetime,
    actor: str | None = None,
    address: str | None = None,
) -> bool:
    """End a subscription (the person's link, or the office for them); False for no such subscriber.
    With `actor` (the office's), a change is audited as `subscriber.unsubscribe` in its transaction."""
    with store.writing() as conn:
        found = store_subscribers.by_id(conn, subscriber_id)
        if found is None:
            return False
        if found.status is not SubscriberStatus.UNSUBSCRIBED:
            store_subscribers.unsubscribe(conn, subscriber_id, now)
            if actor is not None:
                detail = f"status: {found.status.value} -> {SubscriberStatus.UNSUBSCRIBED.value}"
                entry = AuditEntry(now, actor, "subscriber.unsubscribe", found.email, detail, address)
                store_audit.record(conn, entry)
        return True


def own_choice(store: Store, person: Subscriber) -> OwnChoice | None:
    """What the preferences page edits for an address the office lists (None: not listed)."""
    with store.reading() as conn:
        return store_subscribers.own_choice(conn, person.id)
