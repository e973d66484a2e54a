"""The console's subscribers (/admin/subscribers) and officials (/admin/officials) pages.

Every role sees the list, a subscriber's page and the officials file's state, with addresses masked
below admin (`accounts.masked_address`) and no names; only an admin searches by address or name, and
each page of addresses an admin sees is audited (`subscriber.list`, a subscriber's page
`subscriber.view`: Decree 13/2023/NĐ-CP), in the transaction that reads it. Only an admin changes
anything, by POST, each change audited in its own transaction by the function the CLI uses
(`mail/choices.py`): add and edit as `syndicator subscribers add` (a pending address is asked to confirm
through `optin.ask_to_confirm`), unsubscribe, resubscribe (pending, and a confirmation mail: never
confirmed silently), delete on request (`choices.remove`: the row, its history and its mail), and the
export (`csvio.export_csv`, the CLI's safe CSV, streamed). An address the officials file lists takes its
choices from the file: the console does not edit or resubscribe it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from syndicator import access, i18n
from syndicator.accounts import AuditEntry, Role, Signed, masked_address
from syndicator.addresses import key as address_key
from syndicator.i18n import N_
from syndicator.mail import choices, csvio, officials, optin
from syndicator.model import Frequency, Source, Subscriber, SubscriberStatus
from syndicator.store import Store, subscriberview
from syndicator.store import audit as store_audit
from syndicator.store import subscribers as store_subscribers
from syndicator.web import admin_mail, forms
from syndicator.web.admin import BAD_REQUEST, FORBIDDEN, PREFIX, guarded, page, problem
from syndicator.web.problems import Problem
from syndicator.web.state import page_language, web

PAGE = 50  # subscribers per page
OFFICIALS_PAGE = 100  # entries of the officials file per page
MAILS = 100  # the newest mails listed on a subscriber's page
MAX_ID = 2_147_483_647  # the largest id an INTEGER column holds: larger ones are no subscriber
MAX_TEXT = 320  # an address at most; a search longer than that finds nothing anyway
MAX_NAME = 1000  # a name is cut to 200 (choices.clean_name); more than this is no name
_ID = re.compile(r"[1-9][0-9]{0,9}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_FILTERS = ("q", "status", "source", "category", "frequency", "language")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

PATHS = {
    "subscribers": f"{PREFIX}/subscribers",
    "new": f"{PREFIX}/subscribers/new",
    "export": f"{PREFIX}/subscribers/export.csv",
    "officials": f"{PREFIX}/officials",
}
ACTIONS = ("choices", "unsubscribe", "resubscribe", "delete")
TEMPLATES = [
    "admin/subscribers.html",
    "admin/subscriber.html",
    "admin/subscriber_form.html",
    "admin/_subscriber_choices.html",
    "admin/officials.html",
]

STATUS_NAMES = {
    SubscriberStatus.PENDING: N_("Chờ xác nhận"),
    SubscriberStatus.CONFIRMED: N_("Đã xác nhận"),
    SubscriberStatus.UNSUBSCRIBED: N_("Đã hủy đăng ký"),
    SubscriberStatus.BOUNCED: N_("Địa chỉ bị trả thư"),
}
SOURCE_NAMES = {
    Source.CONFIG.value: N_("Danh sách cán bộ (tệp officials.toml)"),
    Source.CLI.value: N_("Văn phòng (dòng lệnh hoặc trang quản trị)"),
    Source.IMPORT.value: N_("Nhập từ tệp CSV"),
    Source.WEB.value: N_("Tự đăng ký trên trang"),
}
CAUSE_NAMES = {  # what moved a subscriber to a status (store/subscribers.py): a source, or these
    **SOURCE_NAMES,
    store_subscribers.UNSUBSCRIBE: N_("Hủy đăng ký"),
    store_subscribers.BOUNCE: N_("Thư bị trả về"),
    store_subscribers.UNLIST: N_("Văn phòng rút địa chỉ khỏi danh sách cán bộ"),
}
FREQUENCY_NAMES = {
    Frequency.IMMEDIATE: N_("Ngay khi có tin mới"),
    Frequency.DAILY: N_("Hằng ngày"),
    Frequency.WEEKLY: N_("Hằng tuần"),
}
LANGUAGE_NAMES = i18n.ENDONYMS  # each named in itself: data, not marked
DONE = {  # the notice a subscriber's page shows after a change (?xong=)
    "added": N_("Đã thêm người đăng ký."),
    "updated": N_("Đã lưu lựa chọn."),
    "asked": N_(
        "Đã xếp hàng một thư xác nhận: địa chỉ chờ xác nhận đến khi chủ của nó bấm vào liên kết trong thư."
    ),
    "already": N_(
        "Một thư xác nhận với các lựa chọn này đã được gửi và liên kết còn hiệu lực: không gửi lại."
    ),
    "refused": N_("Không gửi được thư xác nhận cho địa chỉ này."),
    "unsubscribed": N_("Đã hủy đăng ký: địa chỉ không nhận thư nữa."),
    "removed": N_("Đã xóa người đăng ký cùng lịch sử và thư của họ."),
}

BAD_FILTER = Problem(
    400,
    N_("Bộ lọc không hợp lệ"),
    N_("Hãy chọn trạng thái, nguồn, chuyên mục, tần suất và ngôn ngữ trong danh sách."),
    "bad filter",
)
BAD_SEARCH = Problem(
    400, N_("Từ khóa không hợp lệ"), N_("Từ khóa tìm kiếm quá dài hoặc có ký tự điều khiển."), "bad search"
)
BAD_PAGE = Problem(404, N_("Không có trang này"), N_("Số trang phải là một số nguyên dương."), "bad page")
NO_SUBSCRIBER = Problem(
    404,
    N_("Không có người đăng ký này"),
    N_("Người đăng ký đã bị xóa hoặc chưa từng có."),
    "no such subscriber",
)
LISTED = Problem(
    409,
    N_("Địa chỉ thuộc danh sách cán bộ"),
    N_("Lựa chọn của địa chỉ này lấy từ tệp officials.toml: hãy sửa tệp đó."),
    "listed official",
)
NOT_ACTIVE = Problem(
    409,
    N_("Địa chỉ đã ngừng nhận thư"),
    N_("Địa chỉ này đã hủy đăng ký hoặc bị trả thư: hãy mời đăng ký lại (một thư xác nhận sẽ được gửi)."),
    "not active",
)
STILL_ACTIVE = Problem(
    409,
    N_("Địa chỉ vẫn đang đăng ký"),
    N_("Chỉ mời đăng ký lại một địa chỉ đã hủy đăng ký hoặc bị trả thư."),
    "still active",
)
NOT_CONFIRMED = Problem(
    400,
    N_("Chưa đánh dấu xác nhận"),
    N_("Hãy đánh dấu ô xác nhận rằng người này đã yêu cầu xóa dữ liệu của họ."),
    "not confirmed",
)
WRONG_ADDRESS = N_("Địa chỉ thư điện tử không hợp lệ.")
WRONG_CATEGORY = N_("Có chuyên mục không có trong danh sách. Hãy chọn lại.")
WRONG_CHOICE = N_("Lựa chọn không hợp lệ.")
INVALID_CHOICE = N_("Lựa chọn không hợp lệ")


# -- paths ----------------------------------------------------------------------------------------------


def subscriber_path(subscriber_id: int, action: str = "") -> str:
    """A subscriber's page, or the address of one of its POST actions (ACTIONS)."""
    return f"{PATHS['subscribers']}/{subscriber_id}" + (f"/{action}" if action else "")


