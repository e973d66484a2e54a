"""Links follow the address the service is served on, unless base_url is configured.

Real `syndicator serve` processes on free ports, with and without SYNDICATOR_BASE_URL: feed self links,
the OPML, the home page, the API description, WebSub pings and Link headers, and a confirmation mail in
the maildir outbox. The one-off commands that write links say once when they use the built-in default.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syndicator import links
from tests.conftest import ROOT
from tests.live import live_server
from tests.processes import TOKEN, Process, Processes, environment, shows_logs
from tests.subscribekit import csrf_field, html_part, link

pytestmark = pytest.mark.slow

SAMPLES = (ROOT / "examples" / "portal-export", ROOT / "examples" / "articles.jsonl")
PROXY = "http://rss.portal.example"  # http: the form's CSRF cookie is Secure behind https
OUR_HOSTS = ("127.0.0.1", "::1", "rss.portal.example")  # where links to this service may point
_ABSOLUTE = re.compile(r"""(?:href|src|xmlUrl|htmlUrl)=["'](https?://[^"']+)["']""")


# -- the address links use ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "base"),
    [
        ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("localhost", 8000, "http://localhost:8000"),
        ("portal.local", 80, "http://portal.local"),  # the scheme's own port is not written
        ("192.0.2.7", 443, "http://192.0.2.7:443"),  # serve speaks plain http, even on 443
        ("::1", 8080, "http://[::1]:8080"),  # an IPv6 literal in brackets
        ("[::1]", 8080, "http://[::1]:8080"),
        ("2001:db8::5", 80, "http://[2001:db8::5]"),
        ("fe80::1%eth0", 8000, "http://[fe80::1%25eth0]:8000"),  # RFC 6874: the zone's % escaped
        # every address is no address to link to: the loopback of the same family
        ("0.0.0.0", 8080, "http://127.0.0.1:8080"),
        ("", 8080, "http://127.0.0.1:8080"),
        ("::", 8080, "http://[::1]:8080"),
        ("[::]", 80, "http://[::1]"),
        ("0:0:0:0:0:0:0:0", 9000, "http://[::1]:9000"),
    ],
)
def test_the_base_of_links_to_a_listening_address(host: str, port: int, base: str) -> None:
    assert links.served_base(host, port) == base
    parts = urlsplit(base)  # and it is a URL a client can use
    assert parts.scheme == "http" and parts.hostname and parts.port in (None, port)


@pytest.mark.parametrize(
    ("host", "wildcard"),
    [
        ("", True),
        ("0.0.0.0", True),
        ("::", True),
        ("[::]", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0.example", False),
    ],
)
def test_wildcard_hosts(host: str, wildcard: bool) -> None:
    assert links.is_wildcard(host) is wildcard


# -- real processes ---------------------------------------------------------------------------------


def base_environment(database_url: str, home: Path, **extra: str) -> dict[str, str]:
    """A process environment with no base_url but what `extra` gives (the tests run in a folder
    without config/, so no file gives one either)."""
    env = environment(database_url=database_url, home=home)
    del env["SYNDICATOR_BASE_URL"]
    return env | extra


def run(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicator", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def imported(env: Mapping[str, str], cwd: Path) -> None:
    result = run(env, cwd, "import", *map(str, SAMPLES))
    assert result.returncode == 0, result.stderr
    assert "base_url" not in result.stderr  # an import writes no link


@contextmanager
def websub_hub() -> Iterator[tuple[str, list[str]]]:
    """A hub that records the topic URL of every ping."""
    topics: list[str] = []

    async def ping(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        topics.extend(form.get("hub.url", []))
        return Response(status_code=204)

    with live_server(Starlette(routes=[Route("/", ping, methods=["POST"])])) as url:
        yield url + "/", topics


def get(server: Process, path: str) -> httpx.Response:
    response = httpx.get(f"{server.url}{path}", timeout=10)
    assert response.status_code == 200, (path, response.status_code)
    return response


def our_links(text: str, hub: str | None) -> set[str]:
    """Absolute links to this service (not the portal's own source URLs, nor the hub) in a document."""
    return {
        url
        for url in _ABSOLUTE.findall(text)
        if urlsplit(url).hostname in OUR_HOSTS and (hub is None or not url.startswith(hub.rstrip("/")))
    }


def assert_links_to(server: Process, base: str, hub: str | None = None) -> None:
    """Every kind of absolute link the server hands out starts with `base`."""
    for kind in ("rss", "atom"):
        parsed = feedparser.parse(get(server, f"/feeds/all.{kind}").content)
        assert not parsed.bozo, (kind, parsed.get("bozo_exception"))
        selves = [link["href"] for link in parsed.feed.get("links", []) if link.get("rel") == "self"]
        assert selves == [f"{base}/feeds/all.{kind}"], kind
        ids = [entry.get("id") for entry in parsed.entries]
        assert ids and all(i.startswith(f"{base}/a/") for i in ids), ids[:3]
    json_feed = get(server, "/feeds/all.json").json()
    assert json_feed["feed_url"] == f"{base}/feeds/all.json"
    assert json_feed["home_page_url"] == f"{base}/"
    assert all(item["id"].startswith(f"{base}/a/") for item in json_feed["items"])
    opml = get(server, "/feeds.opml").text
    xml_urls = re.findall(r'xmlUrl="([^"]+)"', opml)
    assert f"{base}/feeds/all.rss" in xml_urls
    assert xml_urls and all(url.startswith(f"{base}/feeds/") for url in xml_urls)
    home = get(server, "/").text
    for kind in ("rss", "atom", "json"):  # autodiscovery in <head> and the buttons of the page
        assert f'href="{base}/feeds/all.{kind}"' in home
    for text in (home, opml, get(server, "/feeds/all.atom").text):
        found = our_links(text, hub)
        assert found and all(url.startswith(base + "/") for url in found), found
    api = httpx.get(f"{server.url}/api/openapi.json", headers={"authorization": f"Bearer {TOKEN}"})
    assert api.json()["servers"] == [{"url": base}]


@shows_logs
def test_serve_without_base_url_links_to_its_own_port_and_a_restart_follows_the_new_one(
    processes: Processes, tmp_path: Path, database_url: str
) -> None:
    with websub_hub() as (hub, topics):
        env = base_environment(database_url, tmp_path, SYNDICATOR_WEBSUB_HUB=hub)
        imported(env, tmp_path)
        first = processes.serve(env, name="first")
        assert first.url is not None
        assert_links_to(first, first.url, hub)
        assert first.count(f"serving {first.url} on {first.url} (base_url is not set") == 1

        feed = get(first, "/feeds/all.rss")
        assert f'<{first.url}/feeds/all.rss>; rel="self"' in feed.headers["link"]
        processes.eventually(
            lambda: f"{first.url}/feeds/all.rss" in topics, "the hub to be pinged with the served URL"
        )
        assert all(topic.startswith(first.url + "/") for topic in topics)

        mail = wait_for_mail(processes, tmp_path, first, "nguoi.dan@example.vn")
        assert link(mail, "/confirm/").startswith(f"{first.url}/confirm/")
        assert f'href="{first.url}/"' in html_part(mail)  # the layout's link to the site
        first.stop()

        # the kept feeds link to the first port: the next start on another port serves none of them
        second = processes.serve(env, name="second")
        assert second.url is not None and second.url != first.url
        assert_links_to(second, second.url, hub)
        assert first.url not in get(second, "/feeds/all.atom").text
        assert first.url not in get(second, "/feeds.opml").text


@shows_logs
def test_commands_beside_a_running_serve_link_where_it_serves(
    processes: Processes, tmp_path: Path, database_url: str
) -> None:
    """`build`, `build --out` and a digest run beside `serve --port N` without base_url: they link to
    N too (they rendered the kept feeds anew for :8000, and the running server served those)."""
    env = base_environment(database_url, tmp_path)
    imported(env, tmp_path)
    server = processes.serve(env, name="serve")
    assert server.url is not None
    for command in (("build",), ("build", "--out", "site"), ("digest", "send", "--frequency", "daily")):
        result = run(env, tmp_path, *command)
        assert result.returncode == 0, result.stderr
        assert [line for line in result.stderr.splitlines() if "base_url" in line] == [
            f"syndicator: base_url is not set; links use {server.url}, where serve last ran "
            "(set base_url in config/syndicator.toml or SYNDICATOR_BASE_URL)"
        ], command
    assert_links_to(server, server.url)
    assert f"{server.url}/feeds/all.atom" in (tmp_path / "site" / "feeds" / "all.atom").read_text()
    assert "127.0.0.1:8000" not in (tmp_path / "site" / "feeds.opml").read_text()


@shows_logs
def test_a_configured_base_url_wins_over_the_served_address(
    processes: Processes, tmp_path: Path, database_url: str
) -> None:
    env = base_environment(database_url, tmp_path, SYNDICATOR_BASE_URL=PROXY + "/")
    imported(env, tmp_path)
    server = processes.serve(env)
    assert server.url is not None
    assert_links_to(server, PROXY)
    assert server.count(f"serving {PROXY} on {server.url}") == 1
    assert server.count("base_url is not set") == 0
    mail = wait_for_mail(processes, tmp_path, server, "can.bo@example.vn")
    assert link(mail, "/confirm/").startswith(f"{PROXY}/confirm/")


def wait_for_mail(processes: Processes, home: Path, server: Process, email: str) -> EmailMessage:
    """Sign up on the form as a browser would; the confirmation mail once the maildir outbox holds it."""
    with httpx.Client(base_url=server.url or "", timeout=10) as client:
        token = csrf_field(client.get("/subscribe"))
        posted = client.post("/subscribe", data={"csrf_token": token, "email": email, "all": "1"})
        assert posted.status_code == 200, posted.text
    outbox = home / "var" / "outbox" / "new"

    def delivered() -> EmailMessage | None:
        for path in sorted(outbox.glob("*")) if outbox.is_dir() else []:
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            if email in str(message["To"]):
                return message
        return None

    message = processes.eventually(delivered, f"the confirmation mail to {email} in the outbox")
    assert message is not None  # eventually waits for a true answer
    return message


# -- the commands that write links without a server's address ---------------------------------------

NOTE = "syndicator: base_url is not set; links use http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "command",
    [
        ("build",),
        ("build", "--out", "site"),
        ("digest", "send", "--frequency", "daily"),
        ("digest", "preview", "--frequency", "daily", "--out", "digest.html"),
        ("articles", "list", "--json"),
    ],
)
def test_a_command_that_writes_links_says_once_that_base_url_is_the_default(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    imported(env, tmp_path)
    result = run(env, tmp_path, *command)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "base_url" in line] == [
        f"{NOTE} (set base_url in config/syndicator.toml or SYNDICATOR_BASE_URL)"
    ]
    configured = run(env | {"SYNDICATOR_BASE_URL": PROXY}, tmp_path, *command)
    assert configured.returncode == 0, configured.stderr
    assert "base_url" not in configured.stderr


