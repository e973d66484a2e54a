"""One delivery pass of this process, as the leader when it can be: the scheduler's deliver job and
`digest send` both make it here."""

from __future__ import annotations

from collections.abc import Callable

from syndicator.leader import Leadership
from syndicator.mail.sender import Sender, SendReport


def deliver_once(
    sender: Sender,
    leadership: Leadership,
    *,
    on_ready: Callable[[], None] = lambda: None,
    on_sent: Callable[[int], None] = lambda n: None,
) -> SendReport:
    """Send what is due now; returns when done.

    The lead is taken when free (the jobs' election has taken it already). Winning it here, this
    process first queues again what a killed sender left in flight, so `on_ready`, called before the
    first claim, finds those mails due too. A process that leads sends until it loses the lead (as its
    jobs' next election finds), then claims no more: the new leader sends the rest. One that does not
    lead (a `digest send` beside a running scheduler) sends beside the leader, whose claims it never
    takes. `on_sent` hears each mail settled (a progress bar)."""
    led = leadership.held
    if not led and leadership.acquire():
        led = True
        sender.recover()
    on_ready()
    leading = (lambda: leadership.held) if led else (lambda: True)
    return sender.deliver(on_sent=on_sent, leading=leading)