def _subscriber_id(raw: str) -> int | None:
    return int(raw) if _ID.fullmatch(raw) and int(raw) <= MAX_ID else None


def _shown(who: Signed, email: str) -> str:
    return email if who.account.role.sees_personal_data else masked_address(email)


def _common(request: Request) -> dict[str, Any]:
    """What every page of this section is given."""
    return {
        "sub_paths": PATHS,
        "subscriber_path": subscriber_path,
        "status_names": STATUS_NAMES,
        "source_names": SOURCE_NAMES,
        "cause_names": CAUSE_NAMES,
        "frequency_names": FREQUENCY_NAMES,
        "language_names": LANGUAGE_NAMES,
        "mail_status_names": admin_mail.STATUS_NAMES,  # the outbox's words, as its own pages say them
        "kind_names": admin_mail.KIND_NAMES,
        "mail_path": admin_mail.mail_path,
    }


def _audit(conn: Any, who: Signed, request: Request, action: str, target: str | None, detail: str) -> None:
    entry = AuditEntry(
        web(request).now(), who.account.username, action, target, detail, forms.client(request)
    )
    store_audit.record(conn, entry)


# -- categories -----------------------------------------------------------------------------------------


def _category_names(request: Request) -> dict[str, str]:
    """slug -> the name shown in the page's language, of every category a subscriber may choose."""
    state = web(request)
    stored = state.store.category_names()
    known = choices.known_categories(state.store, state.settings.categories)
    lang = page_language(request)
    names = {slug: state.settings.category_display_name(slug, stored.get(slug, slug), lang) for slug in known}
    return dict(sorted(names.items(), key=lambda item: item[1].casefold()))


