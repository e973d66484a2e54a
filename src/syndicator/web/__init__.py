"""The web layer: Starlette app, the feed poll path, templates."""
