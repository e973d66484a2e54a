"""The SMTP server named by SYNDICATOR_SMTP_URL: parsed once, at the bottom of the layers, so the
settings check (config.py) and the transport (mail/transport.py) read the URL the same way."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class SmtpAddress:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    verify: bool
    local_hostname: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpAddress:
        """smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465 (?verify=false)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"{parts.scheme or 'no'} scheme: use smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("no host in the SMTP URL")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        known = {"starttls", "verify", "local_hostname"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise ValueError(f"unknown SMTP URL option(s): {', '.join(unknown)}")
        flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        for name in ("starttls", "verify"):
            if name in query and query[name] not in flags:
                raise ValueError(f"{name} must be true or false")
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 25)
        except ValueError:
            raise ValueError("bad port in the SMTP URL") from None
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=implicit,
            starttls=flags.get(query.get("starttls", "false"), False),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=flags.get(query.get("verify", "true"), True),
            local_hostname=query.get("local_hostname"),
        )