# -- the list -------------------------------------------------------------------------------------------


def _filter(request: Request, who: Signed) -> subscriberview.Filter | Problem:
    params = request.query_params
    text = params.get("q", "").strip()
    if len(text) > MAX_TEXT or _CONTROL.search(text):
        return BAD_SEARCH
    if text and not who.account.role.sees_personal_data:
        return FORBIDDEN  # finding an address, even masked, tells that its owner subscribes
    try:
        status = SubscriberStatus(params["status"]) if params.get("status") else None
        source = Source(params["source"]) if params.get("source") else None
        frequency = Frequency(params["frequency"]) if params.get("frequency") else None
    except ValueError:
        return BAD_FILTER
    category = params.get("category") or None
    language = params.get("language") or None
    if category is not None and not _SLUG.fullmatch(category):
        return BAD_FILTER
    if language is not None and language not in i18n.LANGUAGES:
        return BAD_FILTER
    return subscriberview.Filter(text or None, status, source, category, frequency, language)


def _found(
    store: Store, chosen: subscriberview.Filter, number: int, who: Signed, request: Request
) -> tuple[list[Subscriber], int, set[int], dict[SubscriberStatus, int]]:
    with store.writing() as conn:
        people, total = subscriberview.search(conn, chosen, limit=PAGE, offset=(number - 1) * PAGE)
        on_file = subscriberview.listed(conn, [p.id for p in people])
        by_status = subscriberview.counts(conn)
        if who.account.role.sees_personal_data and people:
            detail = f"{len(people)} of {total} (page {number}; {request.url.query or 'no filter'})"
            _audit(conn, who, request, "subscriber.list", None, detail[:500])
    return people, total, on_file, by_status


@guarded(Role.VIEWER)
async def listing(request: Request, who: Signed, data: FormData | None) -> Response:
    number = forms.page_number(request.query_params.get("trang", "1"))
    if number is None:
        return problem(request, BAD_PAGE, who)
    chosen = _filter(request, who)
    if isinstance(chosen, Problem):
        return problem(request, chosen, who)
    state = web(request)
    people, total, on_file, by_status = await run_in_threadpool(
        _found, state.store, chosen, number, who, request
    )
    names = await run_in_threadpool(_category_names, request)
    rows = [(p, _shown(who, p.email), p.id in on_file) for p in people]
    query = {k: v for k, v in request.query_params.items() if k in _FILTERS and v}

    def page_link(number: int) -> str:
        return f"{PATHS['subscribers']}?{urlencode({**query, 'trang': number})}"

    return page(
        request,
        "admin/subscribers.html",
        who,
        rows=rows,
        total=total,
        page_number=number,
        has_next=number * PAGE < total,
        chosen=chosen,
        category_names=names,
        page_link=page_link,
        by_status=by_status,
        done=DONE.get(request.query_params.get("xong", "")),
        languages=i18n.LANGUAGES,
        statuses=list(SubscriberStatus),
        frequencies=list(Frequency),
        **_common(request),
    )


# -- a subscriber's page --------------------------------------------------------------------------------


def _viewed(store: Store, subscriber_id: int, who: Signed, request: Request) -> dict[str, Any] | None:
    with store.writing() as conn:
        person = store_subscribers.by_id(conn, subscriber_id)
        if person is None:
            return None
        history = store_subscribers.history(conn, subscriber_id)
        mails, mail_total = subscriberview.mails_of(conn, subscriber_id, MAILS)
        own = store_subscribers.own_choice(conn, subscriber_id)
        if who.account.role.sees_personal_data:
            _audit(conn, who, request, "subscriber.view", person.email, "console")
    return {"person": person, "history": history, "mails": mails, "mail_total": mail_total, "own": own}


