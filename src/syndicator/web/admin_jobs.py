"""The console's jobs page (/admin/jobs): who leads, each job's runs and errors."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
TEMPLATES: list[str] = []
