"""The console's outbox (/admin/mail) and digest (/admin/digests) pages."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
TEMPLATES: list[str] = []
