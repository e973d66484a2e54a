"""`syndicator serve --no-scheduler` as the readership benchmark runs it: the same app, server options
and lifespan (the flush every 5 s, and at shutdown), with `--no-count` taking the tally off the poll
path. Only bench/readership_bench.py starts this; the product has no switch to stop counting.

    python bench/readership_serve.py [--no-count] serve --host H --port P --no-scheduler --log-level L
"""

from __future__ import annotations

import argparse
import signal
import sys

import uvicorn

from syndicator import clock, links
from syndicator.config import load_settings
from syndicator.service import assemble
from syndicator.store import Store
from syndicator.web.app import create_app
from syndicator.web.feedserve import FeedServer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-count", action="store_true")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-scheduler", action="store_true")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workers", type=int, choices=[1], default=1)  # as feeds_http passes it
    args = parser.parse_args(argv)
    settings = load_settings().served_at(links.served_base(args.host, args.port))
    store = Store.open(settings.database_url, settings.categories)
    service = assemble(settings, store, clock.utcnow, render_now=False)
    app = create_app(service.services)
    assert isinstance(app, FeedServer)
    if args.no_count:
        app.tally = None
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            proxy_headers=False,  # as cli.serve: the app applies them behind the feed server
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: None)  # as cli.serve: uvicorn's shutdown, then cleanup
    try:
        server.run()
    finally:
        service.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
