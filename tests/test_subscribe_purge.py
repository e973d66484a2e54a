"""Addresses typed on the web but never confirmed are forgotten once their link has expired."""

from __future__ import annotations

from datetime import datetime, timedelta

from syndicator.mail.choices import add
from syndicator.mail.optin import purge_unconfirmed
from syndicator.model import Source, SubscriberStatus
from syndicator.store import Store
from syndicator.store.subscribers import listing


def test_only_old_unconfirmed_web_addresses_go(store: Store, now: datetime) -> None:
    old = now - timedelta(days=9)
    add(store, "cu@example.com", old, source=Source.WEB)
    add(store, "moi@example.com", now - timedelta(days=1), source=Source.WEB)
    add(store, "xacnhan@example.com", old, source=Source.WEB, confirmed=True)
    add(store, "quantri@example.com", old, source=Source.CLI)  # the office's own, pending: kept
    assert purge_unconfirmed(store, now, days=8) == 1
    with store.reading() as conn:
        left = {p.email: p.status for p in listing(conn)}
    assert "cu@example.com" not in left
    assert left["moi@example.com"] is SubscriberStatus.PENDING
    assert left["xacnhan@example.com"] is SubscriberStatus.CONFIRMED
    assert "quantri@example.com" in left
    assert purge_unconfirmed(store, now, days=8) == 0