@guarded(Role.VIEWER)
async def subscriber(request: Request, who: Signed, data: FormData | None) -> Response:
    subscriber_id = _subscriber_id(request.path_params["id"])
    if subscriber_id is None:
        return problem(request, NO_SUBSCRIBER, who)
    state = web(request)
    seen = await run_in_threadpool(_viewed, state.store, subscriber_id, who, request)
    if seen is None:
        return problem(request, NO_SUBSCRIBER, who)
    done = request.query_params.get("xong", "")
    names = await run_in_threadpool(_category_names, request)
    person: Subscriber = seen["person"]
    return page(
        request,
        "admin/subscriber.html",
        who,
        **seen,
        shown_email=_shown(who, person.email),
        listed=seen["own"] is not None,
        done=DONE.get(done),
        category_names=names,
        languages=i18n.LANGUAGES,
        frequencies=list(Frequency),
        error=None,
        **_common(request),
    )


# -- changes --------------------------------------------------------------------------------------------


def _chosen_categories(data: FormData) -> list[str] | Problem | None:
    """The categories ticked (slugs), None for every category; a Problem for a forged value."""
    if forms.text(data.get("everything")):
        return None
    slugs = [forms.text(v) for v in data.getlist("category")]
    if not all(_SLUG.fullmatch(s) for s in slugs):
        return BAD_REQUEST
    return slugs or None


def _choice_fields(data: FormData) -> dict[str, Any] | Problem:
    """The form's name, categories, frequency and language, checked (what choices.add takes)."""
    name = forms.text(data.get("name"))
    frequency = forms.text(data.get("frequency"))
    language = forms.text(data.get("language"))
    if len(name) > MAX_NAME or frequency not in {f.value for f in Frequency}:
        return BAD_REQUEST
    if language and language not in i18n.LANGUAGES:
        return BAD_REQUEST
    categories = _chosen_categories(data)
    if isinstance(categories, Problem):
        return categories
    return {"name": name, "categories": categories, "frequency": frequency, "language": language or None}


def _wrong(error: choices.InvalidSubscription) -> str:
    if isinstance(error, choices.UnknownCategory):
        return WRONG_CATEGORY
    return WRONG_ADDRESS if str(error).startswith("email") else WRONG_CHOICE


class Withdrawn(Exception):
    """The office vouched for an address whose owner unsubscribed or whose mail bounced: consent was
    withdrawn (Decree 13/2023/ND-CP), so only its owner gives it again, through a confirmation mail."""


def _withdrew(store: Store, email: str) -> bool:
    with store.reading() as conn:
        before = store_subscribers.by_email(conn, email.strip())
    return before is not None and before.status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED)


def _save(
    request: Request, who: Signed, email: str, fields: dict[str, Any], *, confirmed: bool
) -> tuple[Subscriber, bool, str]:
    """`syndicator subscribers add`, as the console's admin: the change audited, and a pending address
    (not the office's listed one) asked to confirm. (subscriber, created, what the page says: DONE)."""
    state = web(request)
    now = state.now()
    if confirmed and _withdrew(state.store, email):
        raise Withdrawn
    person, created = choices.add(
        state.store,
        email,
        now,
        name=fields["name"],
        categories=fields["categories"],
        frequency=fields["frequency"],
        confirmed=confirmed,
        source=Source.CLI,
        known=fields.get("known", ()),
        language=fields["language"],
        default_language=state.settings.site.catalogue,
        actor=who.account.username,
        address=forms.client(request),
    )
    if person.status is not SubscriberStatus.PENDING or choices.own_choice(state.store, person) is not None:
        return person, created, "added" if created else "updated"
    asked = optin.ask_to_confirm(state.store, state.composer, [person], now)
    said = "asked" if asked.queued else "refused" if asked.refused else "already"
    return person, created, said


def _form_page(
    request: Request, who: Signed, status: int, values: dict[str, Any], error: str | None
) -> Response:
    return page(
        request,
        "admin/subscriber_form.html",
        who,
        status=status,
        values=values,
        error=error,
        category_names=_category_names(request),
        languages=i18n.LANGUAGES,
        frequencies=list(Frequency),
        **_common(request),
    )


