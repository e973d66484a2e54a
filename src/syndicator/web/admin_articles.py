"""The console's articles (/admin/articles): search by title or id, filter by category and state, a page
at a time; withdraw and restore (editor), each audited in its own transaction with the change.

A withdrawal is store/articles.withdraw, the function behind Store.withdraw (the API's DELETE and the
drop folder), and a restore its reverse (store/articles.restore): both stamp the article's category,
which is how the store watch (jobs.store_watch -> store/channels.changes) sees a channel changed, so
the feeds follow within the usual two seconds."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from syndicator.accounts import AuditEntry, Role, Signed
from syndicator.i18n import N_
from syndicator.model import ARTICLE_ID, Article, Category, Visibility, reading_key
from syndicator.store import Store
from syndicator.store import articles as store_articles
from syndicator.store import audit as store_audit
from syndicator.text import clean_line
from syndicator.web import forms
from syndicator.web.admin import BAD_REQUEST, NOT_FOUND, PATHS, PREFIX, guarded, page, problem
from syndicator.web.admin_dashboard import ARTICLE_STATES
from syndicator.web.problems import Problem
from syndicator.web.state import page_language, web

PAGE_SIZE = 25
MAX_QUERY = 200  # characters of a search
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
ARTICLE_PATHS = {
    "withdraw": f"{PREFIX}/articles/withdraw",
    "restore": f"{PREFIX}/articles/restore",
}
ACTIONS = {"withdraw": "article.withdraw", "restore": "article.restore"}
NO_ARTICLE = Problem(
    404, N_("Không có bài viết này"), N_("Không tìm thấy bài viết với mã đã gửi."), code="no such article"
)
UNCHANGED = Problem(
    409,
    N_("Bài viết không đổi"),
    N_("Bài viết đã ở trạng thái này rồi (có thể ai đó vừa thay đổi). Hãy tải lại danh sách."),
    code="already so",
)
BAD_SEARCH = Problem(
    400,
    N_("Tìm kiếm không hợp lệ"),
    N_("Từ khóa tối đa 200 ký tự; chuyên mục và trạng thái phải chọn trong danh sách."),
    code="bad search",
)


_STATES = {v.value: v for v in Visibility}


def _search(
    store: Store, now: datetime, text: str, category: str | None, state: Visibility | None, number: int
) -> tuple[list[Article], int, dict[str, str]]:
    with store.reading() as conn:
        found, total = store_articles.search(
            conn,
            now,
            text=text,
            category=category,
            state=state,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
    return found, total, store.category_names()


@guarded(Role.VIEWER)
async def articles(request: Request, who: Signed, data: FormData | None) -> Response:
    query = request.query_params
    number = forms.page_number(query.get("trang", "1"))
    if number is None:
        return problem(request, NOT_FOUND, who)
    raw_text, category, raw_state = (query.get(k, "") for k in ("q", "chuyenmuc", "trangthai"))
    if len(raw_text) > MAX_QUERY or (category and not _SLUG.fullmatch(category)):
        return problem(request, BAD_SEARCH, who)
    if raw_state and raw_state not in _STATES:
        return problem(request, BAD_SEARCH, who)
    text = clean_line(raw_text)
    chosen_state = _STATES.get(raw_state)
    state = web(request)
    now = state.now()
    found, total, names = await run_in_threadpool(
        _search, state.store, now, text, category or None, chosen_state, number
    )
    lang = page_language(request)
    shown = {slug: state.settings.category_display_name(slug, name, lang) for slug, name in names.items()}
    categories = sorted((Category(slug, name) for slug, name in shown.items()), key=reading_key)
    kept = {"q": text, "chuyenmuc": category or "", "trangthai": chosen_state.value if chosen_state else ""}
    filters = urlencode({k: v for k, v in kept.items() if v})
    return page(
        request,
        "admin/articles.html",
        who,
        found=[(article, article.visibility(now)) for article in found],
        total=total,
        page_number=number,
        has_next=number * PAGE_SIZE < total,
        text=text,
        category=category,
        chosen_state=chosen_state,
        categories=categories,
        states=ARTICLE_STATES,
        filters=filters,
        article_paths=ARTICLE_PATHS,
        can_edit=who.account.role.allows(Role.EDITOR),
    )


def _change(
    store: Store, action: str, article_id: str, now: datetime, actor: str, address: str
) -> bool | None:
    """Withdraw or restore with its audit entry in one transaction: True done, False already so,
    None no such article."""
    change = store_articles.withdraw if action == "withdraw" else store_articles.restore
    with store.writing() as conn:
        if change(conn, article_id, now):
            store_audit.record(conn, AuditEntry(now, actor, ACTIONS[action], article_id, None, address))
            return True
        return False if store_articles.get(conn, article_id) is not None else None


async def _acted(request: Request, who: Signed, data: FormData | None, action: str) -> Response:
    assert data is not None
    article_id = forms.text(data.get("id"))
    if not ARTICLE_ID.fullmatch(article_id):
        return problem(request, BAD_REQUEST, who)
    state = web(request)
    done = await run_in_threadpool(
        _change, state.store, action, article_id, state.now(), who.account.username, forms.client(request)
    )
    if done is None:
        return problem(request, NO_ARTICLE, who)
    if done is False:
        return problem(request, UNCHANGED, who)
    return RedirectResponse(f"{PATHS['articles']}?{urlencode({'q': article_id})}", status_code=303)


@guarded(Role.EDITOR)
async def withdraw(request: Request, who: Signed, data: FormData | None) -> Response:
    return await _acted(request, who, data, "withdraw")


@guarded(Role.EDITOR)
async def restore(request: Request, who: Signed, data: FormData | None) -> Response:
    return await _acted(request, who, data, "restore")


ROUTES: list[BaseRoute] = [
    Route("/articles", articles),
    Route("/articles/withdraw", withdraw, methods=["POST"]),
    Route("/articles/restore", restore, methods=["POST"]),
]
TEMPLATES = ["admin/articles.html"]
