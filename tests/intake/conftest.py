from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from helpdesk.mail.imap import ImapSettings
from helpdesk.mail.outbox import SmtpSettings


def make_mail(
    subject: str = "咨询：资金拨付申请表在哪里打印",
    body: str = "您好，请问资金拨付申请表在哪里打印？",
    sender: str = "zhang@example-corp.cn",
    *,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example-corp.cn")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for name, mime, data in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def imap_settings(imap) -> ImapSettings:
    return ImapSettings(
        host=imap.host, port=imap.port, user=imap.user, password=imap.password, security="none"
    )


@pytest.fixture
def smtp_settings(smtp) -> SmtpSettings:
    return SmtpSettings(host=smtp.host, port=smtp.port, security="none", sender="zxzj@ec.com.cn")
