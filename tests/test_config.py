"""Settings: the TOML file, SYNDICATOR_* variables over it, validation naming the setting."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from syndicator.config import DEFAULT_BASE_URL, ConfigError, Settings, default_base_url_note, load_settings
from syndicator.ingest.jsonl import parse_line
from syndicator.ingest.portal import parse_export
from tests.conftest import EXAMPLES, ROOT

SHIPPED = ROOT / "config" / "syndicator.toml"


def toml(tmp_path: Path, text: str, name: str = "custom.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def defaults() -> Settings:
    """The built-in defaults (the tests run in an empty folder: no config/ there)."""
    assert not Path("config/syndicator.toml").exists()
    return load_settings()


def test_defaults() -> None:
    config = defaults()
    assert config.database_url == "sqlite:///var/syndicator.db"
    assert config.base_url == "http://127.0.0.1:8000"
    assert config.site.timezone == "Asia/Ho_Chi_Minh" and str(config.tz) == "Asia/Ho_Chi_Minh"
    assert (config.feeds.max_entries, config.imports.max_file_bytes) == (20, 5_000_000)
    assert config.api_tokens == () and config.categories == {}


def test_the_shipped_file_loads_and_equals_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting but the English names of Thọ Xuân's categories, which are its data."""
    expected = defaults().model_dump()
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(SHIPPED))
    shipped = load_settings().model_dump()
    assert shipped.pop("categories_en") and expected.pop("categories_en") == {}
    assert shipped == expected


def test_the_shipped_english_names_are_those_of_the_sample_categories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slug mistyped in the file would leave that category Vietnamese on English pages."""
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(SHIPPED))
    names = load_settings().categories_en
    assert set(names) == set(_sample_category_slugs())
    assert all(name.isascii() for name in names.values())


def _sample_category_slugs() -> list[str]:
    """The category of each sample, as the importers read it."""
    found = [
        parse_export(path.read_bytes(), path.stem).category_slug for path in sorted(EXAMPLES.glob("*.txt"))
    ]
    for line in (EXAMPLES.parent / "articles.jsonl").read_bytes().splitlines():
        if line.strip():
            found.append(parse_line(line, ZoneInfo("Asia/Ho_Chi_Minh")).category_slug)
    return found


def test_the_default_file_is_read_from_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    toml(tmp_path / "config", "[feeds]\nmax_entries = 33\n", "syndicator.toml")
    assert load_settings().feeds.max_entries == 33


def test_toml_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(
        tmp_path,
        """
database_url = "postgresql+psycopg://syndicator@db/syndicator"
base_url = "https://rss.thoxuan.example/"
api_tokens = ["token-number-one-0001", "token-number-two-0002"]

[site]
name = "Cổng TTĐT xã Xuân Hồng"
timezone = "Asia/Bangkok"

[feeds]
max_entries = 30

[categories]
"quoc-phong-an-ninh" = "Quốc phòng - An ninh"
""",
    )
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(path))
    config = load_settings()
    assert config.database_url == "postgresql+psycopg://syndicator@db/syndicator"
    assert config.base_url == "https://rss.thoxuan.example"  # no trailing slash
    assert config.api_tokens == ("token-number-one-0001", "token-number-two-0002")
    assert config.site.name == "Cổng TTĐT xã Xuân Hồng"
    assert config.site.language == "vi"  # untouched keys of a section keep their defaults
    assert str(config.tz) == "Asia/Bangkok"
    assert (config.feeds.max_entries, config.feeds.archive_page_size) == (30, 50)
    assert config.categories == {"quoc-phong-an-ninh": "Quốc phòng - An ninh"}
    assert config.category_display_name("quoc-phong-an-ninh", "QP-AN") == "Quốc phòng - An ninh"
    assert config.category_display_name("kinh-te", "Kinh tế") == "Kinh tế"
    # a file from before [categories.en]: no English names, English pages show the Vietnamese ones
    assert config.categories_en == {}
    assert config.category_display_name("quoc-phong-an-ninh", "QP-AN", "en") == "Quốc phòng - An ninh"


def test_english_category_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(
        tmp_path,
        """
