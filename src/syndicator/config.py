"""Settings: `config/syndicator.toml` (or the file named by SYNDICATOR_CONFIG) + SYNDICATOR_* env.

Everything is validated when the program starts, so that a typo stops the service at once with a line
naming the setting, not at 06:30 when the digest goes out.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import UnknownLocaleError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from syndicator import dates, i18n
from syndicator.smtpurl import SmtpAddress
from syndicator.text import category_slug

DEFAULT_CONFIG = Path("config/syndicator.toml")
# Where links point when base_url is not configured and no server address stands in (`serve` uses
# its own --host/--port instead, cli.py): right for one machine trying the service, wrong for others.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# The language of [categories.en], the only other name a category can have
ENGLISH = "en"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    name: str = Field("Cổng thông tin điện tử huyện Thọ Xuân", min_length=1)
    short_name: str = Field("Cổng TTĐT huyện Thọ Xuân", min_length=1)
    description: str = "Tin tức, thông báo của Cổng thông tin điện tử huyện Thọ Xuân, tỉnh Thanh Hóa"
    language: str = Field("vi", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timezone: str = "Asia/Ho_Chi_Minh"

    @property
    def catalogue(self) -> str:
        """The message catalogue the site's words are in (`vi-VN` -> `vi`): feeds, OPML, and pages and
        mails unless a reader chose another."""
        return i18n.catalogue_of(self.language)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        try:
            dates.locale_of(value)  # dates and weekdays are named from its locale data
        except (ValueError, UnknownLocaleError):
            raise ValueError(
                f"unknown language {value!r} (a BCP 47 tag Babel knows, e.g. 'vi' or 'en')"
            ) from None
        # the site's words (feeds, OPML, mails by default) come from a catalogue: one must exist
        primary = value.split("-", 1)[0]
        if primary not in i18n.LANGUAGES:
            raise ValueError(
                f"no message catalogue for language {value!r}: syndicator speaks "
                f"{' and '.join(i18n.LANGUAGES)} (e.g. 'vi', 'vi-VN', 'en', 'en-GB')"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class FeedSettings(_Section):
    max_entries: int = Field(20, ge=1, le=500)
    archive_page_size: int = Field(50, ge=5, le=1000)
    cache_max_age: int = Field(300, ge=0, le=86400)
    # An entry whose content HTML is longer (UTF-8 bytes) carries its summary and a link to the
    # article page instead: one very long article would otherwise make every poll of the feed long.
    max_content_bytes: int = Field(100_000, ge=0)


class ImportSettings(_Section):
    max_file_bytes: int = Field(5_000_000, ge=1000)
    # a subscriber CSV is streamed (memory does not grow with it): an office's whole list of
    # 100,000 addresses is about 6 MB, so its cap is far above an article export's
    max_csv_bytes: int = Field(500_000_000, ge=1000)
    batch_size: int = Field(500, ge=1, le=10_000)
    # the drop folder's scan is woken by inotify when a file arrives (ingest/watch.py); the scan every
    # `rescan_seconds` stays as the fallback. Without the watch (false, or no inotify), every 0.5 s.
    watch: bool = True
    rescan_seconds: float = Field(5.0, gt=0, le=3600)


_DKIM_SETTINGS = ("dkim_domain", "dkim_selector", "dkim_key_file")
# RFC 6376 3.1: a selector is dot-separated DNS labels of letters, digits and inner hyphens. Both the
# selector and the domain are written into the DKIM-Signature header (s=, d=): a CR, LF, ";" or space
# there would add a header of the sender's choosing to every mail, or a tag that breaks the signature.
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_LABELS = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


def _dkim_domain(value: str) -> str:
    """A domain name in ASCII: a non-ASCII one IDNA-encoded (the form DNS and the d= tag carry)."""
    name = value.removesuffix(".")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_name = ""
    if not _DNS_LABELS.fullmatch(ascii_name) or "." not in ascii_name or len(ascii_name) > 253:
        raise ValueError(
            f"{value!r} is not a domain name (labels of letters, digits and hyphens joined by dots)"
        )
    return ascii_name


class MailSettings(_Section):
    from_address: str = Field("bantin@thoxuan.thanhhoa.gov.vn", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    from_name: str = "Cổng TTĐT huyện Thọ Xuân"
    reply_to: str | None = Field(None, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    connections: int = Field(8, ge=1, le=64)
    rate_per_second: float = Field(0, ge=0)  # 0: as fast as the server takes them
    timeout: float = Field(30, gt=0, le=600)
    max_attempts: int = Field(8, ge=1, le=50)
    retry_base_seconds: float = Field(60, ge=0)
    retry_max_seconds: float = Field(6 * 3600, ge=0)
    keep_days: int = Field(90, ge=1, le=36500)  # sent, failed and cancelled mails, then deleted
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_key_file: Path | None = None

    @field_validator("dkim_domain", "dkim_selector", "dkim_key_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dkim_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return None if value is None else _dkim_domain(value)

    @field_validator("dkim_selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABELS.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a DKIM selector (RFC 6376 3.1: labels of letters, digits and hyphens "
                "joined by dots)"
            )
        return value

    @field_validator("dkim_key_file")
    @classmethod
    def _key_loads(cls, value: Path | None) -> Path | None:
        if value is not None:
            from syndicator.keyfiles import load_key  # dkimpy only where a key is configured

            # the sender loads it the same way: a key that passes here signs; a folder, FIFO or
            # device is refused with its true reason, and never read without bound
            load_key(value)
        return value

    @model_validator(mode="after")
    def _dkim_all_or_none(self) -> MailSettings:
        given = {name: getattr(self, name) is not None for name in _DKIM_SETTINGS}
        if any(given.values()) and not all(given.values()):
            # two of three used to start the service and send unsigned mail without a word
            missing = ", ".join(
                f"mail.{name} (SYNDICATOR_MAIL__{name.upper()})" for name, set_ in given.items() if not set_
            )
            raise ValueError(f"DKIM signing needs all three dkim_ settings or none; not set: {missing}")
        if self.dkim_selector and self.dkim_domain:
            record = f"{self.dkim_selector}._domainkey.{self.dkim_domain}"
            if len(record) > 253:  # receivers look the key up there: a longer name cannot exist
                raise ValueError(f"DKIM key record {record} is longer than a DNS name can be (253)")
        return self


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DigestSettings(_Section):
    daily_at: str = Field("06:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekly_on: str = "monday"
    immediate_every_seconds: int = Field(15, ge=1, le=3600)
    officials_file: Path = Path("config/officials.toml")

    @field_validator("weekly_on")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in _WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(_WEEKDAYS)}")
        return value.lower()

    @property
    def weekday(self) -> int:
        return _WEEKDAYS.index(self.weekly_on)


class SubscribeSettings(_Section):
    per_ip_per_minute: int = Field(10, ge=1)  # subscribe form posts from one client address
    per_address_per_hour: int = Field(3, ge=1)  # confirmation mails to one email address
    confirm_days: int = Field(7, ge=1, le=60)  # how long a confirmation link works


class BounceSettings(_Section):
    hard_limit: int = Field(3, ge=1, le=100)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNDICATOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database_url: str = "sqlite:///var/syndicator.db"
    base_url: str = DEFAULT_BASE_URL  # see base_url_configured and served_at
    var_dir: Path = Path("var")
    articles_dir: Path = Path("var/articles")
    secret_key: str | None = None
    websub_hub: str | None = None
    api_tokens: Annotated[tuple[str, ...], NoDecode] = ()
    # Proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses, or "*"): the
    # client address drives rate limits and is recorded at confirmation.
    trusted_proxies: str = "127.0.0.1"
    smtp_url: str | None = None
    site: SiteSettings = SiteSettings()
    feeds: FeedSettings = FeedSettings()
    imports: ImportSettings = ImportSettings()
    mail: MailSettings = MailSettings()
    digest: DigestSettings = DigestSettings()
    bounce: BounceSettings = BounceSettings()
    subscribe: SubscribeSettings = SubscribeSettings()
    # slug -> display name, for categories whose exported name is not how the office wants it shown
    categories: dict[str, str] = {}
    # slug -> English name: the [categories.en] table of the file, moved here by _english_names
    categories_en: dict[str, str] = {}

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (sqlite:///path or postgresql+psycopg://...)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
        if url.get_backend_name() == "postgresql" and url.drivername != "postgresql+psycopg":
            # a bare postgresql:// picks psycopg2 on SQLAlchemy 2.0, and only psycopg (3) is shipped
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @field_validator("base_url", "websub_hub")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            if info.field_name == "base_url":  # an empty value is more likely a mistake than "unset"
                raise ValueError(
                    "empty: give the public http(s) address of this service, or leave base_url out "
                    "(links then use the address `serve` listens on)"
                )
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        SmtpAddress.parse(value)  # raises ValueError naming what is wrong
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        if isinstance(value, list | tuple):
            short = [t for t in value if len(str(t)) < 16]
            if short:
                raise ValueError("each API token must be at least 16 characters")
            return tuple(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _english_names(cls, data: Any) -> Any:
        """[categories.en] (a table inside [categories], beside the slugs) becomes categories_en."""
        names = data.get("categories") if isinstance(data, dict) else None
        if isinstance(names, dict) and isinstance(names.get(ENGLISH), dict):
            names = dict(names)
            data = {**data, "categories": names, "categories_en": names.pop(ENGLISH)}
        return data

    @field_validator("categories", "categories_en")
    @classmethod
    def _category_names(cls, value: dict[str, str]) -> dict[str, str]:
        for slug, name in value.items():
            if category_slug(slug) != slug:
                raise ValueError(f"{slug!r} is not a category slug (expected {category_slug(slug)!r})")
            if not name.strip():
                raise ValueError(f"empty display name for {slug!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @property
    def base_url_configured(self) -> bool:
        """Whether base_url came from the file, the environment or the caller (not the default)."""
        return "base_url" in self.model_fields_set

    def served_at(self, address: str) -> Settings:
        """These settings as a server reached at `address` uses them: its links point there unless a
        base_url was configured (a proxy in front decides the public address, not the listener)."""
        if self.base_url_configured:
            return self
        return self.model_copy(update={"base_url": address.rstrip("/")})

    def category_display_name(self, slug: str, stored_name: str, lang: str | None = None) -> str:
        """The name a person reads: the office's [categories] name, else the stored one; for lang "en",
        the [categories.en] name when there is one (else that same Vietnamese name)."""
        if lang == ENGLISH and slug in self.categories_en:
            return self.categories_en[slug]
        return self.categories.get(slug, stored_name)

    def category_names(self, lang: str | None = None) -> dict[str, str]:
        """slug -> the name shown in `lang`, for every slug the office named (category_display_name
        for a whole list: `model.with_display_names` takes it)."""
        if lang != ENGLISH:
            return self.categories
        return {**self.categories, **self.categories_en}

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept under var/ so tokens survive restarts."""
        return self._resolved_secret

    @cached_property
    def _resolved_secret(self) -> str:
        # read (or made) once per settings object: links are signed and checked per request and mail
        return self.secret_key or _kept_secret(self.var_dir)


