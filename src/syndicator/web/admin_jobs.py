"""The console's jobs page (/admin/jobs): who leads, each job's runs and errors.

What jobs.py's RunLog wrote (store/jobruns.py): the instances that ran a scheduler, the leader among
them and since when; per job and instance the runs, the last one's start, duration and outcome, the
next run the scheduler planned and the last error. An error is the driver's or the mail server's own
line, which may hold a subscriber's address: shown masked to every role (the page is a viewer's, and
showing an address would be a view of personal data to log); the log has the whole line.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicator.accounts import Role, Signed, masked_address
from syndicator.store import Store, jobruns
from syndicator.store.jobruns import Instance, JobRun
from syndicator.web.admin import PATHS, PREFIX, guarded, page
from syndicator.web.state import web

_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']{1,64}@[A-Za-z0-9.-]{1,255}")


def masked_text(text: str) -> str:
    """`text` with every address in it masked as `masked_address` does."""
    return _ADDRESS.sub(lambda found: masked_address(found[0]), text)


def _read(store: Store) -> tuple[list[Instance], list[JobRun]]:
    with store.reading() as conn:
        return jobruns.instances(conn), jobruns.runs(conn)


@guarded(Role.VIEWER)
async def jobs(request: Request, who: Signed, data: FormData | None) -> Response:
    state = web(request)
    instances, runs = await run_in_threadpool(_read, state.store)
    leader = next((i for i in instances if i.leading), None)
    return page(
        request,
        "admin/jobs.html",
        who,
        instances=instances,
        leader=leader,
        runs=runs,
        error_text=masked_text,
    )


ROUTES: list[BaseRoute] = [Route(PATHS["jobs"].removeprefix(PREFIX), jobs)]
TEMPLATES: list[str] = ["admin/jobs.html"]
