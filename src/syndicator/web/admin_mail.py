"""The console's outbox (/admin/mail) and digest (/admin/digests) pages.

The outbox: every role sees it, with addresses masked below admin; an admin sees the addresses, and each
page of them is audited (`subscriber.list`, a mail's page `subscriber.view`: Decree 13/2023/NĐ-CP). Only
an admin retries or cancels a mail, by POST, audited in the transaction of the change, and only while the
mail is still as the page showed it (`status`): otherwise 409, nothing changed.

Digests: runs with their windows and counts for every role; previews for editors, made by the function
`syndicator digest preview` uses (mail/digests.preview). A preview as one subscriber shows their address
and choices: admin only, audited as the CLI's `digest preview --email` is. The mail's HTML is never put
inside a console page (its inline styles break the console's CSP, and its links are live): the page shows
its text, and links to the HTML served alone, under a CSP `sandbox` of its own (an opaque origin: no
script, no form, no cookie of the console).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from syndicator import addresses, i18n, text
from syndicator.accounts import AuditEntry, Role, Signed, masked_address
from syndicator.i18n import N_
from syndicator.mail import digests
from syndicator.mail.mime import COUNT
from syndicator.model import DigestRun, Frequency, OutboxKind, OutboxStatus, Subscriber
from syndicator.store import audit as store_audit
from syndicator.store import digestruns, mailqueue
from syndicator.store.subscribers import by_email, by_id
from syndicator.web import forms
from syndicator.web.admin import BAD_REQUEST, FORBIDDEN, PREFIX, guarded, page, problem
from syndicator.web.problems import Problem
from syndicator.web.state import web

PAGE = 50
MAX_ID = 2_147_483_647  # the largest id the databases' INTEGER holds: larger ones are no mail
MAX_ADDRESS = 320
PATHS = {
    "mail": f"{PREFIX}/mail",
    "digests": f"{PREFIX}/digests",
    "preview": f"{PREFIX}/digests/preview",
    "preview_as": f"{PREFIX}/digests/preview/as",
    "preview_mail": f"{PREFIX}/digests/preview/mail",
}
TEMPLATES = ["admin/mail.html", "admin/mail_detail.html", "admin/digests.html", "admin/digest_preview.html"]

STATUS_NAMES = {
    OutboxStatus.PENDING: N_("Đang chờ gửi"),
    OutboxStatus.SENDING: N_("Đang gửi"),
    OutboxStatus.SENT: N_("Đã gửi"),
    OutboxStatus.FAILED: N_("Gửi không được"),
    OutboxStatus.CANCELLED: N_("Đã hủy"),
}
KIND_NAMES = {
    OutboxKind.DIGEST: N_("Bản tin định kỳ"),
    OutboxKind.IMMEDIATE: N_("Tin ngay"),
    OutboxKind.CONFIRM: N_("Thư xác nhận đăng ký"),
}
OUTCOME_NAMES = {
    mailqueue.Outcome.SENT: N_("Máy chủ đã nhận"),
    mailqueue.Outcome.RETRY: N_("Tạm thời bị từ chối, sẽ gửi lại"),
    mailqueue.Outcome.FAILED: N_("Bị từ chối hẳn"),
    mailqueue.Outcome.BOUNCED: N_("Địa chỉ bị từ chối hẳn (thư trả về)"),
}
FREQUENCY_NAMES = {Frequency.DAILY: N_("Hằng ngày"), Frequency.WEEKLY: N_("Hằng tuần")}

BAD_STATUS = Problem(
    400, N_("Trạng thái không hợp lệ"), N_("Hãy chọn một trạng thái trong danh sách."), "bad status"
)
BAD_KIND = Problem(400, N_("Loại thư không hợp lệ"), N_("Hãy chọn một loại thư trong danh sách."), "bad kind")
BAD_RUN = Problem(400, N_("Mã lượt gửi không hợp lệ"), N_("Mã lượt gửi là một số nguyên dương."), "bad run")
BAD_ADDRESS = Problem(
    400, N_("Địa chỉ không hợp lệ"), N_("Địa chỉ thư điện tử quá dài hoặc có ký tự lạ."), "bad address"
)
BAD_PAGE = Problem(404, N_("Không có trang này"), N_("Số trang phải là một số nguyên dương."), "bad page")
NO_MAIL = Problem(
    404, N_("Không có thư này"), N_("Thư đã bị xóa khỏi hàng đợi hoặc chưa từng có."), "no such mail"
)
MOVED = Problem(
    409,
    N_("Thư đã thay đổi"),
    N_("Trong lúc bạn xem, thư đã được gửi, thử lại hoặc hủy. Hãy tải lại trang để xem tình trạng mới."),
    "mail moved",
)
BEING_SENT = Problem(
    409,
    N_("Thư đang được gửi"),
    N_("Thư đang được gửi đi và máy chủ có thể đã nhận nó, nên lúc này không thể hủy hay gửi lại."),
    "being sent",
)
BAD_FREQUENCY = Problem(
    400, N_("Tần suất không hợp lệ"), N_("Hãy chọn bản tin hằng ngày hoặc hằng tuần."), "bad frequency"
)
BAD_LANGUAGE = Problem(
    400, N_("Ngôn ngữ không hợp lệ"), N_("Hãy chọn tiếng Việt hoặc tiếng Anh."), "bad language"
)
BAD_SUBSCRIBER = Problem(
    400, N_("Mã người đăng ký không hợp lệ"), N_("Mã người đăng ký là một số nguyên dương."), "bad subscriber"
)
NO_SUBSCRIBER = Problem(
    404,
    N_("Không có người đăng ký này"),
    N_("Không có người đăng ký nào có địa chỉ hoặc mã này."),
    "no such subscriber",
)

# A preview's mail served alone: no script, no plugin, an opaque origin (no console cookie, no same-origin
# request), its images from anywhere (as in a mail reader), its inline styles applied as a mail reader
# would; never framed. This policy replaces the site's (web/app.SecurityHeaders), which forbids inline
# styles.
SANDBOX_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def mail_path(outbox_id: int) -> str:
    return f"{PATHS['mail']}/{outbox_id}"


def _positive(raw: str) -> int | None:
    """A positive id within the databases' INTEGER, plain ASCII digits; None otherwise."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_ID else None


