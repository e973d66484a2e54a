"""API request bodies parsed off the event loop: small ones in a worker thread, large ones in a process.

Parsing and sanitising a few megabytes is seconds of work, most of it Python code holding the GIL (the
nesting check, JSON, text normalising). In a thread of the server's process it still delays every feed
poll by a GIL switch interval per step (4.4 MB of `<a>x</a>` held polls 100+ ms); in a process of its
own it delays nothing. A process costs about a second to start, so it is started at the first large
body and kept, and small bodies (milliseconds of work) stay in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import tzinfo

import anyio
import anyio.to_thread

from syndicator.ingest.errors import InvalidArticle
from syndicator.ingest.jsonl import parse_line
from syndicator.model import ArticleInput

log = logging.getLogger(__name__)

IN_PROCESS_FROM = 256 * 1024  # bytes: below this a body parses in a few milliseconds, in a thread
DEADLINE = 60.0  # seconds of parsing after which a body is refused (the limits keep real ones far below)

Parsed = ArticleInput | tuple[str, list[tuple[str, str]]]


def parse_api_body(raw: bytes, tz: tzinfo) -> Parsed:
    """The article, or the InvalidArticle's message and fields: an exception with extra attributes
    does not survive pickling across the process boundary, a tuple does."""
    try:
        return parse_line(raw, tz, source="api")
    except InvalidArticle as error:
        return error.message, error.fields


class BodyParser:
    """One parsing process per server, started when first needed, replaced if it dies or overruns."""

    def __init__(self, tz: tzinfo, limiter: anyio.CapacityLimiter) -> None:
        self.tz = tz
        self.limiter = limiter  # the API's own thread capacity, not the pool pages and /healthz use
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._turn = asyncio.Lock()

    async def parse(self, raw: bytes) -> ArticleInput:
        """Raises InvalidArticle naming what is wrong."""
        if len(raw) < IN_PROCESS_FROM:
            parsed = await anyio.to_thread.run_sync(parse_api_body, raw, self.tz, limiter=self.limiter)
        else:
            parsed = await self._in_process(raw)
        if isinstance(parsed, ArticleInput):
            return parsed
        message, fields = parsed
        raise InvalidArticle(message, fields)

    async def _in_process(self, raw: bytes) -> Parsed:
        async with self._turn:  # one body at a time: the deadline counts its parse, not its wait
            return await self._submit(raw)

    async def _submit(self, raw: bytes) -> Parsed:
        pool = self._started()
        try:
            future = pool.submit(parse_api_body, raw, self.tz)
            return await asyncio.wait_for(asyncio.wrap_future(future), DEADLINE)
        except TimeoutError:
            self._discard(pool, kill=True)
            raise InvalidArticle(f"too costly to parse (more than {DEADLINE:.0f} s of work)") from None
        except BrokenProcessPool:  # the process died (killed, out of memory): this body in a thread
            self._discard(pool, kill=False)
            log.warning("the API's parsing process died; parsing in a thread until it is replaced")
            return await anyio.to_thread.run_sync(parse_api_body, raw, self.tz, limiter=self.limiter)

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: a fork of a process with threads (uvicorn, senders) may inherit a
                # lock held by another thread at that moment
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor, *, kill: bool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:  # a parse that overran holds the process: end it, or shutdown would wait for it
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
