"""The console's mount: the core's routes (web/admin.py: login, logout, accounts, audit, the guard)
and each section's, under /admin, every answer `no-store`. A section is a module `web/admin_*.py`
with `ROUTES` (each handler under `admin.guarded`) and `TEMPLATES`; add it to SECTIONS."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, Router

from syndicator.web import (
    admin,
    admin_articles,
    admin_dashboard,
    admin_feeds,
    admin_jobs,
    admin_mail,
    admin_subscribers,
)

SECTIONS = (admin_dashboard, admin_feeds, admin_subscribers, admin_mail, admin_articles, admin_jobs)
ADMIN_ROUTES: list[BaseRoute] = [*admin.CORE_ROUTES, *(r for s in SECTIONS for r in s.ROUTES)]
PUBLIC = admin.PUBLIC
TEMPLATES = [*admin.TEMPLATES, *(t for s in SECTIONS for t in s.TEMPLATES)]
ROUTES: list[BaseRoute] = [
    Route(admin.PREFIX, admin.to_home),
    Mount(admin.PREFIX, app=admin.NoStore(Router(ADMIN_ROUTES))),
]