def _shown(who: Signed) -> Callable[[str], str]:
    """How this person sees an address: whole for an admin, masked for the others."""
    return (lambda email: email) if who.account.role.sees_personal_data else masked_address


def _scrubbed(who: Signed, email: str) -> Callable[[str | None], str]:
    """A server's reply as this person may read it: servers often quote the recipient's address
    ("550 5.1.1 <ng@x.vn>: unknown"), which below admin is masked there too."""
    if who.account.role.sees_personal_data:
        return lambda said: said or ""
    quoted = re.compile(re.escape(email), re.IGNORECASE)
    masked = masked_address(email)
    return lambda said: quoted.sub(masked, said or "")


def _audit(who: Signed, request: Request, now: datetime, action: str, target: str, detail: str) -> AuditEntry:
    return AuditEntry(now, who.account.username, action, target, detail, forms.client(request))


# -- the outbox -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Asked:
    chosen: mailqueue.Filter
    number: int


def _outbox_filter(request: Request, who: Signed) -> _Asked | Problem:
    """The list's filters from the query string, each checked before any query."""
    query = request.query_params
    status = kind = None
    if raw := query.get("status", ""):
        if raw not in {s.value for s in OutboxStatus}:
            return BAD_STATUS
        status = OutboxStatus(raw)
    if raw := query.get("kind", ""):
        if raw not in {k.value for k in OutboxKind}:
            return BAD_KIND
        kind = OutboxKind(raw)
    run_id = None
    if raw := query.get("run", ""):
        run_id = _positive(raw)
        if run_id is None:
            return BAD_RUN
    address = query.get("address", "").strip()
    if address:
        if not who.account.role.sees_personal_data:
            return FORBIDDEN  # a search by address is a use of personal data
        if len(address) > MAX_ADDRESS or not address.isprintable():
            return BAD_ADDRESS
    number = forms.page_number(query.get("trang", "1"))
    if number is None:
        return BAD_PAGE
    return _Asked(mailqueue.Filter(status, kind, address or None, run_id), number)


def _outbox_page(
    request: Request, who: Signed, asked: _Asked, now: datetime
) -> tuple[list[mailqueue.Mail], int, int]:
    """A page of mails, how many match, and how many are stuck (mailqueue.stuck)."""
    store = web(request).store
    offset = (asked.number - 1) * PAGE
    if not who.account.role.sees_personal_data:
        with store.reading() as conn:
            found, total = mailqueue.mails(conn, asked.chosen, limit=PAGE, offset=offset)
            return found, total, mailqueue.stuck(conn, now)
    with store.writing() as conn:  # an admin's page of addresses is logged with its read
        found, total = mailqueue.mails(conn, asked.chosen, limit=PAGE, offset=offset)
        if found:
            detail = f"mail page {asked.number}: {len(found)} addresses"
            store_audit.record(conn, _audit(who, request, now, "subscriber.list", "mail", detail))
        return found, total, mailqueue.stuck(conn, now)