@guarded(Role.ADMIN)
async def new(request: Request, who: Signed, data: FormData | None) -> Response:
    """The add form (GET) and the add (POST)."""
    empty = {
        "email": "",
        "name": "",
        "categories": None,
        "frequency": "daily",
        "language": "",
        "confirmed": False,
    }
    if data is None:
        return await run_in_threadpool(_form_page, request, who, 200, empty, None)
    email = forms.text(data.get("email")).strip()
    fields = _choice_fields(data)
    if isinstance(fields, Problem):
        return problem(request, fields, who)
    if len(email) > MAX_TEXT or _CONTROL.search(email):
        return problem(request, BAD_REQUEST, who)
    confirmed = bool(forms.text(data.get("confirmed")))
    state = web(request)
    fields["known"] = await run_in_threadpool(
        choices.known_categories, state.store, state.settings.categories
    )
    try:
        person, _created, said = await run_in_threadpool(
            _save, request, who, email, fields, confirmed=confirmed
        )
    except Withdrawn:
        return problem(request, NOT_ACTIVE, who)
    except choices.InvalidSubscription as error:
        values = {**fields, "email": email, "confirmed": confirmed}
        return await run_in_threadpool(_form_page, request, who, 422, values, _wrong(error))
    return RedirectResponse(f"{subscriber_path(person.id)}?xong={said}", status_code=303)


def _target(request: Request) -> int | None:
    return _subscriber_id(request.path_params["id"])


def _person(store: Store, subscriber_id: int) -> tuple[Subscriber, bool] | None:
    """The subscriber and whether the officials file lists them."""
    with store.reading() as conn:
        person = store_subscribers.by_id(conn, subscriber_id)
        if person is None:
            return None
        return person, bool(subscriberview.listed(conn, [subscriber_id]))


@guarded(Role.ADMIN)
async def change(request: Request, who: Signed, data: FormData | None) -> Response:
    """One of a subscriber's POST actions (ACTIONS), by the path's last part."""
    assert data is not None
    subscriber_id, action = _target(request), request.path_params["action"]
    if subscriber_id is None or action not in ACTIONS:
        return problem(request, NO_SUBSCRIBER, who)
    state = web(request)
    found = await run_in_threadpool(_person, state.store, subscriber_id)
    if found is None:
        return problem(request, NO_SUBSCRIBER, who)
    person, listed = found
    back = subscriber_path(subscriber_id)
    active = person.status in (SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED)
    if action == "delete":
        if not forms.text(data.get("requested")):
            return problem(request, NOT_CONFIRMED, who)
        now = state.now()
        await run_in_threadpool(
            choices.remove, state.store, person.email, now, who.account.username, forms.client(request)
        )
        return RedirectResponse(f"{PATHS['subscribers']}?xong=removed", status_code=303)
    if action == "unsubscribe":
        await run_in_threadpool(
            choices.unsubscribe,
            state.store,
            subscriber_id,
            state.now(),
            who.account.username,
            forms.client(request),
        )
        return RedirectResponse(f"{back}?xong=unsubscribed", status_code=303)
    if listed:
        return problem(request, LISTED, who)
    fields: dict[str, Any]
    if action == "resubscribe":
        if active:
            return problem(request, STILL_ACTIVE, who)
        fields = {
            "name": person.name,
            "categories": None if person.categories is None else sorted(person.categories),
            "frequency": person.frequency.value,
            "language": person.language,
        }
    else:
        if not active:
            return problem(request, NOT_ACTIVE, who)
        checked = _choice_fields(data)
        if isinstance(checked, Problem):
            return problem(request, checked, who)
        fields = checked
        fields["known"] = await run_in_threadpool(
            choices.known_categories, state.store, state.settings.categories
        )
    try:
        _person_now, _created, said = await run_in_threadpool(
            _save, request, who, person.email, fields, confirmed=False
        )
    except choices.InvalidSubscription as error:
        return problem(request, Problem(422, INVALID_CHOICE, _wrong(error), "invalid choice"), who)
    return RedirectResponse(f"{back}?xong={said}", status_code=303)


