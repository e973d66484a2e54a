"""The console's articles (/admin/articles): search, filter, withdraw and restore."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
TEMPLATES: list[str] = []