def _kept_secret(var_dir: Path) -> str:
    """The key kept under var/, generated when there is none."""
    path = var_dir / "secret_key"
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # written under a temporary name, then linked into place: two processes starting at once
    # both end up with whichever key got there first, and nobody reads a half-written file
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        if not path.read_text().strip():
            os.replace(temporary, path)  # an empty file left by an older version
            return key
        return path.read_text().strip()
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _config_path() -> Path | None:
    explicit = os.environ.get("SYNDICATOR_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"SYNDICATOR_CONFIG: no such file: {path}")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def default_base_url_note(settings: Settings, served: str | None = None) -> str | None:
    """One line for a command that writes links without a configured base_url (None when configured):
    they use `served`, the address the last `serve` on this database linked to, else the built-in one."""
    if settings.base_url_configured:
        return None
    where = _config_path() or DEFAULT_CONFIG
    used = f"{served}, where serve last ran" if served else settings.base_url
    return (
        f"syndicator: base_url is not set; links use {used} (set base_url in {where} or SYNDICATOR_BASE_URL)"
    )


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        # categories_en is how [categories.en] is kept: name it as the office wrote it
        loc = [part for p in item["loc"] for part in (("categories", "en") if p == "categories_en" else (p,))]
        where = ".".join(str(p) for p in loc) or "settings"
        env = "SYNDICATOR_" + "__".join(str(p) for p in loc).upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{where} ({env}): {message}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigError with one line naming what is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(f"bad setting: {_describe(error)}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:  # name the file, not only the line
        raise ConfigError(f"cannot read configuration {_config_path()}: {error}") from None
    except (OSError, ValueError) as error:  # unreadable TOML, or an env value that is not valid JSON
        raise ConfigError(f"cannot read configuration: {error}") from None
