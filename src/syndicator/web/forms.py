"""A posted form read within bounds, its fields as text, and who posted it: for the console and the
subscription pages alike."""

from __future__ import annotations

import re

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

MAX_PAGE = 100_000
_PAGE = re.compile(r"[1-9][0-9]{0,5}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses


def page_number(raw: str) -> int | None:
    """A `trang` page number (1 to MAX_PAGE, plain ASCII digits), or None when it is not one."""
    if not _PAGE.fullmatch(raw) or int(raw) > MAX_PAGE:
        return None
    return int(raw)


async def bounded_form(request: Request, max_bytes: int, max_fields: int) -> FormData | None:
    """The posted form, or None when it is too large, malformed or cut short (a 400, never a 500).

    A declared Content-Length over `max_bytes` is refused before a byte is read; a body that runs
    past it while streaming (chunked, or a lying header) is refused as soon as it does. The body read
    is replayed to Starlette's parser, which takes no files and at most `max_fields` fields."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        return None
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                return None
    except ClientDisconnect:  # gone mid-body: nobody reads the 400, and it is no server error to log
        return None
    replayed = False

    async def receive() -> Message:
        nonlocal replayed
        if replayed:
            return {"type": "http.disconnect"}
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, receive).form(max_files=0, max_fields=max_fields)
    except Exception:  # noqa: BLE001 - a malformed body is a bad request, never a 500
        return None


def text(value: object) -> str:
    """A form field as text: an uploaded file or a missing field is "" (never an error)."""
    return value if isinstance(value, str) else ""


def client(request: Request) -> str:
    """The client's address (after uvicorn's proxy headers, `trusted_proxies`), or "unknown"."""
    return request.client.host if request.client else "unknown"
