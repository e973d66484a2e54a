"""The console's subscribers (/admin/subscribers) and officials (/admin/officials) pages."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
TEMPLATES: list[str] = []