[categories]
"quoc-phong-an-ninh" = "Quốc phòng - An ninh"

[categories.en]
"quoc-phong-an-ninh" = "Defence and Security"
"kinh-te" = "Economy"
""",
    )
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(path))
    config = load_settings()
    assert config.categories == {"quoc-phong-an-ninh": "Quốc phòng - An ninh"}  # "en" is not a slug here
    assert config.categories_en == {"quoc-phong-an-ninh": "Defence and Security", "kinh-te": "Economy"}
    name = config.category_display_name
    assert name("quoc-phong-an-ninh", "QP-AN", "en") == "Defence and Security"
    assert name("kinh-te", "Kinh tế", "en") == "Economy"  # an English name needs no Vietnamese one
    assert name("xa-hoi", "Xã hội", "en") == "Xã hội"  # none configured: the Vietnamese name
    assert name("quoc-phong-an-ninh", "QP-AN") == name("quoc-phong-an-ninh", "QP-AN", "vi")
    assert name("quoc-phong-an-ninh", "QP-AN") == "Quốc phòng - An ninh"
    assert load_settings(**config.model_dump()).categories_en == config.categories_en  # a copy keeps them


def test_a_category_slugged_en_is_still_a_category(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(toml(tmp_path, '[categories]\nen = "Tiếng Anh"\n')))
    config = load_settings()
    assert (config.categories, config.categories_en) == ({"en": "Tiếng Anh"}, {})


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(
        tmp_path,
        'base_url = "https://from-toml.example"\n[feeds]\nmax_entries = 30\narchive_page_size = 100\n',
    )
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(path))
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "https://from-env.example")
    monkeypatch.setenv("SYNDICATOR_FEEDS__MAX_ENTRIES", "40")
    config = load_settings()
    assert config.base_url == "https://from-env.example"
    assert config.feeds.max_entries == 40
    assert config.feeds.archive_page_size == 100  # the rest of the section still comes from the file


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_FEEDS__MAX_ENTRIES", "25")
    monkeypatch.setenv("SYNDICATOR_SITE__TIMEZONE", "Asia/Bangkok")
    monkeypatch.setenv("SYNDICATOR_IMPORTS__BATCH_SIZE", "7")
    config = load_settings()
    assert (config.feeds.max_entries, config.site.timezone, config.imports.batch_size) == (
        25,
        "Asia/Bangkok",
        7,
    )


def test_overrides_win_over_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "https://from-env.example")
    assert load_settings(base_url="https://given.example").base_url == "https://given.example"


# --- base_url: configured, or the address served -------------------------------------------------------


def test_base_url_is_configured_only_when_a_source_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not defaults().base_url_configured
    assert defaults().base_url == DEFAULT_BASE_URL
    other = toml(tmp_path, "[feeds]\nmax_entries = 30\n", "other.toml")
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(other))
    assert not load_settings().base_url_configured  # a file without it
    given = toml(tmp_path, f'base_url = "{DEFAULT_BASE_URL}"\n', "given.toml")
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(given))
    assert load_settings().base_url_configured  # even when it equals the default
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(other))
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "https://from-env.example")
    assert load_settings().base_url_configured
    monkeypatch.delenv("SYNDICATOR_BASE_URL")
    assert load_settings(base_url="https://given.example").base_url_configured


def test_the_shipped_file_leaves_base_url_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(SHIPPED))
    assert not load_settings().base_url_configured
    assert "# base_url = " in SHIPPED.read_text(encoding="utf-8")


def test_served_at_replaces_only_a_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = defaults()
    served = unset.served_at("http://127.0.0.1:8080/")
    assert served.base_url == "http://127.0.0.1:8080"
    assert unset.base_url == DEFAULT_BASE_URL  # the settings stay frozen: a copy
    assert served.feeds == unset.feeds and served.tz == unset.tz
    with pytest.raises(ValidationError):
        unset.base_url = "http://elsewhere.example"  # type: ignore[misc]
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "https://rss.portal.example")
    configured = load_settings()
    assert configured.served_at("http://127.0.0.1:8080") is configured  # a proxy in front decides


def test_the_default_base_url_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    note = default_base_url_note(defaults())
    assert note == (
        f"syndicator: base_url is not set; links use {DEFAULT_BASE_URL} "
        "(set base_url in config/syndicator.toml or SYNDICATOR_BASE_URL)"
    )
    assert default_base_url_note(load_settings(base_url="https://given.example")) is None
    assert default_base_url_note(defaults().served_at("http://127.0.0.1:8080")) is None


def test_an_empty_base_url_is_an_error_that_says_it_can_be_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "")
    with pytest.raises(ConfigError, match=r"base_url \(SYNDICATOR_BASE_URL\): empty: .*leave base_url out"):
        load_settings()


# --- feeds.max_content_bytes -----------------------------------------------------------------------------


def test_max_content_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert defaults().feeds.max_content_bytes == 100_000
    monkeypatch.setenv("SYNDICATOR_FEEDS__MAX_CONTENT_BYTES", "0")
    assert load_settings().feeds.max_content_bytes == 0  # every entry: its summary and a link
    for bad in ("-1", "a lot"):
        monkeypatch.setenv("SYNDICATOR_FEEDS__MAX_CONTENT_BYTES", bad)
        with pytest.raises(
            ConfigError, match=r"feeds\.max_content_bytes \(SYNDICATOR_FEEDS__MAX_CONTENT_BYTES\)"
        ):
            load_settings()


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        ("token-number-one-0001", ("token-number-one-0001",)),
        ("token-number-one-0001,token-number-two-0002", ("token-number-one-0001", "token-number-two-0002")),
        (
            " token-number-one-0001 , token-number-two-0002 ,",
            ("token-number-one-0001", "token-number-two-0002"),
        ),
        ("", ()),
    ],
)
def test_api_tokens_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str, tokens: tuple[str, ...]
) -> None:
    monkeypatch.setenv("SYNDICATOR_API_TOKENS", value)
    assert load_settings().api_tokens == tokens


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p%40ss@db:5432/syndicator", "postgresql+psycopg://u:p%40ss@db:5432/syndicator"),
        ("postgresql+psycopg2://u@db/syndicator", "postgresql+psycopg://u@db/syndicator"),
        (
            "postgresql+psycopg://u@db/s?options=-csearch_path%3Dt_1",
            "postgresql+psycopg://u@db/s?options=-csearch_path%3Dt_1",
        ),
        ("sqlite:///var/x.db", "sqlite:///var/x.db"),
    ],
)
def test_postgresql_urls_use_the_shipped_driver(given: str, used: str) -> None:
    assert load_settings(database_url=given).database_url == used


# --- errors name the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("SYNDICATOR_FEEDS__MAX_ENTRIES", "0", "SYNDICATOR_FEEDS__MAX_ENTRIES"),
        ("SYNDICATOR_FEEDS__MAX_ENTRIES", "many", "SYNDICATOR_FEEDS__MAX_ENTRIES"),
        ("SYNDICATOR_FEEDS__ARCHIVE_PAGE_SIZE", "1", "SYNDICATOR_FEEDS__ARCHIVE_PAGE_SIZE"),
        ("SYNDICATOR_IMPORTS__MAX_FILE_BYTES", "10", "SYNDICATOR_IMPORTS__MAX_FILE_BYTES"),
        ("SYNDICATOR_DATABASE_URL", "mysql://x", "SYNDICATOR_DATABASE_URL"),
        ("SYNDICATOR_DATABASE_URL", "not a url", "SYNDICATOR_DATABASE_URL"),
        ("SYNDICATOR_BASE_URL", "notaurl", "SYNDICATOR_BASE_URL"),
        ("SYNDICATOR_BASE_URL", "ftp://example.org", "SYNDICATOR_BASE_URL"),
        ("SYNDICATOR_BASE_URL", "", "SYNDICATOR_BASE_URL"),
        ("SYNDICATOR_WEBSUB_HUB", "hub", "SYNDICATOR_WEBSUB_HUB"),
        ("SYNDICATOR_SITE__TIMEZONE", "Mars/Base", "SYNDICATOR_SITE__TIMEZONE"),
        ("SYNDICATOR_SITE__TIMEZONE", "../../etc/passwd", "SYNDICATOR_SITE__TIMEZONE"),
        ("SYNDICATOR_SITE__LANGUAGE", "Vietnamese", "SYNDICATOR_SITE__LANGUAGE"),
        ("SYNDICATOR_SITE__LANGUAGE", "zz", "SYNDICATOR_SITE__LANGUAGE"),  # well formed, unknown
        ("SYNDICATOR_SITE__NAME", "", "SYNDICATOR_SITE__NAME"),
        ("SYNDICATOR_SECRET_KEY", "short", "SYNDICATOR_SECRET_KEY"),
        ("SYNDICATOR_API_TOKENS", "short,token-number-two-0002", "SYNDICATOR_API_TOKENS"),
        ("SYNDICATOR_SITE", "not json", "site"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert "\n" not in message


def test_a_regional_language_tag_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_SITE__LANGUAGE", "vi-VN")
    assert load_settings().site.language == "vi-VN"


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        ("fr", "no message catalogue for language 'fr': syndicator speaks vi and en"),
        ("xx", "unknown language 'xx'"),
    ],
)
def test_a_site_language_needs_a_catalogue(monkeypatch: pytest.MonkeyPatch, tag: str, named: str) -> None:
    """Feeds, the OPML and mails by default speak the site's language: a language Babel knows but we
    have no words for (French) would come out in Vietnamese under a feed that says French."""
    monkeypatch.setenv("SYNDICATOR_SITE__LANGUAGE", tag)
    with pytest.raises(ConfigError, match=r"site\.language") as caught:
        load_settings()
    assert named in str(caught.value)


def test_several_bad_settings_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_FEEDS__MAX_ENTRIES", "0")
    monkeypatch.setenv("SYNDICATOR_BASE_URL", "notaurl")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SYNDICATOR_FEEDS__MAX_ENTRIES" in str(caught.value) and "SYNDICATOR_BASE_URL" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("bogus = 1\n", "bogus"),
        ("[feeds]\nmax_entrys = 30\n", "feeds.max_entrys"),
        ("[mail]\nhost = 'x'\n", "mail"),
        ("[feeds]\nmax_entries = 0\n", "feeds.max_entries"),
        ('[categories]\n"Quốc phòng" = "x"\n', "categories"),
        ('[categories]\n"kinh-te" = "  "\n', "categories"),
        ('[categories.en]\n"Kinh tế" = "Economy"\n', "categories.en (SYNDICATOR_CATEGORIES__EN)"),
        ('[categories.en]\n"kinh-te" = ""\n', "categories.en (SYNDICATOR_CATEGORIES__EN)"),
        ('[categories.en]\n"kinh-te" = 3\n', "categories.en.kinh-te"),
    ],
)
def test_a_bad_toml_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, named: str
) -> None:
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(toml(tmp_path, text)))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_key_is_called_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(toml(tmp_path, "[feeds]\nmax_entrys = 30\n")))
    with pytest.raises(ConfigError, match=r"feeds\.max_entrys .*unknown setting"):
        load_settings()


@pytest.mark.parametrize(
    "text",
    ["[feeds\nmax_entries = 30\n", "max_entries = \n", 'base_url = "unterminated\n', "a = 1\na = 2\n"],
)
def test_toml_syntax_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = toml(tmp_path, text)
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(path) in str(caught.value) and "line" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_toml_file_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[site]\nname = "Cổng"\n'.encode("utf-16"))
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"latin1\.toml"):
        load_settings()


@pytest.mark.parametrize("target", ["missing.toml", "."])
def test_a_missing_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(tmp_path / target))
    with pytest.raises(ConfigError, match="SYNDICATOR_CONFIG: no such file"):
        load_settings()


# --- the secret key ----------------------------------------------------------------------------------


def test_a_configured_secret_key_is_used(tmp_path: Path) -> None:
    config = load_settings(secret_key="configured-secret-0123", var_dir=tmp_path / "var")
    assert config.resolved_secret_key() == "configured-secret-0123"
    assert not (tmp_path / "var" / "secret_key").exists()


def test_a_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    var = tmp_path / "var" / "nested"
    first = load_settings(var_dir=var).resolved_secret_key()
    assert len(first) >= 32
    path = var / "secret_key"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(var_dir=var).resolved_secret_key() == first  # a restart keeps it
    assert load_settings(var_dir=var).resolved_secret_key() == first
    assert load_settings(var_dir=tmp_path / "elsewhere").resolved_secret_key() != first


def test_the_secret_key_is_read_once_per_settings(tmp_path: Path) -> None:
    """Links are checked per request: the key file is read when first needed, not at every call."""
    var = tmp_path / "var"
    config = load_settings(var_dir=var)
    first = config.resolved_secret_key()
    (var / "secret_key").unlink()  # read again, a missing file would make a new key
    assert config.resolved_secret_key() == first
    assert not (var / "secret_key").exists()
    assert config.served_at("http://127.0.0.1:8001").resolved_secret_key() == first


# --- DKIM: all three settings or none, and a key that loads -------------------------------------------


def _rsa_pem(private_format: str = "TraditionalOpenSSL", newline: bytes = b"\n") -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        getattr(serialization.PrivateFormat, private_format),
        serialization.NoEncryption(),
    )
    return pem.replace(b"\n", newline)


def _dkim(key_file: Path | None, domain: str | None = "thoxuan.example", selector: str | None = "s1") -> Any:
    mail: dict[str, object] = {}
    for name, value in (("dkim_domain", domain), ("dkim_selector", selector), ("dkim_key_file", key_file)):
        if value is not None:
            mail[name] = value
    return load_settings(mail=mail)


@pytest.mark.parametrize(
    ("private_format", "newline"),
    [("TraditionalOpenSSL", b"\n"), ("PKCS8", b"\n"), ("TraditionalOpenSSL", b"\r\n")],
)
def test_a_dkim_key_loads_at_start(tmp_path: Path, private_format: str, newline: bytes) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem(private_format, newline))
    config = _dkim(key_file)
    assert config.mail.dkim_key_file == key_file and config.mail.dkim_selector == "s1"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"domain": None}, ["mail.dkim_domain (SYNDICATOR_MAIL__DKIM_DOMAIN)"]),
        ({"selector": None}, ["mail.dkim_selector (SYNDICATOR_MAIL__DKIM_SELECTOR)"]),
        ({"selector": "  "}, ["mail.dkim_selector"]),
        ({"key": None}, ["mail.dkim_key_file (SYNDICATOR_MAIL__DKIM_KEY_FILE)"]),
        ({"key": None, "domain": None}, ["mail.dkim_domain", "mail.dkim_key_file"]),
    ],
)
def test_a_partial_dkim_setting_stops_the_start(
    tmp_path: Path, given: dict[str, str | None], missing: list[str]
) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    values: dict[str, Any] = {"key_file": key_file, "domain": "thoxuan.example", "selector": "s1"}
    values.update({"key_file" if k == "key" else k: v for k, v in given.items()})
    with pytest.raises(ConfigError) as caught:
        _dkim(values["key_file"], values["domain"], values["selector"])
    message = str(caught.value)
    assert "\n" not in message and "DKIM" in message
    for name in missing:
        assert name in message
    named = {n for n in ("dkim_domain", "dkim_selector", "dkim_key_file") if f"mail.{n} (" in message}
    assert len(named) == len(missing)


def test_no_dkim_setting_at_all_is_fine() -> None:
    mail = load_settings().mail
    assert (mail.dkim_domain, mail.dkim_selector, mail.dkim_key_file) == (None, None, None)


def _not_keys(tmp_path: Path) -> dict[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"mat-khau"),
    )
    elliptic = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "public key": public,
        "encrypted": encrypted,
        "ec key": elliptic,
        "empty": b"",
        "text": "khóa bí mật\n".encode(),
        "truncated": _rsa_pem()[:300] + b"\n-----END RSA PRIVATE KEY-----\n",
        "binary": bytes(range(256)),
    }


@pytest.mark.parametrize(
    "kind", ["public key", "encrypted", "ec key", "empty", "text", "truncated", "binary", "folder"]
)
def test_a_dkim_key_file_that_is_no_private_key_stops_the_start(tmp_path: Path, kind: str) -> None:
    key_file = tmp_path / "dkim.pem"
    if kind == "folder":
        key_file.mkdir()
    else:
        key_file.write_bytes(_not_keys(tmp_path)[kind])
    with pytest.raises(ConfigError) as caught:
        _dkim(key_file)
    message = str(caught.value)
    assert "\n" not in message
    assert "mail.dkim_key_file (SYNDICATOR_MAIL__DKIM_KEY_FILE)" in message
    assert str(key_file) in message


def test_the_cli_refuses_a_partial_or_broken_dkim_setting(tmp_path: Path) -> None:
    from tests.clikit import cli, one_error_line

    database = f"sqlite:///{tmp_path / 'store.db'}"
    partial = cli(
        "categories", "list", cwd=tmp_path, database_url=database,
        env={"SYNDICATOR_MAIL__DKIM_DOMAIN": "thoxuan.example", "SYNDICATOR_MAIL__DKIM_SELECTOR": "s1"},
    )  # fmt: skip
    assert partial.returncode == 2
    assert "mail.dkim_key_file (SYNDICATOR_MAIL__DKIM_KEY_FILE)" in one_error_line(partial)

    key_file = tmp_path / "dkim.pem"
    key_file.write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n")
    broken = cli(
        "categories", "list", cwd=tmp_path, database_url=database,
        env={
            "SYNDICATOR_MAIL__DKIM_DOMAIN": "thoxuan.example",
            "SYNDICATOR_MAIL__DKIM_SELECTOR": "s1",
            "SYNDICATOR_MAIL__DKIM_KEY_FILE": str(key_file),
        },
    )  # fmt: skip
    assert broken.returncode == 2
    line = one_error_line(broken)
    assert "mail.dkim_key_file" in line and "not a PEM RSA private key" in line
    assert not (tmp_path / "store.db").exists()  # stopped before anything was opened


# --- DKIM: what reaches the DKIM-Signature header, and the key file itself ------------------------------


@pytest.mark.parametrize(
    "selector",
    ["s\r\nBcc: z@evil", "s1; t=1", "s 1", "-s1", "s1-", "s_1", "s..1", ".s1", "sở", "a" * 64],
)
def test_a_dkim_selector_that_is_no_dns_label_stops_the_start(tmp_path: Path, selector: str) -> None:
    """s= is written into the signature header: a CRLF there added a Bcc: header to every mail."""
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    with pytest.raises(ConfigError) as caught:
        _dkim(key_file, selector=selector)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert "mail.dkim_selector (SYNDICATOR_MAIL__DKIM_SELECTOR)" in message
    assert "not a DKIM selector" in message


@pytest.mark.parametrize(
    "domain",
    ["x.vn; evil=1", "x.vn\r\nBcc: z@evil", "thoxuan", "a..vn", "-x.vn", "x_y.vn", "x.vn ", "a" * 64 + ".vn"],
)
def test_a_dkim_domain_that_is_no_dns_name_stops_the_start(tmp_path: Path, domain: str) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    with pytest.raises(ConfigError) as caught:
        _dkim(key_file, domain=domain)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert "mail.dkim_domain (SYNDICATOR_MAIL__DKIM_DOMAIN)" in message and "not a domain name" in message


@pytest.mark.parametrize(
    ("domain", "selector", "kept"),
    [
        ("Thoxuan.ThanhHoa.gov.vn.", "bantin2021", ("thoxuan.thanhhoa.gov.vn", "bantin2021")),
        ("thọxuân.vn", "s1.2026-11", ("xn--thxun-6qa4274c.vn", "s1.2026-11")),  # the IDNA form d= carries
    ],
)
def test_a_dkim_domain_is_kept_as_dns_writes_it(
    tmp_path: Path, domain: str, selector: str, kept: tuple[str, str]
) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    mail = _dkim(key_file, domain=domain, selector=selector).mail
    assert (mail.dkim_domain, mail.dkim_selector) == kept


def test_a_dkim_key_record_longer_than_a_dns_name_stops_the_start(tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    with pytest.raises(ConfigError, match="longer than a DNS name"):
        _dkim(key_file, domain=".".join(["d" * 60] * 4), selector="s" * 20)


def _rsa_512_pem() -> bytes:
    """A 512-bit RSA key (cryptography no longer generates one): two 256-bit primes from a fixed seed."""
    import random

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def prime(rng: random.Random) -> int:
        while True:
            n = rng.getrandbits(256) | (1 << 255) | 1
            if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
                return n

    rng = random.Random(8301)
    p, q, e = prime(rng), prime(rng), 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    assert key.key_size == 512
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def test_a_dkim_key_under_1024_bits_stops_the_start(tmp_path: Path) -> None:
    """Receivers ignore signatures made with such keys (RFC 8301): every mail would go out unsigned."""
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_512_pem())
    with pytest.raises(ConfigError) as caught:
        _dkim(key_file)
    message = str(caught.value)
    assert "mail.dkim_key_file (SYNDICATOR_MAIL__DKIM_KEY_FILE)" in message
    assert "512-bit RSA key" in message and "RFC 8301" in message and str(key_file) in message


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("folder", "not a regular file (a folder)"),
        ("fifo", "not a regular file (a FIFO)"),
        ("device", "not a regular file (a character device)"),
        ("missing", "No such file or directory"),
        ("too large", "file too large"),
        ("link to a key", None),
    ],
)
def test_a_dkim_key_file_that_is_no_regular_file_is_named_with_its_reason(
    tmp_path: Path, kind: str, reason: str | None
) -> None:
    """A FIFO is never opened (it would block the start) and /dev/zero never read (it has no end)."""
    import os

    key_file = tmp_path / "dkim.pem"
    if kind == "folder":
        key_file.mkdir()
    elif kind == "fifo":
        os.mkfifo(key_file)
    elif kind == "device":
        key_file.symlink_to("/dev/zero")  # a link the operator made is followed: to a device, refused
    elif kind == "too large":
        key_file.write_bytes(_rsa_pem() + b"\n" * 70_000)
    elif kind == "link to a key":
        (tmp_path / "real.pem").write_bytes(_rsa_pem())
        key_file.symlink_to(tmp_path / "real.pem")
    if reason is None:
        assert _dkim(key_file).mail.dkim_key_file == key_file
        return
    with pytest.raises(ConfigError) as caught:
        _dkim(key_file)
    message = str(caught.value)
    assert "\n" not in message
    assert "mail.dkim_key_file (SYNDICATOR_MAIL__DKIM_KEY_FILE)" in message
    assert str(key_file) in message and reason in message


def test_the_cli_refuses_a_dkim_selector_that_would_add_a_header(tmp_path: Path) -> None:
    from tests.clikit import cli, one_error_line

    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    result = cli(
        "categories", "list", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'store.db'}",
        env={
            "SYNDICATOR_MAIL__DKIM_DOMAIN": "thoxuan.example",
            "SYNDICATOR_MAIL__DKIM_SELECTOR": "s\r\nBcc: z@evil",
            "SYNDICATOR_MAIL__DKIM_KEY_FILE": str(key_file),
        },
    )  # fmt: skip
    assert result.returncode == 2
    assert "mail.dkim_selector (SYNDICATOR_MAIL__DKIM_SELECTOR)" in one_error_line(result)
    assert not (tmp_path / "store.db").exists()


def test_a_dkim_key_under_2048_bits_signs_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1024 bits still verify (RFC 8301 allows them), but signers should use 2048: said once, at start."""
    from syndicator.mail.dkim import signer

    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(_rsa_pem())
    with caplog.at_level("WARNING", logger="syndicator.mail.dkim"):
        signer("thoxuan.example", "s1", key_file)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "1024 bits" in line and "2048" in line and str(key_file) in line
