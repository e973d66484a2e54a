"""The CMS API: create/update, read and withdraw articles with a bearer token.

The request body is one JSON Lines object (README: JSON Lines schema); the same parser and the same
store write as `syndicator import` are used, so an article means the same thing whichever way it came.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syndicator import presenters
from syndicator.config import Settings
from syndicator.ingest.errors import InvalidArticle
from syndicator.model import ARTICLE_ID, ArticleInput, Status, Visibility, WriteOutcome
from syndicator.sanitize import MAX_NESTING
from syndicator.store import WriteRefused
from syndicator.web.state import WebState, web

Endpoint = Callable[[Request], Awaitable[Response]]


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="syndicator"'
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _authorised(request: Request, tokens: tuple[str, ...]) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    supplied = given.strip().encode()
    # compare against every token, always, so timing says nothing about which (or whether one) matched
    matched = False
    for token in tokens:
        # digests of equal length: the comparison's time says nothing about the token's length either
        matched |= hmac.compare_digest(
            hashlib.sha256(supplied).digest(), hashlib.sha256(token.encode()).digest()
        )
    return matched


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


PARSERS = 2  # API bodies parsed and stored at once; more requests wait their turn


def api_limiter() -> anyio.CapacityLimiter:
    """Bodies are parsed and stored in threads of their own capacity: 40 large bodies at once took every
    thread of the shared pool, and /healthz, /metrics and pages waited two minutes for one."""
    return anyio.CapacityLimiter(PARSERS)


def guarded(endpoint: Endpoint) -> Endpoint:
    """Only with one of the configured bearer tokens; with none configured the API is off."""

    async def wrapper(request: Request) -> Response:
        tokens = web(request).settings.api_tokens
        if not tokens:
            return _error(401, "the API is disabled: no tokens are configured (SYNDICATOR_API_TOKENS)")
        if not _authorised(request, tokens):
            return _error(401, "missing or invalid bearer token")
        return await endpoint(request)

    return wrapper


def _shown(state: WebState, article_id: str) -> dict[str, Any] | None:
    found = state.store.article(article_id)
    return presenters.article_json(found, state.settings, state.now()) if found else None


def _accept(state: WebState, article: ArticleInput) -> tuple[WriteOutcome, dict[str, Any] | None]:
    (outcome,) = state.store.write([article], state.now())
    return outcome, _shown(state, article.id)


async def create_or_update(request: Request) -> Response:
    state = web(request)
    limit = state.settings.imports.max_file_bytes
    try:
        raw = await _body(request, limit)
    except _TooLarge:
        return _error(413, f"request body larger than {limit} bytes")
    except ClientDisconnect:
        return _error(400, "the client went away")
    try:
        # parsing and sanitising take CPU time: off the event loop, so feed polls are not held up
        article = await state.bodies.parse(raw)
    except InvalidArticle as error:
        return _error(
            422,
            "invalid article" if error.fields else f"the body is {error.message}",
            errors=[{"field": field, "message": message} for field, message in error.fields],
        )
    try:
        outcome, body = await anyio.to_thread.run_sync(_accept, state, article, limiter=state.bodies.limiter)
    except WriteRefused as refused:  # a value the database cannot hold: the article's fault, not ours
        return _error(422, f"the database refused the article: {refused.reason}")
    return JSONResponse(
        {"outcome": outcome.value, "article": body},
        status_code=201 if outcome is WriteOutcome.CREATED else 200,
        headers={"location": f"/api/articles/{article.id}", "cache-control": "no-store"},
    )


async def read(request: Request) -> Response:
    state = web(request)
    article_id = request.path_params["id"]
    body = await run_in_threadpool(_shown, state, article_id) if ARTICLE_ID.fullmatch(article_id) else None
    if body is None:
        return _error(404, "no such article")
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def withdraw(request: Request) -> Response:
    state = web(request)
    article_id = request.path_params["id"]
    found = (
        await run_in_threadpool(state.store.article, article_id) if ARTICLE_ID.fullmatch(article_id) else None
    )
    if found is None:
        return _error(404, "no such article")
    await run_in_threadpool(state.store.withdraw, article_id, state.now())
    return Response(status_code=204, headers={"cache-control": "no-store"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(web(request).settings))


ROUTES = [
    Route("/api/articles", guarded(create_or_update), methods=["POST"]),
    Route("/api/articles/{id}", guarded(read), methods=["GET"]),
    Route("/api/articles/{id}", guarded(withdraw), methods=["DELETE"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
]


def openapi_document(settings: Settings) -> dict[str, Any]:
    timestamp = {"type": "string", "format": "date-time"}
    article_in = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "category", "published_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
            "title": {"type": "string", "maxLength": 500},
            "category": {"type": "string", "maxLength": 200, "description": "Category name, e.g. Thông báo"},
            "published_at": {**timestamp, "description": "ISO 8601; without an offset: the site's time zone"},
            "updated_at": timestamp,
            "body_html": {
                "type": "string",
                "description": (
                    f"Sanitised: no script, style, handlers, js: URLs; nested at most {MAX_NESTING} deep"
                ),
            },
            "body_text": {"type": "string", "description": "Plain text; blank lines separate paragraphs"},
            "summary": {"type": "string"},
            "author": {"type": "string"},
            "office": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "status": {
                "type": "string",
                "enum": [s.value for s in Status],
                "default": Status.PUBLISHED.value,
            },
        },
        "oneOf": [{"required": ["body_html"]}, {"required": ["body_text"]}],
    }
    article_out = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "category": {"type": "string", "description": "slug"},
            "category_name": {"type": "string"},
            "published_at": timestamp,
            "updated_at": timestamp,
            "status": {"type": "string", "enum": [v.value for v in Visibility]},
            "author": {"type": ["string", "null"]},
            "office": {"type": ["string", "null"]},
            "summary": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
        },
    }
    error = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }

    def reply(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"description": description}
        if schema is not None:
            out["content"] = {"application/json": {"schema": schema}}
        return out

    unauthorised = reply("Missing or invalid bearer token", error)
    unavailable = reply("The database is unreachable: try again after Retry-After seconds", error)
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{settings.site.name}: CMS API", "version": "1"},
        "servers": [{"url": settings.base_url}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"ArticleIn": article_in, "Article": article_out, "Error": error},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/articles": {
                "post": {
                    "summary": "Create or update an article (by id)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ArticleIn"}}
                        },
                    },
                    "responses": {
                        "201": reply("Created", {"type": "object"}),
                        "200": reply("Updated, or unchanged", {"type": "object"}),
                        "401": unauthorised,
                        "413": reply("Body too large", error),
                        "422": reply("Invalid article: the errors name each field", error),
                        "503": unavailable,
                    },
                }
            },
            "/api/articles/{id}": {
                "parameters": id_param,
                "get": {
                    "summary": "Read an article (any status)",
                    "responses": {
                        "200": reply("The article", {"$ref": "#/components/schemas/Article"}),
                        "401": unauthorised,
                        "404": reply("No such article", error),
                        "503": unavailable,
                    },
                },
                "delete": {
                    "summary": "Withdraw an article (it stays in the store, gone from every feed)",
                    "responses": {
                        "204": reply("Withdrawn"),
                        "401": unauthorised,
                        "404": reply("No such article", error),
                        "503": unavailable,
                    },
                },
            },
        },
    }
