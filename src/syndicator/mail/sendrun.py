"""`digest send`: the run of one window queued by the scheduler's own path (digests.queue_window),
then delivered at once by this process through the deliver job's own pass (delivery.deliver_once).

Safe to repeat and to run beside a scheduler: a run is queued once, and a live sender's mails keep
their lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.leader import Leadership
from syndicator.mail.composer import MailComposer
from syndicator.mail.delivery import deliver_once
from syndicator.mail.digests import QueueReport, queue_window, window_end
from syndicator.mail.sender import Sender, SendReport
from syndicator.model import Frequency, OutboxStatus
from syndicator.store import Store, mailqueue


@dataclass(frozen=True, slots=True)
class SentRun:
    """What `digest send` did: the run's window, what was queued now, what this pass delivered, and
    the run's mails by status afterwards (the run's totals, this and earlier passes together)."""

    frequency: Frequency
    end: datetime
    queued: QueueReport
    delivered: SendReport
    totals: dict[OutboxStatus, int]


def send_run(
    store: Store,
    settings: Settings,
    frequency: Frequency,
    at: datetime,
    *,
    clock: Clock,
    on_pending: Callable[[int], None] = lambda n: None,
    on_sent: Callable[[int], None] = lambda n: None,
) -> SentRun:
    """Queue the run whose window ends at or before `at` and deliver it (and any other mail due).

    `on_pending` hears how many of the run's mails wait before delivery starts, `on_sent` each batch
    sent (a progress bar). WindowNotEnded if `at` lies in a window still open."""
    now = clock()
    end = window_end(frequency, at, settings)
    queued = queue_window(store, MailComposer(settings), frequency, end, now)
    sender = Sender(store, settings, clock=clock)
    leadership = Leadership(store.engine, settings.var_dir)
    try:
        delivered = deliver_once(
            sender,
            leadership,
            on_ready=lambda: on_pending(_by_status(store, queued.run.id).get(OutboxStatus.PENDING, 0)),
            on_sent=on_sent,
        )
    finally:
        leadership.release()  # a one-off command: the scheduler of a `serve` may lead from now on
    return SentRun(frequency, end, queued, delivered, _by_status(store, queued.run.id))


def _by_status(store: Store, run_id: int) -> dict[OutboxStatus, int]:
    with store.reading() as conn:
        return mailqueue.counts(conn, run_id=run_id)
