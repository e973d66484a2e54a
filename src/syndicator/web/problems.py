"""What an error page says: one value for the residents' forms (web/subscribe.py) and the console
(web/admin.py and its sections)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """An error page: its status, heading and message (msgids marked with N_, translated where shown;
    the message is empty when the page is given it, as subscribe's `wait` and `reason`), and for the
    console the code its JSON API answers with."""

    status: int
    heading: str
    message: str
    code: str = ""
