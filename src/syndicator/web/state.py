"""What every web handler reads from `request.app.state`: the services the app was given and what it
derives from them once at start (templates, secret, limits). Handlers are module-level functions, so
they can be imported and tested alone; this is the one thing they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from syndicator import i18n
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.mail.composer import MailComposer
from syndicator.publish.builder import FeedBuilder
from syndicator.publish.cache import FeedCache
from syndicator.publish.follower import CacheFollower
from syndicator.readership import Tally
from syndicator.store import Store
from syndicator.store.database import Availability
from syndicator.web import language
from syndicator.web.bodies import BodyParser
from syndicator.web.ratelimit import RateLimiter


@dataclass(frozen=True)
class Services:
    """What the web layer is given; tests build it with their own store and clock."""

    settings: Settings
    store: Store
    cache: FeedCache
    builder: FeedBuilder
    clock: Clock
    follower: CacheFollower | None = None  # set where another process may render the feeds
    readership: Tally = field(default_factory=Tally)  # polls counted by the poll path, until flushed


@dataclass(frozen=True)
class WebState:
    """`app.state.web`: built once by create_app, read by every handler."""

    services: Services
    templates: Environment
    shared: Mapping[str, Any]  # what every page template is given
    availability: Availability
    bodies: BodyParser
    secret: str
    per_ip: RateLimiter
    composer: MailComposer
    served: Mapping[int, int]  # the feed server's answers so far, for /metrics

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def store(self) -> Store:
        return self.services.store

    def now(self) -> datetime:
        return self.services.clock()

    @property
    def secure(self) -> bool:
        return self.settings.base_url.startswith("https://")


def web(request: Request) -> WebState:
    state = request.app.state.web
    assert isinstance(state, WebState)
    return state


def page_language(request: Request) -> str:
    """The language of the page this request asks for (web/language.py); render writes in it, and a
    handler translates in it what it gives a page (`with i18n.using(page_language(request))`)."""
    return language.of(request, web(request).settings.site.language)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from templates/pages/, with what every page shows (site, base URL, subscribe link, and
    its own query string for the footer's link to the other language), in the language of the
    request (web/language.py), which its headers say."""
    state = web(request)
    lang = page_language(request)
    with i18n.using(lang):
        page = state.templates.get_template(name)
        html = page.render(**state.shared, page_query=request.url.query, **context)
    response = HTMLResponse(html, status_code=status, headers={"cache-control": "public, max-age=60"})
    language.said(request, response, lang, secure=state.secure)
    return response
