"""Turning content into the stored body of a mail: one composer shared by digests, announcements
and confirmations, so every mail carries the same sender, List-Id and unsubscribe headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from slugify import slugify

from syndicator import i18n
from syndicator.config import Settings
from syndicator.mail.mime import Content, build_template
from syndicator.mail.render import MailRenderer


class MailComposer:
    """Turns content into stored bodies; shared by digests, announcements and confirmations."""

    def __init__(self, settings: Settings, renderer: MailRenderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or MailRenderer(settings)

    def list_id(self, what: str, lang: str = i18n.SOURCE) -> str:
        """RFC 2919: a readable name (in `lang`) and a stable ASCII identifier under our own host name
        (from the Vietnamese msgid `what`: one list whatever language its mail is in)."""
        host = urlsplit(self.settings.base_url).hostname or "localhost"
        with i18n.using(lang):
            name = i18n.gettext(what)
        return f"{name} {self.settings.site.short_name} <{slugify(what)}.{host}>"

    def template(
        self,
        subject: str,
        text: str,
        html: str,
        *,
        list_what: str,
        lang: str = i18n.SOURCE,
        one_click: bool = True,
        subject_per_recipient: bool = False,
    ) -> bytes:
        """`list_what`: the list's name as a Vietnamese msgid (marked with i18n.N_), shown in `lang`;
        `lang`, the language of the mail, is said in its Content-Language header."""
        mail = self.settings.mail
        return build_template(
            Content(subject, text, html),
            from_name=mail.from_name,
            from_address=mail.from_address,
            reply_to=mail.reply_to,
            list_id=self.list_id(list_what, lang),
            one_click=one_click,
            subject_per_recipient=subject_per_recipient,
            language=lang,
        )