# -- the export -----------------------------------------------------------------------------------------


def _exported(store: Store, request: Request, who: Signed) -> Iterator[str]:
    """The CLI's CSV (`csvio.export_csv`: formulas defused), logged with the rows that left, also when
    the download stops partway."""
    rows = 0
    try:
        for chunk in csvio.export_csv(store):
            yield chunk
            rows += 1
    finally:
        entry = AuditEntry(
            web(request).now(),
            who.account.username,
            "subscriber.export",
            None,
            f"{max(rows - 1, 0)} rows (console)",
            forms.client(request),
        )
        access.record(store, entry)


@guarded(Role.ADMIN)
async def export(request: Request, who: Signed, data: FormData | None) -> Response:
    state = web(request)
    stamp = state.now().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _exported(state.store, request, who),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="subscribers-{stamp}.csv"'},
    )


# -- the officials file ---------------------------------------------------------------------------------


def _stored_officials(request: Request, who: Signed, number: int) -> dict[str, Any]:
    """While the file cannot be applied, the officials stay as stored: a page of them as the database
    lists them (each page of addresses an admin sees is audited, as the file's are)."""
    state = web(request)
    with state.store.writing() as conn:
        people, total = subscriberview.listed_officials(
            conn, limit=OFFICIALS_PAGE, offset=(number - 1) * OFFICIALS_PAGE
        )
        states = subscriberview.officials_state(conn, [p.email for p in people])
        if who.account.role.sees_personal_data and people:
            detail = f"officials (stored, file not applied): {len(people)} of {total} (page {number})"
            _audit(conn, who, request, "subscriber.list", None, detail)
    rows = [(p, _shown(who, p.email), states[p.email]) for p in people]
    return {"entries": rows, "total": total}


def _officials(request: Request, who: Signed, number: int) -> dict[str, Any]:
    """The file's entries (a page of them) with their state; `total` of them in the file."""
    state = web(request)
    known = choices.known_categories(state.store, state.settings.categories)
    nothing: dict[str, Any] = {"entries": [], "total": 0, "missing": False, "problem": None, "gone": 0}
    try:
        entries = officials.read_officials(state.settings.digest.officials_file, known)
    except officials.OfficialsFileMissing:
        return nothing | {"missing": True}
    except choices.InvalidSubscription as error:
        # the reason names the file, the entry and maybe an address: personal data, for an admin only
        reason = str(error) if who.account.role.sees_personal_data else ""
        return nothing | _stored_officials(request, who, number) | {"problem": reason}
    shown = entries[(number - 1) * OFFICIALS_PAGE : number * OFFICIALS_PAGE]
    with state.store.writing() as conn:
        states = subscriberview.officials_state(conn, [e.email for e in shown])
        listed_keys = set(store_subscribers.listed_officials(conn))
        if who.account.role.sees_personal_data and shown:
            detail = f"officials: {len(shown)} of {len(entries)} (page {number})"
            _audit(conn, who, request, "subscriber.list", None, detail)
    gone = len(listed_keys - {address_key(e.email) for e in entries})
    rows = [(e, _shown(who, e.email), states[e.email]) for e in shown]
    return nothing | {"entries": rows, "total": len(entries), "gone": gone}


@guarded(Role.VIEWER)
async def officials_page(request: Request, who: Signed, data: FormData | None) -> Response:
    number = forms.page_number(request.query_params.get("trang", "1"))
    if number is None:
        return problem(request, BAD_PAGE, who)
    found = await run_in_threadpool(_officials, request, who, number)
    names = await run_in_threadpool(_category_names, request)
    return page(
        request,
        "admin/officials.html",
        who,
        **found,
        page_number=number,
        has_next=number * OFFICIALS_PAGE < found["total"],
        page_link=lambda n: f"{PATHS['officials']}?trang={n}",
        path=str(web(request).settings.digest.officials_file),
        category_names=names,
        **_common(request),
    )


ROUTES: list[BaseRoute] = [
    Route("/subscribers", listing),
    Route("/subscribers/new", new, methods=["GET", "POST"]),
    Route("/subscribers/export.csv", export),
    Route("/subscribers/{id}", subscriber),
    Route("/subscribers/{id}/{action}", change, methods=["POST"]),
    Route("/officials", officials_page),
]
