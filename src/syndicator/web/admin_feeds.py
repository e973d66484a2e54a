"""The console's readership pages (/admin/feeds) and /admin/api/readership."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
TEMPLATES: list[str] = []