@guarded(Role.VIEWER)
async def outbox(request: Request, who: Signed, data: FormData | None) -> Response:
    asked = _outbox_filter(request, who)
    if isinstance(asked, Problem):
        return problem(request, asked, who)
    state = web(request)
    now = state.now()
    found, total, stuck = await run_in_threadpool(_outbox_page, request, who, asked, now)
    chosen = asked.chosen
    kept = {
        "status": chosen.status.value if chosen.status else "",
        "kind": chosen.kind.value if chosen.kind else "",
        "address": chosen.address or "",
        "run": str(chosen.run_id) if chosen.run_id else "",
    }
    return page(
        request,
        "admin/mail.html",
        who,
        mails=found,
        total=total,
        stuck=stuck,
        stuck_minutes=int(mailqueue.STUCK_AFTER.total_seconds() // 60),
        page_number=asked.number,
        has_next=asked.number * PAGE < total,
        kept=kept,
        query_of=lambda number: _query({**kept, "trang": str(number)}),
        **_names(who),
    )


def _query(values: dict[str, str]) -> str:
    return "?" + urlencode({k: v for k, v in values.items() if v})


def _names(who: Signed) -> dict[str, Any]:
    return {
        "mail_paths": PATHS,
        "mail_path": mail_path,
        "retry_path": lambda outbox_id: f"{mail_path(outbox_id)}/retry",
        "cancel_path": lambda outbox_id: f"{mail_path(outbox_id)}/cancel",
        "run_mails": lambda run_id: PATHS["mail"] + _query({"run": str(run_id)}),
        "endonyms": i18n.ENDONYMS,
        "sent": OutboxStatus.SENT,
        "failed": OutboxStatus.FAILED,
        "pending": OutboxStatus.PENDING,
        "sending": OutboxStatus.SENDING,
        "status_names": STATUS_NAMES,
        "kind_names": KIND_NAMES,
        "outcome_names": OUTCOME_NAMES,
        "frequency_names": FREQUENCY_NAMES,
        "shown": _shown(who),
        "statuses": list(OutboxStatus),
        "kinds": list(OutboxKind),
        "admin": who.account.role.sees_personal_data,
    }


@dataclass(frozen=True, slots=True)
class _Detail:
    mail: mailqueue.Mail
    attempts: list[mailqueue.Attempt]


def _detail(request: Request, who: Signed, outbox_id: int, now: datetime) -> _Detail | None:
    store = web(request).store
    admin = who.account.role.sees_personal_data
    with store.writing() if admin else store.reading() as conn:
        found = mailqueue.mail(conn, outbox_id)
        if found is None:
            return None
        if admin:
            entry = _audit(who, request, now, "subscriber.view", found.email, f"mail {outbox_id}")
            store_audit.record(conn, entry)
        return _Detail(found, mailqueue.attempts_of(conn, outbox_id))


@guarded(Role.VIEWER)
async def mail_detail(request: Request, who: Signed, data: FormData | None) -> Response:
    outbox_id = _positive(str(request.path_params["id"]))
    if outbox_id is None:
        return problem(request, NO_MAIL, who)
    state = web(request)
    now = state.now()
    found = await run_in_threadpool(_detail, request, who, outbox_id, now)
    if found is None:
        return problem(request, NO_MAIL, who)
    held = found.mail.status is OutboxStatus.SENDING and (
        found.mail.lease_until is None or found.mail.lease_until >= now
    )
    return page(
        request,
        "admin/mail_detail.html",
        who,
        mail=found.mail,
        attempts=found.attempts,
        held=held,
        can_retry=found.mail.status in mailqueue.RETRYABLE,
        can_cancel=found.mail.status in mailqueue.CANCELLABLE,
        subject=found.mail.subject.replace(COUNT, "…").replace("{total}", "…"),
        said=_scrubbed(who, found.mail.email),
        **_names(who),
    )


def _change(
    request: Request, who: Signed, outbox_id: int, seen: OutboxStatus, action: str, now: datetime
) -> Problem | None:
    """Retry or cancel, with its audit entry, in one transaction; the problem when it could not be."""
    with web(request).store.writing() as conn:
        found = mailqueue.mail(conn, outbox_id)
        if found is None:
            return NO_MAIL
        if found.status is OutboxStatus.SENDING:
            return BEING_SENT
        if action == "mail.retry":
            done = mailqueue.retry_now(conn, outbox_id, seen, now)
        else:
            done = mailqueue.cancel_now(
                conn, outbox_id, seen, f"cancelled in the console by {who.account.username}"
            )
        if not done:
            return MOVED
        detail = f"{seen.value} -> {'pending' if action == 'mail.retry' else 'cancelled'}"
        store_audit.record(conn, _audit(who, request, now, action, f"mail {outbox_id}", detail))
    return None


async def _changed(request: Request, who: Signed, data: FormData | None, action: str) -> Response:
    assert data is not None
    outbox_id = _positive(str(request.path_params["id"]))
    if outbox_id is None:
        return problem(request, NO_MAIL, who)
    raw = forms.text(data.get("status"))
    if raw not in {s.value for s in OutboxStatus}:
        return problem(request, BAD_REQUEST, who)
    state = web(request)
    trouble = await run_in_threadpool(
        _change, request, who, outbox_id, OutboxStatus(raw), action, state.now()
    )
    if trouble is not None:
        return problem(request, trouble, who)
    return RedirectResponse(mail_path(outbox_id), status_code=303)


@guarded(Role.ADMIN)
async def mail_retry(request: Request, who: Signed, data: FormData | None) -> Response:
    """A pending mail due now; a failed one back in the queue, due now."""
    return await _changed(request, who, data, "mail.retry")


@guarded(Role.ADMIN)
async def mail_cancel(request: Request, who: Signed, data: FormData | None) -> Response:
    """A pending mail (queued, or waiting to be tried again) that will not go."""
    return await _changed(request, who, data, "mail.cancel")


# -- digests --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    run: DigestRun
    counts: dict[OutboxStatus, int]


def _runs(request: Request, number: int) -> tuple[list[_Run], int]:
    with web(request).store.reading() as conn:
        found, total = digestruns.runs(conn, limit=PAGE, offset=(number - 1) * PAGE)
        counted = mailqueue.counts_by_run(conn, [run.id for run in found])
        return [_Run(run, counted[run.id]) for run in found], total


@guarded(Role.VIEWER)
async def digest_runs(request: Request, who: Signed, data: FormData | None) -> Response:
    number = forms.page_number(request.query_params.get("trang", "1"))
    if number is None:
        return problem(request, BAD_PAGE, who)
    found, total = await run_in_threadpool(_runs, request, number)
    return page(
        request,
        "admin/digests.html",
        who,
        runs=found,
        total=total,
        page_number=number,
        has_next=number * PAGE < total,
        digest_frequencies=[Frequency.DAILY, Frequency.WEEKLY],
        languages=i18n.LANGUAGES,
        editor=who.account.role.allows(Role.EDITOR),
        **_names(who),
    )


@dataclass(frozen=True, slots=True)
class _PreviewAsked:
    frequency: Frequency
    language: str | None
    subscriber_id: int | None


def _preview_asked(request: Request, who: Signed) -> _PreviewAsked | Problem:
    query = request.query_params
    raw = query.get("frequency", Frequency.DAILY.value)
    if raw not in (Frequency.DAILY.value, Frequency.WEEKLY.value):
        return BAD_FREQUENCY
    language = query.get("mail_lang", "")
    if language and language not in i18n.LANGUAGES:
        return BAD_LANGUAGE
    subscriber_id = None
    if raw_id := query.get("subscriber", ""):
        if not who.account.role.sees_personal_data:
            return FORBIDDEN  # their address and choices are personal data
        subscriber_id = _positive(raw_id)
        if subscriber_id is None:
            return BAD_SUBSCRIBER
    return _PreviewAsked(Frequency(raw), language or None, subscriber_id)


@dataclass(frozen=True, slots=True)
class _Preview:
    frequency: Frequency
    end: datetime
    subscriber: Subscriber | None
    found: tuple[str, str, int] | None  # (subject, html, articles), None: nothing would be sent


def _preview(
    request: Request, who: Signed, asked: _PreviewAsked, now: datetime, *, audited: bool
) -> _Preview | None:
    """The next run's digest of this frequency (its window still open: the news so far), as a subscriber
    of every category or as one subscriber; None when there is no such subscriber."""
    state = web(request)
    person = None
    if asked.subscriber_id is not None:
        with state.store.writing() if audited else state.store.reading() as conn:
            person = by_id(conn, asked.subscriber_id)
            if person is None:
                return None
            if audited:  # a view of the address and its choices, as `digest preview --email` logs it
                entry = _audit(who, request, now, "subscriber.view", person.email, "digest preview")
                store_audit.record(conn, entry)
    end = digests.window_end(asked.frequency, now + digests.PERIOD[asked.frequency], state.settings)
    found = digests.preview(state.store, state.composer, asked.frequency, end, person, asked.language)
    return _Preview(asked.frequency, end, person, found)


async def _previewed(
    request: Request, who: Signed, *, audited: bool
) -> tuple[_PreviewAsked, _Preview] | Response:
    """The preview the query asks for, or the page saying why there is none (the preview page and its
    HTML mail alone read the same parameters)."""
    asked = _preview_asked(request, who)
    if isinstance(asked, Problem):
        return problem(request, asked, who)
    shown = await run_in_threadpool(_preview, request, who, asked, web(request).now(), audited=audited)
    if shown is None:
        return problem(request, NO_SUBSCRIBER, who)
    return asked, shown


@guarded(Role.EDITOR)
async def digest_preview(request: Request, who: Signed, data: FormData | None) -> Response:
    found = await _previewed(request, who, audited=True)
    if isinstance(found, Response):
        return found
    asked, shown = found
    state = web(request)
    lines = text.html_to_text(_body_of(shown.found[1])).splitlines() if shown.found else []
    query = {"frequency": asked.frequency.value, "mail_lang": asked.language or ""}
    if asked.subscriber_id is not None:
        query["subscriber"] = str(asked.subscriber_id)
    return page(
        request,
        "admin/digest_preview.html",
        who,
        preview=shown,
        lines=lines,
        mail_lang=asked.language
        or (shown.subscriber.language if shown.subscriber else state.settings.site.catalogue),
        html_link=PATHS["preview_mail"] + _query(query),
        languages=i18n.LANGUAGES,
        **_names(who),
    )


def _body_of(html: str) -> str:
    """The body of a mail's HTML document: the head's title and style are no text to read."""
    lower = html.lower()
    start = lower.find("<body")
    start = lower.find(">", start) + 1 if start >= 0 else 0
    end = lower.rfind("</body>")
    return html[start : end if end >= 0 else len(html)]


@guarded(Role.ADMIN)
async def digest_preview_as(request: Request, who: Signed, data: FormData | None) -> Response:
    """Preview as the subscriber with this address: found, then shown by id (no address in a URL)."""
    assert data is not None
    raw = forms.text(data.get("email")).strip()
    frequency = forms.text(data.get("frequency"))
    language = forms.text(data.get("mail_lang"))
    if frequency not in (Frequency.DAILY.value, Frequency.WEEKLY.value):
        return problem(request, BAD_FREQUENCY, who)
    if language and language not in i18n.LANGUAGES:
        return problem(request, BAD_LANGUAGE, who)
    if not raw or len(raw) > MAX_ADDRESS or not raw.isprintable():
        return problem(request, BAD_ADDRESS, who)
    person = await run_in_threadpool(_subscriber_of, request, raw)
    if person is None:
        return problem(request, NO_SUBSCRIBER, who)
    query = {"frequency": frequency, "mail_lang": language, "subscriber": str(person.id)}
    return RedirectResponse(PATHS["preview"] + _query(query), status_code=303)


def _subscriber_of(request: Request, raw: str) -> Subscriber | None:
    try:
        addresses.normalise(raw)
    except addresses.InvalidAddress:
        return None
    with web(request).store.reading() as conn:
        return by_email(conn, raw)


@guarded(Role.EDITOR)
async def digest_preview_mail(request: Request, who: Signed, data: FormData | None) -> Response:
    """The preview's HTML mail alone, sandboxed (see SANDBOX_CSP)."""
    found = await _previewed(request, who, audited=False)
    if isinstance(found, Response):
        return found
    _, shown = found
    if shown.found is None:
        return problem(request, NOTHING_TO_SEND, who)
    return HTMLResponse(shown.found[1], headers={"content-security-policy": SANDBOX_CSP})


NOTHING_TO_SEND = Problem(
    404,
    N_("Không có bản tin"),
    N_("Chưa có tin mới nào cho bản tin này: sẽ không có thư nào được gửi."),
    "no digest",
)


ROUTES: list[BaseRoute] = [
    Route("/mail", outbox),
    Route("/mail/{id}", mail_detail),
    Route("/mail/{id}/retry", mail_retry, methods=["POST"]),
    Route("/mail/{id}/cancel", mail_cancel, methods=["POST"]),
    Route("/digests", digest_runs),
    Route("/digests/preview", digest_preview),
    Route("/digests/preview/as", digest_preview_as, methods=["POST"]),
    Route("/digests/preview/mail", digest_preview_mail),
]