def test_the_note_names_the_configuration_file_in_use(tmp_path: Path) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    chosen = tmp_path / "other.toml"
    chosen.write_text("[feeds]\nmax_entries = 5\n", encoding="utf-8")
    result = run(env | {"SYNDICATOR_CONFIG": str(chosen)}, tmp_path, "build")
    assert result.returncode == 0, result.stderr
    assert f"(set base_url in {chosen} or SYNDICATOR_BASE_URL)" in result.stderr
    given = tmp_path / "given.toml"
    given.write_text(f'base_url = "{PROXY}"\n', encoding="utf-8")
    quiet = run(env | {"SYNDICATOR_CONFIG": str(given)}, tmp_path, "build")
    assert quiet.returncode == 0 and "base_url" not in quiet.stderr, quiet.stderr


@shows_logs
def test_the_worker_says_once_that_its_links_use_the_default(processes: Processes, tmp_path: Path) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    worker = processes.worker(env)
    assert worker.count(NOTE) == 1
    assert worker.log().index(NOTE) < worker.log().index("worker running the scheduled jobs")


def test_commands_without_links_say_nothing_about_base_url(tmp_path: Path) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    imported(env, tmp_path)
    for command in (("categories", "list"), ("articles", "list"), ("db", "upgrade")):
        result = run(env, tmp_path, *command)
        assert result.returncode == 0 and "base_url" not in result.stderr, (command, result.stderr)


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    result = run(env, tmp_path, "serve", "--port", port)
    assert result.returncode == 2
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@shows_logs
def test_serving_on_every_address_links_to_the_loopback_and_asks_for_base_url(
    processes: Processes, tmp_path: Path
) -> None:
    env = base_environment(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    imported(env, tmp_path)
    server = processes.serve(env, args=("--host", "0.0.0.0"))  # the last --host wins
    assert server.url is not None and server.url.startswith("http://127.0.0.1:")
    port = urlsplit(server.url).port
    line = f"serving {server.url} on http://0.0.0.0:{port} (base_url is not set and 0.0.0.0 is no address"
    assert server.count(line) == 1
    assert server.count("set base_url to the address readers use") == 1
    assert_links_to(server, server.url)
