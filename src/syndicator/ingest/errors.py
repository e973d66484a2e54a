"""The one error the parsers raise: what is wrong, in words an operator can act on."""

from __future__ import annotations


class InvalidArticle(Exception):
    """Input that cannot become an article. `fields` lists (field, problem) pairs where known."""

    def __init__(self, message: str, fields: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
