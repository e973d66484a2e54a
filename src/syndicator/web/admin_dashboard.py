"""The console's dashboard (/admin/) and /admin/api/summary."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicator.accounts import Role, Signed
from syndicator.web.admin import guarded, page


@guarded(Role.VIEWER)
async def home(request: Request, who: Signed, data: FormData | None) -> Response:
    return page(request, "admin/home.html", who)


ROUTES: list[BaseRoute] = [Route("/", home)]
TEMPLATES = ["admin/home.html"]
